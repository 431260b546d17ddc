//! Tests with real keys generated per test and tokens minted by
//! `jsonwebtoken`, so that every refusal below is the verifier's own.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::thread;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand_core::OsRng;
use serde_json::{json, Value};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::{ClaimRule, ConfigError, IssuerConfig, JwksSource, Purpose, TokenError, TokenVerifier};

pub(crate) const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);
pub(crate) const CALLER_ISS: &str = "https://idp.example.com";
const WORKLOAD_ISS: &str = "https://token.actions.githubusercontent.com";
pub(crate) const AUD: &str = "https://countersign.example.com";

/// A 2048-bit RSA key (PKCS#1 DER), generated once per test run: RSA key
/// generation is too slow to do per test, and no key is kept in the tree.
fn rsa_pkcs1_der() -> &'static [u8] {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        key.to_pkcs1_der().unwrap().as_bytes().to_vec()
    })
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn ts(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

/// A signing key and its public JWK (without `kid`).
pub(crate) struct Signer {
    alg: Algorithm,
    key: EncodingKey,
    public: Value,
}

impl Signer {
    pub(crate) fn ed25519() -> Self {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let signing = ed25519_dalek::SigningKey::generate(&mut OsRng);
        let der = signing.to_pkcs8_der().unwrap();
        Self {
            alg: Algorithm::EdDSA,
            key: EncodingKey::from_ed_der(der.as_bytes()),
            public: json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64(signing.verifying_key().as_bytes()),
            }),
        }
    }

    pub(crate) fn p256() -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::pkcs8::EncodePrivateKey;
        let secret = p256::SecretKey::random(&mut OsRng);
        let der = secret.to_pkcs8_der().unwrap();
        let point = secret.public_key().to_encoded_point(false);
        Self {
            alg: Algorithm::ES256,
            key: EncodingKey::from_ec_der(der.as_bytes()),
            public: json!({
                "kty": "EC",
                "crv": "P-256",
                "x": b64(point.x().unwrap()),
                "y": b64(point.y().unwrap()),
            }),
        }
    }

    pub(crate) fn rsa(alg: Algorithm) -> Self {
        let key = EncodingKey::from_rsa_der(rsa_pkcs1_der());
        let mut public = serde_json::to_value(Jwk::from_encoding_key(&key, alg).unwrap()).unwrap();
        public.as_object_mut().unwrap().remove("alg");
        assert_eq!(public["kty"], "RSA");
        Self { alg, key, public }
    }

    pub(crate) fn jwk(&self, kid: &str) -> Value {
        let mut jwk = self.public.clone();
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk
    }

    pub(crate) fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

pub(crate) fn key_set(keys: &[Value]) -> JwkSet {
    serde_json::from_value(json!({ "keys": keys })).unwrap()
}

pub(crate) fn caller_config() -> IssuerConfig {
    IssuerConfig {
        issuer: CALLER_ISS.to_owned(),
        audiences: vec![AUD.to_owned(), "countersign-cli".to_owned()],
        jwks: JwksSource::File(PathBuf::from("/nonexistent/jwks.json")),
        purpose: Purpose::Caller,
        identity_claim: None,
        acr_values: BTreeMap::new(),
        rules: Vec::new(),
        leeway_seconds: 60,
        sign_in: None,
    }
}

fn rule(identity: &str, claims: &[(&str, &str)]) -> ClaimRule {
    ClaimRule {
        claims: claims
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        identity: identity.to_owned(),
    }
}

pub(crate) fn workload_config() -> IssuerConfig {
    IssuerConfig {
        issuer: WORKLOAD_ISS.to_owned(),
        audiences: vec![AUD.to_owned()],
        jwks: JwksSource::Url(
            "https://token.actions.githubusercontent.com/.well-known/jwks".to_owned(),
        ),
        purpose: Purpose::Workload,
        identity_claim: None,
        acr_values: BTreeMap::new(),
        rules: vec![
            rule(
                "acme-app-release",
                &[
                    ("sub", "repo:acme/app:ref:refs/heads/release/*"),
                    ("repository_owner", "acme"),
                ],
            ),
            rule("acme-app-ci", &[("sub", "repo:acme/app:ref:refs/heads/*")]),
            rule("acme-numbered", &[("run_number", "*")]),
        ],
        leeway_seconds: 60,
        sign_in: None,
    }
}

pub(crate) fn caller_claims() -> Value {
    json!({
        "iss": CALLER_ISS,
        "aud": AUD,
        "sub": "00u1abcd",
        "email": "alice@example.com",
        "email_verified": true,
        "iat": ts(NOW - Duration::seconds(30)),
        "exp": ts(NOW + Duration::minutes(5)),
        "auth_time": ts(NOW - Duration::minutes(2)),
        "amr": ["hwk", "pin"],
    })
}

fn workload_claims(sub: &str) -> Value {
    json!({
        "iss": WORKLOAD_ISS,
        "aud": AUD,
        "sub": sub,
        "repository_owner": "acme",
        "run_number": 42,
        "iat": ts(NOW),
        "nbf": ts(NOW),
        "exp": ts(NOW + Duration::minutes(5)),
    })
}

/// A verifier trusting `signer` (kid `k1`) for callers.
fn caller_verifier(signer: &Signer) -> TokenVerifier {
    TokenVerifier::from_keys(vec![(caller_config(), key_set(&[signer.jwk("k1")]))]).unwrap()
}

/// A verifier trusting `caller` for callers and `workload` for workloads.
fn both_verifier(caller: &Signer, workload: &Signer) -> TokenVerifier {
    TokenVerifier::from_keys(vec![
        (caller_config(), key_set(&[caller.jwk("k1")])),
        (workload_config(), key_set(&[workload.jwk("w1")])),
    ])
    .unwrap()
}

