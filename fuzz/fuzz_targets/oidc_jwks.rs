//! JSON Web Key Sets as an issuer publishes them: `TokenVerifier::load`
//! with a `jwks_file` (the crate's JWKS parsing and key checks: key types,
//! curves, RSA sizes, `use`/`alg`), then `verify` of fixed tokens against
//! the loaded keys (`kid`/`alg` key selection).
//!
//! The input is written to a file in /dev/shm (or the temp dir) because
//! loading a file is the crate's public way in; no library change needed.
//!
//! Invariants: a set that loads gives a non-empty verifier for its issuer;
//! a token signed by a key the set does not contain is never accepted.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use countersign_fuzz::{caller_config, sign_jwt, AUD, CALLER_ISS, NOW};
use countersign_oidc::{JwksSource, Purpose, TokenVerifier};
use libfuzzer_sys::fuzz_target;

fn path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("countersign-fuzz-jwks-{}.json", std::process::id()))
    })
}

fn tokens() -> &'static [String] {
    static T: OnceLock<Vec<String>> = OnceLock::new();
    T.get_or_init(|| {
        let claims = serde_json::json!({
            "iss": CALLER_ISS, "aud": AUD, "sub": "dana", "email": "dana@example.com",
            "exp": NOW.unix_timestamp() + 600, "iat": NOW.unix_timestamp(),
        })
        .to_string();
        let mut out = Vec::new();
        for kid in ["ed", "ec", "rsa"] {
            for (alg, es) in [("EdDSA", false), ("ES256", true)] {
                let header = serde_json::json!({"alg": alg, "typ": "JWT", "kid": kid}).to_string();
                out.push(sign_jwt(header.as_bytes(), claims.as_bytes(), es));
            }
        }
        // A header without kid, and one claiming RS256 with an EdDSA signature.
        out.push(sign_jwt(br#"{"alg":"EdDSA"}"#, claims.as_bytes(), false));
        out.push(sign_jwt(
            br#"{"alg":"RS256","kid":"rsa"}"#,
            claims.as_bytes(),
            false,
        ));
        out.push(sign_jwt(br#"{"alg":"PS256"}"#, claims.as_bytes(), false));
        out
    })
}

/// Whether any string anywhere in `v` is one of `needles`.
fn contains_any(v: &serde_json::Value, needles: &[String]) -> bool {
    match v {
        serde_json::Value::String(s) => needles.iter().any(|n| n == s),
        serde_json::Value::Array(a) => a.iter().any(|x| contains_any(x, needles)),
        serde_json::Value::Object(o) => o.values().any(|x| contains_any(x, needles)),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let file = path();
    std::fs::write(file, data).unwrap();
    let mut config = caller_config();
    config.jwks = JwksSource::File(file.clone());
    let loaded = TokenVerifier::load(vec![config]);
    let _ = std::fs::remove_file(file);
    let Ok(verifier) = loaded else {
        return;
    };
    assert!(!verifier.is_empty());
    // The fixed keys' public halves are what the tokens verify with; a set
    // that holds neither must refuse them all.
    let ours: Vec<String> = countersign_fuzz::oidc_jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["x"].as_str().unwrap().to_owned())
        .collect();
    let parsed: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
    let holds_ours = contains_any(&parsed, &ours);
    for token in tokens() {
        let result = verifier.verify(token, Purpose::Caller, NOW);
        if !holds_ours {
            assert!(
                result.is_err(),
                "a token signed by a key not in the set was accepted"
            );
        }
    }
});
