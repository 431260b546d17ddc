//! Fixed keys, configurations and sample resources shared by the fuzz
//! targets and by the seed-corpus generator (`examples/seeds.rs`).
//!
//! Every key here is derived from a constant, so a seed signed by the
//! generator still verifies when a target runs it: that is what lets the
//! fuzzer explore what comes *after* a signature check. None of these keys
//! protects anything.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use countersign_oidc::{ClaimRule, IssuerConfig, JwksSource, Purpose, TokenVerifier};
use countersign_tlog::note::{NoteSigner, NoteVerifier};
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;

/// The fuzz log's origin (and note key name).
pub const LOG_ORIGIN: &str = "fuzz.example/log";

/// The one clock reading every target uses.
pub const NOW: OffsetDateTime = datetime!(2026-03-02 10:00 UTC);

/// The signed-note key of the fuzz log.
pub fn note_signer() -> NoteSigner {
    NoteSigner::new(LOG_ORIGIN, SigningKey::from_bytes(&[7; 32])).unwrap()
}

/// Its verifier.
pub fn note_verifier() -> NoteVerifier {
    note_signer().verifier()
}

/// The Ed25519 key DSSE seeds are signed with.
pub fn dsse_key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

/// Splits `data` at its first NUL: (before, after). Without a NUL, the
/// first part is empty.
pub fn split_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[], data),
    }
}

// ------------------------------------------------------------------- OIDC

pub const CALLER_ISS: &str = "https://idp.example.com";
pub const WORKLOAD_ISS: &str = "https://token.actions.githubusercontent.com";
pub const AUD: &str = "https://countersign.example.com";

/// The OIDC Ed25519 signing key (kid `ed`).
pub fn oidc_ed25519() -> SigningKey {
    SigningKey::from_bytes(&[11; 32])
}

/// The OIDC P-256 signing key (kid `ec`).
pub fn oidc_p256() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap()
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The public JWKS of both OIDC keys.
pub fn oidc_jwks() -> Value {
    let point = oidc_p256().verifying_key().to_encoded_point(false);
    json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": "ed",
         "x": b64url(oidc_ed25519().verifying_key().as_bytes())},
        {"kty": "EC", "crv": "P-256", "use": "sig", "kid": "ec",
         "x": b64url(point.x().unwrap()), "y": b64url(point.y().unwrap())},
    ]})
}

pub fn caller_config() -> IssuerConfig {
    IssuerConfig {
        issuer: CALLER_ISS.to_owned(),
        audiences: vec![AUD.to_owned(), "countersign-cli".to_owned()],
        jwks: JwksSource::File(PathBuf::from("/nonexistent/jwks.json")),
        purpose: Purpose::Caller,
        identity_claim: None,
        acr_values: BTreeMap::from([("urn:example:strong".to_owned(), 3)]),
        rules: Vec::new(),
        leeway_seconds: 60,
        sign_in: None,
    }
}

pub fn workload_config() -> IssuerConfig {
    let rule = |identity: &str, claims: &[(&str, &str)]| ClaimRule {
        claims: claims
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        identity: identity.to_owned(),
    };
    IssuerConfig {
        issuer: WORKLOAD_ISS.to_owned(),
        audiences: vec![AUD.to_owned()],
        jwks: JwksSource::File(PathBuf::from("/nonexistent/jwks.json")),
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

/// A verifier for both issuers with both keys.
pub fn token_verifier() -> &'static TokenVerifier {
    static V: OnceLock<TokenVerifier> = OnceLock::new();
    V.get_or_init(|| {
        let keys: jsonwebtoken::jwk::JwkSet = serde_json::from_value(oidc_jwks()).unwrap();
        TokenVerifier::from_keys(vec![
            (caller_config(), keys.clone()),
            (workload_config(), keys),
        ])
        .unwrap()
    })
}

/// A compact JWS over the given header and payload bytes (not necessarily
/// JSON), signed with the fixed Ed25519 key (`es256` false) or P-256 key.
pub fn sign_jwt(header: &[u8], payload: &[u8], es256: bool) -> String {
    let signing_input = format!("{}.{}", b64url(header), b64url(payload));
    let sig = if es256 {
        let sig: p256::ecdsa::Signature = oidc_p256().sign(signing_input.as_bytes());
        sig.to_bytes().to_vec()
    } else {
        oidc_ed25519()
            .sign(signing_input.as_bytes())
            .to_bytes()
            .to_vec()
    };
    format!("{signing_input}.{}", b64url(&sig))
}

// ------------------------------------------------------------------- SCIM

pub const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Barbara Jensen, RFC 7643 §8.2-style (the scim crate's test sample).
pub fn bjensen() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "title": "Tour Guide",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [
            {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood"},
            {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood"}
        ],
        "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
        ENT: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        },
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\"",
            "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
        }
    })
}

/// A user with little more than a userName.
pub fn minimal_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "u-1",
        "userName": "dana",
        "meta": {"resourceType": "User"}
    })
}

/// A group with two members.
pub fn tour_guides() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            {"value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen", "type": "User"},
            {"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge", "type": "User"}
        ],
        "meta": {"resourceType": "Group"}
    })
}