pub(crate) fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

pub(crate) fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

/// A token with arbitrary header and payload and a junk signature.
fn raw_token(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes()),
        b64(b"not a signature")
    )
}

// --- valid tokens -----------------------------------------------------------

#[test]
fn caller_token_signed_with_eddsa_verifies() {
    let signer = Signer::ed25519();
    let verifier = caller_verifier(&signer);
    let token = signer.sign(Some("k1"), &caller_claims());
    let verified = verifier.verify(&token, Purpose::Caller, NOW).unwrap();
    assert_eq!(verified.identity, "alice@example.com");
    assert_eq!(verified.email.as_deref(), Some("alice@example.com"));
    assert_eq!(verified.subject, "00u1abcd");
    assert_eq!(verified.issuer, CALLER_ISS);
    assert_eq!(verified.audience, vec![AUD.to_owned()]);
    assert_eq!(verified.purpose, Purpose::Caller);
    assert_eq!(verified.amr, vec!["hwk".to_owned(), "pin".to_owned()]);
    assert_eq!(verified.acr, None);
    assert_eq!(verified.aal, 3);
    assert_eq!(verified.auth_time, Some(NOW - Duration::minutes(2)));
    assert_eq!(verified.issued_at, Some(NOW - Duration::seconds(30)));
    assert_eq!(verified.expires_at, NOW + Duration::minutes(5));
    assert_eq!(verified.claims["email_verified"], json!(true));
    assert_eq!(verified.token_sha256.len(), 64);
    assert!(!verified.token_sha256.contains(&token));
    // Hex SHA-256 of the exact token bytes.
    use sha2::Digest;
    let expected: String = sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(verified.token_sha256, expected);
}

#[test]
fn caller_token_signed_with_es256_verifies() {
    let signer = Signer::p256();
    let verifier = caller_verifier(&signer);
    let claims = with(
        with(
            caller_claims(),
            "acr",
            json!("http://idmanagement.gov/ns/assurance/aal/2"),
        ),
        "amr",
        json!(["pwd"]),
    );
    let token = signer.sign(Some("k1"), &claims);
    let verified = verifier.verify(&token, Purpose::Caller, NOW).unwrap();
    assert_eq!(verified.identity, "alice@example.com");
    assert_eq!(verified.aal, 2);
    assert_eq!(
        verified.acr.as_deref(),
        Some("http://idmanagement.gov/ns/assurance/aal/2")
    );
    assert_eq!(verified.auth_time, Some(NOW - Duration::minutes(2)));
}

#[test]
fn operator_acr_table_sets_the_level() {
    let signer = Signer::ed25519();
    let mut config = caller_config();
    config.acr_values.insert("urn:corp:loa:high".to_owned(), 3);
    let verifier = TokenVerifier::from_keys(vec![(config, key_set(&[signer.jwk("k1")]))]).unwrap();
    let claims = with(
        with(caller_claims(), "acr", json!("urn:corp:loa:high")),
        "amr",
        json!(["pwd"]),
    );
    let verified = verifier
        .verify(&signer.sign(Some("k1"), &claims), Purpose::Caller, NOW)
        .unwrap();
    assert_eq!(verified.aal, 3);
    // Without the table entry the same acr is unknown: AAL1 from pwd alone.
    let plain = caller_verifier(&signer);
    let verified = plain
        .verify(&signer.sign(Some("k1"), &claims), Purpose::Caller, NOW)
        .unwrap();
    assert_eq!(verified.aal, 1);
}

#[test]
fn rsa_tokens_verify_with_rs256_and_ps256() {
    let rs = Signer::rsa(Algorithm::RS256);
    let ps = Signer::rsa(Algorithm::PS256);
    // One RSA key without `alg` serves both padding schemes.
    let verifier = caller_verifier(&rs);
    for signer in [&rs, &ps] {
        let verified = verifier
            .verify(
                &signer.sign(Some("k1"), &caller_claims()),
                Purpose::Caller,
                NOW,
            )
            .unwrap();
        assert_eq!(verified.identity, "alice@example.com");
    }
    // A key pinned to RS256 refuses PS256.
    let mut pinned = rs.jwk("k1");
    pinned["alg"] = json!("RS256");
    let verifier = TokenVerifier::from_keys(vec![(caller_config(), key_set(&[pinned]))]).unwrap();
    verifier
        .verify(&rs.sign(Some("k1"), &caller_claims()), Purpose::Caller, NOW)
        .unwrap();
    let err = verifier
        .verify(&ps.sign(Some("k1"), &caller_claims()), Purpose::Caller, NOW)
        .unwrap_err();
    assert_eq!(
        err,
        TokenError::KeyTypeMismatch {
            alg: "PS256".to_owned(),
            kid: Some("k1".to_owned())
        }
    );
}

// --- time ---------------------------------------------------------------------

#[test]
fn expired_token_is_refused_after_the_leeway() {
    let signer = Signer::ed25519();
    let verifier = caller_verifier(&signer);
    let exp = NOW - Duration::seconds(60);
    let token = signer.sign(
        Some("k1"),
        &with(
            with(caller_claims(), "exp", json!(ts(exp))),
            "iat",
            json!(ts(exp - Duration::minutes(5))),
        ),
    );
    let err = verifier.verify(&token, Purpose::Caller, NOW).unwrap_err();
    assert_eq!(err, TokenError::Expired { expired_at: exp });
    assert_eq!(err.kind(), "expired");
    assert!(err.to_string().contains("2025-06-01T11:59:00Z"), "{err}");
    // One second earlier it was still inside the 60 s leeway.
    verifier
        .verify(&token, Purpose::Caller, NOW - Duration::seconds(1))
        .unwrap();
}

