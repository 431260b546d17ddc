//! C2SP transparency-log proofs (<https://c2sp.org/tlog-proof>): an offline-verifiable
//! proof that an entry is in a log, made of the entry's index, its RFC 6962 inclusion proof
//! and a signed checkpoint.
//!
//! Format (lines separated by `'\n'`):
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 opaque data>          (optional line; unauthenticated)
//! index <decimal, no leading zeroes>
//! <base64 hash>                       (zero or more: the inclusion proof, leaf's sibling first)
//!
//! <signed checkpoint note, verbatim>
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::checkpoint::Checkpoint;
use crate::note::NoteVerifier;
use crate::{leaf_hash, parse_decimal, verify_inclusion, Error, Hash, Result};

/// The first line of every tlog-proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The most inclusion-proof hashes accepted: no proof in a tree of at most 2^64 leaves is
/// longer.
pub const MAX_PROOF_HASHES: usize = 64;

/// A parsed `c2sp.org/tlog-proof@v1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Zero-based index of the entry in the log.
    pub index: u64,
    /// Optional opaque extra data; NOT authenticated by anything in the proof.
    pub extra: Option<Vec<u8>>,
    /// RFC 6962 inclusion proof of the entry in the checkpoint's tree.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::MalformedProof(msg.into())
}

/// Takes the next `'\n'`-terminated line off the front of `rest`.
fn next_line<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let (line, tail) = rest.split_once('\n')?;
    *rest = tail;
    Some(line)
}

