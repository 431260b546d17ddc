//! The storage seam of Countersign: the traits a database backend
//! implements, the records they speak in, and the store's error.
//!
//! [`Store`] is the seam between Countersign and a database: a backend
//! crate (`countersign-store-sqlite`, `countersign-store-postgres`)
//! implements it with its own schema and migrations. The traits speak in
//! domain records and log leaves; they hold no rules (those are the
//! domain's) and no SQL (that is the backends'). The ledger
//! (`countersign-ledger`) is built on this crate alone.
//!
//! # The single-writer contract
//!
//! [`Store::write`] hands out one [`WriteTx`] at a time per log: a backend
//! must make every write transaction see the log's tree size and latest
//! checkpoint as the last committed writer left them, and no two write
//! transactions may both commit an entry at the same index. A backend
//! that cannot hold a lock for the whole transaction (several processes
//! on one PostgreSQL database) serialises writers on the log head and
//! answers [`StoreError::Conflict`] when it detects that another writer
//! moved the head first; the caller may then retry the whole
//! transaction from the start. Reads ([`Store::read`]) never wait for a
//! writer and see one committed state.
//!
//! This crate knows nothing of HTTP, SQL or the system clock.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(feature = "testkit")]
pub mod conformance;
pub mod rows;

use countersign_domain::identity::Challenge;
use countersign_proto::api::{IdentityFilter, RequestFilter};
use countersign_proto::governance::{ApiToken, Delegation, LegalHold, PolicyException};
use countersign_proto::iga::{
    ChangeFilter, ControlException, ControlFilter, ControlKind, DeliveryAttempt, DeliveryFilter,
    DeliveryRecord, EntitlementChange, WebhookEndpoint,
};
use countersign_proto::model::{
    Credential, Document, DocumentVersion, Identity, IdentityHistoryEntry, Request, RequestState,
};
use countersign_proto::personal::{Opening, RetentionClass};
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
    /// Another writer committed first (a serialisation failure, a lost
    /// race for the log head). Nothing of this transaction was kept;
    /// running it again from the start is safe.
    #[error("write conflict, retry: {0}")]
    Conflict(String),
}

impl StoreError {
    /// Whether running the transaction again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
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

/// A server-issued, single-use challenge of a browser ceremony: a WebAuthn
/// registration or sign-in, a signing nonce, an OpenID sign-in's state.
/// Operational state, never logged; `data` is the ceremony's own record.
#[derive(Clone, Debug, PartialEq)]
pub struct WebChallenge {
    /// Random; the lookup key.
    pub id: String,
    /// `register`, `sign_in`, `signing`, `oidc`.
    pub purpose: String,
    /// The identity the challenge was issued to, when known.
    pub identity: Option<String>,
    pub data: serde_json::Value,
    pub expires_at: OffsetDateTime,
}

/// A browser session. The cookie holds a random token; the store keeps
/// only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    /// Lowercase hex SHA-256 of the session token.
    pub id: String,
    /// Handle of the signed-in identity.
    pub identity: String,
    /// The synchroniser token every state-changing request must carry.
    pub csrf: String,
    /// How the person signed in: `passkey`, `oidc:<issuer>`.
    pub method: String,
    /// The credential signed in with (a passkey's key id), so revoking it
    /// ends the session.
    #[serde(default)]
    pub credential: Option<String>,
    /// NIST SP 800-63-4 AAL of the sign-in.
    pub aal: u8,
    /// When the person last authenticated interactively.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub auth_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// The absolute end of the session, whatever its activity.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// SHA-256 digests of the document versions this session fetched: a
    /// signer approves only what the page has shown them.
    #[serde(default)]
    pub viewed: Vec<String>,
}

/// A single-use enrolment link, kept as the hash of its secret.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvitationRecord {
    pub id: String,
    /// Lowercase hex SHA-256 of the link's secret.
    pub token_sha256: String,
    pub identity: String,
    pub issued_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
    /// The log entry that recorded the issue.
    pub log_index: u64,
}

/// A mail in the outbox: composed when the change it reports commits,
/// sent (and retried) by the server's mail sender.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MailRecord {
    pub id: String,
    /// Stable across retries, so receivers can de-duplicate.
    pub message_id: String,
    /// Handle of the recipient.
    pub identity: String,
    /// The recipient's name and address when the mail was composed.
    pub display_name: String,
    #[serde(default)]
    pub address: Option<String>,
    pub kind: countersign_proto::notify::NotificationKind,
    #[serde(default)]
    pub request: Option<String>,
    pub subject: String,
    pub text: String,
    #[serde(default)]
    pub html: Option<String>,
    pub state: countersign_proto::notify::NotificationState,
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// The opening of one personal value committed in a log entry
/// (`countersign_proto::personal`), and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOpening {
    pub commitment: String,
    /// The salt and value; `None` once erased.
    pub opening: Option<Opening>,
    /// The entry holding the commitment.
    pub log_index: u64,
    /// The field, as `a.b`.
    pub path: String,
    /// The identity the value is about or by.
    pub subject: Option<String>,
    /// The request the entry is about, for legal holds.
    pub request: Option<String>,
    pub class: RetentionClass,
    /// When the entry was written.
    pub at: OffsetDateTime,
    /// The `personal.erased` entry that erased it.
    pub erased_by: Option<u64>,
}

