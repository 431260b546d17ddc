//! Storage for Countersign, and the ledger that writes to it.
//!
//! [`Store`] is the seam between Countersign and a database: a backend
//! crate (`countersign-store-sqlite`, later PostgreSQL) implements it with
//! its own schema and migrations. The trait speaks in domain records and
//! log leaves; it holds no rules.
//!
//! [`Ledger`] is the one writer: every state change runs inside a single
//! store transaction that also appends the change's log entry, the new
//! complete-subtree hashes and a freshly signed checkpoint, so a change is
//! never visible without its audit record and an acknowledged change is
//! durable together with a checkpoint covering it.
//!
//! This crate deliberately knows nothing of HTTP, SQL or the system clock:
//! callers pass `now`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod audit;
pub mod evidence;
mod ledger;

pub use ledger::{
    AttemptOutcome, CertificateIssuer, DeliveryRules, IgaConfig, Ledger, LedgerConfig, LedgerError,
    Receipted, ScimGroup, ScimUser, Submission, EVENT_TYPES, MAX_CHANGE_BATCH, SCIM_GROUP,
    SCIM_USER,
};

use countersign_domain::identity::Challenge;
use countersign_proto::api::{IdentityFilter, RequestFilter};
use countersign_proto::governance::{ApiToken, Delegation, PolicyException};
use countersign_proto::iga::{
    ChangeFilter, ControlException, ControlFilter, ControlKind, DeliveryAttempt, DeliveryFilter,
    DeliveryRecord, EntitlementChange, WebhookEndpoint,
};
use countersign_proto::model::{
    Credential, Document, DocumentVersion, Identity, IdentityHistoryEntry, Request, RequestState,
};
use countersign_tlog::Hash;
use time::OffsetDateTime;

/// Errors a backend reports.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (IO, locking, constraint the caller should have prevented).
    #[error("storage backend: {0}")]
    Backend(String),
    /// Stored data is not what the backend wrote (unparseable record, gap in the log).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The data directory or database was created by a newer version, or not initialised.
    #[error("{0}")]
    Setup(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Search terms stored beside a log entry so evidence can find it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryTerms {
    /// The event type (`signature.accepted`).
    pub kind: String,
    pub request: Option<String>,
    /// The identity handle the entry is about.
    pub identity: Option<String>,
    pub key_id: Option<String>,
}

/// A receipt remembered for an accepted envelope, to answer re-submissions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReceipt {
    pub request: String,
    pub log_index: u64,
    pub receipt: String,
}

/// A SCIM resource as the identity provider last wrote it. Users map to
/// identities (`identity` is the handle); the resource JSON itself stays
/// out of the log, which records the identity it maps to.
#[derive(Clone, Debug, PartialEq)]
pub struct ScimRecord {
    /// `User` or `Group`.
    pub resource_type: String,
    pub id: String,
    pub identity: Option<String>,
    /// Bumped on every write; the ETag is `W/"<version>"`.
    pub version: u64,
    pub resource: serde_json::Value,
}

/// One signing secret of a webhook endpoint, in Standard Webhooks form.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookSecret {
    /// `whsec_…`, for `v1` HMAC signatures.
    pub hmac: String,
    /// `whsk_…`, for `v1a` Ed25519 signatures.
    pub signing_key: String,
    /// `whpk_…`, what receivers verify `v1a` with.
    pub public_key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// After a rotation, when this secret stops signing.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub retire_at: Option<OffsetDateTime>,
}

/// A webhook endpoint with its secrets (never logged, never listed).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookRecord {
    pub endpoint: WebhookEndpoint,
    pub secrets: Vec<WebhookSecret>,
}

/// An outbound event written in the same transaction as the change it reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: String,
    pub event_type: String,
    pub ordering_key: String,
    /// The CloudEvent, structured JSON, exactly as it is sent.
    pub body: String,
    pub created_at: OffsetDateTime,
}

/// A delivery that may be attempted now, with what sending it needs.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub delivery: DeliveryRecord,
    pub url: String,
    pub secrets: Vec<WebhookSecret>,
    pub body: String,
}

/// Reads. A read transaction sees one consistent state.
pub trait ReadTx {
    fn meta(&self, key: &str) -> Result<Option<String>>;

    fn identity(&self, handle: &str) -> Result<Option<Identity>>;
    /// The identity with this email address (compared case-insensitively).
    fn identity_by_email(&self, email: &str) -> Result<Option<Identity>>;
    fn identities(&self, filter: &IdentityFilter) -> Result<Vec<Identity>>;
    /// Every version of an identity, oldest first.
    fn identity_history(&self, handle: &str) -> Result<Vec<IdentityHistoryEntry>>;

