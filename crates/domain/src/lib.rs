//! Countersign's rules: what makes an identity, a credential, a document
//! version, a request and a signature acceptable, and how a request's state
//! follows from its signatures.
//!
//! Every function here is pure: it takes the facts it needs (already loaded
//! by the caller) and `now`, and answers with a new record or a [`Refusal`]
//! carrying a stable [`ErrorCode`]. The domain never reads the clock, never
//! generates randomness and never touches storage or HTTP; the ledger in
//! `countersign-store` orchestrates loading, deciding and recording.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod delegation;
pub mod describe;
pub mod exception;
pub mod identity;
pub mod lifecycle;
pub mod notify;
pub mod policy;
pub mod reconcile;
pub mod request;
pub mod signing;

pub use countersign_proto::ErrorCode;
use time::OffsetDateTime;

/// A rule said no. `code` is stable; `detail` is for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub detail: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Refusal {
            code,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl std::error::Error for Refusal {}

pub type Result<T> = std::result::Result<T, Refusal>;

/// Tunables of the rules, set by the operator.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest document accepted for upload, in bytes.
    pub max_document_bytes: u64,
    /// How far a statement's `signedAt` may be from the server clock.
    pub max_clock_skew: time::Duration,
    /// Longest allowed lifetime of a request.
    pub max_request_lifetime: time::Duration,
    /// Lifetime of a request when the creator gives none.
    pub default_request_lifetime: time::Duration,
    /// Lifetime of a key-enrolment challenge.
    pub challenge_lifetime: time::Duration,
    /// Longest allowed delegation.
    pub max_delegation: time::Duration,
    /// How recent an interactive authentication counts as step-up.
    pub step_up_window: time::Duration,
    /// How long an approved policy exception may wait to be used.
    pub exception_lifetime: time::Duration,
    /// A credential that lives longer than this is long-lived.
    pub long_lived_after: time::Duration,
    /// Longest allowed API token lifetime.
    pub max_token_lifetime: time::Duration,
    /// Lifetime of a workload certificate (at most 10 minutes).
    pub workload_certificate_lifetime: time::Duration,
    /// How many refusals of envelopes that prove nothing (unparseable,
    /// naming no enrolled key, or whose signature does not verify) one
    /// caller may have recorded in the log per hour; past it such a
    /// refusal is answered but not recorded. A refusal of a signature that
    /// verifies with an enrolled key is always recorded.
    pub unproven_refusals_per_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 25 * 1024 * 1024,
            max_clock_skew: time::Duration::minutes(5),
            max_request_lifetime: time::Duration::days(365),
            default_request_lifetime: time::Duration::days(7),
            challenge_lifetime: time::Duration::minutes(5),
            max_delegation: time::Duration::days(90),
            step_up_window: time::Duration::minutes(5),
            exception_lifetime: time::Duration::hours(1),
            long_lived_after: time::Duration::hours(24),
            max_token_lifetime: time::Duration::days(365),
            workload_certificate_lifetime: time::Duration::minutes(10),
            unproven_refusals_per_hour: 20,
        }
    }
}

/// Check a free-text field: trimmed length within bounds, no control characters.
pub fn check_text(field: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let len = value.trim().chars().count();
    if len < min || value.chars().count() > max {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            format!("{field} must be {min} to {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            format!("{field} contains control characters"),
        ));
    }
    Ok(())
}

/// Check a name used in URLs: handles, document names, systems.
/// 1 to 128 characters from `A-Z a-z 0-9 . _ - @`, not starting with a dot.
pub fn check_name(field: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && !value.starts_with('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(
            ErrorCode::InvalidField,
            format!(
                "{field} {value:?} must be 1 to 128 characters from A-Z a-z 0-9 . _ - @ and not start with a dot"
            ),
        ))
    }
}

/// Check a lowercase hex SHA-256 digest.
pub fn check_sha256(field: &str, value: &str) -> Result<()> {
    if countersign_attest::dsse::is_sha256_hex(value) {
        Ok(())
    } else {
        Err(Refusal::new(
            ErrorCode::InvalidField,
            format!("{field} must be 64 lowercase hex digits (SHA-256)"),
        ))
    }
}

/// Check that a deadline lies after `now`.
pub fn check_future(field: &str, at: OffsetDateTime, now: OffsetDateTime) -> Result<()> {
    if at > now {
        Ok(())
    } else {
        Err(Refusal::new(
            ErrorCode::InvalidField,
            format!("{field} must be in the future"),
        ))
    }
}
