//! Verification of OIDC JSON Web Tokens from trusted issuers.
//!
//! Countersign accepts OIDC JWTs for two purposes, chosen per issuer:
//!
//! - **caller**: people calling the API present an ID token (or a JWT access
//!   token) from their organisation's identity provider. The identity is the
//!   value of one claim (`email` by default; `sub`, `upn` or `oid` on request)
//!   and the token's `acr`/`amr` give the authentication assurance level.
//! - **workload**: CI jobs and other workloads exchange a short-lived OIDC
//!   token (GitHub Actions, GitLab, Kubernetes service accounts, ...) for a
//!   credential, Fulcio-style. Operator-written [`ClaimRule`]s map the token's
//!   claims to an identity handle; the first matching rule wins, and a token
//!   that matches no rule is refused.
//!
//! [`TokenVerifier`] holds the issuers and their JSON Web Key Sets. A token is
//! routed to its issuer by the unverified `iss` claim, but nothing is answered
//! about its content before the signature has been checked with one of that
//! issuer's keys: EdDSA (Ed25519 `OKP` keys), ES256 (`EC` P-256 keys), RS256
//! and PS256 (`RSA` keys of at least 2048 bits). The key's type, curve and
//! (if stated) `alg` must fit the header's `alg`; `none`, HMAC and every other
//! algorithm are refused. The issuer, audience, `exp`, `nbf`, `iat` and
//! `auth_time` are checked here against the caller-supplied `now`, with the
//! issuer's leeway, never against the system clock.
//!
//! # Authentication assurance level
//!
//! [`aal_from`] maps a token's `acr` and `amr` to a NIST SP 800-63-4 AAL:
//!
//! 1. From `acr`: the operator's `acr_values` table for the issuer, if it
//!    names the value. Otherwise the well-known values: anything ending in
//!    `aal1`, `aal2`, `aal3` or `aal/1`, `aal/2`, `aal/3` (ignoring a query
//!    string, so `http://idmanagement.gov/ns/assurance/aal/2?phishing_resistant=true`
//!    is 2), and OpenID EAP `phrh` (3) and `phr` (2). Any other `acr` is 1.
//! 2. From `amr` (RFC 8176): a hardware key (`hwk` or `sc`) together with a
//!    second factor of another kind (`pin`, `pwd`, a biometric `fpt`, `face`,
//!    `iris`, `retina`, `vbm`, or `mfa`) is 3. A hardware key alone, `mfa`,
//!    or factors of two different kinds among knowledge (`pwd`, `pin`),
//!    possession (`otp`, `sms`, `tel`, `swk`) and inherence (the biometrics)
//!    is 2. Anything else is 1. Two factors of the same kind (`otp` with
//!    `sms`, `pwd` with `pin`) are not multi-factor, and `hwk` with `otp` is
//!    not AAL3 because both are possession factors and OTPs are not
//!    phishing-resistant.
//! 3. The result is the higher of the two, between 1 and 3.
//!
//! The level says how the user authenticated at the identity provider; it
//! is only as trustworthy as the issuer that asserts it.
//!
//! # Signing in to the web app
//!
//! A caller issuer with a `sign_in` table ([`SignInConfig`]) also lets
//! people sign in to Countersign's web app with the OpenID Connect
//! authorization-code flow, PKCE S256 and `nonce` ([`SignInProvider`],
//! module docs in `signin.rs`). The ID token it yields is verified by the
//! same [`TokenVerifier`], so a web session carries the same identity,
//! `acr`, `amr`, `auth_time` and AAL as an API call with that token would.
//!
//! # What this crate does not do
//!
//! It does not take keys from discovery (`.well-known/openid-configuration`):
//! each issuer's JWKS location is configured, and discovery is fetched only
//! for the sign-in endpoints, once, when a [`SignInProvider`] loads. It
//! fetches JWKS over HTTP only when loading and when
//! [`TokenVerifier::refresh`] is called, and talks to a token endpoint only
//! in [`SignInProvider::finish`], all blocking; it never reads the clock,
//! keeps no cache of tokens, no sign-in or web session state, and does not
//! decide what an identity may do, which is the policy's job.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod aal;
mod config;
mod jwks;
mod signin;
mod verifier;

