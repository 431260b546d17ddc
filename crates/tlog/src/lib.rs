//! `countersign-tlog`: the transparency-log primitives of Countersign, as a pure library.
//!
//! What it does:
//!
//! * RFC 6962 / RFC 9162 Merkle tree hashing ([`leaf_hash`], [`node_hash`], [`tree_hash`]),
//!   generation of inclusion and consistency proofs over any [`HashSource`] of stored
//!   complete-subtree hashes ([`inclusion_proof`], [`consistency_proof`], [`hashes_to_store`]),
//!   and their verification ([`verify_inclusion`], [`verify_consistency`]);
//! * an in-memory tree ([`MemoryTree`]) for audits and tests;
//! * C2SP signed notes with Ed25519 keys ([`note`], <https://c2sp.org/signed-note>), in the key
//!   encodings of Go's `golang.org/x/mod/sumdb/note`;
//! * C2SP checkpoints ([`checkpoint`], <https://c2sp.org/tlog-checkpoint>);
//! * C2SP transparency-log proofs ([`proof`], <https://c2sp.org/tlog-proof>).
//!
//! What it deliberately does not do: any network or database IO, any clock reading, any
//! storage of its own (callers implement [`HashSource`] over their store and persist what
//! [`hashes_to_store`] returns), key generation policy or key storage, witness cosignatures
//! and witness policies, and signature algorithms other than Ed25519 (note signature type 0x01).
//! Every function is deterministic and returns an [`Error`] instead of panicking on bad input.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod error;
mod merkle;

pub mod checkpoint;
pub mod note;
pub mod proof;

pub use error::{Error, Result};
pub use merkle::{
    consistency_proof, empty_root, hash_from_base64, hashes_to_store, inclusion_proof, leaf_hash,
    node_hash, tree_hash, verify_consistency, verify_inclusion, Hash, HashSource, MemoryTree,
};

/// Parses an ASCII decimal with no sign and no leading zeroes (unless it is exactly `0`),
/// as both the checkpoint tree size and the tlog-proof index must be written.
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse::<u64>().ok()
}

/// True if `s` contains an ASCII control character other than newline (forbidden in notes).
pub(crate) fn has_forbidden_control(s: &str) -> bool {
    s.chars().any(|c| c < '\u{20}' && c != '\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_decimal_rules() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("7"), Some(7));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1a",
            "18446744073709551616",
            "١",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn control_characters() {
        assert!(!has_forbidden_control("a\nb — ü"));
        assert!(has_forbidden_control("a\rb"));
        assert!(has_forbidden_control("a\tb"));
        assert!(has_forbidden_control("\u{1}"));
        // DEL is not below U+0020, so the signed-note spec (and Go) allow it.
        assert!(!has_forbidden_control("\u{7f}"));
    }
}
