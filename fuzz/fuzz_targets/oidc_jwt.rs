//! OIDC JWTs as API callers and workloads present them:
//! `TokenVerifier::verify` (caller and workload purposes) and
//! `TokenVerifier::purpose_of`, with two issuers whose JWKS holds a fixed
//! Ed25519 and a fixed P-256 key.
//!
//! The first byte picks the mode: 0 takes the rest as a compact token; 1
//! (EdDSA) and 2 (ES256) take the rest as `header JSON NUL payload JSON` and
//! sign it with the fixed key, so the fuzzer reaches the claim checks
//! (issuer, audience, exp/nbf/iat/auth_time with leeway, sub, acr/amr → AAL,
//! claim rules) behind a valid signature.
//!
//! Invariants: an accepted token came from a configured issuer of the
//! requested purpose, names one of its audiences, is unexpired at `now`
//! (with the 60 s leeway), has a non-empty subject and identity, an AAL of
//! 1 to 3, and `token_sha256` is the token's SHA-256; `purpose_of` agrees.
#![no_main]

use countersign_fuzz::{sign_jwt, split_nul, token_verifier, NOW};
use countersign_oidc::Purpose;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest as _, Sha256};

fn check(token: &str) {
    let verifier = token_verifier();
    for purpose in [Purpose::Caller, Purpose::Workload] {
        let Ok(v) = verifier.verify(token, purpose, NOW) else {
            continue;
        };
        assert_eq!(v.purpose, purpose);
        assert_eq!(verifier.purpose_of(token), Some(purpose));
        let config = verifier
            .issuers()
            .find(|c| c.issuer == v.issuer)
            .expect("an accepted token's issuer is configured");
        assert_eq!(config.purpose, purpose);
        assert!(v.audience.iter().any(|a| config.audiences.contains(a)));
        assert!(v.expires_at + time::Duration::seconds(60) > NOW);
        assert!(!v.subject.is_empty());
        assert!(!v.identity.is_empty());
        assert!((1..=3).contains(&v.aal));
        assert_eq!(
            v.token_sha256,
            hex::encode(Sha256::digest(token.as_bytes()))
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                check(token);
            }
        }
        1 | 2 => {
            let (header, payload) = split_nul(rest);
            check(&sign_jwt(header, payload, mode == 2));
        }
        _ => {}
    }
});
