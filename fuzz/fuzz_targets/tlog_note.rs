//! C2SP signed notes and note keys: `note::open`, `NoteVerifier::from_vkey`,
//! `NoteSigner::from_skey`, `NoteSigner::sign`.
//!
//! The first byte picks the mode: 0 opens the rest as a note (with the fuzz
//! log's key and Go's published PeterNeumann and EnochRoot keys); 1 parses
//! it as a verifier key, 2 as a signer key; anything else signs the rest as
//! note text with the fuzz log's key and opens the result.
//!
//! Invariants: an opened note's text is a prefix of the message, ends in a
//! newline, and the text, a blank line and its signature lines re-encoded
//! give back the message byte for byte; at least one signature is the
//! verifier's; a parsed key re-encodes to a key that parses back equal;
//! whatever `sign` accepts, `open` gives back as the same text.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use countersign_fuzz::{note_signer, note_verifier};
use countersign_tlog::note::{self, Note, NoteSigner, NoteVerifier};
use libfuzzer_sys::fuzz_target;

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";

fn encode(note: &Note) -> String {
    let mut out = format!("{}\n", note.text);
    for sig in &note.signatures {
        let mut raw = sig.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&sig.signature);
        out.push_str(&format!("— {} {}\n", sig.name, STANDARD.encode(raw)));
    }
    out
}

fn open_checked(msg: &str, verifier: &NoteVerifier) {
    if let Ok(n) = note::open(msg, verifier) {
        assert!(msg.starts_with(&n.text));
        assert!(n.text.ends_with('\n'));
        assert!(n
            .signatures
            .iter()
            .any(|s| s.name == verifier.name() && s.key_id == verifier.key_id()));
        assert_eq!(
            encode(&n),
            msg,
            "an opened note does not re-encode to itself"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };
    match mode {
        0 => {
            open_checked(s, &note_verifier());
            open_checked(s, &NoteVerifier::from_vkey(PETER_VKEY).unwrap());
            open_checked(s, &NoteVerifier::from_vkey(ENOCH_VKEY).unwrap());
        }
        1 => {
            if let Ok(v) = NoteVerifier::from_vkey(s) {
                let again = NoteVerifier::from_vkey(&v.to_vkey()).unwrap();
                assert_eq!(again, v);
                // Only the key id's hex digits may differ in case.
                assert!(
                    s.eq_ignore_ascii_case(&v.to_vkey()),
                    "{s:?} re-encodes as {:?}",
                    v.to_vkey()
                );
            }
        }
        2 => {
            if let Ok(k) = NoteSigner::from_skey(s) {
                let again = NoteSigner::from_skey(&k.to_skey()).unwrap();
                assert_eq!(again.verifier(), k.verifier());
            }
        }
        _ => {
            if let Ok(signed) = note_signer().sign(s) {
                let n = note::open(&signed, &note_verifier())
                    .unwrap_or_else(|e| panic!("a note we signed does not open: {e}"));
                assert_eq!(n.text, s);
                assert_eq!(n.signatures.len(), 1);
                open_checked(&signed, &note_verifier());
            }
        }
    }
});
