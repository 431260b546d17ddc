//! Issuer configuration: who is trusted, for what, and how claims name
//! identities.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// The largest leeway accepted for clock skew between issuer and service.
pub(crate) const MAX_LEEWAY_SECONDS: u64 = 300;

/// Claims that may name a caller's identity. Each is documented by its
/// issuers as unique for the user (`preferred_username` and `name` are not,
/// so they are refused).
pub(crate) const IDENTITY_CLAIMS: &[&str] = &["email", "sub", "upn", "oid"];

/// One trusted OIDC issuer.
///
/// In TOML (for example as an `[[oidc.issuers]]` table):
///
/// ```toml
/// issuer = "https://token.actions.githubusercontent.com"
/// audiences = ["https://countersign.example.com"]
/// jwks_url = "https://token.actions.githubusercontent.com/.well-known/jwks"
/// purpose = "workload"
///
/// [[rules]]
/// identity = "release-bot"
/// claims = { repository = "acme/app", ref = "refs/heads/main" }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The exact `iss` value of the issuer's tokens.
    pub issuer: String,
    /// A token's `aud` (a string or an array) must contain one of these.
    pub audiences: Vec<String>,
    /// Where the issuer's JSON Web Key Set is: `jwks_file` or `jwks_url`.
    #[serde(flatten)]
    pub jwks: JwksSource,
    /// What tokens from this issuer may be used for.
    pub purpose: Purpose,
    /// Caller issuers: the claim naming the identity (default `email`; also
    /// `sub`, `upn` or `oid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_claim: Option<String>,
    /// The operator's `acr` value → AAL table, consulted before the
    /// well-known values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub acr_values: BTreeMap<String, u8>,
    /// Workload issuers: claim patterns → identity handle, first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ClaimRule>,
    /// Tolerated clock skew for `exp`, `nbf`, `iat` and `auth_time`.
    #[serde(default = "default_leeway_seconds")]
    pub leeway_seconds: u64,
}

fn default_leeway_seconds() -> u64 {
    60
}

/// Where an issuer's JSON Web Key Set comes from: exactly one of
/// `jwks_file` and `jwks_url`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum JwksSource {
    /// A local JWKS file, read at load and on refresh.
    #[serde(rename = "jwks_file")]
    File(PathBuf),
    /// An `https` URL (plain `http` only for loopback addresses), fetched at
    /// load and on refresh.
    #[serde(rename = "jwks_url")]
    Url(String),
}

impl fmt::Display for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Url(url) => write!(f, "{url}"),
        }
    }
}

/// What an issuer's tokens may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// People calling the API.
    Caller,
    /// Workloads exchanging their token for a credential.
    Workload,
}

impl Purpose {
    /// The configuration name: `caller` or `workload`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Workload => "workload",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Maps workload token claims to an identity handle.
///
/// Every listed claim must be present as a string and match its pattern: an
/// exact string, or a pattern in which each `*` matches any run of
/// characters, `/` and `:` included (so `repo:acme/app:ref:refs/heads/*`
/// matches every branch of `acme/app`). Claims that are not strings never
/// match.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRule {
    /// Claim name → pattern.
    pub claims: BTreeMap<String, String>,
    /// The identity handle a matching token authenticates as.
    pub identity: String,
}

impl ClaimRule {
    /// Whether every listed claim is present as a string matching its
    /// pattern.
    pub fn matches(&self, claims: &serde_json::Map<String, serde_json::Value>) -> bool {
        self.claims.iter().all(|(name, pattern)| {
            matches!(claims.get(name), Some(serde_json::Value::String(value)) if wildcard_match(pattern, value))
        })
    }
}

/// Matches `value` against `pattern`, in which each `*` stands for any run
/// of characters (possibly empty) and everything else is literal.
pub(crate) fn wildcard_match(pattern: &str, value: &str) -> bool {
    let mut pieces = pattern.split('*');
    let Some(first) = pieces.next() else {
        return value.is_empty();
    };
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let mut pieces: Vec<&str> = pieces.collect();
    // No `*` at all: the pattern is a literal.
    let Some(last) = pieces.pop() else {
        return rest.is_empty();
    };
    // The middle pieces are found left to right, each as early as possible,
    // which leaves the most room for the ones after it.
    for piece in pieces {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

impl IssuerConfig {
    /// Checks the configuration without loading keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            issuer: self.issuer.clone(),
            reason,
        };
        if self.issuer.is_empty() {
            return Err(invalid("issuer must not be empty".to_owned()));
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(invalid(
                "audiences must list at least one non-empty audience".to_owned(),
            ));
        }
        match &self.jwks {
            JwksSource::File(path) if path.as_os_str().is_empty() => {
                return Err(invalid("jwks_file must not be empty".to_owned()));
            }
            JwksSource::File(_) => {}
            JwksSource::Url(url) => check_jwks_url(url).map_err(invalid)?,
        }
        if self.leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(invalid(format!(
                "leeway_seconds is {}, at most {MAX_LEEWAY_SECONDS} is allowed",
                self.leeway_seconds
            )));
        }
        if let Some((acr, level)) = self.acr_values.iter().find(|(_, l)| !(1..=3).contains(*l)) {
            return Err(invalid(format!(
                "acr_values maps {acr:?} to {level}; an AAL is 1, 2 or 3"
            )));
        }
        match self.purpose {
            Purpose::Caller => {
                if !self.rules.is_empty() {
                    return Err(invalid(
                        "rules apply to workload issuers only; caller issuers name the identity with identity_claim".to_owned(),
                    ));
                }
                self.caller_identity_claim()?;
            }
            Purpose::Workload => {
                if self.identity_claim.is_some() {
                    return Err(invalid(
                        "identity_claim applies to caller issuers only; workload issuers name the identity with rules".to_owned(),
                    ));
                }
                if self.rules.is_empty() {
                    return Err(invalid(
                        "a workload issuer needs at least one rule mapping claims to an identity"
                            .to_owned(),
                    ));
                }
                for (index, rule) in self.rules.iter().enumerate() {
                    if rule.identity.is_empty() {
                        return Err(invalid(format!("rule {} has an empty identity", index + 1)));
                    }
                    if rule.claims.is_empty() {
                        return Err(invalid(format!(
                            "rule {} ({}) lists no claims and would match every token",
                            index + 1,
                            rule.identity
                        )));
                    }
                    if let Some((claim, _)) = rule.claims.iter().find(|(_, p)| p.is_empty()) {
                        return Err(invalid(format!(
                            "rule {} ({}) has an empty pattern for claim {claim}",
                            index + 1,
                            rule.identity
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The claim naming a caller's identity, as one of [`IDENTITY_CLAIMS`].
    pub(crate) fn caller_identity_claim(&self) -> Result<&'static str, ConfigError> {
        let wanted = self.identity_claim.as_deref().unwrap_or("email");
        IDENTITY_CLAIMS
            .iter()
            .find(|claim| **claim == wanted)
            .copied()
            .ok_or_else(|| ConfigError::Invalid {
                issuer: self.issuer.clone(),
                reason: format!(
                    "identity_claim {wanted:?} is not one of {}",
                    IDENTITY_CLAIMS.join(", ")
                ),
            })
    }
}

/// A JWKS URL must be `https`, except on loopback addresses (local test
/// issuers), because whoever can change the key set can mint any identity.
fn check_jwks_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("jwks_url {url:?}: {e}"))?;
    let loopback = parsed.host_str().is_some_and(|host| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    });
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        scheme => Err(format!(
            "jwks_url {url:?} uses {scheme}; it must be https (http only for loopback addresses)"
        )),
    }
}
