//! One SMTP session: connect, secure, authenticate, hand over one message
//! or just say hello, and say what happened in terms an outbox can act on.
//!
//! Each call opens its own connection and closes it: notifications are few,
//! and a pooled connection would bring idle timeouts and half-closed
//! sockets to reason about for no measurable gain.
//!
//! Classification ([`Error::Transient`] or [`Error::Permanent`]) follows
//! RFC 5321 section 4.2.1 for replies: 4xx is transient and 5xx permanent,
//! whatever the command (so `535` to AUTH is permanent, `454` transient).
//! Without a reply: anything on the way to a conversation (refused or reset
//! connections, name resolution, timeouts, TLS handshakes and certificate
//! checks, a server that does not offer STARTTLS) is transient, because a
//! later attempt can succeed once the network, the server or the
//! configuration is fixed, and dropping notifications for an outage would
//! be worse than retrying them; what the client itself refuses to do (no
//! AUTH mechanism in common, a message the server cannot take without
//! `SMTPUTF8`) is permanent, because retrying the same mail changes nothing.
//!
//! lettre's own `tracing` feature is deliberately not enabled: at debug
//! level it logs every command written, which includes the AUTH exchange.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use time::OffsetDateTime;

use crate::config::Security;
use crate::message::{mail_data, Email};
use crate::{Error, Result};

/// How long a polite `QUIT` may take once the message is accepted. The
/// outcome is already known by then, so this only bounds the wait.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where an attempt was when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Opening the TCP connection, the server's greeting and EHLO.
    Connect,
    /// STARTTLS and the handshake after it. (With implicit TLS the
    /// handshake is part of [`Stage::Connect`].)
    Tls,
    /// AUTH.
    Auth,
    /// MAIL FROM, RCPT TO and DATA.
    Send,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::Tls => "TLS",
            Stage::Auth => "AUTH",
            Stage::Send => "sending",
        })
    }
}

/// The server took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The reply code, 250 in practice.
    pub code: u16,
    /// The reply text, which often names the server's queue id; worth
    /// recording for an operator who traces a mail through the relay.
    pub reply: String,
}

/// A validated `[smtp]` configuration, ready to send. Built by
/// [`crate::SmtpConfig::build`]; cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) security: Security,
    pub(crate) from: Mailbox,
    pub(crate) hello: ClientId,
    pub(crate) timeout: Duration,
    pub(crate) transport: Transport,
    pub(crate) username: Option<String>,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) secrets: Secrets,
}

#[derive(Clone)]
pub(crate) enum Transport {
    Plain,
    Starttls(TlsParameters),
    Implicit(TlsParameters),
}

/// The forms of the password that must never reach an error message.
#[derive(Clone, Default)]
pub(crate) struct Secrets(Vec<String>);

impl Secrets {
    pub(crate) fn from_forms(mut forms: Vec<String>) -> Self {
        // Longest first: one form can contain another, and replacing the
        // shorter one first would break the longer one apart, leaving its
        // remainder (which still encodes the password) unrecognised.
        forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        Self(forms)
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for form in &self.0 {
            if text.contains(form.as_str()) {
                text = text.replace(form.as_str(), "<redacted>");
            }
        }
        text
    }
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server())
            .field("security", &self.security)
            .field("from", &self.from.to_string())
            .field("hello_name", &self.hello.to_string())
            .field("timeout", &self.timeout)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why a step failed, before it is given its server, stage and redaction.
struct Failure {
    transient: bool,
    code: Option<u16>,
    detail: String,
}

impl Failure {
    fn transient(detail: impl Into<String>) -> Self {
        Self {
            transient: true,
            code: None,
            detail: detail.into(),
        }
    }
}

impl From<lettre::transport::smtp::Error> for Failure {
    fn from(err: lettre::transport::smtp::Error) -> Self {
        if let Some(code) = err.status() {
            // For a negative reply lettre's source is the reply text.
            let text = err.source().map(ToString::to_string).unwrap_or_default();
            return Self {
                transient: err.is_transient(),
                code: code.to_string().parse().ok(),
                detail: format!("the server answered {code} {text}"),
            };
        }
        Self {
            transient: !err.is_client(),
            code: None,
            detail: error_chain(&err),
        }
    }
}

/// The error and each cause not already spelled out by the one above it,
/// with a hint where the usual remedy is a setting.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    // lettre nests its own errors ("Connection error: Connection error:
    // invalid peer certificate"); say each part once.
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split(": ") {
        if parts.last() != Some(&part) {
            parts.push(part);
        }
    }
    let mut text = parts.join(": ");
    if text.contains("certificate") {
        text.push_str(
            " (the server's certificate must be valid for `host`; for a private CA, set ca_file)",
        );
    }
    text
}

impl Mailer {
    /// `host:port`, for logs and error messages.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The message as [`Mailer::send`] would deliver it, with `now` as
    /// its `Date`: the bytes the server stores. Pure; useful to store or
    /// inspect a notification. (A multipart message's boundary is random,
    /// so it differs from call to call.)
    pub fn format(&self, email: &Email, now: OffsetDateTime) -> Result<Vec<u8>> {
        Ok(mail_data(&email.render(&self.from, now)?))
    }

