//! Outbound webhooks in the Standard Webhooks format
//! (<https://github.com/standard-webhooks/standard-webhooks>, `spec/standard-webhooks.md`).
//!
//! Three parts, each usable alone:
//!
//! - [`signature`]: the `webhook-id` / `webhook-timestamp` /
//!   `webhook-signature` headers, symmetric `v1` (HMAC-SHA256, `whsec_`
//!   secrets) and asymmetric `v1a` (Ed25519, `whsk_` / `whpk_` keys),
//!   signing with several secrets for zero-downtime rotation, and the
//!   receiver's check. Pure functions: the caller passes `now`.
//! - [`backoff`]: capped exponential backoff with equal jitter. Pure: the
//!   caller passes the random jitter.
//! - [`deliver`]: one HTTP POST attempt, reported as an [`deliver::Attempt`].
//!   The only IO in the crate.
//!
//! It deliberately does not: read the wall clock (timestamps are
//! parameters), draw randomness of its own (generators and jitter come from
//! the caller), keep a queue, schedule retries, remember which messages were
//! delivered, store or encrypt secrets, decide which events go to which
//! endpoint, build the payload (the body is bytes the caller already
//! serialized; they are sent exactly as signed). [`egress`] is the SSRF
//! guard: an egress policy checked on URLs and, in the client's resolver,
//! on every address connected to.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod backoff;
pub mod deliver;
pub mod egress;
pub mod signature;

pub use backoff::RetryPolicy;
pub use deliver::{client, deliver, Attempt, Delivery};
pub use egress::Egress;
pub use signature::{sign, verify, SigningSecret, VerifyingSecret, WebhookHeaders};

/// Why signing or verifying a webhook failed.
///
/// Messages never contain secret material, so they are safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A required header is absent or empty.
    #[error("missing or empty {0} header")]
    MissingHeader(&'static str),

    /// `webhook-timestamp` is not a plain decimal integer of Unix seconds.
    #[error("webhook-timestamp is not a canonical decimal integer of Unix seconds")]
    InvalidTimestamp,

    /// The timestamp lies further in the past than the tolerance allows.
    #[error("webhook-timestamp {timestamp} is more than {tolerance_secs}s before now ({now})")]
    TimestampTooOld {
        timestamp: i64,
        now: i64,
        tolerance_secs: i64,
    },

    /// The timestamp lies further in the future than the tolerance allows.
    #[error("webhook-timestamp {timestamp} is more than {tolerance_secs}s after now ({now})")]
    TimestampTooNew {
        timestamp: i64,
        now: i64,
        tolerance_secs: i64,
    },

    /// No entry of `webhook-signature` verifies under any of the secrets.
    #[error("no signature in webhook-signature verifies under the given secrets")]
    NoMatchingSignature,

    /// A `whsec_` / `whsk_` / `whpk_` string could not be used; the reason
    /// never quotes the secret.
    #[error("malformed webhook secret: {0}")]
    MalformedSecret(&'static str),

    /// The message id cannot be signed or verified safely.
    #[error("invalid webhook-id: {0}")]
    InvalidMessageId(&'static str),

    /// Signing or verifying was asked for with an empty list of secrets,
    /// which is a configuration error rather than a bad webhook.
    #[error("no webhook secrets configured")]
    NoSecrets,
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
