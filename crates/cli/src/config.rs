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
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub listen: Option<String>,
    pub origin: Option<String>,
    pub max_document_bytes: Option<u64>,
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
    pub fn iga(&self) -> Result<countersign_store::IgaConfig> {
        let i = &self.iga;
        let mut c = countersign_store::IgaConfig::default();
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
        } else if let Some(o) = &self.server.origin {
            c.event_source = format!("urn:countersign:{o}");
        }
        let hours = |h: u64| {
            time::Duration::seconds(i64::try_from(h.saturating_mul(3600)).unwrap_or(i64::MAX))
        };
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
        Ok(c)
    }

    /// The rule limits these settings give, over `base`.
    pub fn limits(
        &self,
        mut base: countersign_domain::Limits,
    ) -> Result<countersign_domain::Limits> {
        let g = &self.governance;
        let secs = |s: u64| time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
        if let Some(s) = g.step_up_window_seconds {
            base.step_up_window = secs(s);
        }
        if let Some(d) = g.max_delegation_days {
            base.max_delegation = secs(d.saturating_mul(86_400));
        }
        if let Some(s) = g.exception_lifetime_seconds {
            if s == 0 {
                bail!("governance.exception_lifetime_seconds must be positive");
            }
            base.exception_lifetime = secs(s);
        }
        if let Some(h) = g.long_lived_after_hours {
            base.long_lived_after = secs(h.saturating_mul(3600));
        }
        if let Some(s) = g.workload_certificate_seconds {
            if s == 0 || s > 600 {
                bail!("governance.workload_certificate_seconds must be between 1 and 600 (10 minutes)");
            }
            base.workload_certificate_lifetime = secs(s);
        }
        if let Some(d) = g.max_token_days {
            base.max_token_lifetime = secs(d.saturating_mul(86_400));
        }
        Ok(base)
    }
}
