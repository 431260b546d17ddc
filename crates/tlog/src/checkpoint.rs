//! C2SP transparency-log checkpoints (<https://c2sp.org/tlog-checkpoint>).
//!
//! The body (the signed-note text) is at least three non-empty lines:
//!
//! ```text
//! <origin>
//! <tree size, ASCII decimal, no leading zeroes>
//! <base64 RFC 6962 root hash>
//! [<extension line>]...
//! ```
//!
//! This crate additionally requires, when signing and opening, that the origin equal the
//! log's key name (the spec's SHOULD).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::note::{self, NoteSigner, NoteVerifier};
use crate::{has_forbidden_control, parse_decimal, Error, Hash, Result};

/// A checkpoint: a log's signed statement of its tree size and root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `example.com/log`; equal to its key name.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 root of the tree of `size` leaves.
    pub root: Hash,
    /// Opaque extension lines (without newlines); not recommended by the spec.
    pub extensions: Vec<String>,
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::MalformedCheckpoint(msg.into())
}

impl Checkpoint {
    /// The note text: `"<origin>\n<size>\n<base64 root>\n"` followed by each extension line
    /// and a newline. Does not validate; [`Checkpoint::sign`] does.
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for ext in &self.extensions {
            body.push_str(ext);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body (the note text, without signatures).
    pub fn parse_body(body: &str) -> Result<Self> {
        if has_forbidden_control(body) {
            return Err(malformed("contains a control character other than newline"));
        }
        let body = body
            .strip_suffix('\n')
            .ok_or_else(|| malformed("body does not end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(malformed("empty origin line"));
        }
        let size_line = lines
            .next()
            .ok_or_else(|| malformed("missing tree size line"))?;
        let size = parse_decimal(size_line).ok_or_else(|| {
            malformed(format!(
                "tree size {size_line:?} is not a decimal without leading zeroes"
            ))
        })?;
        let root_line = lines
            .next()
            .ok_or_else(|| malformed("missing root hash line"))?;
        let root =
            crate::hash_from_base64(root_line).map_err(|e| malformed(format!("root hash {e}")))?;
        let mut extensions = Vec::new();
        for ext in lines {
            if ext.is_empty() {
                return Err(malformed("empty extension line"));
            }
            extensions.push(ext.to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint, returning the signed note. The signer's key name must equal
    /// the origin, and every field must survive encoding (no newlines, no empty extension).
    pub fn sign(&self, signer: &NoteSigner) -> Result<String> {
        if signer.name() != self.origin {
            return Err(Error::OriginMismatch {
                origin: self.origin.clone(),
                key_name: signer.name().to_owned(),
            });
        }
        let body = self.to_body();
        if Self::parse_body(&body)? != *self {
            return Err(malformed(
                "a field contains a newline, so the checkpoint would not parse back",
            ));
        }
        signer.sign(&body)
    }

    /// Verifies the note signature with `verifier` and parses the body; the origin must
    /// equal the verifier's key name.
    pub fn open(signed: &str, verifier: &NoteVerifier) -> Result<Self> {
        let note = note::open(signed, verifier)?;
        let checkpoint = Self::parse_body(&note.text)?;
        if checkpoint.origin != verifier.name() {
            return Err(Error::OriginMismatch {
                origin: checkpoint.origin,
                key_name: verifier.name().to_owned(),
            });
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{empty_root, leaf_hash};
    use ed25519_dalek::SigningKey;
    use rand_core::OsRng;

    fn signer(name: &str) -> NoteSigner {
        NoteSigner::new(name, SigningKey::generate(&mut OsRng)).unwrap()
    }

    fn sample() -> Checkpoint {
        Checkpoint {
            origin: "example.com/log".into(),
            size: 12345,
            root: leaf_hash(b"root"),
            extensions: vec![],
        }
    }

    #[test]
    fn body_format() {
        let mut cp = sample();
        let b64 = STANDARD.encode(cp.root);
        assert_eq!(cp.to_body(), format!("example.com/log\n12345\n{b64}\n"));
        cp.extensions = vec!["ext one".into(), "ext two".into()];
        assert_eq!(
            cp.to_body(),
            format!("example.com/log\n12345\n{b64}\next one\next two\n")
        );
        assert_eq!(Checkpoint::parse_body(&cp.to_body()).unwrap(), cp);
    }

    #[test]
    fn parses_spec_example_body() {
        // From https://c2sp.org/tlog-checkpoint.
        let cp = Checkpoint::parse_body(
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        )
        .unwrap();
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20852163);
        assert_eq!(
            STANDARD.encode(cp.root),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert!(cp.extensions.is_empty());
    }

    #[test]
    fn sign_open_round_trip() {
        let s = signer("example.com/log");
        for cp in [
            sample(),
            Checkpoint {
                extensions: vec!["a: b".into(), "— not a signature".into()],
                ..sample()
            },
            Checkpoint {
                size: 0,
                root: empty_root(),
                ..sample()
            },
        ] {
            let signed = cp.sign(&s).unwrap();
            assert!(signed.starts_with(&cp.to_body()));
            assert_eq!(Checkpoint::open(&signed, &s.verifier()).unwrap(), cp);
        }
    }

    #[test]
    fn open_rejects_tampering_and_wrong_keys() {
        let s = signer("example.com/log");
        let cp = sample();
        let signed = cp.sign(&s).unwrap();
        let tampered = signed.replacen("12345", "12346", 1);
        assert!(matches!(
            Checkpoint::open(&tampered, &s.verifier()),
            Err(Error::BadSignature { .. })
        ));
        // Same name, other key.
        assert!(matches!(
            Checkpoint::open(&signed, &signer("example.com/log").verifier()),
            Err(Error::MissingSignature { .. })
        ));
        // A note by the right key whose origin is another log.
        let other = Checkpoint {
            origin: "example.com/other".into(),
            ..sample()
        };
        let note = s.sign(&other.to_body()).unwrap();
        assert_eq!(
            Checkpoint::open(&note, &s.verifier()),
            Err(Error::OriginMismatch {
                origin: "example.com/other".into(),
                key_name: "example.com/log".into()
            })
        );
        // A signed note that is not a checkpoint.
        let note = s.sign("example.com/log\nnot a size\n").unwrap();
        assert!(matches!(
            Checkpoint::open(&note, &s.verifier()),
            Err(Error::MalformedCheckpoint(_))
        ));
    }

    #[test]
    fn sign_validates() {
        let s = signer("example.com/log");
        let other = Checkpoint {
            origin: "example.com/other".into(),
            ..sample()
        };
        assert!(matches!(other.sign(&s), Err(Error::OriginMismatch { .. })));
        for ext in ["", "two\nlines"] {
            let cp = Checkpoint {
                extensions: vec![ext.into()],
                ..sample()
            };
            assert!(
                matches!(cp.sign(&s), Err(Error::MalformedCheckpoint(_))),
                "{ext:?}"
            );
        }
    }

    #[test]
    fn parse_rejects_each_malformation() {
        let root = STANDARD.encode(leaf_hash(b"root"));
        let short = STANDARD.encode([7u8; 31]);
        let bad = [
            format!("example.com/log\n5\n{root}"),      // no final newline
            format!("\n5\n{root}\n"),                   // empty origin
            "example.com/log\n".to_string(),            // missing size
            "example.com/log\n5\n".to_string(),         // missing root
            format!("example.com/log\n05\n{root}\n"),   // leading zero
            format!("example.com/log\n+5\n{root}\n"),   // sign
            format!("example.com/log\n-1\n{root}\n"),   // negative
            format!("example.com/log\nfive\n{root}\n"), // not a number
            format!("example.com/log\n\n{root}\n"),     // empty size
            format!("example.com/log\n18446744073709551616\n{root}\n"), // overflow
            "example.com/log\n5\nnot base64!\n".to_string(), // bad base64
            format!("example.com/log\n5\n{short}\n"),   // 31-byte root
            format!("example.com/log\n5\n{root}\n\n"),  // empty extension
            format!("example.com/log\n5\n{root}\next\n\n"), // trailing empty extension
            format!("example.com/log\r\n5\n{root}\n"),  // CR
            format!("example.com/log\n5\n{root}\r\n"),  // CRLF
            String::new(),
        ];
        for body in &bad {
            assert!(
                matches!(
                    Checkpoint::parse_body(body),
                    Err(Error::MalformedCheckpoint(_))
                ),
                "accepted {body:?}"
            );
        }
        let ok = Checkpoint::parse_body(&format!("example.com/log\n0\n{root}\n")).unwrap();
        assert_eq!(ok.size, 0);
    }
}