    fn credential(&self, key_id: &str) -> Result<Option<Credential>>;
    fn credentials_of(&self, handle: &str) -> Result<Vec<Credential>>;
    fn challenge(&self, challenge: &str) -> Result<Option<Challenge>>;

    fn document(&self, name: &str) -> Result<Option<Document>>;
    fn documents(&self) -> Result<Vec<Document>>;
    fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>>;

    fn request(&self, id: &str) -> Result<Option<Request>>;
    fn requests(&self, filter: &RequestFilter) -> Result<Vec<Request>>;
    /// Requests whose entitlement action names `subject`, or names both
    /// `system` and `entitlement` (for another subject), oldest first.
    fn requests_about_action(
        &self,
        subject: &str,
        system: &str,
        entitlement: &str,
    ) -> Result<Vec<Request>>;
    /// Every request in `state` that has an entitlement action, oldest first.
    fn requests_with_action(&self, state: RequestState) -> Result<Vec<Request>>;
    /// Ids of pending requests whose expiry is at or before `now`.
    fn expired_pending(&self, now: OffsetDateTime) -> Result<Vec<String>>;
    fn receipt_for_envelope(&self, envelope_sha256: &str) -> Result<Option<StoredReceipt>>;

    /// The API token whose secret hashes to `sha256`.
    fn token_by_hash(&self, sha256: &str) -> Result<Option<ApiToken>>;
    fn token(&self, id: &str) -> Result<Option<ApiToken>>;
    fn tokens(&self) -> Result<Vec<ApiToken>>;

    fn delegation(&self, id: &str) -> Result<Option<Delegation>>;
    /// Delegations where `handle` is the principal or the delegate, oldest first.
    fn delegations_of(&self, handle: &str) -> Result<Vec<Delegation>>;
    fn delegations(&self) -> Result<Vec<Delegation>>;

    fn exception(&self, id: &str) -> Result<Option<PolicyException>>;
    /// Exceptions, oldest first, optionally only those about one request.
    fn exceptions(&self, request: Option<&str>) -> Result<Vec<PolicyException>>;

    fn scim_resource(&self, resource_type: &str, id: &str) -> Result<Option<ScimRecord>>;
    fn scim_resources(&self, resource_type: &str) -> Result<Vec<ScimRecord>>;
    /// The SCIM user mapped to an identity.
    fn scim_user_of(&self, handle: &str) -> Result<Option<ScimRecord>>;

    fn change(&self, id: &str) -> Result<Option<EntitlementChange>>;
    fn change_by_source(
        &self,
        system: &str,
        source_event_id: &str,
    ) -> Result<Option<EntitlementChange>>;
    /// Changes in log order.
    fn changes(&self, filter: &ChangeFilter) -> Result<Vec<EntitlementChange>>;

    fn control_exception(&self, id: &str) -> Result<Option<ControlException>>;
    fn control_exception_by_key(
        &self,
        kind: ControlKind,
        key: &str,
    ) -> Result<Option<ControlException>>;
    /// Control exceptions, oldest first.
    fn control_exceptions(&self, filter: &ControlFilter) -> Result<Vec<ControlException>>;

