//! Server configuration: defaults, then `countersign.toml`, then
//! `COUNTERSIGN_*` environment variables, then flags. The TOML file is
//! optional (`<data>/countersign.toml`, or `--config PATH`); unknown keys
//! are errors, so a misspelt setting never silently falls back to a default.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use countersign_oidc::IssuerConfig;
use serde::Deserialize;

/// The file name looked for in the data directory.
pub const CONFIG_FILE: &str = "countersign.toml";

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub governance: GovernanceSection,
    #[serde(default)]
    pub oidc: OidcSection,
    #[serde(default)]
    pub iga: IgaSection,
    #[serde(default)]
    pub webhooks: WebhooksSection,
    /// TLS in the server (rustls); without it, plain HTTP.
    #[serde(default)]
    pub tls: Option<TlsSection>,
    #[serde(default)]
    pub web: WebSection,
    #[serde(default)]
    pub webauthn: WebauthnSection,
    /// The mail server notifications go through; without it, no mail.
    #[serde(default)]
    pub smtp: Option<countersign_mail::SmtpConfig>,
    #[serde(default)]
    pub notifications: NotificationsSection,
    /// How long personal values are kept before `countersign erase` may
    /// remove them, counted from the later of the entry and the person's
    /// termination.
    #[serde(default)]
    pub retention: RetentionSection,
    /// Where the log is kept (`--database` / `COUNTERSIGN_DATABASE_URL`
    /// win over it); without it, SQLite in the data directory. Read
    /// before the rest of the file, by [`database_url`]; declared here so
    /// the section is part of the checked file.
    #[serde(default)]
    #[allow(dead_code)]
    pub database: DatabaseSection,
}

/// `[database] url = "postgres://…"`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    #[allow(dead_code)]
    pub url: Option<String>,
}

/// The database URL a configuration file names, read before the rest
/// of the file is (every local command needs it; only `serve` needs the
/// rest, and checks it all).
pub fn database_url(data: &Path, explicit: Option<&Path>) -> Result<Option<String>> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => data.join(CONFIG_FILE),
    };
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            return Ok(None)
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
    match value.get("database").and_then(|d| d.get("url")) {
        None => Ok(None),
        Some(toml::Value::String(url)) => Ok(Some(url.clone())),
        Some(_) => bail!("in {}: database.url must be a string", path.display()),
    }
}

/// Retention of personal values, in days, per class.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// Names, e-mails, status reasons, token names (default 30).
    pub identity_days: Option<u64>,
    /// Purposes, signed statements, refusals, delegations, policy
    /// exceptions (default 2555, seven years).
    pub approval_days: Option<u64>,
    /// Reconciliation and control exceptions (default 2555).
    pub control_days: Option<u64>,
    /// Webhook URLs and legal hold reasons (default 365).
    pub operations_days: Option<u64>,
}

/// TLS: certificate chain and key in PEM files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The certificate chain, leaf first (PEM).
    pub cert_file: std::path::PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: std::path::PathBuf,
    /// Also listen here with plain HTTP and redirect every request to
    /// https (for example `0.0.0.0:80`).
    #[serde(default)]
    pub redirect_http: Option<String>,
}

/// The web app's sessions and enrolment links.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    /// A session unused this many seconds ends (default 1800).
    pub session_idle_seconds: Option<u64>,
    /// A session ends this many seconds after sign-in (default 43200).
    pub session_max_seconds: Option<u64>,
    /// Default lifetime of an enrolment link (default 72, at most 336).
    pub invitation_hours: Option<u64>,
    /// Mail a SCIM joiner an enrolment link (default true; needs `[smtp]`).
    pub invite_scim_joiners: Option<bool>,
}

/// The WebAuthn relying party.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebauthnSection {
    /// The relying party id: the host people use, or a parent domain of
    /// it (default: the host of `server.public_url`).
    pub rp_id: Option<String>,
    /// The name authenticators show (default "Countersign").
    pub rp_name: Option<String>,
    /// Origins ceremonies may come from (default: `server.public_url`).
    pub origins: Option<Vec<String>>,
    /// PEM bundle of trusted attestation roots; a device-bound passkey whose
    /// attestation chains to one of them earns AAL3.
    pub attestation_roots: Option<std::path::PathBuf>,
}