#[cfg(test)]
mod interop_tests;
#[cfg(test)]
mod signin_tests;
#[cfg(test)]
mod tests;

pub use aal::aal_from;
pub use config::{
    ClaimRule, ClientSecret, IssuerConfig, JwksSource, Purpose, SignInConfig, TokenAuth,
};
pub use signin::{
    read_client_secret, AuthorizationRequest, Expected, SignInOptions, SignInProvider,
};
pub use verifier::{TokenVerifier, VerifiedToken};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A configured issuer cannot be used: its configuration is invalid, or its
/// JSON Web Key Set, sign-in discovery document or client secret file
/// cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("OIDC issuer {issuer}: {reason}")]
    Invalid { issuer: String, reason: String },
    #[error("OIDC issuer {0} is configured more than once")]
    DuplicateIssuer(String),
    #[error("OIDC issuer {issuer}: cannot load JWKS from {location}: {reason}")]
    Jwks {
        issuer: String,
        location: String,
        reason: String,
    },
    #[error("OIDC issuer {0} is not configured")]
    UnknownIssuer(String),
    #[error("OIDC issuer {issuer}: sign-in discovery from {location} failed: {reason}")]
    Discovery {
        issuer: String,
        location: String,
        reason: String,
    },
    #[error("OIDC issuer {issuer}: cannot read sign_in.client_secret_file {}: {reason}", .path.display())]
    ClientSecretFile {
        issuer: String,
        path: std::path::PathBuf,
        reason: String,
    },
}

/// Why a token was refused. Messages are specific and safe to show to the
/// presenter of the token: they repeat only what the token itself says and
/// which issuers and purposes this service accepts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed: {0}")]
    Malformed(String),
    #[error("token issuer {0:?} is not trusted")]
    UnknownIssuer(String),
    #[error(
        "tokens from issuer {issuer} are accepted for {accepted} use, not for {requested} use"
    )]
    WrongPurpose {
        issuer: String,
        accepted: Purpose,
        requested: Purpose,
    },
    #[error("token is signed with a key {} that issuer {issuer} does not publish", describe_kid(.kid))]
    UnknownKey { issuer: String, kid: Option<String> },
    #[error("token algorithm {alg} does not fit the type of key {}", describe_kid(.kid))]
    KeyTypeMismatch { alg: String, kid: Option<String> },
    #[error("token algorithm {0:?} is not supported (use EdDSA, ES256, RS256 or PS256)")]
    UnsupportedAlgorithm(String),
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token expired at {}", rfc3339(.expired_at))]
    Expired { expired_at: OffsetDateTime },
    #[error("token is not valid before {}", rfc3339(.not_before))]
    NotYetValid { not_before: OffsetDateTime },
    #[error("token was issued in the future (check the issuer's clock)")]
    IssuedInFuture,
    #[error("token audience {audience:?} does not include this service")]
    WrongAudience { audience: Vec<String> },
    #[error("token has no {0} claim")]
    MissingClaim(&'static str),
    #[error("token claim {claim} {reason}")]
    InvalidClaim {
        claim: &'static str,
        reason: &'static str,
    },
    #[error("token email is not verified by the issuer")]
    UnverifiedEmail,
    #[error("no workload rule of issuer {issuer} matches subject {subject:?}")]
    NoRuleMatches { issuer: String, subject: String },
}

impl TokenError {
    /// A stable snake_case name for the error, for problem types and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownIssuer(_) => "unknown_issuer",
            Self::WrongPurpose { .. } => "wrong_purpose",
            Self::UnknownKey { .. } => "unknown_key",
            Self::KeyTypeMismatch { .. } => "key_type_mismatch",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::BadSignature => "bad_signature",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::WrongAudience { .. } => "wrong_audience",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim { .. } => "invalid_claim",
            Self::UnverifiedEmail => "unverified_email",
            Self::NoRuleMatches { .. } => "no_rule_matches",
        }
    }
}

