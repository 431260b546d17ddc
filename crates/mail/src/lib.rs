//! Countersign's notification e-mail over SMTP (RFC 5321): "an approval
//! awaits you", reminders, outcomes, enrolment links.
//!
//! Three parts:
//!
//! - [`config`]: the `[smtp]` section ([`SmtpConfig`]), validated into a
//!   ready [`Mailer`] or an error naming the field at fault. Mail goes
//!   over STARTTLS (required, never opportunistic) or implicit TLS;
//!   `security = "none"` is accepted only for a relay on loopback.
//!   Passwords live in a [`Password`] that never prints itself.
//! - [`message`]: an [`Email`] (caller-chosen Message-ID, one recipient,
//!   subject, plain text, optional HTML) formatted as RFC 5322 with
//!   `Auto-Submitted: auto-generated`, a `Date` from the caller's `now`,
//!   and encodings that carry any UTF-8 through 7-bit relays.
//! - [`send`]: one attempt per call ([`Mailer::send`]), answered as
//!   accepted, [`Error::Transient`] (retry later) or [`Error::Permanent`]
//!   (dead-letter), and [`Mailer::check`], the connect-and-authenticate
//!   probe `countersign serve` runs at start.
//!
//! It deliberately does not: queue mail, retry, schedule retries, or
//! remember what was sent (the caller's transactional outbox decides when
//! to try again, with the classification this crate gives it); render
//! templates or choose wording (the caller passes finished text); send to
//! several recipients at once; read the clock (`now` is a parameter); or
//! do any IO besides the SMTP connection and the one configuration reader,
//! [`SmtpConfig::read_files`], which the binary calls when it chooses.
//! There is no DKIM signing (the relay's job) and no List-Unsubscribe:
//! these are transactional notifications, not a mailing list.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::path::PathBuf;

pub mod config;
pub mod message;
pub mod send;

#[cfg(test)]
mod smtp_tests;

pub use config::{ConfigFiles, Password, Security, SmtpConfig};
pub use message::{Email, Recipient};
pub use send::{Accepted, Mailer, Stage};

/// Why configuring or sending mail failed.
///
/// Messages name the `[smtp]` key or the SMTP stage at fault, quote the
/// server's reply, and never contain the password (in any of its wire
/// forms), so they are safe to log and to show an operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is unusable; `field` is its `[smtp]` key.
    #[error("[smtp] {field}: {reason}")]
    Config { field: &'static str, reason: String },

    /// `password_file` or `ca_file` could not be read.
    #[error("[smtp] {field}: cannot read {}: {source}", path.display())]
    ReadFile {
        field: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The notification cannot be formatted (a bad address, Message-ID or
    /// subject); nothing was sent, and retrying will not help.
    #[error("mail {field}: {reason}")]
    Message { field: &'static str, reason: String },

    /// The attempt failed in a way a later attempt may not: a 4xx reply,
    /// no connection, a timeout, a failed TLS handshake.
    #[error("SMTP {server}, {stage}: {detail} (transient; retry later)")]
    Transient {
        server: String,
        stage: Stage,
        /// The reply code, when the server gave one.
        code: Option<u16>,
        detail: String,
    },

    /// The server or the client refused for good: a 5xx reply (550 no
    /// such user, 535 authentication failed, 554 rejected), or nothing in
    /// common to authenticate with.
    #[error("SMTP {server}, {stage}: {detail} (permanent; do not retry)")]
    Permanent {
        server: String,
        stage: Stage,
        /// The reply code, when the server gave one.
        code: Option<u16>,
        detail: String,
    },
}

impl Error {
    /// Whether the same mail may succeed on a later attempt. Everything
    /// that is not transient is permanent: retrying it with the same
    /// configuration gives the same answer.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Transient { .. })
    }

    /// The SMTP reply code behind the error, if the server gave one.
    pub fn smtp_code(&self) -> Option<u16> {
        match self {
            Error::Transient { code, .. } | Error::Permanent { code, .. } => *code,
            _ => None,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