/// When notification mails go out and how failed ones are retried.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsSection {
    /// Reminders before a pending request expires, such as `["24h", "1h"]`
    /// (default `["24h"]`; `[]` for none).
    pub reminders: Option<Vec<String>>,
    /// Attempts before a mail is dead (default 12).
    pub max_attempts: Option<u32>,
    /// First retry delay in seconds, doubling per attempt (default 30).
    pub retry_base_seconds: Option<u64>,
    /// Longest retry delay in seconds (default 3600).
    pub retry_cap_seconds: Option<u64>,
    /// How often the mail outbox is polled, in milliseconds (default 1000).
    pub poll_ms: Option<u64>,
}

/// The IAM/IGA integration: SCIM, lifecycle, reconciliation.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgaSection {
    /// What SCIM `active: false` does: `suspend` (default) or `terminate`.
    pub scim_deactivate: Option<String>,
    /// Pending requests a leaver must sign: `reroute` (default) or `void`.
    pub pending_approvals: Option<String>,
    /// CloudEvents `source` of outbound events (default `urn:countersign:<origin>`).
    pub event_source: Option<String>,
    /// An approval older than this at the change is stale (default 30).
    pub max_approval_age_days: Option<u64>,
    /// A leaver's access must be gone within this (default 24).
    pub offboarding_sla_hours: Option<u64>,
    /// An approved change must be carried out within this (default 7).
    pub execution_sla_days: Option<u64>,
    /// How often the server runs a full reconciliation, in seconds; 0 turns
    /// it off (default 3600).
    pub reconcile_every_seconds: Option<u64>,
}

/// The webhook sender.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSection {
    /// Attempts before a delivery is dead-lettered (default 10).
    pub max_attempts: Option<u32>,
    /// First retry delay in milliseconds; doubles per attempt (default 5000).
    pub retry_base_ms: Option<u64>,
    /// Longest retry delay in seconds (default 3600).
    pub retry_cap_seconds: Option<u64>,
    /// Consecutive failures that disable an endpoint (default 50).
    pub disable_after: Option<u32>,
    /// Time limit of one attempt in seconds (default 15).
    pub timeout_seconds: Option<u64>,
    /// How often the outbox is polled, in milliseconds (default 500).
    pub poll_ms: Option<u64>,
    /// Allow plain `http` webhook URLs (default false: https only).
    /// For development.
    #[serde(default)]
    pub allow_http: bool,
    /// Allow webhooks to loopback, private, link-local and other
    /// non-public addresses (default false). For development and tests:
    /// it lets whoever configures a webhook reach this server's network.
    #[serde(default)]
    pub allow_private_destinations: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub listen: Option<String>,
    pub origin: Option<String>,
    pub max_document_bytes: Option<u64>,
    /// Where people reach this server (links in mails, the WebAuthn origin):
    /// default `http://localhost:<port>`, or `https://localhost:<port>` with `[tls]`.
    pub public_url: Option<String>,
    /// Failed authentications a token or an address may have in a burst
    /// (default 20), and how many it earns back per minute (default 20).
    pub auth_failure_burst: Option<u32>,
    pub auth_failures_per_minute: Option<u32>,
    /// Refused signatures a caller or an address may have in a burst
    /// (default 30), and per minute after it (default 30).
    pub refusal_burst: Option<u32>,
    pub refusals_per_minute: Option<u32>,
    /// How often expired requests are closed, reminders queued and
    /// expired sessions purged, in seconds (default 15).
    pub sweep_seconds: Option<u64>,
    /// How long this instance's leases last unless renewed, in seconds
    /// (default 15, at least 3): how soon another instance on the same
    /// PostgreSQL database takes the scheduled tasks over from one that
    /// died.
    pub lease_seconds: Option<u64>,
}