/// A lease: which instance among those serving one log does a piece of
/// work (`leader`, `delivery:<id>`, `mail:<id>`) until when. Operational
/// state, never logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub until: OffsetDateTime,
}

/// The state tables as stored, columns and JSON bodies unparsed, for
/// `log audit` to compare with the state it rebuilds from the log.
#[derive(Clone, Debug, Default)]
pub struct StateRows {
    /// (handle, kind column, status column, body)
    pub identities: Vec<(String, String, String, String)>,
    /// (key id, identity column, body)
    pub credentials: Vec<(String, String, String)>,
    /// (id, state column, requester column, beneficiary column, body)
    pub requests: Vec<(String, String, String, String, String)>,
    /// (request, approver)
    pub request_approvers: Vec<(String, String)>,
    /// (name, version, sha256 column, body)
    pub document_versions: Vec<(String, u32, String, String)>,
    /// (sha256 key, lowercase hex SHA-256 of the content)
    pub blobs: Vec<(String, String)>,
    /// (envelope sha256, receipt)
    pub receipts: Vec<(String, StoredReceipt)>,
    /// (id, body)
    pub tokens: Vec<(String, String)>,
    /// (id, principal column, delegate column, body)
    pub delegations: Vec<(String, String, String, String)>,
    /// (index, lookup columns)
    pub entry_terms: Vec<(u64, EntryTerms)>,
    /// Every stored complete-subtree hash.
    pub tree_hashes: Vec<(u8, u64, Hash)>,
}

/// Reads. A read transaction sees one consistent state.
pub trait ReadTx {
    fn meta(&self, key: &str) -> Result<Option<String>>;

    fn identity(&self, handle: &str) -> Result<Option<Identity>>;
    /// Every identity with this email address (compared
    /// case-insensitively), oldest first.
    fn identities_by_email(&self, email: &str) -> Result<Vec<Identity>>;
    /// The identity whose handle equals `handle` ignoring ASCII case.
    fn identity_any_case(&self, handle: &str) -> Result<Option<Identity>>;
    fn identities(&self, filter: &IdentityFilter) -> Result<Vec<Identity>>;
    /// Every version of an identity, oldest first.
    fn identity_history(&self, handle: &str) -> Result<Vec<IdentityHistoryEntry>>;

    fn credential(&self, key_id: &str) -> Result<Option<Credential>>;
    fn credentials_of(&self, handle: &str) -> Result<Vec<Credential>>;
    /// Every credential, oldest first.
    fn credentials(&self) -> Result<Vec<Credential>>;
    fn challenge(&self, challenge: &str) -> Result<Option<Challenge>>;
    /// The last signature counter a passkey reported.
    fn sign_count(&self, key_id: &str) -> Result<Option<u32>>;

