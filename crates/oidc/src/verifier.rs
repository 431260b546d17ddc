//! The token verifier: issuers with their keys, and the checks a token must
//! pass.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, PoisonError, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::config::MAX_LEEWAY_SECONDS;
use crate::{aal_from, jwks, ConfigError, IssuerConfig, Purpose, TokenError};

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 32 * 1024;
/// An issuer's keys are re-fetched at most this often.
const REFRESH_INTERVAL: Duration = Duration::seconds(60);

/// Verifies OIDC JWTs from the configured issuers. Cheap to share: wrap it in
/// an `Arc`; key refreshes happen behind interior locks.
pub struct TokenVerifier {
    issuers: BTreeMap<String, Issuer>,
}

struct Issuer {
    config: IssuerConfig,
    /// The claim naming a caller's identity (unused for workloads).
    identity_claim: &'static str,
    leeway: Duration,
    keys: RwLock<JwkSet>,
    /// When the keys were last re-fetched (or a re-fetch was attempted).
    last_refresh: Mutex<Option<OffsetDateTime>>,
}

/// A token whose signature, issuer, audience, validity period and
/// purpose-specific claims have all been checked.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedToken {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub audience: Vec<String>,
    pub purpose: Purpose,
    /// NIST SP 800-63-4 authentication assurance level, 1 to 3 (see
    /// [`aal_from`]).
    pub aal: u8,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    pub auth_time: Option<OffsetDateTime>,
    pub issued_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    /// Caller: the value of the identity claim (email or sub). Workload: the
    /// handle from the first matching rule.
    pub identity: String,
    /// Every claim of the token, as signed.
    pub claims: Map<String, Value>,
    /// Hex SHA-256 of the compact token, for logging without the token.
    pub token_sha256: String,
}

impl TokenVerifier {
    /// Loads every issuer's JWKS (reading the file, or fetching the URL with
    /// a 10 s timeout). Fails naming the issuer if a configuration is invalid
    /// or a JWKS cannot be loaded or parsed. Blocking: call it outside an
    /// async runtime or from `spawn_blocking`.
    pub fn load(issuers: Vec<IssuerConfig>) -> Result<Self, ConfigError> {
        // Check every configuration before the first fetch, so that a typo
        // is reported without waiting for the network.
        check_configs(&issuers)?;
        let mut with_keys = Vec::with_capacity(issuers.len());
        for config in issuers {
            let keys = jwks::load(&config)?;
            with_keys.push((config, keys));
        }
        Self::from_keys(with_keys)
    }

    /// Builds a verifier from key sets the caller already has (tests, or
    /// keys fetched elsewhere). [`TokenVerifier::refresh`] still uses the
    /// configured source.
    pub fn from_keys(issuers: Vec<(IssuerConfig, JwkSet)>) -> Result<Self, ConfigError> {
        install_crypto_provider();
        let mut map = BTreeMap::new();
        for (config, keys) in issuers {
            config.validate()?;
            jwks::check(&keys).map_err(|reason| ConfigError::Jwks {
                issuer: config.issuer.clone(),
                location: "the given key set".to_owned(),
                reason,
            })?;
            if map.contains_key(&config.issuer) {
                return Err(ConfigError::DuplicateIssuer(config.issuer));
            }
            let identity_claim = match config.purpose {
                Purpose::Caller => config.caller_identity_claim()?,
                Purpose::Workload => "sub",
            };
            let leeway_seconds = config.leeway_seconds.min(MAX_LEEWAY_SECONDS);
            let leeway = Duration::seconds(i64::try_from(leeway_seconds).unwrap_or(0));
            map.insert(
                config.issuer.clone(),
                Issuer {
                    config,
                    identity_claim,
                    leeway,
                    keys: RwLock::new(keys),
                    last_refresh: Mutex::new(None),
                },
            );
        }
        Ok(Self { issuers: map })
    }

    /// Whether no issuer is configured (OIDC is then off).
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// The configured issuers, in `iss` order.
    pub fn issuers(&self) -> impl Iterator<Item = &IssuerConfig> {
        self.issuers.values().map(|issuer| &issuer.config)
    }

