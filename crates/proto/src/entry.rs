//! Audit events, the leaves of the transparency log.
//!
//! A log entry is the exact UTF-8 JSON bytes of a [`LogEntry`]; its leaf hash
//! is the RFC 6962 hash of those bytes. The bytes are stored and shipped
//! verbatim (never re-serialized) so that any verifier can recompute the hash.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ErrorCode;
use crate::governance::{
    ApiToken, AuthContext, Delegation, LegalHold, PolicyDecision, PolicyException,
};
use crate::iga::{ControlException, EntitlementChange, Group, WebhookEndpoint};
use crate::model::{
    Credential, Decision, DocumentVersion, Identity, IdentityStatus, Request, RequestState, Vouch,
};
use crate::statement::Envelope;
use crate::Timestamp;

/// Version of the entry format: 2 commits personal fields
/// (`crate::personal`); 1 held them in the clear.
pub const ENTRY_VERSION: u32 = 2;

/// One audit event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogEntry {
    /// Entry format version, currently 1.
    pub v: u32,
    /// When the server recorded the event.
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The size of the checkpoint the entry's transaction follows: every
    /// transaction ends in a checkpoint, so these name every checkpoint
    /// the log signed, and one deleted from the database is missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    #[serde(flatten)]
    pub event: Event,
}

