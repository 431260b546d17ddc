//! The `[smtp]` section: what it may say, what it means, and how it becomes
//! a [`Mailer`].
//!
//! Three steps, so that the binary decides when IO happens:
//!
//! 1. deserialize [`SmtpConfig`] (unknown keys are errors);
//! 2. [`SmtpConfig::read_files`] reads `password_file` and `ca_file`, the
//!    only file access in this crate;
//! 3. [`SmtpConfig::build`] validates every field and answers a ready
//!    [`Mailer`], or an [`Error::Config`] naming the field at fault.
//!
//! [`SmtpConfig::validate`] runs the checks of step 3 that need no files,
//! for a configuration check that should not touch the disk.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use serde::Deserialize;

use crate::send::{Mailer, Secrets, Transport};
use crate::{Error, Result};

/// Submission port with STARTTLS (RFC 6409).
pub const STARTTLS_PORT: u16 = 587;
/// Submission port with implicit TLS (RFC 8314).
pub const TLS_PORT: u16 = 465;
/// The SMTP relay port, for an unencrypted relay on the same machine.
pub const PLAIN_PORT: u16 = 25;
/// Default for `timeout_seconds`.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;
/// Upper bound for `timeout_seconds`: a notification that cannot be handed
/// to a relay in ten minutes is better retried later than waited for.
pub const MAX_TIMEOUT_SECONDS: u64 = 600;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Connect in the clear, then require `STARTTLS` (RFC 3207) before
    /// anything else is said. A server that does not offer it is refused
    /// rather than talked to unencrypted. Default port 587.
    #[default]
    Starttls,
    /// TLS from the first byte (RFC 8314 "submissions"). Default port 465.
    Tls,
    /// No TLS at all. Only for a relay on the loopback interface, where
    /// nothing crosses a network. Default port 25.
    None,
}

impl Security {
    /// The port used when `port` is not configured.
    pub fn default_port(self) -> u16 {
        match self {
            Security::Starttls => STARTTLS_PORT,
            Security::Tls => TLS_PORT,
            Security::None => PLAIN_PORT,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Security::Starttls => "starttls",
            Security::Tls => "tls",
            Security::None => "none",
        }
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A password that never shows itself in `Debug` output, logs or errors.
///
/// Deserializes from a plain TOML string.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The `[smtp]` section of the configuration.
///
/// ```toml
/// [smtp]
/// host = "mail.example.com"
/// security = "starttls"            # or "tls", or "none" (loopback only)
/// username = "countersign"
/// password_file = "/run/secrets/smtp-password"
/// from = "Countersign <countersign@example.com>"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The mail server: a DNS name or an IP address. It is also the name
    /// the server's TLS certificate must carry.
    pub host: String,
    /// Defaults by `security`: 587 for starttls, 465 for tls, 25 for none.
    #[serde(default)]
    pub port: Option<u16>,
    /// Default `starttls`.
    #[serde(default)]
    pub security: Security,
    /// Authenticate (AUTH PLAIN or LOGIN) as this user; no AUTH without it.
    #[serde(default)]
    pub username: Option<String>,
    /// The password for `username`. Prefer `password_file`, which keeps
    /// the secret out of the configuration file.
    #[serde(default)]
    pub password: Option<Password>,
    /// A file holding the password for `username`; one trailing newline
    /// is ignored.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The sender, an RFC 5322 mailbox: `Countersign <countersign@example.com>`
    /// or a bare address.
    pub from: String,
    /// A PEM bundle of extra roots to trust, for a mail server with a
    /// private CA. The webpki (Mozilla) roots are trusted either way.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Bound on one whole attempt: connecting, TLS, AUTH and the message.
    /// Default 30, at most 600.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// The name this host gives in EHLO; default the system's host name.
    #[serde(default)]
    pub hello_name: Option<String>,
}

fn default_timeout_seconds() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

/// What [`SmtpConfig::read_files`] read: the contents of `password_file`
/// and `ca_file`.
///
/// The fields are public so that a binary can source them another way
/// (a secret store, say); [`SmtpConfig::build`] refuses contents the
/// configuration does not ask for, and asks for contents it names.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConfigFiles {
    /// The contents of `password_file`, trailing newline removed.
    pub password: Option<Password>,
    /// The contents of `ca_file`.
    pub ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for ConfigFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigFiles")
            .field("password", &self.password)
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .finish()
    }
}

