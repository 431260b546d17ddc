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
