//! Issuer configuration: who is trusted, for what, how claims name
//! identities, and (for caller issuers) how people sign in to the web app.
//!
//! Everything here is checked without IO; the one file this module names
//! but does not read is `sign_in.client_secret_file`, which
//! [`crate::read_client_secret`] reads when the sign-in providers load.

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
///
/// A caller issuer people sign in with (see [`SignInConfig`]):
///
/// ```toml
/// issuer = "https://idp.example.com"
/// audiences = ["countersign-web", "https://countersign.example.com"]
/// jwks_url = "https://idp.example.com/oauth2/v1/keys"
/// purpose = "caller"
///
/// [sign_in]
/// client_id = "countersign-web"
/// client_secret_file = "/run/secrets/idp-client-secret"
/// display_name = "Example Corp"
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
    /// Caller issuers: sign-in to the web app with the authorization-code
    /// flow. Without it the issuer's tokens are still accepted on the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<SignInConfig>,
}

fn default_leeway_seconds() -> u64 {
    60
}

/// The scopes asked for when `sign_in.scopes` is not configured.
pub(crate) const DEFAULT_SCOPES: &[&str] = &["openid", "email", "profile"];

/// How people sign in to the web app with a caller issuer: the OpenID
/// Connect authorization-code flow with PKCE (S256) and `nonce`, as a
/// confidential client (`client_secret` or `client_secret_file`) or a
/// public one (neither; PKCE alone protects the code).
///
/// The endpoints come from the issuer's discovery document
/// (`{issuer}/.well-known/openid-configuration`) unless both are
/// configured; the keys always come from the issuer's `jwks_file` or
/// `jwks_url`, so the discovery document cannot change who may sign ID
/// tokens.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignInConfig {
    /// The client registered at the issuer for Countersign's web app. ID
    /// tokens carry it as `aud`, so the issuer's `audiences` must list it.
    pub client_id: String,
    /// The client secret. Prefer `client_secret_file`, which keeps the
    /// secret out of the configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// A file holding the client secret, read when the sign-in providers
    /// load; one trailing newline is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// The text of the sign-in button (default: the issuer's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Overrides the discovered `authorization_endpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// Overrides the discovered `token_endpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// The scopes to ask for; `openid` is required (default `openid`,
    /// `email`, `profile`).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// How the client authenticates at the token endpoint (default
    /// `client_secret_basic` with a secret, `none` without).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_auth: Option<TokenAuth>,
}

fn default_scopes() -> Vec<String> {
    DEFAULT_SCOPES
        .iter()
        .map(|scope| (*scope).to_owned())
        .collect()
}

impl SignInConfig {
    /// A configuration for `client_id` with every default: a public client
    /// using discovery and the default scopes.
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: None,
            client_secret_file: None,
            display_name: None,
            authorization_endpoint: None,
            token_endpoint: None,
            scopes: default_scopes(),
            token_auth: None,
        }
    }

    /// Whether a secret is configured, inline or as a file.
    pub fn has_secret(&self) -> bool {
        self.client_secret.is_some() || self.client_secret_file.is_some()
    }

    /// The client authentication in effect: `token_auth`, or its default.
    pub fn effective_token_auth(&self) -> TokenAuth {
        self.token_auth.unwrap_or(if self.has_secret() {
            TokenAuth::ClientSecretBasic
        } else {
            TokenAuth::None
        })
    }

    /// Whether the endpoints must be discovered (one is not configured).
    pub(crate) fn needs_discovery(&self) -> bool {
        self.authorization_endpoint.is_none() || self.token_endpoint.is_none()
    }
}

/// How the web app authenticates to the token endpoint (RFC 6749 §2.3,
/// OpenID Connect Core §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// HTTP Basic with the form-encoded client id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` in the body and no secret; PKCE alone
    /// binds the code to this sign-in.
    None,
}

impl TokenAuth {
    /// The configuration (and discovery metadata) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }
}