#[test]
fn token_not_yet_valid_is_refused() {
    let signer = Signer::ed25519();
    let verifier = caller_verifier(&signer);
    let nbf = NOW + Duration::seconds(61);
    let token = signer.sign(Some("k1"), &with(caller_claims(), "nbf", json!(ts(nbf))));
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::NotYetValid { not_before: nbf }
    );
    // Within the leeway a slightly early nbf is accepted.
    verifier
        .verify(&token, Purpose::Caller, NOW + Duration::seconds(1))
        .unwrap();

    let iat = NOW + Duration::minutes(2);
    let token = signer.sign(Some("k1"), &with(caller_claims(), "iat", json!(ts(iat))));
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::IssuedInFuture
    );

    let token = signer.sign(
        Some("k1"),
        &with(
            caller_claims(),
            "auth_time",
            json!(ts(NOW + Duration::minutes(2))),
        ),
    );
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::InvalidClaim {
            claim: "auth_time",
            reason: "is in the future"
        }
    );
}

#[test]
fn missing_or_malformed_exp_is_refused() {
    let signer = Signer::ed25519();
    let verifier = caller_verifier(&signer);
    let token = signer.sign(Some("k1"), &without(caller_claims(), "exp"));
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::MissingClaim("exp")
    );
    for bad in [json!("tomorrow"), json!(null), json!(1e300)] {
        let token = signer.sign(Some("k1"), &with(caller_claims(), "exp", bad.clone()));
        assert_eq!(
            verifier
                .verify(&token, Purpose::Caller, NOW)
                .unwrap_err()
                .kind(),
            "invalid_claim",
            "exp {bad}"
        );
    }
    // A fractional NumericDate is fine.
    let exp = ts(NOW + Duration::minutes(5)) as f64 + 0.5;
    let token = signer.sign(Some("k1"), &with(caller_claims(), "exp", json!(exp)));
    let verified = verifier.verify(&token, Purpose::Caller, NOW).unwrap();
    assert_eq!(verified.expires_at, NOW + Duration::minutes(5));
}

// --- issuer, audience, keys, signatures ---------------------------------------

#[test]
fn unknown_issuer_is_refused() {
    let signer = Signer::ed25519();
    let verifier = caller_verifier(&signer);
    let token = signer.sign(
        Some("k1"),
        &with(caller_claims(), "iss", json!("https://evil.example.com")),
    );
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::UnknownIssuer("https://evil.example.com".to_owned())
    );
    // The issuer must match exactly: no trailing slash tolerance.
    let token = signer.sign(
        Some("k1"),
        &with(caller_claims(), "iss", json!(format!("{CALLER_ISS}/"))),
    );
    assert_eq!(
        verifier
            .verify(&token, Purpose::Caller, NOW)
            .unwrap_err()
            .kind(),
        "unknown_issuer"
    );
    let token = signer.sign(Some("k1"), &without(caller_claims(), "iss"));
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::MissingClaim("iss")
    );
}

#[test]
fn wrong_audience_is_refused() {
    let signer = Signer::ed25519();
    let verifier = caller_verifier(&signer);
    let token = signer.sign(
        Some("k1"),
        &with(caller_claims(), "aud", json!("https://other.example.com")),
    );
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::WrongAudience {
            audience: vec!["https://other.example.com".to_owned()]
        }
    );
    // An array works when one entry is ours (the second configured one here).
    let token = signer.sign(
        Some("k1"),
        &with(
            caller_claims(),
            "aud",
            json!(["https://other.example.com", "countersign-cli"]),
        ),
    );
    let verified = verifier.verify(&token, Purpose::Caller, NOW).unwrap();
    assert_eq!(verified.audience.len(), 2);
    let token = signer.sign(Some("k1"), &with(caller_claims(), "aud", json!([])));
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::WrongAudience { audience: vec![] }
    );
    let token = signer.sign(Some("k1"), &without(caller_claims(), "aud"));
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::MissingClaim("aud")
    );
    let token = signer.sign(Some("k1"), &with(caller_claims(), "aud", json!([AUD, 7])));
    assert_eq!(
        verifier
            .verify(&token, Purpose::Caller, NOW)
            .unwrap_err()
            .kind(),
        "invalid_claim"
    );
}

#[test]
fn signature_by_another_key_with_the_same_kid_is_refused() {
    let trusted = Signer::ed25519();
    let impostor = Signer::ed25519();
    let verifier = caller_verifier(&trusted);
    let token = impostor.sign(Some("k1"), &caller_claims());
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::BadSignature
    );
    // Same for P-256.
    let trusted = Signer::p256();
    let impostor = Signer::p256();
    let verifier = caller_verifier(&trusted);
    let token = impostor.sign(Some("k1"), &caller_claims());
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::BadSignature
    );
}