impl SmtpConfig {
    /// The port to connect to: `port`, or the default for `security`.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.security.default_port())
    }

    /// Reads `password_file` and `ca_file`, if configured. This is the
    /// only file access in the crate; call it when the binary is ready to
    /// do IO (at start, and again on a reload).
    pub fn read_files(&self) -> Result<ConfigFiles> {
        let password = match &self.password_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
                    field: "password_file",
                    path: path.clone(),
                    source,
                })?;
                // Files written by `echo` or an editor end in a newline
                // that is not part of the password; anything else is kept,
                // since a password may legitimately end in spaces.
                let text = text
                    .strip_suffix("\r\n")
                    .or_else(|| text.strip_suffix('\n'))
                    .unwrap_or(&text);
                Some(Password::new(text))
            }
        };
        let ca_pem = match &self.ca_file {
            None => None,
            Some(path) => Some(std::fs::read(path).map_err(|source| Error::ReadFile {
                field: "ca_file",
                path: path.clone(),
                source,
            })?),
        };
        Ok(ConfigFiles { password, ca_pem })
    }

    /// Checks every field that can be checked without the files.
    pub fn validate(&self) -> Result<()> {
        self.checked().map(|_| ())
    }

    /// Validates the configuration and builds the [`Mailer`]; `files` is
    /// what [`SmtpConfig::read_files`] answered.
    pub fn build(&self, files: ConfigFiles) -> Result<Mailer> {
        let checked = self.checked()?;
        let password = match (&self.password, &self.password_file, files.password) {
            (Some(password), None, None) => Some(password.clone()),
            (None, Some(_), Some(password)) => Some(password),
            (None, Some(_), None) => {
                return Err(config(
                    "password_file",
                    "is configured but was not read (call read_files first)",
                ))
            }
            (_, None, Some(_)) => {
                return Err(config(
                    "password_file",
                    "a password was read from a file, but password_file is not configured",
                ))
            }
            // `checked` refused both at once and the password without a
            // user; what is left is no password at all.
            _ => None,
        };
        if let Some(password) = &password {
            if password.expose().is_empty() {
                let field = if self.password_file.is_some() {
                    "password_file"
                } else {
                    "password"
                };
                return Err(config(field, "the password is empty"));
            }
        }
        let transport = match self.security {
            Security::None => {
                if files.ca_pem.is_some() || self.ca_file.is_some() {
                    return Err(config(
                        "ca_file",
                        "is only used with security = \"starttls\" or \"tls\"",
                    ));
                }
                Transport::Plain
            }
            Security::Starttls | Security::Tls => {
                let tls = self.tls_parameters(files.ca_pem.as_deref())?;
                if self.security == Security::Tls {
                    Transport::Implicit(tls)
                } else {
                    Transport::Starttls(tls)
                }
            }
        };
        let credentials = match (&checked.username, &password) {
            (Some(user), Some(password)) => {
                Some(Credentials::new(user.clone(), password.expose().to_owned()))
            }
            _ => None,
        };
        let secrets = Secrets::new(checked.username.as_deref(), password.as_ref());
        Ok(Mailer {
            username: checked.username,
            host: self.host.clone(),
            port: self.effective_port(),
            security: self.security,
            from: checked.from,
            hello: checked.hello,
            timeout: checked.timeout,
            transport,
            credentials,
            secrets,
        })
    }

    fn checked(&self) -> Result<Checked> {
        check_host(&self.host)?;
        if self.port == Some(0) {
            return Err(config("port", "must be between 1 and 65535"));
        }
        if self.security == Security::None && !is_loopback(&self.host) {
            return Err(config(
                "security",
                format!(
                    "\"none\" sends mail and credentials unencrypted, so it is allowed only \
                     when host is a loopback address (127.0.0.1, ::1) or localhost, not {:?}; \
                     use \"starttls\" or \"tls\"",
                    self.host
                ),
            ));
        }
        let username = match &self.username {
            None => None,
            Some(user) if user.is_empty() => return Err(config("username", "is empty")),
            Some(user) if user.chars().any(char::is_control) => {
                return Err(config("username", "contains control characters"))
            }
            Some(user) => Some(user.clone()),
        };
        match (&username, &self.password, &self.password_file) {
            (_, Some(_), Some(_)) => {
                return Err(config(
                    "password",
                    "give either password or password_file, not both",
                ))
            }
            (Some(_), None, None) => {
                return Err(config(
                    "password",
                    "username is set, so password or password_file is required",
                ))
            }
            (None, Some(_), _) => {
                return Err(config(
                    "username",
                    "password is set, so username is required",
                ))
            }
            (None, _, Some(_)) => {
                return Err(config(
                    "username",
                    "password_file is set, so username is required",
                ))
            }
            _ => {}
        }
        let from = Mailbox::from_str(self.from.trim()).map_err(|err| {
            config(
                "from",
                format!(
                    "{:?} is not a mailbox such as \"Countersign <countersign@example.com>\": {err}",
                    self.from
                ),
            )
        })?;
        if !(1..=MAX_TIMEOUT_SECONDS).contains(&self.timeout_seconds) {
            return Err(config(
                "timeout_seconds",
                format!("must be between 1 and {MAX_TIMEOUT_SECONDS}"),
            ));
        }
        let hello = match &self.hello_name {
            None => ClientId::default(),
            Some(name) => hello_name(name)?,
        };
        Ok(Checked {
            username,
            from,
            hello,
            timeout: Duration::from_secs(self.timeout_seconds),
        })
    }

    fn tls_parameters(&self, ca_pem: Option<&[u8]>) -> Result<TlsParameters> {
        let mut builder = TlsParameters::builder(self.host.clone())
            .certificate_store(CertificateStore::WebpkiRoots);
        match (ca_pem, &self.ca_file) {
            (Some(pem), Some(_)) => {
                // lettre's parser accepts a bundle without certificates
                // (it skips non-certificate blocks), which would silently
                // trust nothing extra; count them ourselves.
                let count = String::from_utf8_lossy(pem)
                    .matches("-----BEGIN CERTIFICATE-----")
                    .count();
                if count == 0 {
                    return Err(config("ca_file", "contains no PEM certificate"));
                }
                let roots = Certificate::from_pem(pem)
                    .map_err(|err| config("ca_file", format!("is not a PEM bundle: {err}")))?;
                builder = builder.add_root_certificate(roots);
            }
            (None, Some(_)) => {
                return Err(config(
                    "ca_file",
                    "is configured but was not read (call read_files first)",
                ))
            }
            (Some(_), None) => {
                return Err(config(
                    "ca_file",
                    "certificates were read from a file, but ca_file is not configured",
                ))
            }
            (None, None) => {}
        }
        builder
            .build_rustls()
            .map_err(|err| config("ca_file", format!("unusable trusted roots: {err}")))
    }
}

