//! JSON Web Key Sets: reading, fetching, checking, and choosing the key for
//! a token; and the crate's one way of making HTTP requests.

use std::io::Read;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::{ConfigError, IssuerConfig, JwksSource, TokenError};

/// JWKS documents larger than this are refused.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;
/// How long one HTTP request of this crate (JWKS, discovery, token
/// exchange) may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The smallest RSA modulus accepted, in bits (NIST SP 800-131A).
const MIN_RSA_BITS: usize = 2048;

/// Reads or fetches the issuer's JWKS and checks it.
pub(crate) fn load(config: &IssuerConfig) -> Result<JwkSet, ConfigError> {
    let error = |reason: String| ConfigError::Jwks {
        issuer: config.issuer.clone(),
        location: config.jwks.to_string(),
        reason,
    };
    let bytes = match &config.jwks {
        JwksSource::File(path) => read_file(path),
        JwksSource::Url(url) => fetch(url),
    }
    .map_err(error)?;
    let set = parse(&bytes).map_err(error)?;
    check(&set).map_err(error)?;
    Ok(set)
}

fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    read_limited(file, MAX_JWKS_BYTES)
}

/// The HTTP client for every request this crate makes: JWKS, discovery and
/// the token endpoint. Blocking, like the rest of the crate.
pub(crate) fn http_client() -> Result<reqwest::blocking::Client, String> {
    // Redirects are not followed: the configured URL is the trust anchor,
    // and a redirect could lead to a plain-http or unexpected host.
    reqwest::blocking::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let response = http_client()?
        .get(url)
        .header(
            reqwest::header::ACCEPT,
            "application/jwk-set+json, application/json",
        )
        .send()
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP status {status}"));
    }
    read_limited(response, MAX_JWKS_BYTES)
}

/// Reads at most `max_bytes`, refusing anything longer rather than cutting
/// it, so that a hostile server cannot make the service buffer without end.
pub(crate) fn read_limited(reader: impl Read, max_bytes: u64) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    reader
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!("larger than {max_bytes} bytes"));
    }
    Ok(bytes)
}

/// Parses a JWKS document. Keys that `jsonwebtoken` cannot represent at all
/// are skipped here; whether the rest are usable is [`check`]'s question.
fn parse(bytes: &[u8]) -> Result<JwkSet, String> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JWK set: {e}"))?;
    let keys = document
        .keys
        .into_iter()
        .filter_map(|key| serde_json::from_value::<Jwk>(key).ok())
        .collect();
    Ok(JwkSet { keys })
}

/// Checks every signing key of a supported type and requires at least one.
/// A malformed key of a supported type fails the whole set: the issuer is
/// publishing something wrong, and that should be seen, not skipped.
pub(crate) fn check(set: &JwkSet) -> Result<(), String> {
    let mut usable = 0;
    for jwk in &set.keys {
        let Some(algorithms) = signing_algorithms(jwk) else {
            continue;
        };
        check_key_material(jwk).map_err(|reason| {
            format!("key {}: {reason}", crate::describe_kid(&jwk.common.key_id))
        })?;
        // Building a verifier parses the key the way verification will.
        let decoding = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        for alg in algorithms {
            jsonwebtoken::crypto::verify("", b"", &decoding, *alg).map_err(|e| {
                format!(
                    "key {} is not a valid {alg:?} key: {e}",
                    crate::describe_kid(&jwk.common.key_id)
                )
            })?;
        }
        usable += 1;
    }
    if usable == 0 {
        return Err(
            "no usable signing key (Ed25519 OKP, P-256 EC or RSA of at least 2048 bits)".to_owned(),
        );
    }
    Ok(())
}

/// The supported algorithms a JWK may verify, or `None` if it is not a
/// signing key of a supported type.
fn signing_algorithms(jwk: &Jwk) -> Option<&'static [Algorithm]> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption) | Some(PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let candidates: &'static [Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            &[Algorithm::EdDSA]
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            &[Algorithm::ES256]
        }
        AlgorithmParameters::RSA(_) => match jwk.common.key_algorithm {
            Some(KeyAlgorithm::RS256) => &[Algorithm::RS256],
            Some(KeyAlgorithm::PS256) => &[Algorithm::PS256],
            _ => &[Algorithm::RS256, Algorithm::PS256],
        },
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(candidates),
        Some(stated) => candidates
            .iter()
            .any(|alg| KeyAlgorithm::from(*alg) == stated)
            .then_some(candidates),
    }
}

fn check_key_material(jwk: &Jwk) -> Result<(), String> {
    match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) => coordinate("x", &p.x),
        AlgorithmParameters::EllipticCurve(p) => {
            coordinate("x", &p.x)?;
            coordinate("y", &p.y)
        }
        AlgorithmParameters::RSA(p) => {
            let n = base64url("n", &p.n)?;
            let e = base64url("e", &p.e)?;
            let n = match n.iter().position(|b| *b != 0) {
                Some(start) => &n[start..],
                None => &[][..],
            };
            let bits = match n.first() {
                Some(top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
                None => 0,
            };
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "RSA modulus has {bits} bits, at least {MIN_RSA_BITS} are required"
                ));
            }
            if e.iter().all(|b| *b == 0) {
                return Err("RSA exponent is zero".to_owned());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn base64url(name: &str, value: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| format!("{name} is not base64url"))
}

/// Ed25519 public keys and P-256 coordinates are 32 bytes.
fn coordinate(name: &str, value: &str) -> Result<(), String> {
    let len = base64url(name, value)?.len();
    if len != 32 {
        return Err(format!("{name} is {len} bytes, not 32 bytes"));
    }
    Ok(())
}

/// Chooses the key for a token: the one its `kid` names, or, without a
/// `kid`, the only key that fits the algorithm.
pub(crate) fn select<'a>(
    set: &'a JwkSet,
    issuer: &str,
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<&'a Jwk, TokenError> {
    let fits = |jwk: &Jwk| signing_algorithms(jwk).is_some_and(|algs| algs.contains(&alg));
    match kid {
        Some(kid) => {
            let mut named = set
                .keys
                .iter()
                .filter(|jwk| jwk.common.key_id.as_deref() == Some(kid))
                .peekable();
            if named.peek().is_none() {
                return Err(TokenError::UnknownKey {
                    issuer: issuer.to_owned(),
                    kid: Some(crate::echo(kid)),
                });
            }
            named
                .find(|jwk| fits(jwk))
                .ok_or_else(|| TokenError::KeyTypeMismatch {
                    alg: format!("{alg:?}"),
                    kid: Some(crate::echo(kid)),
                })
        }
        None => {
            let mut fitting = set.keys.iter().filter(|jwk| fits(jwk));
            match (fitting.next(), fitting.next()) {
                (Some(only), None) => Ok(only),
                _ => Err(TokenError::UnknownKey {
                    issuer: issuer.to_owned(),
                    kid: None,
                }),
            }
        }
    }
}