    /// Verifies a compact JWS for the given purpose at `now`.
    ///
    /// The issuer is looked up by the token's unverified `iss`, then the
    /// signature is checked with that issuer's key before any other claim is
    /// trusted. On [`TokenError::UnknownKey`] the issuer may have rotated its
    /// keys: call [`TokenVerifier::refresh`] and try once more.
    pub fn verify(
        &self,
        token: &str,
        purpose: Purpose,
        now: OffsetDateTime,
    ) -> Result<VerifiedToken, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed(format!(
                "token is longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed(
                "a compact JWS has three dot-separated parts".to_owned(),
            ));
        };
        let header = json_object(header, "header")?;
        let unverified = json_object(payload, "payload")?;
        let iss = match unverified.get("iss") {
            Some(Value::String(iss)) => iss,
            Some(_) => {
                return Err(TokenError::InvalidClaim {
                    claim: "iss",
                    reason: "must be a string",
                })
            }
            None => return Err(TokenError::MissingClaim("iss")),
        };
        let issuer = self
            .issuers
            .get(iss)
            .ok_or_else(|| TokenError::UnknownIssuer(crate::echo(iss)))?;

        let alg = header_algorithm(&header)?;
        if header.contains_key("crit") {
            return Err(TokenError::Malformed(
                "header lists critical extensions (crit), which are not supported".to_owned(),
            ));
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => {
                return Err(TokenError::Malformed(
                    "header kid is not a string".to_owned(),
                ))
            }
        };
        let key = {
            let keys = issuer.keys.read().unwrap_or_else(PoisonError::into_inner);
            jwks::select(&keys, &issuer.config.issuer, kid, alg)?.clone()
        };
        let claims = verify_signature(token, &key, alg)?;
        // From here on the claims are the issuer's.
        issuer.accept(claims, purpose, now, token)
    }

    /// [`TokenVerifier::verify`], refreshing the issuer's keys once when the
    /// token names a key the verifier does not know (the issuer may have
    /// rotated them). Blocking: call it from `spawn_blocking`.
    pub fn verify_current(
        &self,
        token: &str,
        purpose: Purpose,
        now: OffsetDateTime,
    ) -> Result<VerifiedToken, TokenError> {
        match self.verify(token, purpose, now) {
            Err(TokenError::UnknownKey { issuer, .. }) => {
                // A failed or rate-limited refresh leaves the old keys; the
                // retry then answers the same UnknownKey.
                let _ = self.refresh(&issuer, now);
                self.verify(token, purpose, now)
            }
            other => other,
        }
    }

    /// The purpose of the issuer the token claims to come from, read from
    /// its unverified `iss`: enough to choose how to verify it, never a
    /// reason to trust it.
    pub fn purpose_of(&self, token: &str) -> Option<Purpose> {
        let payload = token.split('.').nth(1)?;
        let claims = json_object(payload, "payload").ok()?;
        let iss = claims.get("iss")?.as_str()?;
        Some(self.issuers.get(iss)?.config.purpose)
    }

    /// Re-reads the issuer's JWKS from its configured source (after an
    /// unknown `kid`), at most once per 60 s per issuer as measured by `now`.
    /// Answers whether the keys changed; a call inside the 60 s window
    /// fetches nothing and answers `false`. A failed fetch keeps the old keys
    /// and still counts against the window. Blocking: call it from
    /// `spawn_blocking`.
    pub fn refresh(&self, issuer: &str, now: OffsetDateTime) -> Result<bool, ConfigError> {
        let state = self
            .issuers
            .get(issuer)
            .ok_or_else(|| ConfigError::UnknownIssuer(issuer.to_owned()))?;
        {
            let mut last = state
                .last_refresh
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(last) = *last {
                // A clock that went backwards does not block refreshes.
                if last <= now
                    && last
                        .checked_add(REFRESH_INTERVAL)
                        .is_some_and(|until| now < until)
                {
                    return Ok(false);
                }
            }
            *last = Some(now);
        }
        // The fetch happens without holding the key lock, so verification
        // goes on with the old keys meanwhile.
        let fresh = jwks::load(&state.config)?;
        let mut keys = state.keys.write().unwrap_or_else(PoisonError::into_inner);
        let changed = *keys != fresh;
        *keys = fresh;
        Ok(changed)
    }
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.issuers
                    .iter()
                    .map(|(iss, issuer)| (iss, issuer.config.purpose)),
            )
            .finish()
    }
}