impl ServerSection {
    /// `sweep_seconds` and `lease_seconds`, checked.
    pub fn schedule(&self) -> Result<(std::time::Duration, std::time::Duration)> {
        let sweep = self.sweep_seconds.unwrap_or(15);
        let lease = self.lease_seconds.unwrap_or(15);
        if sweep == 0 {
            bail!("server.sweep_seconds must be at least 1");
        }
        if lease < 3 {
            bail!("server.lease_seconds must be at least 3 (a lease is renewed every third of it)");
        }
        Ok((
            std::time::Duration::from_secs(sweep),
            std::time::Duration::from_secs(lease),
        ))
    }
}

impl ServerSection {
    /// The failure budgets of `[server]`.
    pub fn limits(&self) -> Result<countersign_server::auth::Limits> {
        use countersign_server::limit::Rate;
        let rate = |burst: Option<u32>, per_minute: Option<u32>, what: &str| {
            let r = Rate {
                burst: burst.unwrap_or(if what == "auth" { 20 } else { 30 }),
                per_minute: per_minute.unwrap_or(if what == "auth" { 20 } else { 30 }),
            };
            if r.burst == 0 || r.per_minute == 0 {
                bail!("server.{what} limits must be at least 1");
            }
            Ok(r)
        };
        Ok(countersign_server::auth::Limits::new(
            rate(
                self.auth_failure_burst,
                self.auth_failures_per_minute,
                "auth",
            )?,
            rate(self.refusal_burst, self.refusals_per_minute, "refusal")?,
        ))
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceSection {
    /// How recent an interactive login counts as step-up (default 300).
    pub step_up_window_seconds: Option<u64>,
    /// Longest delegation (default 90 days).
    pub max_delegation_days: Option<u64>,
    /// How long an approved exception may wait to be used (default 3600).
    pub exception_lifetime_seconds: Option<u64>,
    /// Credentials living longer than this are long-lived (default 24).
    pub long_lived_after_hours: Option<u64>,
    /// Workload certificate lifetime, at most 600 (default 600).
    pub workload_certificate_seconds: Option<u64>,
    /// Longest API token lifetime (default 365 days).
    pub max_token_days: Option<u64>,
}

/// Trusted OIDC issuers: `purpose = "caller"` for people calling the API,
/// `purpose = "workload"` for CI jobs exchanging tokens for certificates.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSection {
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
}

impl FileConfig {
    /// Read `explicit` (which must exist), else `<data>/countersign.toml`
    /// if present, else the defaults.
    pub fn load(data: &Path, explicit: Option<&Path>) -> Result<Self> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = data.join(CONFIG_FILE);
                if !p.exists() {
                    return Ok(FileConfig::default());
                }
                p
            }
        };
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("in {}", path.display()))
    }

    /// The IAM/IGA settings.
    pub fn iga(&self) -> Result<countersign_ledger::IgaConfig> {
        let i = &self.iga;
        let mut c = countersign_ledger::IgaConfig::default();
        if let Some(d) = &i.scim_deactivate {
            c.scim_deactivate = match d.as_str() {
                "suspend" => countersign_proto::model::IdentityStatus::Suspended,
                "terminate" => countersign_proto::model::IdentityStatus::Terminated,
                other => {
                    bail!("iga.scim_deactivate is {other:?}; use \"suspend\" or \"terminate\"")
                }
            };
        }
        if let Some(p) = &i.pending_approvals {
            c.pending_approvals = countersign_domain::lifecycle::PendingApprovals::parse(p)
                .with_context(|| {
                    format!("iga.pending_approvals is {p:?}; use \"reroute\" or \"void\"")
                })?;
        }
        if let Some(s) = &i.event_source {
            if s.is_empty() {
                bail!("iga.event_source must not be empty");
            }
            c.event_source.clone_from(s);
        }
        let hours = |h: u64| seconds(h.saturating_mul(3600));
        if let Some(d) = i.max_approval_age_days {
            c.reconcile.max_approval_age = hours(d.saturating_mul(24));
        }
        if let Some(h) = i.offboarding_sla_hours {
            c.reconcile.offboarding_sla = hours(h);
        }
        if let Some(d) = i.execution_sla_days {
            c.reconcile.execution_sla = hours(d.saturating_mul(24));
        }
        Ok(c)
    }

    /// The webhook sender's settings.
    pub fn webhooks(&self) -> Result<countersign_server::WebhookSettings> {
        let w = &self.webhooks;
        let mut c = countersign_server::WebhookSettings::default();
        if let Some(n) = w.max_attempts {
            if n == 0 {
                bail!("webhooks.max_attempts must be at least 1");
            }
            c.retry.max_attempts = n;
        }
        if let Some(ms) = w.retry_base_ms {
            c.retry.base = std::time::Duration::from_millis(ms.max(1));
        }
        if let Some(s) = w.retry_cap_seconds {
            c.retry.cap = std::time::Duration::from_secs(s.max(1));
        }
        if c.retry.cap < c.retry.base {
            bail!("webhooks.retry_cap_seconds must not be below webhooks.retry_base_ms");
        }
        if let Some(n) = w.disable_after {
            if n == 0 {
                bail!("webhooks.disable_after must be at least 1");
            }
            c.disable_after = n;
        }
        if let Some(s) = w.timeout_seconds {
            c.timeout = std::time::Duration::from_secs(s.clamp(1, 300));
        }
        if let Some(ms) = w.poll_ms {
            c.poll = std::time::Duration::from_millis(ms.clamp(10, 60_000));
        }
        c.egress = countersign_webhook::Egress {
            allow_http: w.allow_http,
            allow_private: w.allow_private_destinations,
        };
        Ok(c)
    }

    /// The rule limits these settings give, over `base`.
    pub fn limits(
        &self,
        mut base: countersign_domain::Limits,
    ) -> Result<countersign_domain::Limits> {
        let g = &self.governance;
        if let Some(s) = g.step_up_window_seconds {
            base.step_up_window = seconds(s);
        }
        if let Some(d) = g.max_delegation_days {
            base.max_delegation = seconds(d.saturating_mul(86_400));
        }
        if let Some(s) = g.exception_lifetime_seconds {
            if s == 0 {
                bail!("governance.exception_lifetime_seconds must be positive");
            }
            base.exception_lifetime = seconds(s);
        }
        if let Some(h) = g.long_lived_after_hours {
            base.long_lived_after = seconds(h.saturating_mul(3600));
        }
        if let Some(s) = g.workload_certificate_seconds {
            if s == 0 || s > 600 {
                bail!("governance.workload_certificate_seconds must be between 1 and 600 (10 minutes)");
            }
            base.workload_certificate_lifetime = seconds(s);
        }
        if let Some(d) = g.max_token_days {
            base.max_token_lifetime = seconds(d.saturating_mul(86_400));
        }
        Ok(base)
    }
}

