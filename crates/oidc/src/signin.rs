//! Signing people in to the web app with a caller issuer: the OpenID
//! Connect authorization-code flow (Core §3.1) with PKCE S256 (RFC 7636)
//! and `nonce`.
//!
//! A sign-in has two halves, and the web app keeps what joins them:
//!
//! 1. [`SignInProvider::begin`] makes fresh `state`, `nonce` and PKCE
//!    `code_verifier` values and the authorization URL to send the browser
//!    to. The web app keeps the [`AuthorizationRequest`] (server-side, or
//!    sealed in a cookie) and redirects.
//! 2. The issuer sends the browser back to the redirect URI with `code` and
//!    `state`. The web app checks `state` against what it kept, then calls
//!    [`SignInProvider::finish`], which redeems the code at the token
//!    endpoint, verifies the ID token with the same [`TokenVerifier`] that
//!    checks API callers (so `acr`, `amr`, `auth_time` and the AAL come out
//!    exactly as there), and then checks what only a sign-in can: the
//!    `nonce`, that the token was issued to this client (`aud`, `azp`), and,
//!    when a fresh authentication was asked for, `auth_time` against
//!    `max_age`.
//!
//! What this module deliberately does not do: it keeps no state between
//! the halves (no session store, no cookie), never compares `state` (the
//! web app holds both values), never reads the clock (`now` is passed in),
//! does not call the userinfo endpoint or keep the access token (the ID
//! token is the whole answer), and takes only endpoints from discovery,
//! never keys: the issuer's JWKS stays the configured one, so a changed
//! discovery document cannot change who may sign ID tokens. Discovery runs
//! once, when the providers load; its failure is a [`ConfigError`].
//!
//! Every [`SignInError`] message is meant to be shown to the person signing
//! in (as an RFC 9457 `detail`): none contains a secret, a code, a code
//! verifier or a token.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand_core::{OsRng, RngCore};
use reqwest::Url;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::config::{check_endpoint_url, MAX_LEEWAY_SECONDS};
use crate::jwks::{http_client, read_limited};
use crate::{
    ClientSecret, ConfigError, IssuerConfig, Purpose, SignInError, TokenAuth, TokenVerifier,
    VerifiedToken,
};

/// Random bytes in each `state`, `nonce` and code verifier: 256 bits, which
/// base64url-encode to 43 characters, the shortest code verifier RFC 7636
/// §4.1 allows.
const RANDOM_BYTES: usize = 32;
/// Discovery documents larger than this are refused.
const MAX_DISCOVERY_BYTES: u64 = 256 * 1024;
/// Token endpoint answers larger than this are refused; an ID token is at
/// most 32 KiB by the verifier's own rule.
const MAX_TOKEN_RESPONSE_BYTES: u64 = 256 * 1024;
/// Authorization codes longer than this are refused before being sent on.
const MAX_CODE_BYTES: usize = 4096;

/// One caller issuer people can sign in with, ready for [`begin`] and
/// [`finish`]. Cheap to clone; holds no connection.
///
/// [`begin`]: SignInProvider::begin
/// [`finish`]: SignInProvider::finish
#[derive(Clone, Debug)]
pub struct SignInProvider {
    issuer: String,
    display_name: String,
    client_id: String,
    client_auth: ClientAuth,
    authorization_endpoint: Url,
    token_endpoint: Url,
    scopes: Vec<String>,
    leeway: Duration,
}

/// How the client authenticates at the token endpoint, with the secret it
/// needs. `Debug` shows the method only ([`ClientSecret`] redacts itself).
#[derive(Clone, Debug)]
enum ClientAuth {
    Basic(ClientSecret),
    Post(ClientSecret),
    None,
}

impl ClientAuth {
    fn secret(&self) -> Option<&ClientSecret> {
        match self {
            Self::Basic(secret) | Self::Post(secret) => Some(secret),
            Self::None => None,
        }
    }
}