/// The first use of `jsonwebtoken` picks its process-wide crypto provider
/// from its features, and panics if both `rust_crypto` and `aws_lc_rs` end up
/// enabled in the build. Installing RustCrypto explicitly avoids that; an
/// error only means a provider is already installed, which is fine.
fn install_crypto_provider() {
    let _already_installed = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

fn check_configs(issuers: &[IssuerConfig]) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for config in issuers {
        config.validate()?;
        if !seen.insert(config.issuer.as_str()) {
            return Err(ConfigError::DuplicateIssuer(config.issuer.clone()));
        }
    }
    Ok(())
}

fn json_object(part: &str, name: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed(format!("{name} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(TokenError::Malformed(format!(
            "{name} is not a JSON object"
        ))),
    }
}

fn header_algorithm(header: &Map<String, Value>) -> Result<Algorithm, TokenError> {
    match header.get("alg") {
        Some(Value::String(alg)) => match alg.as_str() {
            "EdDSA" => Ok(Algorithm::EdDSA),
            "ES256" => Ok(Algorithm::ES256),
            "RS256" => Ok(Algorithm::RS256),
            "PS256" => Ok(Algorithm::PS256),
            other => Err(TokenError::UnsupportedAlgorithm(crate::echo(other))),
        },
        Some(_) => Err(TokenError::Malformed(
            "header alg is not a string".to_owned(),
        )),
        None => Err(TokenError::Malformed("header has no alg".to_owned())),
    }
}

/// Checks the signature with `jsonwebtoken`, which validates nothing else
/// here: times, issuer and audience are checked against `now` by
/// [`Issuer::accept`], because `jsonwebtoken` would read the system clock.
fn verify_signature(
    token: &str,
    key: &Jwk,
    alg: Algorithm,
) -> Result<Map<String, Value>, TokenError> {
    let decoding = DecodingKey::from_jwk(key).map_err(|_| TokenError::BadSignature)?;
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    match jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation) {
        Ok(data) => Ok(data.claims),
        Err(error) => Err(match error.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::Base64(_) => TokenError::Malformed("signature is not base64url".to_owned()),
            ErrorKind::Json(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
                TokenError::Malformed("token does not decode as a JWT".to_owned())
            }
            // Key errors (an RSA key the backend refuses) and anything else:
            // the signature could not be verified.
            _ => TokenError::BadSignature,
        }),
    }
}

