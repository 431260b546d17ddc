//! Countersign's wire vocabulary: the JSON bodies of the HTTP API, the
//! audit events written to the transparency log, the signed statements and
//! DSSE envelopes, the evidence bundle, and the stable error codes.
//!
//! Everything here is plain data with serde and OpenAPI (utoipa) derives.
//! This crate deliberately does no IO, no cryptography and no validation
//! beyond what parsing enforces: the rules live in `countersign-domain`,
//! signature checks in `countersign-attest` and `countersign-tlog`.

pub mod api;
pub mod entry;
pub mod error;
pub mod evidence;
pub mod governance;
pub mod iga;
pub mod intake;
pub mod model;
pub mod notify;
pub mod passkey;
pub mod personal;
pub mod statement;

pub use error::{ErrorCode, Problem};

/// RFC 3339 timestamps on the wire, UTC.
pub type Timestamp = time::OffsetDateTime;

/// Serde helpers for RFC 3339 timestamps.
pub mod rfc3339 {
    pub use time::serde::rfc3339::*;
    /// Optional RFC 3339 timestamps.
    pub mod option {
        pub use time::serde::rfc3339::option::*;
    }
}
