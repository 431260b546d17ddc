//! RFC 6962 / RFC 9162 proofs, which every receipt and bundle check rests
//! on: `verify_inclusion` and `verify_consistency` on hostile sizes,
//! indices and hashes, against `inclusion_proof` / `consistency_proof` /
//! `tree_hash` over a `MemoryTree`.
//!
//! Input: two little-endian u16s (tree size n ≤ 300, and a selector), then
//! bytes read as an arbitrary index, size and proof hashes.
//!
//! Invariants: a generated inclusion proof of every picked leaf verifies and
//! fails for any other leaf hash or with one bit of the proof flipped; a
//! generated consistency proof verifies against the two roots and fails
//! with one bit flipped; the verifiers never panic on arbitrary u64 sizes
//! and indices.
#![no_main]

use countersign_tlog::{
    consistency_proof, inclusion_proof, leaf_hash, tree_hash, verify_consistency, verify_inclusion,
    Hash, MemoryTree,
};
use libfuzzer_sys::fuzz_target;

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in b.iter_mut().enumerate() {
        *x = data.get(at + i).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let n = u64::from(u16::from_le_bytes([data[0], data[1]]) % 300) + 1;
    let sel = u64::from(u16::from_le_bytes([data[2], data[3]]));
    let rest = &data[4..];

    let mut tree = MemoryTree::new();
    for i in 0..n {
        tree.push(leaf_hash(&i.to_be_bytes()));
    }
    let root = tree.root();
    assert_eq!(tree_hash(n, &tree).unwrap(), root);

    let index = sel % n;
    let leaf = leaf_hash(&index.to_be_bytes());
    let mut proof = inclusion_proof(index, n, &tree).unwrap();
    verify_inclusion(index, n, &leaf, &proof, &root).unwrap();
    assert!(verify_inclusion(index, n, &leaf_hash(b"other"), &proof, &root).is_err());
    let flip = usize::from(rest.first().copied().unwrap_or(0));
    if !proof.is_empty() {
        let (i, bit) = ((flip / 8) % proof.len(), flip % 8);
        proof[i][bit] ^= 1;
        assert!(verify_inclusion(index, n, &leaf, &proof, &root).is_err());
    }

    let old = sel % (n + 1);
    let old_root = tree_hash(old, &tree).unwrap();
    let mut cproof = consistency_proof(old, n, &tree).unwrap();
    verify_consistency(old, n, &old_root, &root, &cproof).unwrap();
    if !cproof.is_empty() {
        let (i, bit) = ((flip / 8) % cproof.len(), flip % 8);
        cproof[i][bit] ^= 1;
        assert!(verify_consistency(old, n, &old_root, &root, &cproof).is_err());
    }

    // Hostile input: sizes and indices anywhere in u64, hashes from the bytes.
    let a = u64_at(rest, 1);
    let b = u64_at(rest, 9);
    let hashes: Vec<Hash> = rest
        .get(17..)
        .unwrap_or_default()
        .chunks_exact(32)
        .take(70)
        .map(|c| c.try_into().unwrap())
        .collect();
    let (h0, h1) = (
        hashes.first().copied().unwrap_or_default(),
        hashes.get(1).copied().unwrap_or_default(),
    );
    let _ = verify_inclusion(a, b, &h0, &hashes, &h1);
    let _ = verify_consistency(a, b, &h0, &h1, &hashes);
    let _ = verify_consistency(a % (n + 1), n, &old_root, &root, &hashes);
});