impl TlogProof {
    /// Encodes the proof in the tlog-proof text format.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(64 + 45 * self.hashes.len() + self.checkpoint.len());
        out.push_str(HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&STANDARD.encode(extra));
            out.push('\n');
        }
        out.push_str("index ");
        out.push_str(&self.index.to_string());
        out.push('\n');
        for h in &self.hashes {
            out.push_str(&STANDARD.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses the tlog-proof text format. The checkpoint is kept verbatim and only checked by
    /// [`TlogProof::verify`].
    pub fn parse(text: &str) -> Result<Self> {
        let mut rest = text;
        let header = next_line(&mut rest).ok_or_else(|| malformed("missing header line"))?;
        if header != HEADER {
            return Err(malformed(format!(
                "first line is {header:?}, expected {HEADER:?}"
            )));
        }
        let mut line = next_line(&mut rest).ok_or_else(|| malformed("missing index line"))?;
        let extra = match line.strip_prefix("extra ") {
            Some(b64) => {
                let data = STANDARD
                    .decode(b64)
                    .map_err(|e| malformed(format!("extra data is not valid base64: {e}")))?;
                line = next_line(&mut rest).ok_or_else(|| malformed("missing index line"))?;
                Some(data)
            }
            None => None,
        };
        let index_str = line
            .strip_prefix("index ")
            .ok_or_else(|| malformed(format!("expected an index line, found {line:?}")))?;
        let index = parse_decimal(index_str).ok_or_else(|| {
            malformed(format!(
                "index {index_str:?} is not a decimal without leading zeroes"
            ))
        })?;
        let mut hashes = Vec::new();
        loop {
            let line = next_line(&mut rest)
                .ok_or_else(|| malformed("missing blank line before the checkpoint"))?;
            if line.is_empty() {
                break;
            }
            if hashes.len() == MAX_PROOF_HASHES {
                return Err(malformed(format!(
                    "more than {MAX_PROOF_HASHES} inclusion proof hashes"
                )));
            }
            let hash = crate::hash_from_base64(line)
                .map_err(|e| malformed(format!("proof hash {line:?} {e}")))?;
            hashes.push(hash);
        }
        if rest.is_empty() {
            return Err(malformed("missing checkpoint"));
        }
        Ok(Self {
            index,
            extra,
            hashes,
            checkpoint: rest.to_owned(),
        })
    }

    /// Opens the checkpoint with `verifier` (origin must be the verifier's key name) and
    /// checks the inclusion of `leaf_hash(entry)` at `self.index`; returns the checkpoint.
    pub fn verify(&self, entry: &[u8], verifier: &NoteVerifier) -> Result<Checkpoint> {
        self.verify_leaf_hash(&leaf_hash(entry), verifier)
    }

    /// As [`TlogProof::verify`], for a caller that holds the RFC 6962 leaf hash rather than
    /// the entry.
    pub fn verify_leaf_hash(&self, leaf: &Hash, verifier: &NoteVerifier) -> Result<Checkpoint> {
        let checkpoint = Checkpoint::open(&self.checkpoint, verifier)?;
        verify_inclusion(
            self.index,
            checkpoint.size,
            leaf,
            &self.hashes,
            &checkpoint.root,
        )?;
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::NoteSigner;
    use crate::{inclusion_proof, MemoryTree};
    use ed25519_dalek::SigningKey;
    use rand_core::OsRng;

    const ORIGIN: &str = "example.com/countersign";

    struct Log {
        signer: NoteSigner,
        tree: MemoryTree,
        entries: Vec<Vec<u8>>,
    }

    fn log(n: usize) -> Log {
        let signer = NoteSigner::new(ORIGIN, SigningKey::generate(&mut OsRng)).unwrap();
        let mut tree = MemoryTree::new();
        let entries: Vec<Vec<u8>> = (0..n).map(|i| format!("entry {i}").into_bytes()).collect();
        for e in &entries {
            tree.push(leaf_hash(e));
        }
        Log {
            signer,
            tree,
            entries,
        }
    }

    impl Log {
        fn proof(&self, index: u64, extra: Option<Vec<u8>>) -> TlogProof {
            let cp = Checkpoint {
                origin: ORIGIN.into(),
                size: self.tree.size(),
                root: self.tree.root(),
                extensions: vec![],
            };
            TlogProof {
                index,
                extra,
                hashes: inclusion_proof(index, self.tree.size(), &self.tree).unwrap(),
                checkpoint: cp.sign(&self.signer).unwrap(),
            }
        }
    }

    #[test]
    fn encoding_matches_the_spec_layout() {
        let h1: Hash = [1; 32];
        let h2: Hash = [2; 32];
        let (b1, b2) = (STANDARD.encode(h1), STANDARD.encode(h2));
        let p = TlogProof {
            index: 5,
            extra: None,
            hashes: vec![h1, h2],
            checkpoint: "test checkpoint\n".into(),
        };
        let text = format!("c2sp.org/tlog-proof@v1\nindex 5\n{b1}\n{b2}\n\ntest checkpoint\n");
        assert_eq!(p.encode(), text);
        assert_eq!(TlogProof::parse(&text).unwrap(), p);

        let extra = b"extra information".to_vec();
        let p = TlogProof {
            index: 10,
            extra: Some(extra.clone()),
            hashes: vec![h1],
            checkpoint: "checkpoint data\n".into(),
        };
        let text = format!(
            "c2sp.org/tlog-proof@v1\nextra {}\nindex 10\n{b1}\n\ncheckpoint data\n",
            STANDARD.encode(&extra)
        );
        assert_eq!(p.encode(), text);
        assert_eq!(TlogProof::parse(&text).unwrap(), p);

        let p = TlogProof {
            index: 0,
            extra: Some(vec![]),
            hashes: vec![],
            checkpoint: "checkpoint\n".into(),
        };
        assert_eq!(
            p.encode(),
            "c2sp.org/tlog-proof@v1\nextra \nindex 0\n\ncheckpoint\n"
        );
        assert_eq!(TlogProof::parse(&p.encode()).unwrap(), p);
    }

    #[test]
    fn parses_spec_example() {
        // The example of https://c2sp.org/tlog-proof (signatures elided there, so it is
        // only parsed, not verified).
        let text = "c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

— example.com/fancylog hI2DJw[...]1roloI=
";
        let p = TlogProof::parse(text).unwrap();
        assert_eq!(p.index, 73894);
        assert!(p
            .extra
            .as_ref()
            .unwrap()
            .starts_with(b"age-v1.2.1-darwin-arm64.tar.gz"));
        assert_eq!(p.hashes.len(), 5);
        assert!(p.checkpoint.starts_with("example.com/fancylog\n109482\n"));
        assert_eq!(p.encode(), text);
        let body = p.checkpoint.split_once("\n\n").unwrap().0;
        let cp = Checkpoint::parse_body(&format!("{body}\n")).unwrap();
        assert_eq!(cp.size, 109482);
    }

    #[test]
    fn round_trip_and_verify() {
        let l = log(70);
        let v = l.signer.verifier();
        for index in [0u64, 1, 31, 32, 63, 64, 69] {
            for extra in [None, Some(b"vrf".to_vec())] {
                let p = l.proof(index, extra);
                let text = p.encode();
                let parsed = TlogProof::parse(&text).unwrap();
                assert_eq!(parsed, p);
                let cp = parsed.verify(&l.entries[index as usize], &v).unwrap();
                assert_eq!(cp.size, 70);
                assert_eq!(cp.root, l.tree.root());
                assert_eq!(cp.origin, ORIGIN);
                let lh = leaf_hash(&l.entries[index as usize]);
                assert_eq!(parsed.verify_leaf_hash(&lh, &v).unwrap(), cp);
            }
        }
        // A single-entry log has an empty inclusion proof.
        let one = log(1);
        let p = one.proof(0, None);
        assert!(p.hashes.is_empty());
        let p = TlogProof::parse(&p.encode()).unwrap();
        p.verify(b"entry 0", &one.signer.verifier()).unwrap();
    }

    #[test]
    fn verify_rejects() {
        let l = log(70);
        let v = l.signer.verifier();
        let p = l.proof(17, None);
        assert_eq!(
            p.verify(b"entry 18", &v),
            Err(Error::InclusionProofMismatch)
        );
        let wrong_index = TlogProof {
            index: 16,
            ..p.clone()
        };
        assert!(wrong_index.verify(b"entry 17", &v).is_err());
        let out_of_range = TlogProof {
            index: 70,
            ..p.clone()
        };
        assert_eq!(
            out_of_range.verify(b"entry 17", &v),
            Err(Error::IndexOutOfRange {
                index: 70,
                size: 70
            })
        );
        let mut tampered = p.clone();
        tampered.hashes[2][5] ^= 1;
        assert_eq!(
            tampered.verify(b"entry 17", &v),
            Err(Error::InclusionProofMismatch)
        );
        let mut short = p.clone();
        short.hashes.pop();
        assert!(matches!(
            short.verify(b"entry 17", &v),
            Err(Error::BadProofLength { .. })
        ));
        // Another log's key (same origin, different key).
        let other = NoteSigner::new(ORIGIN, SigningKey::generate(&mut OsRng)).unwrap();
        assert!(matches!(
            p.verify(b"entry 17", &other.verifier()),
            Err(Error::MissingSignature { .. })
        ));
        // Checkpoint size altered after signing.
        let forged = TlogProof {
            checkpoint: p.checkpoint.replacen("\n70\n", "\n71\n", 1),
            ..p.clone()
        };
        assert!(matches!(
            forged.verify(b"entry 17", &v),
            Err(Error::BadSignature { .. })
        ));
        // Checkpoint not a note at all.
        let garbage = TlogProof {
            checkpoint: "nonsense\n".into(),
            ..p.clone()
        };
        assert!(matches!(
            garbage.verify(b"entry 17", &v),
            Err(Error::MalformedNote(_))
        ));
        p.verify(b"entry 17", &v).unwrap();
    }

    #[test]
    fn parse_rejects_each_malformation() {
        let good = log(5).proof(2, None).encode();
        assert!(TlogProof::parse(&good).is_ok());
        let (head, cp) = good.split_once("\n\n").unwrap();
        let hashes: Vec<&str> = head.lines().skip(2).collect();
        let h = hashes.join("\n");
        let too_many = vec![hashes[0]; MAX_PROOF_HASHES + 1].join("\n");
        let short_hash = STANDARD.encode([1u8; 31]);
        let long_hash = STANDARD.encode([1u8; 64]);
        let bad = [
            String::new(),
            "c2sp.org/tlog-proof@v1".to_string(),
            format!("c2sp.org/tlog-proof@v2\nindex 2\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof\nindex 2\n{h}\n\n{cp}"),
            format!("C2SP.ORG/TLOG-PROOF@V1\nindex 2\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\n\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex \n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex 02\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex -5\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex +2\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex notanumber\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex  2\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex 2\nextra AAAA\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nextra !!notbase64!!\nindex 2\n{h}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nextra AAAA\n{h}\n\n{cp}"),
            "c2sp.org/tlog-proof@v1\nextra AAAA\n".to_string(),
            format!("c2sp.org/tlog-proof@v1\nindex 2\n!!notbase64!!\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex 2\n{short_hash}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex 2\n{long_hash}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex 2\n{too_many}\n\n{cp}"),
            format!("c2sp.org/tlog-proof@v1\nindex 2\n{h}\n"),
            format!("c2sp.org/tlog-proof@v1\nindex 2\n{h}"),
            format!("c2sp.org/tlog-proof@v1\nindex 2\n{h}\n\n"),
            good.replace('\n', "\r\n"),
        ];
        for text in &bad {
            assert!(
                matches!(TlogProof::parse(text), Err(Error::MalformedProof(_))),
                "accepted or wrong error for {text:?}: {:?}",
                TlogProof::parse(text)
            );
        }
    }
}