impl LogEntry {
    /// The canonical bytes of this entry, as written to the log.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Parse entry bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type")]
pub enum Event {
    /// The first entry of every log: its origin and verifier key.
    #[serde(rename = "log.created")]
    LogCreated {
        origin: String,
        /// The log's verifier key in signed-note vkey form.
        verifier_key: String,
    },
    #[serde(rename = "identity.created")]
    IdentityCreated { identity: Identity },
    #[serde(rename = "identity.updated")]
    IdentityUpdated {
        identity: Identity,
        /// Names of the fields that changed.
        changed: Vec<String>,
    },
    #[serde(rename = "identity.status_changed")]
    IdentityStatusChanged {
        identity: Identity,
        previous: IdentityStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Key ids revoked as a consequence (termination revokes every key).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        revoked_keys: Vec<String>,
    },
    #[serde(rename = "credential.enrolled")]
    CredentialEnrolled { credential: Credential },
    #[serde(rename = "credential.revoked")]
    CredentialRevoked {
        key_id: String,
        identity: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An administrator vouched for a key's assurance label.
    #[serde(rename = "credential.vouched")]
    CredentialVouched {
        key_id: String,
        identity: String,
        vouch: Vouch,
    },
    /// A single-use enrolment link was issued for an identity's first
    /// passkey (the link itself is never logged).
    #[serde(rename = "invitation.issued")]
    InvitationIssued {
        invitation: String,
        identity: String,
        #[serde(with = "crate::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        expires_at: Timestamp,
        /// Who issued it: an API caller label, or `scim` for a joiner.
        issued_by: String,
    },
    #[serde(rename = "document.registered")]
    DocumentRegistered { version: DocumentVersion },
    /// A policy set came into force (at start or on reload) whose digest
    /// differs from the one recorded before.
    #[serde(rename = "policy.activated")]
    PolicyActivated {
        /// `sha256:<hex>` of the schema and policies.
        policy_set: String,
        /// Ids of the policies in the set.
        policies: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
        /// `startup` or `reload`.
        trigger: String,
    },
    /// The workload CA came into use; its certificate is what offline
    /// verifiers check workload certificates against.
    #[serde(rename = "ca.created")]
    CaCreated {
        /// PEM.
        certificate: String,
        /// Lowercase hex SHA-256 of the certificate DER.
        fingerprint: String,
    },
    /// A short-lived certificate was issued to a workload after a token exchange.
    #[serde(rename = "credential.certified")]
    CredentialCertified {
        credential: Credential,
        /// The workload token's issuer and subject.
        oidc_issuer: String,
        oidc_subject: String,
        /// Lowercase hex SHA-256 of the presented token (never the token).
        token_sha256: String,
    },
    #[serde(rename = "token.issued")]
    TokenIssued { token: ApiToken },
    #[serde(rename = "token.revoked")]
    TokenRevoked {
        token: String,
        name: String,
        /// The identity the token was bound to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
    },
    /// The bootstrap admin token was replaced by `countersign token recover`
    /// on the server's machine (the old one stops working).
    #[serde(rename = "token.recovered")]
    TokenRecovered {
        /// Who ran it: the local account.
        by: String,
    },
    #[serde(rename = "delegation.granted")]
    DelegationGranted {
        delegation: Delegation,
        policy: PolicyDecision,
    },
    /// A delegation stopped before its end: revoked, or a party left active status.
    #[serde(rename = "delegation.ended")]
    DelegationEnded {
        delegation: String,
        principal: String,
        delegate: String,
        reason: String,
    },
    #[serde(rename = "exception.requested")]
    ExceptionRequested { exception: PolicyException },
    #[serde(rename = "exception.decided")]
    ExceptionDecided {
        exception: PolicyException,
        policy: PolicyDecision,
    },
    #[serde(rename = "request.created")]
    RequestCreated {
        request: Request,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<PolicyDecision>,
    },
    /// A request left `pending` without a signature deciding it.
    #[serde(rename = "request.closed")]
    RequestClosed {
        request: String,
        state: RequestState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An approver who left was taken off a pending request, and someone
    /// else (their manager) put in their place where one could be.
    #[serde(rename = "request.rerouted")]
    RequestRerouted {
        request: String,
        removed: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        added: Option<String>,
        reason: String,
    },
    /// A group pushed by an identity provider over SCIM changed.
    #[serde(rename = "group.changed")]
    GroupChanged {
        group: Group,
        /// `created`, `updated` or `deleted`.
        action: String,
    },
    /// A target system reported a change of someone's access.
    #[serde(rename = "entitlement.changed")]
    EntitlementChanged { change: EntitlementChange },
    /// Reconciliation raised a control exception.
    #[serde(rename = "control.raised")]
    ControlRaised { exception: ControlException },
    /// A control exception was assigned, acknowledged, resolved, reopened
    /// or given new evidence.
    #[serde(rename = "control.updated")]
    ControlUpdated {
        exception: ControlException,
        /// `assigned`, `acknowledged`, `resolved`, `reopened`, `evidence`.
        action: String,
        /// Who did it (an API caller label, or `reconciliation`).
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The resolver's signed resolution.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        envelope: Option<Envelope>,
    },
    /// A webhook endpoint was added, changed, rotated or disabled (never its secrets).
    #[serde(rename = "webhook.changed")]
    WebhookChanged {
        endpoint: WebhookEndpoint,
        /// `created`, `updated`, `rotated`, `disabled`, `enabled`.
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A legal hold was placed: nothing it covers is erased until it is
    /// released.
    #[serde(rename = "hold.placed")]
    HoldPlaced { hold: LegalHold },
    #[serde(rename = "hold.released")]
    HoldReleased {
        hold: String,
        /// Who released it (an API caller label).
        by: String,
    },
    /// A person's personal values were erased: the openings of these
    /// commitments are gone, the commitments (and every proof) stay.
    #[serde(rename = "personal.erased")]
    PersonalErased {
        identity: String,
        /// Who erased (an API caller label).
        by: String,
        commitments: Vec<String>,
        /// How many of the person's values were kept, by a legal hold or
        /// because their retention has not run out.
        kept: u64,
    },
    #[serde(rename = "signature.accepted")]
    SignatureAccepted {
        request: String,
        actor: String,
        /// The approver the actor signed for, under `delegation`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        principal: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delegation: Option<String>,
        /// The policy exception this signature used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exception: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<PolicyDecision>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<AuthContext>,
        decision: Decision,
        key_id: String,
        /// Lowercase hex SHA-256 of the envelope JSON as submitted.
        envelope_sha256: String,
        envelope: Envelope,
        /// The request's state after this signature.
        request_state: RequestState,
    },
    #[serde(rename = "signature.refused")]
    SignatureRefused {
        code: ErrorCode,
        detail: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        principal: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_id: Option<String>,
        /// The policy decision, when policy was what refused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<PolicyDecision>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<AuthContext>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        envelope_sha256: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        envelope: Option<Envelope>,
    },
}

impl Event {
    /// The `type` string of this event.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::LogCreated { .. } => "log.created",
            Event::IdentityCreated { .. } => "identity.created",
            Event::IdentityUpdated { .. } => "identity.updated",
            Event::IdentityStatusChanged { .. } => "identity.status_changed",
            Event::CredentialEnrolled { .. } => "credential.enrolled",
            Event::CredentialRevoked { .. } => "credential.revoked",
            Event::CredentialVouched { .. } => "credential.vouched",
            Event::InvitationIssued { .. } => "invitation.issued",
            Event::DocumentRegistered { .. } => "document.registered",
            Event::PolicyActivated { .. } => "policy.activated",
            Event::CaCreated { .. } => "ca.created",
            Event::CredentialCertified { .. } => "credential.certified",
            Event::TokenIssued { .. } => "token.issued",
            Event::TokenRevoked { .. } => "token.revoked",
            Event::TokenRecovered { .. } => "token.recovered",
            Event::DelegationGranted { .. } => "delegation.granted",
            Event::DelegationEnded { .. } => "delegation.ended",
            Event::ExceptionRequested { .. } => "exception.requested",
            Event::ExceptionDecided { .. } => "exception.decided",
            Event::RequestCreated { .. } => "request.created",
            Event::RequestClosed { .. } => "request.closed",
            Event::RequestRerouted { .. } => "request.rerouted",
            Event::GroupChanged { .. } => "group.changed",
            Event::EntitlementChanged { .. } => "entitlement.changed",
            Event::ControlRaised { .. } => "control.raised",
            Event::ControlUpdated { .. } => "control.updated",
            Event::WebhookChanged { .. } => "webhook.changed",
            Event::HoldPlaced { .. } => "hold.placed",
            Event::HoldReleased { .. } => "hold.released",
            Event::PersonalErased { .. } => "personal.erased",
            Event::SignatureAccepted { .. } => "signature.accepted",
            Event::SignatureRefused { .. } => "signature.refused",
        }
    }
}

/// Every event `type`.
pub const EVENT_KINDS: &[&str] = &[
    "log.created",
    "identity.created",
    "identity.updated",
    "identity.status_changed",
    "credential.enrolled",
    "credential.revoked",
    "credential.vouched",
    "invitation.issued",
    "document.registered",
    "policy.activated",
    "ca.created",
    "credential.certified",
    "token.issued",
    "token.revoked",
    "token.recovered",
    "delegation.granted",
    "delegation.ended",
    "exception.requested",
    "exception.decided",
    "request.created",
    "request.closed",
    "request.rerouted",
    "group.changed",
    "entitlement.changed",
    "control.raised",
    "control.updated",
    "webhook.changed",
    "hold.placed",
    "hold.released",
    "personal.erased",
    "signature.accepted",
    "signature.refused",
];