#[test]
fn tampered_payload_is_refused() {
    let signer = Signer::ed25519();
    let verifier = caller_verifier(&signer);
    let token = signer.sign(Some("k1"), &caller_claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = b64(with(caller_claims(), "email", json!("mallory@example.com"))
        .to_string()
        .as_bytes());
    parts[1] = &forged;
    let err = verifier
        .verify(&parts.join("."), Purpose::Caller, NOW)
        .unwrap_err();
    assert_eq!(err, TokenError::BadSignature);
    assert_eq!(err.kind(), "bad_signature");
}

#[test]
fn unknown_kid_is_refused_and_a_missing_kid_needs_a_single_fitting_key() {
    let signer = Signer::ed25519();
    let verifier = caller_verifier(&signer);
    let err = verifier
        .verify(
            &signer.sign(Some("k9"), &caller_claims()),
            Purpose::Caller,
            NOW,
        )
        .unwrap_err();
    assert_eq!(
        err,
        TokenError::UnknownKey {
            issuer: CALLER_ISS.to_owned(),
            kid: Some("k9".to_owned())
        }
    );
    assert_eq!(err.kind(), "unknown_key");

    // No kid, one Ed25519 key (next to a P-256 key): that key is used.
    let other = Signer::p256();
    let verifier = TokenVerifier::from_keys(vec![(
        caller_config(),
        key_set(&[signer.jwk("k1"), other.jwk("k2")]),
    )])
    .unwrap();
    verifier
        .verify(&signer.sign(None, &caller_claims()), Purpose::Caller, NOW)
        .unwrap();

    // No kid, two Ed25519 keys: ambiguous.
    let second = Signer::ed25519();
    let verifier = TokenVerifier::from_keys(vec![(
        caller_config(),
        key_set(&[signer.jwk("k1"), second.jwk("k2")]),
    )])
    .unwrap();
    assert_eq!(
        verifier
            .verify(&signer.sign(None, &caller_claims()), Purpose::Caller, NOW)
            .unwrap_err(),
        TokenError::UnknownKey {
            issuer: CALLER_ISS.to_owned(),
            kid: None
        }
    );
}

#[test]
fn algorithm_must_fit_the_key_type() {
    let ed = Signer::ed25519();
    let ec = Signer::p256();
    // The JWKS says k1 is an Ed25519 key; the token claims ES256 with k1.
    let verifier = caller_verifier(&ed);
    let err = verifier
        .verify(&ec.sign(Some("k1"), &caller_claims()), Purpose::Caller, NOW)
        .unwrap_err();
    assert_eq!(
        err,
        TokenError::KeyTypeMismatch {
            alg: "ES256".to_owned(),
            kid: Some("k1".to_owned())
        }
    );
    // And the other way round.
    let verifier = caller_verifier(&ec);
    assert_eq!(
        verifier
            .verify(&ed.sign(Some("k1"), &caller_claims()), Purpose::Caller, NOW)
            .unwrap_err()
            .kind(),
        "key_type_mismatch"
    );
    // An RSA-signed token naming an EC key.
    let rs = Signer::rsa(Algorithm::RS256);
    assert_eq!(
        verifier
            .verify(&rs.sign(Some("k1"), &caller_claims()), Purpose::Caller, NOW)
            .unwrap_err()
            .kind(),
        "key_type_mismatch"
    );
}

#[test]
fn unsupported_algorithms_are_refused() {
    let signer = Signer::ed25519();
    let verifier = caller_verifier(&signer);
    for alg in ["none", "HS256", "ES384", "RS512", "EdDSA2"] {
        let token = raw_token(&json!({ "alg": alg, "kid": "k1" }), &caller_claims());
        assert_eq!(
            verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
            TokenError::UnsupportedAlgorithm(alg.to_owned()),
            "alg {alg}"
        );
    }
    // An HMAC token "signed" with the public key as secret is refused too.
    let hs = jsonwebtoken::encode(
        &Header {
            kid: Some("k1".to_owned()),
            ..Header::new(Algorithm::HS256)
        },
        &caller_claims(),
        &EncodingKey::from_secret(signer.public["x"].as_str().unwrap().as_bytes()),
    )
    .unwrap();
    assert_eq!(
        verifier.verify(&hs, Purpose::Caller, NOW).unwrap_err(),
        TokenError::UnsupportedAlgorithm("HS256".to_owned())
    );
}

#[test]
fn malformed_tokens_are_refused() {
    let signer = Signer::ed25519();
    let verifier = caller_verifier(&signer);
    let good = signer.sign(Some("k1"), &caller_claims());
    let (header, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let cases = [
        String::new(),
        "not-a-jwt".to_owned(),
        format!("{header}.{payload}"),
        format!("{good}.extra"),
        format!("{header}.{payload}.{signature}="),
        format!("!!!.{payload}.{signature}"),
        format!("{header}.{}.{signature}", b64(b"[1,2,3]")),
        format!("{}.{payload}.{signature}", b64(b"not json")),
        raw_token(&json!({ "kid": "k1" }), &caller_claims()),
        raw_token(&json!({ "alg": 5 }), &caller_claims()),
        raw_token(&json!({ "alg": "EdDSA", "kid": 1 }), &caller_claims()),
        raw_token(
            &json!({ "alg": "EdDSA", "kid": "k1", "crit": ["exp"] }),
            &caller_claims(),
        ),
        format!("{good} "),
        "a".repeat(40 * 1024),
    ];
    for token in &cases {
        let err = verifier.verify(token, Purpose::Caller, NOW).unwrap_err();
        assert!(
            matches!(err, TokenError::Malformed(_)),
            "token {:?}: {err:?}",
            &token[..token.len().min(60)]
        );
        assert_eq!(err.kind(), "malformed");
    }
}

// --- identity --------------------------------------------------------------

#[test]
fn caller_identity_claim() {
    let signer = Signer::ed25519();
    let verifier = caller_verifier(&signer);
    let token = signer.sign(Some("k1"), &without(caller_claims(), "email"));
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::MissingClaim("email")
    );
    let token = signer.sign(
        Some("k1"),
        &with(caller_claims(), "email_verified", json!(false)),
    );
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::UnverifiedEmail
    );
    // No email_verified at all: the issuer's email is taken as is.
    let token = signer.sign(Some("k1"), &without(caller_claims(), "email_verified"));
    verifier.verify(&token, Purpose::Caller, NOW).unwrap();
    let token = signer.sign(Some("k1"), &without(caller_claims(), "sub"));
    assert_eq!(
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err(),
        TokenError::MissingClaim("sub")
    );

    // identity_claim = "sub": email is optional and unverified email is fine.
    let mut config = caller_config();
    config.identity_claim = Some("sub".to_owned());
    let verifier = TokenVerifier::from_keys(vec![(config, key_set(&[signer.jwk("k1")]))]).unwrap();
    let token = signer.sign(
        Some("k1"),
        &with(
            without(caller_claims(), "email"),
            "email_verified",
            json!(false),
        ),
    );
    let verified = verifier.verify(&token, Purpose::Caller, NOW).unwrap();
    assert_eq!(verified.identity, "00u1abcd");
    assert_eq!(verified.email, None);
}