/// The parts of a configuration that survive [`SmtpConfig::checked`].
struct Checked {
    username: Option<String>,
    from: Mailbox,
    hello: ClientId,
    timeout: Duration,
}

fn config(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Config {
        field,
        reason: reason.into(),
    }
}

/// A host is an IP address or a DNS name; `smtp://…` and `host:port` are
/// the usual mistakes, so they get a pointed answer.
fn check_host(host: &str) -> Result<()> {
    if host.is_empty() {
        return Err(config("host", "is empty"));
    }
    if host.contains("://") {
        return Err(config(
            "host",
            format!("{host:?} looks like a URL; give only the host name and set port and security"),
        ));
    }
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        let hint = if host.contains(':') {
            " (put the port in `port`, and an IPv6 address without brackets)"
        } else {
            ""
        };
        return Err(config(
            "host",
            format!("{host:?} is neither an IP address nor a DNS name{hint}"),
        ));
    }
    Ok(())
}

/// Whether nothing sent to `host` leaves this machine.
fn is_loopback(host: &str) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    name.eq_ignore_ascii_case("localhost")
}

/// The EHLO argument: a domain, or an address literal such as `[192.0.2.1]`
/// or `[IPv6:2001:db8::1]` (RFC 5321 section 4.1.3). A bare IP address is
/// accepted too and sent as a literal.
fn hello_name(name: &str) -> Result<ClientId> {
    let literal = name
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'));
    let ip = match literal {
        Some(inner) => inner.strip_prefix("IPv6:").unwrap_or(inner).parse().ok(),
        None => name.parse::<IpAddr>().ok(),
    };
    match ip {
        Some(IpAddr::V4(v4)) => return Ok(ClientId::Ipv4(v4)),
        Some(IpAddr::V6(v6)) => return Ok(ClientId::Ipv6(v6)),
        None if literal.is_some() => {
            return Err(config(
                "hello_name",
                format!("{name:?} is not an address literal such as [192.0.2.1]"),
            ))
        }
        None => {}
    }
    check_host(name).map_err(|_| {
        config(
            "hello_name",
            format!("{name:?} is neither a domain name nor an address literal"),
        )
    })?;
    Ok(ClientId::Domain(name.to_owned()))
}