impl Issuer {
    /// Checks the signed claims of a token from this issuer.
    fn accept(
        &self,
        claims: Map<String, Value>,
        requested: Purpose,
        now: OffsetDateTime,
        token: &str,
    ) -> Result<VerifiedToken, TokenError> {
        let config = &self.config;
        if config.purpose != requested {
            return Err(TokenError::WrongPurpose {
                issuer: config.issuer.clone(),
                accepted: config.purpose,
                requested,
            });
        }

        let expires_at = numeric_date(&claims, "exp")?.ok_or(TokenError::MissingClaim("exp"))?;
        let not_before = numeric_date(&claims, "nbf")?;
        let issued_at = numeric_date(&claims, "iat")?;
        let auth_time = numeric_date(&claims, "auth_time")?;
        // RFC 7519: the token is valid only strictly before `exp`. Overflow
        // (dates near year 9999) counts as "far in the future".
        if expires_at
            .checked_add(self.leeway)
            .is_some_and(|deadline| now >= deadline)
        {
            return Err(TokenError::Expired {
                expired_at: expires_at,
            });
        }
        let horizon = now.checked_add(self.leeway);
        let in_future = |at: OffsetDateTime| horizon.is_some_and(|horizon| at > horizon);
        if let Some(not_before) = not_before.filter(|at| in_future(*at)) {
            return Err(TokenError::NotYetValid { not_before });
        }
        if issued_at.is_some_and(in_future) {
            return Err(TokenError::IssuedInFuture);
        }
        if auth_time.is_some_and(in_future) {
            return Err(TokenError::InvalidClaim {
                claim: "auth_time",
                reason: "is in the future",
            });
        }

        let audience = audience(&claims)?;
        if !audience.iter().any(|aud| config.audiences.contains(aud)) {
            return Err(TokenError::WrongAudience { audience });
        }

        let subject = string_claim(&claims, "sub")?.ok_or(TokenError::MissingClaim("sub"))?;
        if subject.is_empty() {
            return Err(TokenError::InvalidClaim {
                claim: "sub",
                reason: "must not be empty",
            });
        }
        let email = string_claim(&claims, "email")?;
        let acr = string_claim(&claims, "acr")?;
        let amr = string_array(&claims, "amr")?;

        let identity = match config.purpose {
            Purpose::Caller => self.caller_identity(&claims)?,
            Purpose::Workload => config
                .rules
                .iter()
                .find(|rule| rule.matches(&claims))
                .map(|rule| rule.identity.clone())
                .ok_or_else(|| TokenError::NoRuleMatches {
                    issuer: config.issuer.clone(),
                    subject: subject.clone(),
                })?,
        };

        let aal = aal_from(acr.as_deref(), &amr, &config.acr_values);
        Ok(VerifiedToken {
            issuer: config.issuer.clone(),
            subject,
            email,
            audience,
            purpose: config.purpose,
            aal,
            acr,
            amr,
            auth_time,
            issued_at,
            expires_at,
            identity,
            claims,
            token_sha256: format!("{:x}", Sha256::digest(token.as_bytes())),
        })
    }

    fn caller_identity(&self, claims: &Map<String, Value>) -> Result<String, TokenError> {
        let claim = self.identity_claim;
        let identity = match claims.get(claim) {
            Some(Value::String(value)) if !value.is_empty() => value.clone(),
            Some(Value::String(_)) | None => return Err(TokenError::MissingClaim(claim)),
            Some(_) => {
                return Err(TokenError::InvalidClaim {
                    claim,
                    reason: "must be a string",
                })
            }
        };
        // Without `email_verified` we trust the issuer's email (many
        // enterprise issuers only emit verified addresses and omit the
        // claim); an explicit `false` is refused.
        if claim == "email" {
            let unverified = matches!(claims.get("email_verified"), Some(Value::Bool(false)))
                || matches!(claims.get("email_verified"), Some(Value::String(s)) if s == "false");
            if unverified {
                return Err(TokenError::UnverifiedEmail);
            }
        }
        Ok(identity)
    }
}

/// A NumericDate claim (RFC 7519: seconds since the epoch, possibly
/// fractional, which is truncated towards the past).
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<OffsetDateTime>, TokenError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let invalid = || TokenError::InvalidClaim {
        claim: name,
        reason: "must be a NumericDate (seconds since the epoch)",
    };
    let seconds = match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.floor() as i64)
        }),
        _ => None,
    }
    .ok_or_else(invalid)?;
    OffsetDateTime::from_unix_timestamp(seconds)
        .map(Some)
        .map_err(|_| invalid())
}

fn string_claim(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(TokenError::InvalidClaim {
            claim: name,
            reason: "must be a string",
        }),
    }
}

fn string_array(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Vec<String>, TokenError> {
    let invalid = TokenError::InvalidClaim {
        claim: name,
        reason: "must be an array of strings",
    };
    match claims.get(name) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or(invalid.clone()))
            .collect(),
        Some(_) => Err(invalid),
    }
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
fn audience(claims: &Map<String, Value>) -> Result<Vec<String>, TokenError> {
    match claims.get("aud") {
        None => Err(TokenError::MissingClaim("aud")),
        Some(Value::String(aud)) => Ok(vec![aud.clone()]),
        Some(Value::Array(_)) => {
            string_array(claims, "aud").map_err(|_| TokenError::InvalidClaim {
                claim: "aud",
                reason: "must be a string or an array of strings",
            })
        }
        Some(_) => Err(TokenError::InvalidClaim {
            claim: "aud",
            reason: "must be a string or an array of strings",
        }),
    }
}