#[test]
fn workload_rules_map_claims_to_a_handle() {
    let caller = Signer::ed25519();
    let workload = Signer::p256();
    let verifier = both_verifier(&caller, &workload);
    let verify = |sub: &str| {
        verifier.verify(
            &workload.sign(Some("w1"), &workload_claims(sub)),
            Purpose::Workload,
            NOW,
        )
    };
    let verified = verify("repo:acme/app:ref:refs/heads/main").unwrap();
    assert_eq!(verified.identity, "acme-app-ci");
    assert_eq!(verified.purpose, Purpose::Workload);
    assert_eq!(verified.subject, "repo:acme/app:ref:refs/heads/main");
    assert_eq!(verified.aal, 1);
    // The first matching rule wins, though the second would match too.
    assert_eq!(
        verify("repo:acme/app:ref:refs/heads/release/2.0")
            .unwrap()
            .identity,
        "acme-app-release"
    );
    // A claim that is not a string never matches, even the pattern "*".
    let err = verify("repo:acme/other:ref:refs/heads/main").unwrap_err();
    assert_eq!(
        err,
        TokenError::NoRuleMatches {
            issuer: WORKLOAD_ISS.to_owned(),
            subject: "repo:acme/other:ref:refs/heads/main".to_owned()
        }
    );
    assert_eq!(err.kind(), "no_rule_matches");
    // Every claim of a rule must match: release/* also needs repository_owner.
    let claims = with(
        workload_claims("repo:acme/app:ref:refs/heads/release/2.0"),
        "repository_owner",
        json!("mallory"),
    );
    assert_eq!(
        verifier
            .verify(&workload.sign(Some("w1"), &claims), Purpose::Workload, NOW)
            .unwrap()
            .identity,
        "acme-app-ci"
    );
    // Without sub a workload token is refused.
    let claims = without(workload_claims("x"), "sub");
    assert_eq!(
        verifier
            .verify(&workload.sign(Some("w1"), &claims), Purpose::Workload, NOW)
            .unwrap_err(),
        TokenError::MissingClaim("sub")
    );
}

#[test]
fn wildcard_patterns() {
    use crate::config::wildcard_match;
    let cases: &[(&str, &str, bool)] = &[
        ("abc", "abc", true),
        ("abc", "abcd", false),
        ("abc", "ab", false),
        ("", "", true),
        ("", "a", false),
        ("*", "", true),
        ("*", "anything: at/all", true),
        (
            "repo:acme/app:ref:refs/heads/*",
            "repo:acme/app:ref:refs/heads/main",
            true,
        ),
        (
            "repo:acme/app:ref:refs/heads/*",
            "repo:acme/app:ref:refs/heads/",
            true,
        ),
        (
            "repo:acme/app:ref:refs/heads/*",
            "repo:acme/app:ref:refs/tags/v1",
            false,
        ),
        (
            "repo:acme/app:ref:refs/heads/*",
            "repo:acme/app2:ref:refs/heads/main",
            false,
        ),
        (
            "repo:acme/*:environment:prod",
            "repo:acme/app:environment:prod",
            true,
        ),
        (
            "repo:acme/*:environment:prod",
            "repo:acme/app:environment:production",
            false,
        ),
        ("*:prod", "a:prod", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXcYb", false),
        ("a*a", "a", false),
        ("a*a", "aa", true),
        ("**", "x", true),
        ("*é*", "café au lait", true),
    ];
    for (pattern, value, want) in cases {
        assert_eq!(
            wildcard_match(pattern, value),
            *want,
            "{pattern:?} ~ {value:?}"
        );
    }
}

#[test]
fn purpose_is_per_issuer() {
    let caller = Signer::ed25519();
    let workload = Signer::p256();
    let verifier = both_verifier(&caller, &workload);
    let caller_token = caller.sign(Some("k1"), &caller_claims());
    let err = verifier
        .verify(&caller_token, Purpose::Workload, NOW)
        .unwrap_err();
    assert_eq!(
        err,
        TokenError::WrongPurpose {
            issuer: CALLER_ISS.to_owned(),
            accepted: Purpose::Caller,
            requested: Purpose::Workload
        }
    );
    assert_eq!(err.kind(), "wrong_purpose");
    let workload_token = workload.sign(
        Some("w1"),
        &workload_claims("repo:acme/app:ref:refs/heads/main"),
    );
    assert_eq!(
        verifier
            .verify(&workload_token, Purpose::Caller, NOW)
            .unwrap_err(),
        TokenError::WrongPurpose {
            issuer: WORKLOAD_ISS.to_owned(),
            accepted: Purpose::Workload,
            requested: Purpose::Caller
        }
    );
    // The issuer's purpose can be read before verifying, to pick how to verify.
    assert_eq!(verifier.purpose_of(&caller_token), Some(Purpose::Caller));
    assert_eq!(
        verifier.purpose_of(&workload_token),
        Some(Purpose::Workload)
    );
    assert_eq!(verifier.purpose_of("not.a-token"), None);
    // Keys are per issuer as well: the caller key cannot sign for the
    // workload issuer even with the workload issuer's kid.
    let forged = caller.sign(
        Some("w1"),
        &workload_claims("repo:acme/app:ref:refs/heads/main"),
    );
    assert_eq!(
        verifier
            .verify(&forged, Purpose::Workload, NOW)
            .unwrap_err()
            .kind(),
        "key_type_mismatch"
    );
}

// --- configuration ---------------------------------------------------------

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    issuers: Vec<IssuerConfig>,
}