/// Parse a duration such as `90s`, `30m`, `24h` or `7d`.
pub fn duration(field: &str, s: &str) -> Result<time::Duration> {
    let n = crate::parse_duration(s).with_context(|| format!("{field}: {s:?}"))?;
    Ok(seconds(n))
}

/// `s` seconds, saturating at the longest duration the clock can hold.
fn seconds(s: u64) -> time::Duration {
    time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX))
}

/// Whether `host` names this machine (WebAuthn and cookies treat plain
/// http on it as a secure context).
pub fn is_local_host(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host.ends_with(".localhost")
}

/// The web app's settings as the ledger and server use them.
pub struct Web {
    pub public_url: String,
    pub rules: countersign_ledger::WebRules,
    pub rp_name: String,
    pub attestation_roots: Option<std::path::PathBuf>,
}

impl FileConfig {
    /// The public URL, the relying party and the session rules, given the
    /// address the server listens on.
    pub fn web(&self, listen: &str) -> Result<Web> {
        let port = listen.rsplit(':').next().unwrap_or("8440");
        let public_url = match &self.server.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None if self.tls.is_some() => format!("https://localhost:{port}"),
            None => format!("http://localhost:{port}"),
        };
        let parsed = reqwest::Url::parse(&public_url)
            .with_context(|| format!("server.public_url {public_url:?} is not a URL"))?;
        if parsed.path() != "/" || parsed.query().is_some() {
            bail!("server.public_url {public_url:?} must be an origin (scheme, host, port), with no path");
        }
        let host = parsed.host_str().unwrap_or_default().to_string();
        match parsed.scheme() {
            "https" => {}
            "http" if is_local_host(&host) => {}
            "http" => bail!(
                "server.public_url {public_url:?} is plain http on a host other than localhost; passkeys need a secure context: configure [tls] (and an https public_url), or use http://localhost"
            ),
            other => bail!("server.public_url uses {other}; use https (or http://localhost)"),
        }
        let w = &self.web;
        let a = &self.webauthn;
        let mut rules = countersign_ledger::WebRules {
            public_url: public_url.clone(),
            rp_id: a.rp_id.clone().unwrap_or_else(|| host.clone()),
            origins: a
                .origins
                .clone()
                .unwrap_or_else(|| vec![public_url.clone()]),
            ..Default::default()
        };
        if rules.rp_id.parse::<std::net::IpAddr>().is_ok() || rules.rp_id.starts_with('[') {
            bail!(
                "the WebAuthn relying party id {:?} is an IP address, which WebAuthn does not allow; use a host name (localhost for a local server) in server.public_url or webauthn.rp_id",
                rules.rp_id
            );
        }
        for o in &rules.origins {
            let h = o.split("://").nth(1).unwrap_or_default();
            let h = h.split([':', '/']).next().unwrap_or_default();
            if h != rules.rp_id && !h.ends_with(&format!(".{}", rules.rp_id)) {
                bail!(
                    "webauthn.origins: {o:?} is not on the relying party {:?} or a subdomain of it",
                    rules.rp_id
                );
            }
        }
        if let Some(s) = w.session_idle_seconds {
            if s == 0 {
                bail!("web.session_idle_seconds must be at least 1");
            }
            rules.session_idle = seconds(s);
        }
        if let Some(s) = w.session_max_seconds {
            if s == 0 {
                bail!("web.session_max_seconds must be at least 1");
            }
            rules.session_max = seconds(s);
        }
        if rules.session_max < rules.session_idle {
            bail!("web.session_max_seconds must not be below web.session_idle_seconds");
        }
        if let Some(h) = w.invitation_hours {
            if h == 0 || h > 336 {
                bail!("web.invitation_hours must be between 1 and 336 (14 days)");
            }
            rules.invitation_lifetime = seconds(h.saturating_mul(3600));
        }
        if let Some(b) = w.invite_scim_joiners {
            rules.invite_scim_joiners = b;
        }
        Ok(Web {
            public_url,
            rules,
            rp_name: a
                .rp_name
                .clone()
                .unwrap_or_else(|| "Countersign".to_string()),
            attestation_roots: a.attestation_roots.clone(),
        })
    }

    /// The mail rules, when `[smtp]` is configured.
    /// Retention settings, with the defaults for what the file leaves out.
    pub fn retention(&self) -> countersign_ledger::Retention {
        let r = &self.retention;
        let mut out = countersign_ledger::Retention::default();
        let days = |d: u64| std::time::Duration::from_secs(d.saturating_mul(86_400));
        for (setting, slot) in [
            (r.identity_days, &mut out.identity),
            (r.approval_days, &mut out.approval),
            (r.control_days, &mut out.control),
            (r.operations_days, &mut out.operations),
        ] {
            if let Some(d) = setting {
                *slot = days(d);
            }
        }
        out
    }

    pub fn mail_rules(&self) -> Result<Option<countersign_ledger::MailRules>> {
        if self.smtp.is_none() {
            return Ok(None);
        }
        let n = &self.notifications;
        let mut rules = countersign_ledger::MailRules::default();
        if let Some(list) = &n.reminders {
            rules.reminders = list
                .iter()
                .map(|r| duration("notifications.reminders", r))
                .collect::<Result<_>>()?;
        }
        if let Some(m) = n.max_attempts {
            if m == 0 {
                bail!("notifications.max_attempts must be at least 1");
            }
            rules.max_attempts = m;
        }
        let secs = |s: u64| seconds(s.max(1));
        if let Some(s) = n.retry_base_seconds {
            rules.retry_base = secs(s);
        }
        if let Some(s) = n.retry_cap_seconds {
            rules.retry_cap = secs(s);
        }
        if rules.retry_cap < rules.retry_base {
            bail!("notifications.retry_cap_seconds must not be below retry_base_seconds");
        }
        Ok(Some(rules))
    }
}