    fn web_challenge(&self, id: &str) -> Result<Option<WebChallenge>>;
    fn session(&self, id: &str) -> Result<Option<SessionRecord>>;
    fn invitation(&self, token_sha256: &str) -> Result<Option<InvitationRecord>>;
    /// Invitations of an identity, oldest first.
    fn invitations_of(&self, handle: &str) -> Result<Vec<InvitationRecord>>;
    fn mail(&self, id: &str) -> Result<Option<MailRecord>>;
    /// Mails to an identity, newest first.
    fn mails_of(&self, handle: &str, limit: u32) -> Result<Vec<MailRecord>>;
    /// Pending mails due at `now`, oldest first.
    fn due_mails(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<MailRecord>>;
    /// Whether the reminder `offset_seconds` before expiry went out to
    /// `identity` for `request`.
    fn reminded(&self, request: &str, identity: &str, offset_seconds: i64) -> Result<bool>;

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
    /// Many entries, in the order asked (`None` for one not stored); one
    /// query on a backend with round trips.
    fn entries_at(&self, indexes: &[u64]) -> Result<Vec<Option<Vec<u8>>>> {
        indexes.iter().map(|&i| self.entry(i)).collect()
    }
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
    /// Many stored subtree hashes, in the order asked (`None` where one
    /// is not stored). A backend with a round trip per query answers in
    /// one: a proof asks for all it needs at once.
    fn subtree_hashes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Hash>>> {
        wanted
            .iter()
            .map(|&(level, index)| self.subtree_hash(level, index))
            .collect()
    }
    /// The latest signed checkpoint: (tree size, signed note).
    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>>;
    fn checkpoint(&self, size: u64) -> Result<Option<String>>;
    /// Every checkpoint ever issued, by size.
    fn checkpoints(&self) -> Result<Vec<(u64, String)>>;

    /// The opening behind a commitment.
    fn opening(&self, commitment: &str) -> Result<Option<StoredOpening>>;
    /// The openings held for any of `commitments` (those not held are
    /// left out); one query on a backend with round trips.
    fn openings(&self, commitments: &[String]) -> Result<Vec<StoredOpening>> {
        let mut out = Vec::new();
        for c in commitments {
            out.extend(self.opening(c)?);
        }
        Ok(out)
    }
    /// Every opening whose subject is `handle`, erased ones included.
    fn openings_of(&self, handle: &str) -> Result<Vec<StoredOpening>>;
    fn hold(&self, id: &str) -> Result<Option<LegalHold>>;
    /// Every legal hold, released ones included, oldest first.
    fn holds(&self) -> Result<Vec<LegalHold>>;
    /// The state tables as stored, for the audit.
    fn state_rows(&self) -> Result<StateRows>;
    fn lease(&self, name: &str) -> Result<Option<Lease>>;
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
    fn set_sign_count(&mut self, key_id: &str, count: u32) -> Result<()>;
    fn put_web_challenge(&mut self, challenge: &WebChallenge) -> Result<()>;
    /// Remove a web challenge; answers it if it existed.
    fn take_web_challenge(&mut self, id: &str) -> Result<Option<WebChallenge>>;
    fn put_session(&mut self, session: &SessionRecord) -> Result<()>;
    fn delete_session(&mut self, id: &str) -> Result<()>;
    /// End every session of an identity; answers how many ended.
    fn delete_sessions_of(&mut self, handle: &str) -> Result<u64>;
    /// End every session signed in with a credential; answers how many ended.
    fn delete_sessions_with(&mut self, key_id: &str) -> Result<u64>;
    fn put_invitation(&mut self, invitation: &InvitationRecord) -> Result<()>;
    fn put_mail(&mut self, mail: &MailRecord) -> Result<()>;
    fn put_reminder(&mut self, request: &str, identity: &str, offset_seconds: i64) -> Result<()>;
    /// Drop challenges, sessions and invitations past their expiry.
    fn purge_expired(&mut self, now: OffsetDateTime) -> Result<u64>;
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
    fn put_opening(&mut self, opening: &StoredOpening) -> Result<()>;
    /// Delete a commitment's salt and value, recording the erasing entry.
    fn erase_opening(&mut self, commitment: &str, erased_by: u64) -> Result<()>;
    fn put_hold(&mut self, hold: &LegalHold) -> Result<()>;
    /// Take or renew a lease (the caller decided, in this transaction,
    /// that it may).
    fn put_lease(&mut self, lease: &Lease) -> Result<()>;
    fn delete_lease(&mut self, name: &str) -> Result<()>;
    /// Erase a person from the operational records: delete their
    /// sessions, invitations, mail and SCIM resources, and in every record
    /// that names `handle`, replace each string equal to one of `values`
    /// with `replacement`. Answers how many records changed. Deleted
    /// content must not stay readable in the database files.
    fn scrub_person(&mut self, handle: &str, values: &[String], replacement: &str) -> Result<u64>;
    /// Make everything durable (the backend syncs to disk before answering).
    fn commit(self: Box<Self>) -> Result<()>;
}

/// A storage backend.
pub trait Store: Send + Sync {
    fn read(&self) -> Result<Box<dyn ReadTx + '_>>;
    /// Begin a write transaction; waits for other writers.
    fn write(&self) -> Result<Box<dyn WriteTx + '_>>;
    /// After an erasure: make sure what was deleted is gone from every file
    /// the store keeps (SQLite: fold the write-ahead log into the database
    /// and truncate it).
    fn compact(&self) -> Result<()>;
}

/// Adapts a transaction's stored hashes to the log library.
pub struct Hashes<'a>(pub &'a dyn ReadTx);

impl countersign_tlog::HashSource for Hashes<'_> {
    fn subtree_hash(&self, level: u8, index: u64) -> countersign_tlog::Result<Hash> {
        match self.0.subtree_hash(level, index) {
            Ok(Some(h)) => Ok(h),
            Ok(None) => Err(missing_hash(level, index)),
            Err(e) => Err(countersign_tlog::Error::Source(e.to_string())),
        }
    }

    fn subtree_hashes(&self, wanted: &[(u8, u64)]) -> countersign_tlog::Result<Vec<Hash>> {
        let found = self
            .0
            .subtree_hashes(wanted)
            .map_err(|e| countersign_tlog::Error::Source(e.to_string()))?;
        wanted
            .iter()
            .zip(found)
            .map(|(&(level, index), h)| h.ok_or_else(|| missing_hash(level, index)))
            .collect()
    }
}

fn missing_hash(level: u8, index: u64) -> countersign_tlog::Error {
    countersign_tlog::Error::Source(format!("stored hash missing: level {level} index {index}"))
}