const EXAMPLE_TOML: &str = r#"
[[issuers]]
issuer = "https://idp.example.com"
audiences = ["https://countersign.example.com"]
jwks_file = "/etc/countersign/idp-jwks.json"
purpose = "caller"
acr_values = { "urn:corp:mfa" = 2, "urn:corp:hardware" = 3 }

[[issuers]]
issuer = "https://token.actions.githubusercontent.com"
audiences = ["https://countersign.example.com"]
jwks_url = "https://token.actions.githubusercontent.com/.well-known/jwks"
purpose = "workload"
leeway_seconds = 30

[[issuers.rules]]
identity = "acme-app-release"
claims = { repository = "acme/app", ref = "refs/heads/release/*" }
"#;

#[test]
fn issuer_config_from_toml() {
    let file: ConfigFile = toml::from_str(EXAMPLE_TOML).unwrap();
    let [caller, workload] = &file.issuers[..] else {
        panic!("two issuers expected");
    };
    assert_eq!(
        caller.jwks,
        JwksSource::File(PathBuf::from("/etc/countersign/idp-jwks.json"))
    );
    assert_eq!(caller.purpose, Purpose::Caller);
    assert_eq!(caller.leeway_seconds, 60);
    assert_eq!(caller.acr_values.get("urn:corp:hardware"), Some(&3));
    assert_eq!(caller.identity_claim, None);
    assert_eq!(
        workload.jwks,
        JwksSource::Url("https://token.actions.githubusercontent.com/.well-known/jwks".to_owned())
    );
    assert_eq!(workload.purpose, Purpose::Workload);
    assert_eq!(workload.leeway_seconds, 30);
    assert_eq!(workload.rules[0].identity, "acme-app-release");
    assert_eq!(workload.rules[0].claims["ref"], "refs/heads/release/*");
    for config in &file.issuers {
        config.validate().unwrap();
        // Serializing gives back the same configuration.
        let again: IssuerConfig = toml::from_str(&toml::to_string(config).unwrap()).unwrap();
        assert_eq!(&again, config);
    }
}

#[test]
fn issuer_config_toml_errors() {
    let base = r#"
issuer = "https://idp.example.com"
audiences = ["countersign"]
purpose = "caller"
"#;
    let parse = |extra: &str| toml::from_str::<IssuerConfig>(&format!("{base}{extra}"));
    parse("jwks_file = \"/x\"\n").unwrap();
    parse("jwks_url = \"https://idp.example.com/jwks\"\n").unwrap();
    for (extra, expected) in [
        ("", "no variant of enum JwksSource"),
        (
            "jwks_file = \"/x\"\njwks_url = \"https://idp.example.com/jwks\"\n",
            "unknown field `jwks_url`",
        ),
        (
            "jwks_file = \"/x\"\nleway_seconds = 5\n",
            "unknown field `leway_seconds`",
        ),
        ("jwks_path = \"/x\"\n", "no variant of enum JwksSource"),
        (
            "jwks_file = \"/x\"\n[[rules]]\nidentity = \"a\"\nclaims = {}\nextra = 1\n",
            "unknown field `extra`",
        ),
    ] {
        let message = parse(extra).unwrap_err().to_string();
        assert!(message.contains(expected), "{extra:?}: {message}");
    }
    let robot = "issuer = \"i\"\naudiences = [\"a\"]\npurpose = \"robot\"\njwks_file = \"/x\"\n";
    assert!(toml::from_str::<IssuerConfig>(robot).is_err());
}

#[test]
fn issuer_config_validation() {
    let invalid = |config: IssuerConfig, needle: &str| {
        let err = config.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&config.issuer), "{message}");
        assert!(
            message.contains(needle),
            "{message} should mention {needle}"
        );
    };
    caller_config().validate().unwrap();
    workload_config().validate().unwrap();

    let mut c = caller_config();
    c.audiences.clear();
    invalid(c, "audiences");
    let mut c = caller_config();
    c.identity_claim = Some("preferred_username".to_owned());
    invalid(c, "identity_claim");
    let mut c = caller_config();
    c.rules = workload_config().rules;
    invalid(c, "rules");
    let mut c = caller_config();
    c.leeway_seconds = 3600;
    invalid(c, "leeway_seconds");
    let mut c = caller_config();
    c.acr_values.insert("urn:x".to_owned(), 4);
    invalid(c, "acr_values");
    let mut c = caller_config();
    c.jwks = JwksSource::Url("http://idp.example.com/jwks".to_owned());
    invalid(c, "https");
    let mut c = caller_config();
    c.jwks = JwksSource::Url("not a url".to_owned());
    invalid(c, "jwks_url");
    for loopback in [
        "http://127.0.0.1:8080/jwks",
        "http://localhost/jwks",
        "http://[::1]:9/jwks",
    ] {
        let mut c = caller_config();
        c.jwks = JwksSource::Url(loopback.to_owned());
        c.validate().unwrap();
    }

    let mut w = workload_config();
    w.rules.clear();
    invalid(w, "rule");
    let mut w = workload_config();
    w.rules.push(rule("everyone", &[]));
    invalid(w, "would match every token");
    let mut w = workload_config();
    w.identity_claim = Some("sub".to_owned());
    invalid(w, "identity_claim");

    // The verifier refuses the same things, and duplicate issuers.
    let signer = Signer::ed25519();
    let mut c = caller_config();
    c.audiences.clear();
    assert!(TokenVerifier::from_keys(vec![(c, key_set(&[signer.jwk("k1")]))]).is_err());
    let err = TokenVerifier::from_keys(vec![
        (caller_config(), key_set(&[signer.jwk("k1")])),
        (caller_config(), key_set(&[signer.jwk("k1")])),
    ])
    .unwrap_err();
    assert!(
        matches!(err, ConfigError::DuplicateIssuer(ref iss) if iss == CALLER_ISS),
        "{err:?}"
    );
    let err = TokenVerifier::load(vec![caller_config(), caller_config()]).unwrap_err();
    assert!(matches!(err, ConfigError::DuplicateIssuer(_)), "{err:?}");
}