impl fmt::Display for TokenAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth client secret that never shows itself in `Debug` output, logs
/// or error messages.
///
/// It (de)serializes as a plain string: the configuration file is where it
/// comes from, and a configuration written back out must keep it.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
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
            JwksSource::Url(url) => check_https_url("jwks_url", url).map_err(invalid)?,
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
                if let Some(sign_in) = &self.sign_in {
                    self.validate_sign_in(sign_in).map_err(invalid)?;
                }
            }
            Purpose::Workload => {
                if self.sign_in.is_some() {
                    return Err(invalid(
                        "sign_in applies to caller issuers only; workloads do not sign in to the web app".to_owned(),
                    ));
                }
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

    /// Checks the `sign_in` table of a caller issuer.
    fn validate_sign_in(&self, sign_in: &SignInConfig) -> Result<(), String> {
        if sign_in.client_id.is_empty() {
            return Err("sign_in.client_id must not be empty".to_owned());
        }
        // The ID token's `aud` is the client id (OpenID Connect Core
        // §2), and the verifier accepts only tokens for a listed audience.
        if !self.audiences.contains(&sign_in.client_id) {
            return Err(format!(
                "sign_in.client_id {:?} must also be listed in audiences, because ID tokens from sign-in name it as their audience",
                sign_in.client_id
            ));
        }
        match (&sign_in.client_secret, &sign_in.client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(
                    "sign_in has both client_secret and client_secret_file; configure one"
                        .to_owned(),
                )
            }
            (Some(secret), None) if secret.expose().is_empty() => {
                return Err("sign_in.client_secret must not be empty".to_owned())
            }
            (None, Some(path)) if path.as_os_str().is_empty() => {
                return Err("sign_in.client_secret_file must not be empty".to_owned())
            }
            _ => {}
        }
        match (sign_in.effective_token_auth(), sign_in.has_secret()) {
            (TokenAuth::None, true) => {
                return Err("sign_in.token_auth is none (a public client), but a client secret is configured; remove the secret or use client_secret_basic or client_secret_post".to_owned())
            }
            (auth @ (TokenAuth::ClientSecretBasic | TokenAuth::ClientSecretPost), false) => {
                return Err(format!(
                    "sign_in.token_auth is {auth}, which needs client_secret or client_secret_file"
                ))
            }
            _ => {}
        }
        if let Some(name) = &sign_in.display_name {
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                return Err(
                    "sign_in.display_name must have visible text and no control characters"
                        .to_owned(),
                );
            }
        }
        for (field, endpoint) in [
            (
                "sign_in.authorization_endpoint",
                &sign_in.authorization_endpoint,
            ),
            ("sign_in.token_endpoint", &sign_in.token_endpoint),
        ] {
            if let Some(url) = endpoint {
                check_endpoint_url(field, url)?;
            }
        }
        // Discovery is fetched from the issuer itself, so the issuer must
        // be a URL that may be fetched.
        if sign_in.needs_discovery() {
            check_https_url("issuer", &self.issuer).map_err(|reason| {
                format!("{reason}; sign_in discovers its endpoints from the issuer unless authorization_endpoint and token_endpoint are both configured")
            })?;
        }
        if !sign_in.scopes.iter().any(|scope| scope == "openid") {
            return Err(
                "sign_in.scopes must include openid, without which there is no ID token".to_owned(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for scope in &sign_in.scopes {
            if !is_scope_token(scope) {
                return Err(format!(
                    "sign_in.scopes has {scope:?}, which is not a scope (RFC 6749 §3.3: printable ASCII without spaces, quotes or backslashes)"
                ));
            }
            if !seen.insert(scope.as_str()) {
                return Err(format!("sign_in.scopes lists {scope:?} twice"));
            }
        }
        Ok(())
    }

    /// The text of this issuer's sign-in button, if it has `sign_in`: the
    /// configured `display_name`, else the issuer's host, else the issuer.
    pub fn sign_in_display_name(&self) -> Option<String> {
        let sign_in = self.sign_in.as_ref()?;
        Some(match &sign_in.display_name {
            Some(name) => name.clone(),
            None => reqwest::Url::parse(&self.issuer)
                .ok()
                .and_then(|url| url.host_str().map(str::to_owned))
                .unwrap_or_else(|| self.issuer.clone()),
        })
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

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// An OAuth endpoint follows the JWKS rule ([`check_https_url`]) and has
/// no fragment (RFC 6749 §3.1, §3.2).
pub(crate) fn check_endpoint_url(field: &str, url: &str) -> Result<(), String> {
    check_https_url(field, url)?;
    if url.contains('#') {
        return Err(format!("{field} {url:?} must not have a fragment (#...)"));
    }
    Ok(())
}

/// A JWKS URL (and a sign-in endpoint) must be `https`, except on loopback
/// addresses (local test issuers): whoever can change the key set can mint
/// any identity, and whoever sees the token exchange can sign in as the
/// user.
pub(crate) fn check_https_url(field: &str, url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{field} {url:?}: {e}"))?;
    let loopback = parsed.host_str().is_some_and(|host| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    });
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        scheme => Err(format!(
            "{field} {url:?} uses {scheme}; it must be https (http only for loopback addresses)"
        )),
    }
}