/// Why a sign-in failed. Every message is safe to show to the person signing
/// in, as the `detail` of an RFC 9457 problem: it names the issuer, OAuth
/// error codes and what the ID token says, never a client secret, a code, a
/// code verifier or a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("the sign-in cannot start: {reason}")]
    InvalidRedirectUri { reason: String },
    #[error("the sign-in cannot start: the system's random number generator failed")]
    Randomness,
    #[error("the sign-in answer has no usable authorization code")]
    MissingCode,
    #[error("the token endpoint of {issuer} cannot be reached: {reason}")]
    TokenEndpointUnreachable { issuer: String, reason: String },
    #[error("the token endpoint of {issuer} refused the sign-in (HTTP {status}{})", describe_oauth_error(.error, .description))]
    TokenRefused {
        issuer: String,
        status: u16,
        /// The RFC 6749 §5.2 `error` code, such as `invalid_grant`.
        error: Option<String>,
        /// The issuer's `error_description`, cleaned and cut short.
        description: Option<String>,
    },
    #[error("the token endpoint of {issuer} answered with {reason}")]
    InvalidTokenResponse { issuer: String, reason: String },
    #[error("the token endpoint of {issuer} answered without an ID token (is the openid scope granted?)")]
    NoIdToken { issuer: String },
    #[error("the ID token is refused: {0}")]
    IdToken(#[from] TokenError),
    #[error(
        "the ID token comes from issuer {issuer}, not from {expected}, where this sign-in started"
    )]
    IssuerMismatch { expected: String, issuer: String },
    #[error("the ID token has no nonce, so it cannot be tied to this sign-in")]
    NonceMissing,
    #[error("the ID token belongs to another sign-in (its nonce does not match); start again")]
    NonceMismatch,
    #[error("the ID token audience {audience:?} does not include this client ({client_id})")]
    WrongAudience {
        client_id: String,
        audience: Vec<String>,
    },
    #[error("the ID token was issued to {}, not to this client ({client_id})", describe_azp(.azp))]
    WrongAuthorizedParty {
        client_id: String,
        azp: Option<String>,
    },
    #[error("the sign-in asked for an authentication at most {max_age_seconds} s old, but the ID token has no auth_time")]
    MissingAuthTime { max_age_seconds: u64 },
    #[error("the authentication at {} is older than the {max_age_seconds} s this sign-in allows; sign in again", rfc3339(.auth_time))]
    StaleAuthentication {
        auth_time: OffsetDateTime,
        max_age_seconds: u64,
    },
}

impl SignInError {
    /// A stable snake_case name for the error, for problem types and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRedirectUri { .. } => "invalid_redirect_uri",
            Self::Randomness => "randomness",
            Self::MissingCode => "missing_code",
            Self::TokenEndpointUnreachable { .. } => "token_endpoint_unreachable",
            Self::TokenRefused { .. } => "token_refused",
            Self::InvalidTokenResponse { .. } => "invalid_token_response",
            Self::NoIdToken { .. } => "no_id_token",
            Self::IdToken(_) => "id_token_invalid",
            Self::IssuerMismatch { .. } => "issuer_mismatch",
            Self::NonceMissing => "nonce_missing",
            Self::NonceMismatch => "nonce_mismatch",
            Self::WrongAudience { .. } => "wrong_audience",
            Self::WrongAuthorizedParty { .. } => "wrong_authorized_party",
            Self::MissingAuthTime { .. } => "missing_auth_time",
            Self::StaleAuthentication { .. } => "stale_authentication",
        }
    }
}

fn describe_oauth_error(error: &Option<String>, description: &Option<String>) -> String {
    match (error, description) {
        (Some(error), Some(description)) => format!(": {error}: {description}"),
        (Some(error), None) => format!(": {error}"),
        (None, Some(description)) => format!(": {description}"),
        (None, None) => String::new(),
    }
}

fn describe_azp(azp: &Option<String>) -> String {
    match azp {
        Some(azp) => format!("{azp:?}"),
        None => "several parties without saying which (no azp)".to_owned(),
    }
}

/// Unverified token values (`iss`, `kid`, `alg`) end up in error messages
/// and logs; they are cut short so a hostile token cannot flood either.
fn echo(value: &str) -> String {
    const MAX_CHARS: usize = 128;
    match value.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

fn describe_kid(kid: &Option<String>) -> String {
    match kid {
        Some(kid) => format!("{kid:?}"),
        None => "(no kid)".to_owned(),
    }
}

fn rfc3339(at: &OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}