#[test]
fn key_sets_without_usable_keys_are_refused() {
    let ed = Signer::ed25519();
    let refuse = |keys: &[Value], needle: &str| {
        let err = TokenVerifier::from_keys(vec![(caller_config(), key_set(keys))]).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ConfigError::Jwks { .. }), "{err:?}");
        assert!(message.contains(CALLER_ISS), "{message}");
        assert!(
            message.contains(needle),
            "{message} should mention {needle}"
        );
    };
    refuse(&[], "no usable signing key");
    refuse(
        &[json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"})],
        "no usable signing key",
    );
    let mut enc = ed.jwk("k1");
    enc["use"] = json!("enc");
    refuse(&[enc], "no usable signing key");
    let mut short = ed.jwk("k1");
    short["x"] = json!(b64(&[1; 16]));
    refuse(&[short], "32 bytes");
    let mut small_rsa = Signer::rsa(Algorithm::RS256).jwk("r1");
    small_rsa["n"] = json!(b64(&[0xff; 128]));
    refuse(&[small_rsa], "1024 bits");
    let mut off_curve = Signer::p256().jwk("e1");
    off_curve["y"] = json!(b64(&[7; 32]));
    refuse(&[off_curve], "not a valid ES256 key");
    // Unsupported keys next to a usable one are ignored.
    let verifier = TokenVerifier::from_keys(vec![(
        caller_config(),
        key_set(&[
            json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"}),
            ed.jwk("k1"),
        ]),
    )])
    .unwrap();
    verifier
        .verify(&ed.sign(Some("k1"), &caller_claims()), Purpose::Caller, NOW)
        .unwrap();
}

// --- loading and refreshing key sets ------------------------------------------

fn jwks_json(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

#[test]
fn jwks_from_a_file_and_refresh_after_rotation() {
    let old = Signer::ed25519();
    let new = Signer::p256();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), jwks_json(&[old.jwk("old")])).unwrap();
    let mut config = caller_config();
    config.jwks = JwksSource::File(file.path().to_owned());
    let verifier = TokenVerifier::load(vec![config]).unwrap();
    assert!(!verifier.is_empty());
    verifier
        .verify(
            &old.sign(Some("old"), &caller_claims()),
            Purpose::Caller,
            NOW,
        )
        .unwrap();
    let rotated = new.sign(Some("new"), &caller_claims());
    assert_eq!(
        verifier
            .verify(&rotated, Purpose::Caller, NOW)
            .unwrap_err()
            .kind(),
        "unknown_key"
    );
    std::fs::write(file.path(), jwks_json(&[new.jwk("new")])).unwrap();
    assert!(verifier.refresh(CALLER_ISS, NOW).unwrap());
    verifier.verify(&rotated, Purpose::Caller, NOW).unwrap();
    assert_eq!(
        verifier
            .verify(
                &old.sign(Some("old"), &caller_claims()),
                Purpose::Caller,
                NOW
            )
            .unwrap_err()
            .kind(),
        "unknown_key"
    );
}

#[test]
fn jwks_file_errors_name_the_issuer() {
    let mut config = caller_config();
    config.jwks = JwksSource::File(PathBuf::from("/nonexistent/countersign/jwks.json"));
    let err = TokenVerifier::load(vec![config]).unwrap_err();
    assert!(
        matches!(err, ConfigError::Jwks { ref issuer, .. } if issuer == CALLER_ISS),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("/nonexistent/countersign/jwks.json"),
        "{err}"
    );

    for garbage in ["not json", "{\"keys\": 5}", "[]", ""] {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), garbage).unwrap();
        let mut config = caller_config();
        config.jwks = JwksSource::File(file.path().to_owned());
        let err = TokenVerifier::load(vec![config]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Jwks { ref issuer, .. } if issuer == CALLER_ISS),
            "{garbage:?}: {err:?}"
        );
    }
    assert!(TokenVerifier::load(Vec::new()).unwrap().is_empty());
}

/// A one-thread HTTP server on 127.0.0.1:0 answering `responses` in order
/// (the last one repeats) to at most `max_requests` requests; it gives up
/// after 20 s. Joining the handle yields how many requests it answered.
fn serve(
    responses: Vec<(u16, String)>,
    max_requests: usize,
) -> (String, thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let handle = thread::spawn(move || {
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        let mut served = 0;
        while served < max_requests && Instant::now() < deadline {
            let mut stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                }
                Err(_) => break,
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            assert!(request.starts_with(b"GET /.well-known/jwks.json "));
            let (status, body) = &responses[served.min(responses.len() - 1)];
            let response = format!(
                "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
            served += 1;
        }
        served
    });
    (url, handle)
}