    /// One delivery attempt of `email`, dated `now`.
    ///
    /// `Ok` means the server accepted responsibility for the message (a
    /// 250 to the end of DATA); the polite QUIT afterwards cannot turn
    /// that into an error. An error is [`Error::Message`] (the message
    /// cannot be formatted; nothing was sent), [`Error::Transient`] (try
    /// again later) or [`Error::Permanent`] (give up, or fix the
    /// configuration). The attempt is bounded by `timeout_seconds`, plus
    /// at most five seconds for the QUIT.
    ///
    /// A timeout after the message was sent but before the server
    /// answered is reported as transient, so a retry can deliver the mail
    /// twice; the stable Message-ID is what lets receivers see that.
    pub async fn send(&self, email: &Email, now: OffsetDateTime) -> Result<Accepted> {
        let message = email.render(&self.from, now)?;
        let data = mail_data(&message);
        // Without its final CRLF, which lettre's end-of-data sends.
        let bytes = data.strip_suffix(b"\r\n").unwrap_or(&data);
        let mut stage = Stage::Connect;
        let outcome = tokio::time::timeout(
            self.timeout,
            self.deliver(message.envelope(), bytes, &mut stage),
        )
        .await;
        let (mut conn, response) = self.outcome(outcome, stage)?;
        // The message is the server's now; QUIT is courtesy, and its
        // failure changes nothing.
        let _ = tokio::time::timeout(QUIT_TIMEOUT, conn.quit()).await;
        let accepted = Accepted {
            code: response.code().to_string().parse().unwrap_or(250),
            reply: self
                .secrets
                .redact(&response.message().collect::<Vec<_>>().join(" ")),
        };
        tracing::debug!(
            server = %self.server(),
            message_id = %email.message_id,
            reply = %accepted.reply,
            "mail accepted"
        );
        Ok(accepted)
    }

    /// Connects, secures the connection as configured, authenticates if a
    /// username is configured, and says QUIT: what `countersign serve`
    /// runs at start to report a misconfigured mail server before the
    /// first notification fails. Errors are classified as for
    /// [`Mailer::send`]; nothing is sent.
    pub async fn check(&self) -> Result<()> {
        let mut stage = Stage::Connect;
        let outcome = tokio::time::timeout(self.timeout, self.hello(&mut stage)).await;
        self.outcome(outcome, stage)
    }

    async fn deliver(
        &self,
        envelope: &lettre::address::Envelope,
        bytes: &[u8],
        stage: &mut Stage,
    ) -> std::result::Result<(AsyncSmtpConnection, Response), Failure> {
        let mut conn = self.open(stage).await?;
        *stage = Stage::Send;
        let response = conn.send(envelope, bytes).await?;
        Ok((conn, response))
    }

    async fn hello(&self, stage: &mut Stage) -> std::result::Result<(), Failure> {
        let mut conn = self.open(stage).await?;
        conn.quit().await?;
        Ok(())
    }

    /// A connection that is encrypted as configured and authenticated if
    /// a username is configured. On any error the connection is dropped,
    /// which closes it; a failed session owes the server no QUIT.
    async fn open(&self, stage: &mut Stage) -> std::result::Result<AsyncSmtpConnection, Failure> {
        *stage = Stage::Connect;
        let implicit = match &self.transport {
            Transport::Implicit(tls) => Some(tls.clone()),
            Transport::Plain | Transport::Starttls(_) => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &self.hello,
            implicit,
            None,
        )
        .await?;
        if let Transport::Starttls(tls) = &self.transport {
            *stage = Stage::Tls;
            if !conn.can_starttls() {
                // Transient rather than permanent: an attacker on the path
                // can strip STARTTLS from the greeting, and that must
                // delay notifications, not destroy them. A server that
                // never offers it is caught by `check` at start.
                return Err(Failure::transient(
                    "the server does not offer STARTTLS, and security = \"starttls\" \
                     forbids continuing unencrypted; nothing was sent",
                ));
            }
            conn.starttls(tls.clone(), &self.hello).await?;
        }
        if let Some(credentials) = &self.credentials {
            *stage = Stage::Auth;
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|err| {
                    let mut failure = Failure::from(err);
                    if failure.code.is_none() && !failure.transient {
                        failure.detail.push_str(
                            " (Countersign authenticates with AUTH PLAIN or LOGIN; \
                             the server offered neither)",
                        );
                    }
                    failure
                })?;
        }
        Ok(conn)
    }

    /// Turns the timed outcome of a session into this crate's answer,
    /// naming the server and the stage reached, with secrets removed.
    fn outcome<T>(
        &self,
        outcome: std::result::Result<std::result::Result<T, Failure>, tokio::time::error::Elapsed>,
        stage: Stage,
    ) -> Result<T> {
        let failure = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(failure)) => failure,
            Err(_elapsed) => Failure::transient(format!(
                "no answer within {} s (timeout_seconds)",
                self.timeout.as_secs()
            )),
        };
        let server = self.server();
        let detail = self.secrets.redact(&failure.detail);
        let code = failure.code;
        Err(if failure.transient {
            Error::Transient {
                server,
                stage,
                code,
                detail,
            }
        } else {
            Error::Permanent {
                server,
                stage,
                code,
                detail,
            }
        })
    }
}