    fn webhook(&self, id: &str) -> Result<Option<WebhookRecord>>;
    fn webhooks(&self) -> Result<Vec<WebhookRecord>>;
    fn delivery(&self, id: u64) -> Result<Option<DeliveryRecord>>;
    /// Deliveries, newest first.
    fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>>;
    fn delivery_attempts(&self, delivery: u64) -> Result<Vec<DeliveryAttempt>>;
    /// Pending deliveries to enabled endpoints whose next attempt is due at
    /// `now`, oldest first, leaving out any delivery that waits behind an
    /// earlier pending one with the same endpoint and ordering key.
    fn due_deliveries(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<DueDelivery>>;
    fn outbox_event(&self, id: &str) -> Result<Option<OutboxEvent>>;

    /// The latest entry of `kind` whose terms name `request` and `identity`.
    fn latest_entry_about(
        &self,
        kind: &str,
        request: &str,
        identity: &str,
    ) -> Result<Option<(u64, Vec<u8>)>>;

    /// Number of log entries.
    fn tree_size(&self) -> Result<u64>;
    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>>;
    /// Entries `[start, start+limit)` that exist, in index order.
    fn entries(&self, start: u64, limit: u64) -> Result<Vec<(u64, Vec<u8>)>>;
    /// Indexes of the entries about `request`, the `identity.*` and
    /// `delegation.*` entries about any of `identities`, the `credential.*`
    /// entries about any of `key_ids`, and every `ca.created` and
    /// `policy.activated` entry.
    fn entry_indexes_about(
        &self,
        request: &str,
        identities: &[String],
        key_ids: &[String],
    ) -> Result<Vec<u64>>;
    /// A stored complete-subtree hash.
    fn subtree_hash(&self, level: u8, index: u64) -> Result<Option<Hash>>;
    /// The latest signed checkpoint: (tree size, signed note).
    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>>;
    fn checkpoint(&self, size: u64) -> Result<Option<String>>;
    /// Every checkpoint ever issued, by size.
    fn checkpoints(&self) -> Result<Vec<(u64, String)>>;
}

/// Writes, inside one transaction that holds the store's write lock.
/// Dropping it without [`WriteTx::commit`] rolls everything back.
pub trait WriteTx: ReadTx {
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;
    /// Insert or replace the identity and append it to its history.
    fn put_identity(
        &mut self,
        identity: &Identity,
        reason: Option<&str>,
        log_index: u64,
    ) -> Result<()>;
    fn put_credential(&mut self, credential: &Credential) -> Result<()>;
    fn put_challenge(&mut self, challenge: &Challenge) -> Result<()>;
    /// Remove a challenge; answers whether it existed.
    fn take_challenge(&mut self, challenge: &str) -> Result<bool>;
    fn put_document_version(
        &mut self,
        version: &DocumentVersion,
        content: Option<&[u8]>,
    ) -> Result<()>;
    fn put_request(&mut self, request: &Request) -> Result<()>;
    /// Insert a token with the hash of its secret, or (`sha256` absent)
    /// update an existing token's record.
    fn put_token(&mut self, token: &ApiToken, sha256: Option<&str>) -> Result<()>;
    fn put_delegation(&mut self, delegation: &Delegation) -> Result<()>;
    fn put_exception(&mut self, exception: &PolicyException) -> Result<()>;
    fn put_receipt(&mut self, envelope_sha256: &str, receipt: &StoredReceipt) -> Result<()>;
    fn put_scim_resource(&mut self, record: &ScimRecord) -> Result<()>;
    fn delete_scim_resource(&mut self, resource_type: &str, id: &str) -> Result<()>;
    fn put_change(&mut self, change: &EntitlementChange) -> Result<()>;
    fn put_control_exception(&mut self, exception: &ControlException) -> Result<()>;
    fn put_webhook(&mut self, webhook: &WebhookRecord) -> Result<()>;
    fn put_outbox_event(&mut self, event: &OutboxEvent) -> Result<()>;
    /// Insert a delivery (its `id` is assigned) or update one; answers the id.
    fn put_delivery(&mut self, delivery: &DeliveryRecord) -> Result<u64>;
    fn add_delivery_attempt(&mut self, attempt: &DeliveryAttempt) -> Result<()>;
    /// Append log entry `index` (which must equal the tree size) with the
    /// complete-subtree hashes it completes.
    fn append_entry(
        &mut self,
        index: u64,
        entry: &[u8],
        terms: &EntryTerms,
        hashes: &[(u8, u64, Hash)],
    ) -> Result<()>;
    fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<()>;
    /// Make everything durable (the backend syncs to disk before answering).
    fn commit(self: Box<Self>) -> Result<()>;
}

/// A storage backend.
pub trait Store: Send + Sync {
    fn read(&self) -> Result<Box<dyn ReadTx + '_>>;
    /// Begin a write transaction; waits for other writers.
    fn write(&self) -> Result<Box<dyn WriteTx + '_>>;
}

/// Adapts a transaction's stored hashes to the log library.
pub struct Hashes<'a>(pub &'a dyn ReadTx);

impl countersign_tlog::HashSource for Hashes<'_> {
    fn subtree_hash(&self, level: u8, index: u64) -> countersign_tlog::Result<Hash> {
        match self.0.subtree_hash(level, index) {
            Ok(Some(h)) => Ok(h),
            Ok(None) => Err(countersign_tlog::Error::Source(format!(
                "stored hash missing: level {level} index {index}"
            ))),
            Err(e) => Err(countersign_tlog::Error::Source(e.to_string())),
        }
    }
}