#[test]
fn jwks_from_a_url_and_rate_limited_refresh() {
    let first = Signer::ed25519();
    let second = Signer::ed25519();
    let (url, server) = serve(
        vec![
            (200, jwks_json(&[first.jwk("a")])),
            (200, jwks_json(&[first.jwk("a"), second.jwk("b")])),
        ],
        3,
    );
    let mut config = caller_config();
    config.jwks = JwksSource::Url(url);
    // Request 1.
    let verifier = TokenVerifier::load(vec![config]).unwrap();
    verifier
        .verify(
            &first.sign(Some("a"), &caller_claims()),
            Purpose::Caller,
            NOW,
        )
        .unwrap();
    let rotated = second.sign(Some("b"), &caller_claims());
    assert_eq!(
        verifier.verify(&rotated, Purpose::Caller, NOW).unwrap_err(),
        TokenError::UnknownKey {
            issuer: CALLER_ISS.to_owned(),
            kid: Some("b".to_owned())
        }
    );
    // Request 2: the rotated set, so the keys changed.
    assert!(verifier.refresh(CALLER_ISS, NOW).unwrap());
    verifier.verify(&rotated, Purpose::Caller, NOW).unwrap();
    // Within 60 s nothing is fetched.
    assert!(!verifier
        .refresh(CALLER_ISS, NOW + Duration::seconds(30))
        .unwrap());
    assert!(!verifier
        .refresh(CALLER_ISS, NOW + Duration::seconds(59))
        .unwrap());
    // Request 3, after the window: the same keys, so nothing changed.
    assert!(!verifier
        .refresh(CALLER_ISS, NOW + Duration::seconds(60))
        .unwrap());
    // The server answered exactly three requests (a fourth would now fail
    // to connect, which is the next refresh's error).
    assert_eq!(server.join().unwrap(), 3);
    let err = verifier
        .refresh(CALLER_ISS, NOW + Duration::seconds(200))
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::Jwks { ref issuer, .. } if issuer == CALLER_ISS),
        "{err:?}"
    );
    // The failed refresh kept the keys.
    verifier.verify(&rotated, Purpose::Caller, NOW).unwrap();
    assert!(matches!(
        verifier.refresh("https://nobody.example.com", NOW),
        Err(ConfigError::UnknownIssuer(_))
    ));
}

#[test]
fn jwks_url_errors_name_the_issuer() {
    let (url, server) = serve(
        vec![
            (500, "oops".to_owned()),
            (200, "{\"no\": \"keys\"}".to_owned()),
        ],
        2,
    );
    let mut config = caller_config();
    config.jwks = JwksSource::Url(url.clone());
    for needle in ["500", "not a JWK set"] {
        let err = TokenVerifier::load(vec![config.clone()]).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, ConfigError::Jwks { ref issuer, .. } if issuer == CALLER_ISS),
            "{err:?}"
        );
        assert!(
            message.contains(needle),
            "{message} should mention {needle}"
        );
        assert!(message.contains(&url), "{message}");
    }
    assert_eq!(server.join().unwrap(), 2);
}

#[test]
fn verifier_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<TokenVerifier>();
    shareable::<TokenError>();
    shareable::<ConfigError>();
}

#[test]
fn error_messages_are_specific() {
    let cases: Vec<(TokenError, &str, &str)> = vec![
        (
            TokenError::UnknownKey {
                issuer: CALLER_ISS.to_owned(),
                kid: None,
            },
            "unknown_key",
            "(no kid)",
        ),
        (
            TokenError::WrongPurpose {
                issuer: CALLER_ISS.to_owned(),
                accepted: Purpose::Caller,
                requested: Purpose::Workload,
            },
            "wrong_purpose",
            "accepted for caller use, not for workload use",
        ),
        (
            TokenError::MissingClaim("exp"),
            "missing_claim",
            "no exp claim",
        ),
        (
            TokenError::UnsupportedAlgorithm("none".to_owned()),
            "unsupported_algorithm",
            "\"none\"",
        ),
        (
            TokenError::NotYetValid { not_before: NOW },
            "not_yet_valid",
            "2025-06-01T12:00:00Z",
        ),
        (TokenError::IssuedInFuture, "issued_in_future", "future"),
        (
            TokenError::UnverifiedEmail,
            "unverified_email",
            "not verified",
        ),
    ];
    for (err, kind, needle) in cases {
        assert_eq!(err.kind(), kind);
        assert!(
            err.to_string().contains(needle),
            "{err} should contain {needle}"
        );
    }
}

#[test]
fn unverified_values_in_errors_are_cut_short() {
    let signer = Signer::ed25519();
    let verifier = caller_verifier(&signer);
    let long_iss = "i".repeat(1000);
    let token = signer.sign(Some("k1"), &with(caller_claims(), "iss", json!(long_iss)));
    let TokenError::UnknownIssuer(echoed) =
        verifier.verify(&token, Purpose::Caller, NOW).unwrap_err()
    else {
        panic!("unknown issuer expected");
    };
    assert_eq!(echoed, format!("{}…", "i".repeat(128)));
    let long_kid = "k".repeat(129);
    let err = verifier
        .verify(
            &signer.sign(Some(&long_kid), &caller_claims()),
            Purpose::Caller,
            NOW,
        )
        .unwrap_err();
    assert_eq!(
        err,
        TokenError::UnknownKey {
            issuer: CALLER_ISS.to_owned(),
            kid: Some(format!("{}…", "k".repeat(128)))
        }
    );
    // Exactly 128 characters are kept whole.
    assert_eq!(crate::echo(&"é".repeat(128)), "é".repeat(128));
}
