//! Audit events, the leaves of the transparency log.
//!
//! A log entry is the exact UTF-8 JSON bytes of a [`LogEntry`]; its leaf hash
//! is the RFC 6962 hash of those bytes. The bytes are stored and shipped
//! verbatim (never re-serialized) so that any verifier can recompute the hash.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ErrorCode;
use crate::model::{
    Credential, Decision, DocumentVersion, Identity, IdentityStatus, Request, RequestState,
};
use crate::statement::Envelope;
use crate::Timestamp;

/// Version of the entry format.
pub const ENTRY_VERSION: u32 = 1;

/// One audit event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogEntry {
    /// Entry format version, currently 1.
    pub v: u32,
    /// When the server recorded the event.
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
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
    #[serde(rename = "document.registered")]
    DocumentRegistered { version: DocumentVersion },
    #[serde(rename = "request.created")]
    RequestCreated { request: Request },
    /// A request left `pending` without a signature deciding it.
    #[serde(rename = "request.closed")]
    RequestClosed {
        request: String,
        state: RequestState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    #[serde(rename = "signature.accepted")]
    SignatureAccepted {
        request: String,
        actor: String,
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
        key_id: Option<String>,
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
            Event::DocumentRegistered { .. } => "document.registered",
            Event::RequestCreated { .. } => "request.created",
            Event::RequestClosed { .. } => "request.closed",
            Event::SignatureAccepted { .. } => "signature.accepted",
            Event::SignatureRefused { .. } => "signature.refused",
        }
    }
}
