//! C2SP checkpoints: `Checkpoint::parse_body`, `Checkpoint::open`,
//! `Checkpoint::to_body`, `Checkpoint::sign`.
//!
//! The first byte picks the mode: 0 parses the rest as a checkpoint body;
//! anything else opens it as a signed checkpoint with the fuzz log's key.
//!
//! Invariants: a parsed body re-encodes to the same bytes and parses back
//! equal; an opened checkpoint's origin is the key name, and signing it
//! again with the same key gives a note that opens to the same checkpoint
//! (and, when the input carried exactly that one signature, the very same
//! bytes: Ed25519 signatures are deterministic).
#![no_main]

use countersign_fuzz::{note_signer, note_verifier, LOG_ORIGIN};
use countersign_tlog::checkpoint::Checkpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };
    if mode == 0 {
        if let Ok(cp) = Checkpoint::parse_body(s) {
            assert_eq!(
                cp.to_body(),
                s,
                "a parsed checkpoint re-encodes differently"
            );
            assert_eq!(Checkpoint::parse_body(&cp.to_body()).unwrap(), cp);
            if cp.origin == LOG_ORIGIN {
                let signed = cp.sign(&note_signer()).unwrap();
                assert_eq!(Checkpoint::open(&signed, &note_verifier()).unwrap(), cp);
            }
        }
        return;
    }
    if let Ok(cp) = Checkpoint::open(s, &note_verifier()) {
        assert_eq!(cp.origin, LOG_ORIGIN);
        let signed = cp
            .sign(&note_signer())
            .unwrap_or_else(|e| panic!("an opened checkpoint does not sign: {e}"));
        assert_eq!(Checkpoint::open(&signed, &note_verifier()).unwrap(), cp);
        if s.matches("\n— ").count() == 1 {
            assert_eq!(signed, s);
        }
    }
});
