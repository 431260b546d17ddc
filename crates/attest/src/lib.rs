//! Signed statements and offline verification.
//!
//! This crate builds and checks what signers sign: in-toto Statement v1
//! approvals inside DSSE v1 envelopes, signed with Ed25519 over the DSSE
//! pre-authentication encoding. It also holds the offline evidence verifier
//! ([`verify`]) so that the CLI can check a bundle with no server and no
//! database.
//!
//! It deliberately does no IO: key files, HTTP and storage belong to the
//! binary and the server. It does not decide whether a signer *may* sign;
//! that is the domain's job.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod commitment;
pub mod dsse;
pub mod keys;
pub mod passkey;
pub mod x509;

pub use dsse::{
    approval_statement, envelope_digest, pae, resolution_of, sign_resolution, sign_statement,
    statement_of, verify_envelope, verify_resolution, verify_with_credential,
};
pub use keys::{key_id, pop_message};

/// Errors from building or checking statements.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("envelope payload is not valid base64: {0}")]
    PayloadEncoding(String),
    #[error("envelope payloadType is {0:?}, expected {expected:?}", expected = countersign_proto::statement::PAYLOAD_TYPE)]
    PayloadType(String),
    #[error("statement is not a Countersign approval: {0}")]
    Statement(String),
    #[error("envelope has {0} signatures; exactly one is required")]
    SignatureCount(usize),
    #[error("signature is not valid base64 or has the wrong length")]
    SignatureEncoding,
    #[error("signature does not verify with key {0}")]
    BadSignature(String),
    #[error("key encoding: {0}")]
    Key(String),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