/// What the web app may ask of one sign-in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignInOptions {
    /// OpenID Connect `max_age`, in seconds: the issuer must have
    /// authenticated the person at most this long ago, and [`finish`]
    /// checks the ID token's `auth_time` against it.
    ///
    /// [`finish`]: SignInProvider::finish
    pub max_age_seconds: Option<u64>,
    /// Sends `prompt=login`, so that the issuer authenticates the person
    /// again even in a live session. Step-up sets this together with
    /// `max_age_seconds`, which is what lets [`finish`] confirm that it
    /// happened.
    ///
    /// [`finish`]: SignInProvider::finish
    pub force_login: bool,
    /// Sends `login_hint` (usually the email of the person expected).
    pub login_hint: Option<String>,
}

/// The first half of a sign-in: where to send the browser, and what the web
/// app must keep until the browser comes back.
///
/// `state` and `nonce` travel in the URL; `code_verifier` must never leave
/// the server, and `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The issuer this sign-in goes to (which provider to finish with when
    /// the browser comes back).
    pub issuer: String,
    /// The authorization URL, with every parameter percent-encoded.
    pub url: Url,
    /// Compare with the `state` of the redirect back before anything else.
    pub state: String,
    /// The ID token must carry this `nonce`.
    pub nonce: String,
    /// The PKCE secret whose S256 challenge is in the URL.
    pub code_verifier: String,
    /// The redirect URI in the URL; the token request repeats it.
    pub redirect_uri: String,
    /// The `max_age` asked for, which [`SignInProvider::finish`] enforces.
    pub max_age_seconds: Option<u64>,
}

impl AuthorizationRequest {
    /// What [`SignInProvider::finish`] checks the answer against.
    pub fn expected(&self) -> Expected<'_> {
        Expected {
            code_verifier: &self.code_verifier,
            nonce: &self.nonce,
            redirect_uri: &self.redirect_uri,
            max_age_seconds: self.max_age_seconds,
        }
    }
}

impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("issuer", &self.issuer)
            .field("url", &self.url.as_str())
            .field("state", &self.state)
            .field("nonce", &self.nonce)
            .field("code_verifier", &"<redacted>")
            .field("redirect_uri", &self.redirect_uri)
            .field("max_age_seconds", &self.max_age_seconds)
            .finish()
    }
}

/// What the web app kept from [`SignInProvider::begin`], for
/// [`SignInProvider::finish`]. Named fields rather than positional
/// arguments, because the code verifier and the nonce are strings of the
/// same shape and must not be swapped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Expected<'a> {
    /// The PKCE code verifier of the sign-in.
    pub code_verifier: &'a str,
    /// The nonce the ID token must carry.
    pub nonce: &'a str,
    /// The redirect URI the authorization request named.
    pub redirect_uri: &'a str,
    /// The `max_age` the authorization request asked for, if any.
    pub max_age_seconds: Option<u64>,
}

impl fmt::Debug for Expected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expected")
            .field("code_verifier", &"<redacted>")
            .field("nonce", &self.nonce)
            .field("redirect_uri", &self.redirect_uri)
            .field("max_age_seconds", &self.max_age_seconds)
            .finish()
    }
}

/// The client secret of the issuer's `sign_in`: the inline
/// `client_secret`, or the contents of `client_secret_file` with one
/// trailing newline removed; `None` for a public client. This is the only
/// place the crate reads the secret file; call it at load (as
/// [`SignInProvider::load`] does) and again on a configuration reload.
pub fn read_client_secret(config: &IssuerConfig) -> Result<Option<ClientSecret>, ConfigError> {
    let Some(sign_in) = &config.sign_in else {
        return Ok(None);
    };
    let Some(path) = &sign_in.client_secret_file else {
        return Ok(sign_in.client_secret.clone());
    };
    let error = |reason: String| ConfigError::ClientSecretFile {
        issuer: config.issuer.clone(),
        path: path.clone(),
        reason,
    };
    let text = read_secret_file(path).map_err(error)?;
    // Files written by `echo` or an editor end in a newline that is not
    // part of the secret; anything else is kept, since a secret may
    // legitimately end in spaces.
    let secret = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if secret.is_empty() {
        return Err(error("the file is empty".to_owned()));
    }
    Ok(Some(ClientSecret::new(secret)))
}

fn read_secret_file(path: &Path) -> Result<String, String> {
    // A secret file is small; a huge one is a mistake (a wrong path).
    const MAX_SECRET_BYTES: u64 = 64 * 1024;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let bytes = read_limited(file, MAX_SECRET_BYTES)?;
    String::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_owned())
}

