//! DSSE envelopes and the statements inside them, as `POST /v1/signatures`
//! and the offline verifier receive them: serde of `Envelope`,
//! `attest::statement_of`, `verify_envelope`, `envelope_digest`,
//! `resolution_of`, `verify_resolution`, `passkey::decode_assertion`.
//!
//! The first byte picks the mode:
//! - even: the rest is an envelope's JSON, checked against the fixed key;
//! - odd: the rest is a payload that the harness signs with the fixed key
//!   (as an in-toto statement, or as a resolution when the byte is 3 mod 4),
//!   so the fuzzer reaches the statement checks behind a valid signature.
//!
//! Invariants: an envelope re-serialises to JSON that parses back equal, with
//! the same digest; `verify_envelope` succeeds only where `statement_of`
//! does, answering the same statement; behind a valid signature,
//! `verify_envelope` answers exactly what `statement_of` answers; a
//! statement re-serialises and parses back equal.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use countersign_attest::{dsse, passkey};
use countersign_fuzz::dsse_key;
use countersign_proto::iga::RESOLUTION_PAYLOAD_TYPE;
use countersign_proto::statement::{Envelope, EnvelopeSignature, Statement, PAYLOAD_TYPE};
use ed25519_dalek::Signer as _;
use libfuzzer_sys::fuzz_target;

fn check(envelope: &Envelope) {
    let key = dsse_key().verifying_key();
    let json = serde_json::to_vec(envelope).unwrap();
    let again: Envelope = serde_json::from_slice(&json).unwrap();
    assert_eq!(&again, envelope);
    assert_eq!(
        dsse::envelope_digest(envelope).unwrap(),
        dsse::envelope_digest(&again).unwrap()
    );
    let unverified = dsse::statement_of(envelope);
    match dsse::verify_envelope(envelope, &key) {
        Ok(statement) => {
            assert_eq!(unverified.as_ref().ok(), Some(&statement));
            let bytes = serde_json::to_vec(&statement).unwrap();
            let back: Statement = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(back, statement);
        }
        Err(_) => {}
    }
    if let Ok(resolution) = dsse::verify_resolution(envelope, &key) {
        assert_eq!(dsse::resolution_of(envelope).ok(), Some(resolution));
    }
    for sig in &envelope.signatures {
        let _ = passkey::is_passkey_signature(sig);
        let _ = passkey::decode_assertion(sig);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(envelope) = serde_json::from_slice::<Envelope>(rest) {
            check(&envelope);
        }
        return;
    }
    let payload_type = if mode % 4 == 3 {
        RESOLUTION_PAYLOAD_TYPE
    } else {
        PAYLOAD_TYPE
    };
    let key = dsse_key();
    let pae = dsse::pae(payload_type, rest);
    let envelope = Envelope {
        payload: STANDARD.encode(rest),
        payload_type: payload_type.to_owned(),
        signatures: vec![EnvelopeSignature {
            keyid: countersign_attest::key_id(&key.verifying_key()),
            sig: STANDARD.encode(key.sign(&pae).to_bytes()),
            extension: None,
        }],
    };
    if payload_type == PAYLOAD_TYPE {
        // The signature is good, so verification answers what decoding does.
        let verified = dsse::verify_envelope(&envelope, &key.verifying_key()).ok();
        assert_eq!(verified, dsse::statement_of(&envelope).ok());
    } else {
        let verified = dsse::verify_resolution(&envelope, &key.verifying_key()).ok();
        assert_eq!(verified, dsse::resolution_of(&envelope).ok());
    }
    check(&envelope);
});