impl Secrets {
    /// Every form in which the password could come back in a server's
    /// reply or an error message: as given, and as the base64 that AUTH
    /// LOGIN and AUTH PLAIN put on the wire.
    fn new(username: Option<&str>, password: Option<&Password>) -> Self {
        let Some(password) = password else {
            return Secrets::default();
        };
        let password = password.expose();
        let mut forms = vec![password.to_owned(), B64.encode(password)];
        if let Some(user) = username {
            forms.push(B64.encode(format!("\0{user}\0{password}")));
        }
        forms.retain(|form| !form.is_empty());
        Secrets::from_forms(forms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<SmtpConfig, toml::de::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            smtp: SmtpConfig,
        }
        toml::from_str::<File>(text).map(|file| file.smtp)
    }

    fn minimal(host: &str) -> SmtpConfig {
        parse(&format!(
            "[smtp]\nhost = \"{host}\"\nfrom = \"Countersign <countersign@example.com>\"\n"
        ))
        .unwrap()
    }

    fn field_of(err: Error) -> &'static str {
        match err {
            Error::Config { field, .. } | Error::ReadFile { field, .. } => field,
            other => panic!("not a configuration error: {other}"),
        }
    }

    #[test]
    fn defaults() {
        let c = minimal("mail.example.com");
        assert_eq!(c.security, Security::Starttls);
        assert_eq!(c.effective_port(), 587);
        assert_eq!(c.timeout_seconds, 30);
        assert_eq!(c.hello_name, None);
        let mailer = c.build(ConfigFiles::default()).unwrap();
        assert_eq!(mailer.server(), "mail.example.com:587");
    }

    #[test]
    fn port_defaults_follow_security() {
        for (security, host, port) in [
            ("starttls", "mail.example.com", 587),
            ("tls", "mail.example.com", 465),
            ("none", "localhost", 25),
        ] {
            let c = parse(&format!(
                "[smtp]\nhost = \"{host}\"\nsecurity = \"{security}\"\nfrom = \"a@example.com\"\n"
            ))
            .unwrap();
            assert_eq!(c.effective_port(), port, "{security}");
            c.build(ConfigFiles::default()).unwrap();
        }
        let c =
            parse("[smtp]\nhost = \"h.example\"\nport = 2525\nfrom = \"a@example.com\"\n").unwrap();
        assert_eq!(c.effective_port(), 2525);
    }

    #[test]
    fn unknown_keys_and_values_are_errors() {
        let err = parse("[smtp]\nhost = \"h\"\nfrom = \"a@example.com\"\ntls = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `tls`"), "{err}");
        let err = parse("[smtp]\nhost = \"h\"\nfrom = \"a@example.com\"\nsecurity = \"ssl\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `ssl`"), "{err}");
    }

    #[test]
    fn no_tls_only_on_loopback() {
        for host in ["127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST."] {
            let mut c = minimal(host);
            c.security = Security::None;
            c.validate().unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        for host in [
            "mail.example.com",
            "10.0.0.1",
            "localhost.example.com",
            "::",
        ] {
            let mut c = minimal(host);
            c.security = Security::None;
            let err = c.validate().unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with("[smtp] security:") && text.contains("loopback"),
                "{host}: {text}"
            );
        }
    }

    #[test]
    fn credentials_go_together() {
        let mut c = minimal("mail.example.com");
        c.username = Some("u".into());
        assert_eq!(field_of(c.validate().unwrap_err()), "password");

        c.password = Some(Password::new("pw"));
        c.password_file = Some("/nonexistent".into());
        assert_eq!(field_of(c.validate().unwrap_err()), "password");

        c.username = None;
        c.password_file = None;
        assert_eq!(field_of(c.validate().unwrap_err()), "username");

        c.username = Some(String::new());
        assert_eq!(field_of(c.validate().unwrap_err()), "username");

        c.username = Some("u".into());
        c.password = Some(Password::new(""));
        assert_eq!(
            field_of(c.build(ConfigFiles::default()).unwrap_err()),
            "password"
        );
    }

    #[test]
    fn password_never_in_debug() {
        let mut c = minimal("mail.example.com");
        c.username = Some("countersign".into());
        c.password = Some(Password::new("hunter2-secret"));
        let files = ConfigFiles {
            password: None,
            ca_pem: None,
        };
        let mailer = c.build(files.clone()).unwrap();
        for text in [
            format!("{c:?}"),
            format!("{mailer:?}"),
            format!("{files:?}"),
            format!("{:?}", Password::new("hunter2-secret")),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert!(format!("{mailer:?}").contains("countersign"));
    }

    #[test]
    fn read_files_reads_the_password_and_roots() {
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("password");
        std::fs::write(&password, "s3cret \n").unwrap();
        let mut c = minimal("mail.example.com");
        c.username = Some("u".into());
        c.password_file = Some(password);
        let files = c.read_files().unwrap();
        assert_eq!(files.password, Some(Password::new("s3cret ")));
        assert_eq!(files.ca_pem, None);
        c.build(files).unwrap();

        // Read, but not yet read: the build says which step is missing.
        let err = c.build(ConfigFiles::default()).unwrap_err().to_string();
        assert!(err.contains("read_files"), "{err}");

        c.ca_file = Some(dir.path().join("missing.pem"));
        let err = c.read_files().unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("[smtp] ca_file: cannot read") && text.contains("missing.pem"),
            "{text}"
        );
    }

    #[test]
    fn ca_file_must_hold_certificates() {
        let mut c = minimal("mail.example.com");
        c.ca_file = Some("/etc/ca.pem".into());
        let files = |pem: &str| ConfigFiles {
            password: None,
            ca_pem: Some(pem.as_bytes().to_vec()),
        };
        let err = c.build(files("not a certificate")).unwrap_err();
        assert_eq!(field_of(err), "ca_file");
        let err = c
            .build(files(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ))
            .unwrap_err();
        assert_eq!(field_of(err), "ca_file");
        let cert = rcgen::generate_simple_self_signed(vec!["mail.example.com".to_owned()])
            .unwrap()
            .cert
            .pem();
        c.build(files(&cert)).unwrap();

        c.security = Security::None;
        c.host = "localhost".into();
        let err = c.build(files(&cert)).unwrap_err();
        assert_eq!(field_of(err), "ca_file");
    }

    #[test]
    fn from_host_timeout_and_hello_are_checked() {
        let mut c = minimal("mail.example.com");
        c.from = "Countersign countersign.example.com".into();
        let err = c.validate().unwrap_err();
        assert!(err.to_string().starts_with("[smtp] from:"), "{err}");
        c.from = "countersign@example.com".into();
        c.validate().unwrap();

        for bad in ["", "smtp://mail.example.com", "mail.example.com:587", "a b"] {
            c.host = bad.into();
            assert_eq!(field_of(c.validate().unwrap_err()), "host", "{bad:?}");
        }
        c.host = "mail.example.com".into();

        c.timeout_seconds = 0;
        assert_eq!(field_of(c.validate().unwrap_err()), "timeout_seconds");
        c.timeout_seconds = 601;
        assert_eq!(field_of(c.validate().unwrap_err()), "timeout_seconds");
        c.timeout_seconds = 5;

        for good in [
            "countersign.example.com",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
        ] {
            c.hello_name = Some(good.into());
            c.validate().unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in ["", "[nonsense]", "two words"] {
            c.hello_name = Some(bad.into());
            assert_eq!(field_of(c.validate().unwrap_err()), "hello_name", "{bad:?}");
        }
    }

    #[test]
    fn secrets_cover_the_wire_forms() {
        let s = Secrets::new(Some("u"), Some(&Password::new("pw1")));
        let text = format!("echo pw1 {} {}", B64.encode("pw1"), B64.encode("\0u\0pw1"));
        let clean = s.redact(&text);
        assert!(!clean.contains("pw1"), "{clean}");
        assert!(!clean.contains(&B64.encode("pw1")), "{clean}");
        assert!(!clean.contains(&B64.encode("\0u\0pw1")), "{clean}");
        assert!(clean.starts_with("echo "), "{clean}");
    }
}