impl SignInProvider {
    /// Builds the provider for a caller issuer with `sign_in`: validates
    /// the configuration, reads the client secret ([`read_client_secret`]),
    /// and, unless both endpoints are configured, fetches the discovery
    /// document `{issuer}/.well-known/openid-configuration` (10 s timeout,
    /// no redirects), whose `issuer` must equal the configured one exactly.
    /// Blocking: call it outside an async runtime or from `spawn_blocking`.
    pub fn load(config: &IssuerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let sign_in = sign_in_of(config)?;
        let secret = read_client_secret(config)?;
        let (authorization_endpoint, token_endpoint) =
            match (&sign_in.authorization_endpoint, &sign_in.token_endpoint) {
                (Some(authorization), Some(token)) => (authorization.clone(), token.clone()),
                (authorization, token) => {
                    let discovered = discover(config)?;
                    (
                        authorization
                            .clone()
                            .unwrap_or(discovered.authorization_endpoint),
                        token.clone().unwrap_or(discovered.token_endpoint),
                    )
                }
            };
        Self::from_endpoints(config, &authorization_endpoint, &token_endpoint, secret)
    }

    /// Builds the provider from endpoints the caller already knows (tests,
    /// or discovery done elsewhere); the configured endpoint overrides are
    /// not consulted. `client_secret` is what [`read_client_secret`]
    /// answered; `None` falls back to the inline `client_secret`. No IO.
    pub fn from_endpoints(
        config: &IssuerConfig,
        authorization_endpoint: &str,
        token_endpoint: &str,
        client_secret: Option<ClientSecret>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let sign_in = sign_in_of(config)?;
        let invalid = |reason: String| ConfigError::Invalid {
            issuer: config.issuer.clone(),
            reason,
        };
        let endpoint = |field: &str, url: &str| {
            check_endpoint_url(field, url).map_err(invalid)?;
            Url::parse(url).map_err(|e| invalid(format!("{field} {url:?}: {e}")))
        };
        let authorization_endpoint = endpoint("authorization_endpoint", authorization_endpoint)?;
        let token_endpoint = endpoint("token_endpoint", token_endpoint)?;
        let secret = client_secret.or_else(|| sign_in.client_secret.clone());
        let client_auth = match (sign_in.effective_token_auth(), secret) {
            (TokenAuth::ClientSecretBasic, Some(secret)) => ClientAuth::Basic(secret),
            (TokenAuth::ClientSecretPost, Some(secret)) => ClientAuth::Post(secret),
            (TokenAuth::None, None) => ClientAuth::None,
            (TokenAuth::None, Some(_)) => {
                return Err(invalid(
                    "a client secret was given for a public client (sign_in.token_auth = \"none\")"
                        .to_owned(),
                ))
            }
            (auth, None) => {
                return Err(invalid(format!(
                    "sign_in.token_auth {auth} needs the client secret (read client_secret_file with read_client_secret)"
                )))
            }
        };
        let leeway_seconds = config.leeway_seconds.min(MAX_LEEWAY_SECONDS);
        Ok(Self {
            issuer: config.issuer.clone(),
            display_name: config
                .sign_in_display_name()
                .unwrap_or_else(|| config.issuer.clone()),
            client_id: sign_in.client_id.clone(),
            client_auth,
            authorization_endpoint,
            token_endpoint,
            scopes: sign_in.scopes.clone(),
            leeway: Duration::seconds(i64::try_from(leeway_seconds).unwrap_or(0)),
        })
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The sign-in button's text.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The authorization endpoint in use (configured or discovered).
    pub fn authorization_endpoint(&self) -> &Url {
        &self.authorization_endpoint
    }

    /// The token endpoint in use (configured or discovered).
    pub fn token_endpoint(&self) -> &Url {
        &self.token_endpoint
    }

    /// Starts a sign-in that will come back to `redirect_uri` (an absolute
    /// `https` URL, or `http` on a loopback address, without a fragment;
    /// it must be registered at the issuer for this client).
    ///
    /// The URL asks for `response_type=code` with the configured scopes,
    /// fresh 256-bit `state` and `nonce`, and the S256 challenge of a fresh
    /// 256-bit code verifier, plus `max_age`, `prompt=login` and
    /// `login_hint` as `options` say. Query parameters already in the
    /// authorization endpoint are kept.
    pub fn begin(
        &self,
        redirect_uri: &str,
        options: &SignInOptions,
    ) -> Result<AuthorizationRequest, SignInError> {
        check_endpoint_url("redirect_uri", redirect_uri)
            .map_err(|reason| SignInError::InvalidRedirectUri { reason })?;
        let state = random_value()?;
        let nonce = random_value()?;
        let code_verifier = random_value()?;
        let mut url = self.authorization_endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &self.scopes.join(" "))
                .append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &code_challenge(&code_verifier))
                .append_pair("code_challenge_method", "S256");
            if let Some(max_age) = options.max_age_seconds {
                query.append_pair("max_age", &max_age.to_string());
            }
            if options.force_login {
                query.append_pair("prompt", "login");
            }
            if let Some(hint) = options.login_hint.as_deref().filter(|h| !h.is_empty()) {
                query.append_pair("login_hint", hint);
            }
        }
        Ok(AuthorizationRequest {
            issuer: self.issuer.clone(),
            url,
            state,
            nonce,
            code_verifier,
            redirect_uri: redirect_uri.to_owned(),
            max_age_seconds: options.max_age_seconds,
        })
    }

    /// Finishes a sign-in: redeems `code` at the token endpoint, verifies
    /// the ID token, and checks it against what the sign-in began with.
    ///
    /// The ID token is verified by `verifier` as a caller token at `now`
    /// (signature with the issuer's configured keys, refreshed once on an
    /// unknown key; issuer, audience, times, identity claim, AAL). Then:
    /// it must come from this provider's issuer; its `nonce` must equal
    /// `expected.nonce` (compared in constant time); its `aud` must contain
    /// the client id; its `azp`, if present, must be the client id, and
    /// must be present when `aud` names several parties; and when
    /// `expected.max_age_seconds` is set, `auth_time` must be present and
    /// no older than that (plus the issuer's leeway). Blocking: call it
    /// from `spawn_blocking`.
    ///
    /// A code is good for one try: the issuer refuses it the second time,
    /// which answers [`SignInError::TokenRefused`] with `invalid_grant`.
    pub fn finish(
        &self,
        verifier: &TokenVerifier,
        code: &str,
        expected: &Expected<'_>,
        now: OffsetDateTime,
    ) -> Result<VerifiedToken, SignInError> {
        if code.is_empty() || code.len() > MAX_CODE_BYTES {
            return Err(SignInError::MissingCode);
        }
        let id_token = self.redeem(code, expected)?;
        let verified = verifier.verify_current(&id_token, Purpose::Caller, now)?;
        self.check(&verified, expected, now)?;
        Ok(verified)
    }

    /// Exchanges the code for the token endpoint's answer and takes its
    /// `id_token` (RFC 6749 §4.1.3, §5; OpenID Connect Core §3.1.3).
    fn redeem(&self, code: &str, expected: &Expected<'_>) -> Result<String, SignInError> {
        let unreachable = |reason: String| SignInError::TokenEndpointUnreachable {
            issuer: self.issuer.clone(),
            reason,
        };
        let invalid = |reason: String| SignInError::InvalidTokenResponse {
            issuer: self.issuer.clone(),
            reason,
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", expected.redirect_uri),
            ("code_verifier", expected.code_verifier),
        ];
        let client = http_client().map_err(unreachable)?;
        let mut request = client
            .post(self.token_endpoint.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        match &self.client_auth {
            ClientAuth::Basic(secret) => {
                request = request.header(
                    reqwest::header::AUTHORIZATION,
                    basic_authorization(&self.client_id, secret),
                );
            }
            ClientAuth::Post(secret) => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", secret.expose()));
            }
            ClientAuth::None => form.push(("client_id", &self.client_id)),
        }
        // Transport errors are described without the URL's query (there is
        // none here) and never with the body, which holds the code and
        // possibly the secret.
        let response = request
            .form(&form)
            .send()
            .map_err(|e| unreachable(describe_transport_error(&e)))?;
        let status = response.status();
        let body = read_limited(response, MAX_TOKEN_RESPONSE_BYTES).map_err(invalid)?;
        let answer = serde_json::from_slice::<Value>(&body).ok();
        if !status.is_success() {
            let secrets = [
                Some(code),
                Some(expected.code_verifier),
                self.client_auth.secret().map(ClientSecret::expose),
            ];
            let field = |name: &str| {
                answer
                    .as_ref()
                    .and_then(|answer| answer.get(name))
                    .and_then(Value::as_str)
            };
            return Err(SignInError::TokenRefused {
                issuer: self.issuer.clone(),
                status: status.as_u16(),
                error: field("error").and_then(|e| oauth_error_code(e, &secrets)),
                description: field("error_description")
                    .and_then(|d| oauth_description(d, &secrets)),
            });
        }
        let Some(Value::Object(answer)) = answer else {
            return Err(invalid("a body that is not a JSON object".to_owned()));
        };
        match answer.get("id_token") {
            Some(Value::String(token)) if !token.is_empty() => Ok(token.clone()),
            _ => Err(SignInError::NoIdToken {
                issuer: self.issuer.clone(),
            }),
        }
    }

    /// The checks only a sign-in can make, after the verifier's own.
    fn check(
        &self,
        verified: &VerifiedToken,
        expected: &Expected<'_>,
        now: OffsetDateTime,
    ) -> Result<(), SignInError> {
        // The verifier routes by `iss`, so a token endpoint answering with
        // a token of another trusted caller issuer would otherwise pass.
        if verified.issuer != self.issuer {
            return Err(SignInError::IssuerMismatch {
                expected: self.issuer.clone(),
                issuer: verified.issuer.clone(),
            });
        }
        match verified.claims.get("nonce") {
            None => return Err(SignInError::NonceMissing),
            Some(Value::String(nonce))
                if bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes())) => {}
            Some(_) => return Err(SignInError::NonceMismatch),
        }
        if !verified.audience.contains(&self.client_id) {
            return Err(SignInError::WrongAudience {
                client_id: self.client_id.clone(),
                audience: verified.audience.clone(),
            });
        }
        let azp = authorized_party(&verified.claims);
        let azp_fits = match &azp {
            Some(azp) => *azp == self.client_id,
            // OpenID Connect Core §2 lets `azp` be absent when the client
            // is the only audience; with several, it says who the token
            // was issued to.
            None => verified.audience.len() == 1,
        };
        if !azp_fits {
            return Err(SignInError::WrongAuthorizedParty {
                client_id: self.client_id.clone(),
                azp: azp.map(|azp| crate::echo(&azp)),
            });
        }
        if let Some(max_age_seconds) = expected.max_age_seconds {
            let auth_time = verified
                .auth_time
                .ok_or(SignInError::MissingAuthTime { max_age_seconds })?;
            let max_age = Duration::seconds(i64::try_from(max_age_seconds).unwrap_or(i64::MAX));
            // Overflow (absurd max_age) counts as "no limit".
            let deadline = auth_time
                .checked_add(max_age)
                .and_then(|at| at.checked_add(self.leeway));
            if deadline.is_some_and(|deadline| now > deadline) {
                return Err(SignInError::StaleAuthentication {
                    auth_time,
                    max_age_seconds,
                });
            }
        }
        Ok(())
    }
}

