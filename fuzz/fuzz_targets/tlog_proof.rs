//! C2SP tlog-proof receipts: `TlogProof::parse`, `encode`, `verify`,
//! `verify_leaf_hash`, and `countersign_verify::verify_receipt`, the
//! `countersign verify --receipt` path.
//!
//! Input: the entry bytes, a NUL, then the receipt text.
//!
//! Invariants: a parsed receipt re-encodes to the same bytes and parses back
//! equal; when it verifies for the entry, the index is inside the
//! checkpoint's tree, `verify_leaf_hash` with the entry's leaf hash agrees,
//! and `verify_receipt` with the log's vkey answers the same checkpoint.
#![no_main]

use countersign_fuzz::{note_verifier, split_nul};
use countersign_tlog::leaf_hash;
use countersign_tlog::proof::TlogProof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (entry, receipt) = split_nul(data);
    let Ok(text) = std::str::from_utf8(receipt) else {
        return;
    };
    let verifier = note_verifier();
    let via_verify = countersign_verify::verify_receipt(text, entry, &verifier.to_vkey());
    let Ok(proof) = TlogProof::parse(text) else {
        assert!(via_verify.is_err());
        return;
    };
    assert_eq!(
        proof.encode(),
        text,
        "a parsed receipt re-encodes differently"
    );
    assert_eq!(TlogProof::parse(&proof.encode()).unwrap(), proof);
    match proof.verify(entry, &verifier) {
        Ok(cp) => {
            assert!(proof.index < cp.size);
            assert_eq!(
                proof.verify_leaf_hash(&leaf_hash(entry), &verifier).ok(),
                Some(cp.clone())
            );
            assert_eq!(via_verify.ok(), Some(cp));
        }
        Err(_) => assert!(via_verify.is_err()),
    }
});