fn sign_in_of(config: &IssuerConfig) -> Result<&crate::SignInConfig, ConfigError> {
    config.sign_in.as_ref().ok_or_else(|| ConfigError::Invalid {
        issuer: config.issuer.clone(),
        reason: "has no sign_in table".to_owned(),
    })
}

/// The endpoints a discovery document names.
#[derive(Debug)]
pub(crate) struct Discovered {
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
}

/// Fetches and checks `{issuer}/.well-known/openid-configuration` (OpenID
/// Connect Discovery §4).
fn discover(config: &IssuerConfig) -> Result<Discovered, ConfigError> {
    let location = discovery_url(&config.issuer);
    let error = |reason: String| ConfigError::Discovery {
        issuer: config.issuer.clone(),
        location: location.clone(),
        reason,
    };
    let response = http_client()
        .map_err(error)?
        .get(&location)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .map_err(|e| error(describe_transport_error(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(error(format!("HTTP status {status}")));
    }
    let body = read_limited(response, MAX_DISCOVERY_BYTES).map_err(error)?;
    let document: Map<String, Value> =
        serde_json::from_slice(&body).map_err(|e| error(format!("not a JSON object: {e}")))?;
    parse_discovery(&config.issuer, &document).map_err(error)
}

/// The discovery URL: the issuer without a trailing `/`, then the
/// well-known path.
pub(crate) fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

pub(crate) fn parse_discovery(
    issuer: &str,
    document: &Map<String, Value>,
) -> Result<Discovered, String> {
    let text = |name: &str| match document.get(name) {
        Some(Value::String(value)) => Ok(Some(value.clone())),
        None => Ok(None),
        Some(_) => Err(format!("{name} is not a string")),
    };
    // OpenID Connect Discovery §4.3: the issuer in the document must be
    // identical to the one the document was fetched for, or a provider
    // could pass itself off as another.
    match text("issuer")? {
        Some(found) if found == issuer => {}
        Some(found) => {
            return Err(format!(
                "the document names issuer {:?}, not {issuer:?} exactly",
                crate::echo(&found)
            ))
        }
        None => return Err("the document has no issuer".to_owned()),
    }
    // A provider that says which PKCE methods it supports must support
    // S256; one that says nothing may still, and the token exchange shows.
    if let Some(methods) = document.get("code_challenge_methods_supported") {
        let s256 = methods
            .as_array()
            .is_some_and(|methods| methods.iter().any(|m| m.as_str() == Some("S256")));
        if !s256 {
            return Err("code_challenge_methods_supported does not include S256".to_owned());
        }
    }
    let endpoint = |name: &str| -> Result<String, String> {
        let url = text(name)?.ok_or_else(|| format!("the document has no {name}"))?;
        check_endpoint_url(name, &url)?;
        Ok(url)
    };
    Ok(Discovered {
        authorization_endpoint: endpoint("authorization_endpoint")?,
        token_endpoint: endpoint("token_endpoint")?,
    })
}

/// A fresh random value of 256 bits, base64url without padding: 43
/// characters from the RFC 7636 unreserved set.
fn random_value() -> Result<String, SignInError> {
    let mut bytes = [0u8; RANDOM_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| SignInError::Randomness)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The RFC 7636 §4.2 S256 challenge: `BASE64URL(SHA256(ASCII(verifier)))`.
pub(crate) fn code_challenge(code_verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()))
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before they
/// are joined and base64-encoded, so that a `:` or non-ASCII character in
/// either survives.
pub(crate) fn basic_authorization(client_id: &str, secret: &ClientSecret) -> String {
    let encode =
        |value: &str| form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(client_id), encode(secret.expose()));
    format!("Basic {}", STANDARD.encode(credentials))
}

/// `azp` as a string; a non-string `azp` counts as a wrong one.
fn authorized_party(claims: &Map<String, Value>) -> Option<String> {
    match claims.get("azp")? {
        Value::String(azp) => Some(azp.clone()),
        other => Some(other.to_string()),
    }
}

/// A reqwest error as text, without the URL: the error's own description
/// and its cause chain (timeouts, refused connections, TLS failures).
fn describe_transport_error(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    crate::echo(&text)
}

/// An OAuth `error` code as the issuer sent it, if it has the RFC 6749
/// §5.2 form (printable ASCII without `"` and `\`) and repeats no secret.
fn oauth_error_code(code: &str, secrets: &[Option<&str>]) -> Option<String> {
    let well_formed = !code.is_empty()
        && code.bytes().all(|b| {
            (0x20..=0x21).contains(&b) || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
        });
    (well_formed && !repeats_secret(code, secrets)).then(|| crate::echo(code))
}

/// An `error_description` for people: control characters become spaces,
/// it is cut short, and it is dropped entirely if it repeats the code, the
/// code verifier or the client secret, which a careless issuer might echo.
fn oauth_description(description: &str, secrets: &[Option<&str>]) -> Option<String> {
    if repeats_secret(description, secrets) {
        return None;
    }
    let cleaned: String = description
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    (!cleaned.is_empty()).then(|| crate::echo(&cleaned))
}

fn repeats_secret(text: &str, secrets: &[Option<&str>]) -> bool {
    secrets
        .iter()
        .flatten()
        .any(|secret| !secret.is_empty() && text.contains(secret))
}
