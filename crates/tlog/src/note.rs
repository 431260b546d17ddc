//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys only
//! (signature type 0x01), in the key encodings of Go's `golang.org/x/mod/sumdb/note`.
//!
//! A signed note is a text ending in a newline, a blank line, and one or more signature
//! lines `— <key name> <base64(key id (4 bytes, big endian) || signature)>`.
//!
//! * Key names must be non-empty and contain no Unicode white space and no `+`; this crate
//!   also refuses control characters in them.
//! * Key id = first 4 bytes (big endian) of `SHA-256(name || "\n" || 0x01 || public key)`.
//! * Verifier key: `<name>+<8 hex digits key id>+<base64(0x01 || 32-byte public key)>`.
//! * Signer key: `PRIVATE+KEY+<name>+<8 hex digits key id>+<base64(0x01 || 32-byte seed)>`.
//! * [`open`] accepts at most [`MAX_SIGNATURES`] signature lines (the spec requires at least
//!   16; Go accepts 100).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::{has_forbidden_control, Error, Result};

/// The signed-note signature type identifier of Ed25519.
pub const SIGNATURE_TYPE_ED25519: u8 = 0x01;

/// The most signature lines [`open`] accepts in one note.
pub const MAX_SIGNATURES: usize = 100;

const SIG_PREFIX: &str = "— ";
const SKEY_PREFIX: &str = "PRIVATE+KEY+";

/// Whether `name` is a valid key name: non-empty, without Unicode white space, `+` or
/// control characters.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

fn check_key_name(name: &str) -> Result<()> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidKeyName(name.to_owned()))
    }
}

/// The signed-note key id of an Ed25519 key.
fn compute_key_id(name: &str, public_key: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([SIGNATURE_TYPE_ED25519]);
    h.update(public_key.as_bytes());
    let digest = h.finalize();
    let mut id = [0u8; 4];
    id.copy_from_slice(&digest[..4]);
    u32::from_be_bytes(id)
}

/// Splits `<name>+<hex8>+<base64>` and decodes the Ed25519 key material (32 bytes).
fn parse_encoded_key(s: &str) -> Result<(&str, u32, [u8; 32])> {
    let (name, rest) = s
        .split_once('+')
        .ok_or_else(|| Error::MalformedKey("missing '+' after the key name".into()))?;
    check_key_name(name)?;
    let (id_hex, key_b64) = rest
        .split_once('+')
        .ok_or_else(|| Error::MalformedKey("missing '+' after the key id".into()))?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::MalformedKey(format!(
            "key id {id_hex:?} is not 8 hexadecimal digits"
        )));
    }
    let id = u32::from_str_radix(id_hex, 16)
        .map_err(|_| Error::MalformedKey(format!("key id {id_hex:?} is not hexadecimal")))?;
    let raw = STANDARD
        .decode(key_b64)
        .map_err(|e| Error::MalformedKey(format!("key is not valid base64: {e}")))?;
    let (&alg, key) = raw
        .split_first()
        .ok_or_else(|| Error::MalformedKey("key is empty".into()))?;
    if alg != SIGNATURE_TYPE_ED25519 {
        return Err(Error::UnsupportedSignatureType(alg));
    }
    let key: [u8; 32] = key.try_into().map_err(|_| {
        Error::MalformedKey(format!("Ed25519 key must be 32 bytes, got {}", key.len()))
    })?;
    Ok((name, id, key))
}

/// A named Ed25519 note signing key. Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer for key `name` (validated per the spec) with the given Ed25519 key.
    pub fn new(name: &str, key: SigningKey) -> Result<Self> {
        check_key_name(name)?;
        let key_id = compute_key_id(name, &key.verifying_key());
        Ok(Self {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>`
    /// (the Go `x/mod/sumdb/note` signer key format); the key id must match.
    pub fn from_skey(skey: &str) -> Result<Self> {
        let rest = skey
            .strip_prefix(SKEY_PREFIX)
            .ok_or_else(|| Error::MalformedKey("signer key must start with PRIVATE+KEY+".into()))?;
        let (name, claimed, seed) = parse_encoded_key(rest)?;
        let signer = Self::new(name, SigningKey::from_bytes(&seed))?;
        if signer.key_id != claimed {
            return Err(Error::KeyIdMismatch {
                claimed,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// Encodes the signer key (secret!) in the format [`NoteSigner::from_skey`] reads.
    pub fn to_skey(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(SIGNATURE_TYPE_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        let encoded = format!(
            "{SKEY_PREFIX}{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(&raw)
        );
        raw.fill(0);
        encoded
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id: first 4 bytes (big endian) of `SHA-256(name || "\n" || 0x01 || pubkey)`.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }

    /// Signs `text` (non-empty, ending in `'\n'`, no control characters other than newline)
    /// and returns the signed note: `text + "\n" + "— <name> <base64(keyid || sig)>\n"`.
    pub fn sign(&self, text: &str) -> Result<String> {
        if text.is_empty() || !text.ends_with('\n') {
            return Err(Error::MalformedNote(
                "note text must be non-empty and end with a newline".into(),
            ));
        }
        if has_forbidden_control(text) {
            return Err(Error::MalformedNote(
                "note text contains a control character other than newline".into(),
            ));
        }
        let sig = self.key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(raw)
        ))
    }
}

/// A named Ed25519 note verification key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: VerifyingKey,
    key_id: u32,
}

impl NoteVerifier {
    /// A verifier for key `name` (validated per the spec) with the given Ed25519 public key.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self> {
        check_key_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: compute_key_id(name, &key),
            key,
        })
    }

    /// Parses `<name>+<hex8 key id>+<base64(0x01 || 32-byte public key)>`; the key id must
    /// match the name and key.
    pub fn from_vkey(vkey: &str) -> Result<Self> {
        let (name, claimed, key) = parse_encoded_key(vkey)?;
        let key = VerifyingKey::from_bytes(&key)
            .map_err(|_| Error::MalformedKey("not a valid Ed25519 public key".into()))?;
        let verifier = Self::new(name, key)?;
        if verifier.key_id != claimed {
            return Err(Error::KeyIdMismatch {
                claimed,
                computed: verifier.key_id,
            });
        }
        Ok(verifier)
    }

    /// Encodes the verifier key in the format [`NoteVerifier::from_vkey`] reads.
    pub fn to_vkey(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(SIGNATURE_TYPE_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(raw))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// An opened signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The note text, including its final newline (not the separating blank line).
    pub text: String,
    /// Every signature line, in order: the verified one(s) and those from other keys
    /// (kept, not verified).
    pub signatures: Vec<NoteSignature>,
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name on the line.
    pub name: String,
    /// Key id (first four bytes of the decoded signature).
    pub key_id: u32,
    /// The signature proper (the decoded bytes after the key id).
    pub signature: Vec<u8>,
}

/// Parses a signed note and requires a valid signature from `verifier`.
///
/// Signatures from other keys (a different name or key id) are kept in
/// [`Note::signatures`] but not verified. Every signature line that claims the verifier's
/// name and key id must verify ([`Error::BadSignature`] otherwise); if there is none,
/// the result is [`Error::MissingSignature`].
pub fn open(msg: &str, verifier: &NoteVerifier) -> Result<Note> {
    if has_forbidden_control(msg) {
        return Err(Error::MalformedNote(
            "contains a control character other than newline".into(),
        ));
    }
    let split = msg
        .rfind("\n\n")
        .ok_or_else(|| Error::MalformedNote("no blank line before the signatures".into()))?;
    let (Some(text), Some(block)) = (msg.get(..split + 1), msg.get(split + 2..)) else {
        return Err(Error::MalformedNote(
            "cannot split text and signatures".into(),
        ));
    };
    let Some(block) = block.strip_suffix('\n') else {
        return Err(Error::MalformedNote(
            "signature block is empty or does not end with a newline".into(),
        ));
    };
    if block.is_empty() {
        return Err(Error::MalformedNote("no signature lines".into()));
    }
    let lines: Vec<&str> = block.split('\n').take(MAX_SIGNATURES + 1).collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(Error::TooManySignatures {
            max: MAX_SIGNATURES,
        });
    }

    let mut signatures = Vec::with_capacity(lines.len());
    let mut verified = false;
    for line in lines {
        let sig = parse_signature_line(line)?;
        if sig.name == verifier.name && sig.key_id == verifier.key_id {
            let bad = || Error::BadSignature {
                name: sig.name.clone(),
                key_id: sig.key_id,
            };
            let ed = Signature::from_slice(&sig.signature).map_err(|_| bad())?;
            verifier
                .key
                .verify_strict(text.as_bytes(), &ed)
                .map_err(|_| bad())?;
            verified = true;
        }
        signatures.push(sig);
    }
    if !verified {
        return Err(Error::MissingSignature {
            name: verifier.name.clone(),
            key_id: verifier.key_id,
        });
    }
    Ok(Note {
        text: text.to_owned(),
        signatures,
    })
}

fn parse_signature_line(line: &str) -> Result<NoteSignature> {
    let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
        Error::MalformedNote(format!(
            "signature line {line:?} does not start with an em dash and a space"
        ))
    })?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| Error::MalformedNote(format!("signature line {line:?} has no signature")))?;
    if !is_valid_key_name(name) {
        return Err(Error::MalformedNote(format!(
            "invalid key name {name:?} in a signature line"
        )));
    }
    let raw = STANDARD.decode(b64).map_err(|e| {
        Error::MalformedNote(format!("signature by {name:?} is not valid base64: {e}"))
    })?;
    let Some((id, signature)) = raw.split_first_chunk::<4>() else {
        return Err(Error::MalformedNote(format!(
            "signature by {name:?} is too short"
        )));
    };
    if signature.is_empty() {
        return Err(Error::MalformedNote(format!(
            "signature by {name:?} is too short"
        )));
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: u32::from_be_bytes(*id),
        signature: signature.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    // The published example of Go's golang.org/x/mod/sumdb/note (package doc and
    // note_test.go: TestNewVerifier, TestNewSigner, TestSign, TestOpen).
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn peter() -> NoteVerifier {
        NoteVerifier::from_vkey(PETER_VKEY).unwrap()
    }

    fn enoch() -> NoteVerifier {
        NoteVerifier::from_vkey(ENOCH_VKEY).unwrap()
    }

    #[test]
    fn go_published_keys() {
        let v = peter();
        assert_eq!(v.name(), "PeterNeumann");
        assert_eq!(v.key_id(), 0xc74f20a3);
        assert_eq!(v.to_vkey(), PETER_VKEY);
        let s = NoteSigner::from_skey(PETER_SKEY).unwrap();
        assert_eq!(s.name(), "PeterNeumann");
        assert_eq!(s.key_id(), 0xc74f20a3);
        assert_eq!(s.to_skey(), PETER_SKEY);
        assert_eq!(s.verifier(), v);
        assert_eq!(v.verifying_key(), &s.verifier().key);
        assert_eq!(enoch().key_id(), 0xaf0cfe78);
        assert_eq!(enoch().to_vkey(), ENOCH_VKEY);
    }

    #[test]
    fn go_published_signature() {
        let s = NoteSigner::from_skey(PETER_SKEY).unwrap();
        let signed = s.sign(TEXT).unwrap();
        assert_eq!(signed, format!("{TEXT}\n{PETER_SIG}"));
        let note = open(&signed, &peter()).unwrap();
        assert_eq!(note.text, TEXT);
        assert_eq!(note.signatures.len(), 1);
        assert_eq!(note.signatures[0].name, "PeterNeumann");
        assert_eq!(note.signatures[0].key_id, 0xc74f20a3);
        assert_eq!(note.signatures[0].signature.len(), 64);
    }

    #[test]
    fn go_published_doubly_signed_note() {
        let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let by_peter = open(&msg, &peter()).unwrap();
        assert_eq!(by_peter.text, TEXT);
        let names: Vec<_> = by_peter.signatures.iter().map(|s| &s.name[..]).collect();
        assert_eq!(names, ["PeterNeumann", "EnochRoot"]);
        assert_eq!(by_peter.signatures[1].key_id, 0xaf0cfe78);
        let by_enoch = open(&msg, &enoch()).unwrap();
        assert_eq!(by_enoch, by_peter);
        // Only the unverifiable one: Peter's key finds nothing to verify.
        assert_eq!(
            open(&format!("{TEXT}\n{ENOCH_SIG}"), &peter()),
            Err(Error::MissingSignature {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            })
        );
    }

    #[test]
    fn rejects_modified_text_and_signature() {
        let modified = format!("{}\n{PETER_SIG}", TEXT.replace("answer", "solution"));
        assert_eq!(
            open(&modified, &peter()),
            Err(Error::BadSignature {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            })
        );
        // Go's "Invalid signature" case: four base64 characters inserted at byte 60.
        let bad_sig = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        assert!(matches!(
            open(&format!("{TEXT}\n{bad_sig}"), &peter()),
            Err(Error::BadSignature { .. })
        ));
        // A bad signature from the expected key is an error even next to a good one.
        assert!(matches!(
            open(&format!("{TEXT}\n{PETER_SIG}{bad_sig}"), &peter()),
            Err(Error::BadSignature { .. })
        ));
        // Unknown keys' bad signatures are ignored.
        let bad_enoch = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
        assert!(open(&format!("{TEXT}\n{PETER_SIG}{bad_enoch}"), &peter()).is_ok());
    }

    #[test]
    fn rejects_wrong_key() {
        let msg = format!("{TEXT}\n{PETER_SIG}");
        // Same name, different key (hence different key id): the signature is not its.
        let impostor = NoteSigner::new("PeterNeumann", SigningKey::generate(&mut OsRng)).unwrap();
        assert!(matches!(
            open(&msg, &impostor.verifier()),
            Err(Error::MissingSignature { .. })
        ));
        assert!(matches!(
            open(&msg, &enoch()),
            Err(Error::MissingSignature { .. })
        ));
        // A line that claims Peter's name and id but was made by another key.
        let forged = impostor.sign(TEXT).unwrap();
        let forged_line = forged.rsplit_once("\n\n").unwrap().1;
        let (_, b64) = forged_line.trim_end().rsplit_once(' ').unwrap();
        let mut raw = STANDARD.decode(b64).unwrap();
        raw[..4].copy_from_slice(&0xc74f20a3u32.to_be_bytes());
        let claimed = format!("{TEXT}\n— PeterNeumann {}\n", STANDARD.encode(raw));
        assert!(matches!(
            open(&claimed, &peter()),
            Err(Error::BadSignature { .. })
        ));
    }

    #[test]
    fn rejects_malformed_notes() {
        let v = peter();
        let mut too_many = format!("{TEXT}\n");
        for _ in 0..=MAX_SIGNATURES {
            too_many.push_str(PETER_SIG);
        }
        assert_eq!(
            open(&too_many, &v),
            Err(Error::TooManySignatures {
                max: MAX_SIGNATURES
            })
        );
        let exactly_max = format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES));
        assert!(open(&exactly_max, &v).is_ok());

        let bad = [
            TEXT.to_string(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\u{1}{TEXT}\n{PETER_SIG}"),
            format!("{TEXT}\n{}", PETER_SIG.replace('\n', "\r\n")),
            format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
            format!("{TEXT}\n{}", PETER_SIG.replace('—', "-")),
            format!("{TEXT}\n{}", PETER_SIG.replace("— ", "—")),
            format!("{TEXT}\n— PeterNeumann\n"),
            format!("{TEXT}\n— PeterNeumann \n"),
            format!("{TEXT}\n— PeterNeumann x08go/!!!\n"),
            format!("{TEXT}\n— PeterNeumann x08g\n"),
            format!("{TEXT}\n— PeterNeumann x08goA==\n"),
            format!("{TEXT}\n— a+b x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
            String::new(),
            "\n\n".to_string(),
        ];
        for msg in &bad {
            assert!(
                matches!(open(msg, &v), Err(Error::MalformedNote(_))),
                "accepted or wrong error for {msg:?}: {:?}",
                open(msg, &v)
            );
        }
    }

    #[test]
    fn vkey_and_skey_manglings_are_rejected() {
        // As Go's TestNewVerifier / TestNewSigner: every proper substring and every
        // single-byte increment must fail.
        for key in [PETER_VKEY, PETER_SKEY] {
            let parse = |k: &str| {
                if key == PETER_VKEY {
                    NoteVerifier::from_vkey(k).map(|_| ())
                } else {
                    NoteSigner::from_skey(k).map(|_| ())
                }
            };
            let b = key.as_bytes();
            for i in 0..=b.len() {
                for j in i + 1..=b.len() {
                    if i != 0 || j != b.len() {
                        let s = std::str::from_utf8(&b[i..j]).unwrap();
                        assert!(parse(s).is_err(), "accepted {s:?}");
                    }
                }
            }
            for i in 0..b.len() {
                let mut m = b.to_vec();
                m[i] += 1;
                let s = String::from_utf8(m).unwrap();
                assert!(parse(&s).is_err(), "accepted {s:?}");
            }
        }
        // Wrong key length with an adjusted key id; unknown algorithm with adjusted key id.
        assert!(matches!(
            NoteVerifier::from_vkey(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            ),
            Err(Error::MalformedKey(_))
        ));
        assert_eq!(
            NoteVerifier::from_vkey(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(Error::UnsupportedSignatureType(0x65))
        );
        assert_eq!(
            NoteVerifier::from_vkey(
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(Error::KeyIdMismatch {
                claimed: 0xc74f20a4,
                computed: 0xc74f20a3
            })
        );
        assert!(matches!(
            NoteVerifier::from_vkey(
                "PeterNeumann++c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(Error::MalformedKey(_))
        ));
        assert!(matches!(
            NoteSigner::from_skey(
                "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
            ),
            Err(Error::KeyIdMismatch { .. })
        ));
        assert!(matches!(
            NoteSigner::from_skey(PETER_VKEY),
            Err(Error::MalformedKey(_))
        ));
    }

    #[test]
    fn generated_key_round_trips() {
        let signer = NoteSigner::new("example.com/log", SigningKey::generate(&mut OsRng)).unwrap();
        let again = NoteSigner::from_skey(&signer.to_skey()).unwrap();
        assert_eq!(again.key_id(), signer.key_id());
        assert_eq!(again.verifier(), signer.verifier());
        let v = NoteVerifier::from_vkey(&signer.verifier().to_vkey()).unwrap();
        assert_eq!(v, signer.verifier());
        assert_eq!(
            NoteVerifier::new("example.com/log", *v.verifying_key()).unwrap(),
            v
        );

        let text = "line one\n\nline three after an empty line\n";
        let signed = signer.sign(text).unwrap();
        let note = open(&signed, &v).unwrap();
        assert_eq!(note.text, text);
        // A text ending in a blank line still splits at the last blank line.
        let text = "ends with a blank line\n\n";
        assert_eq!(open(&signer.sign(text).unwrap(), &v).unwrap().text, text);
        assert_eq!(open(&signer.sign("\n").unwrap(), &v).unwrap().text, "\n");
    }

    #[test]
    fn key_names_and_texts_are_validated() {
        for name in [
            "",
            "a b",
            "a+b",
            "a\tb",
            "a\u{a0}b",
            "a\u{2003}b",
            "a\nb",
            "a\u{1}b",
        ] {
            assert_eq!(
                NoteSigner::new(name, SigningKey::generate(&mut OsRng)).map(|_| ()),
                Err(Error::InvalidKeyName(name.into()))
            );
        }
        assert!(
            NoteSigner::new("example.com/ünïcode—ok", SigningKey::generate(&mut OsRng)).is_ok()
        );
        let s = NoteSigner::from_skey(PETER_SKEY).unwrap();
        for text in ["", "abc", "a\tb\n", "a\r\n"] {
            assert!(
                matches!(s.sign(text), Err(Error::MalformedNote(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        let s = NoteSigner::from_skey(PETER_SKEY).unwrap();
        let dbg = format!("{s:?} {s:#?}");
        assert!(dbg.contains("PeterNeumann"));
        assert!(dbg.contains("c74f20a3"));
        let seed = s.key.to_bytes();
        assert!(!dbg.contains("AYEKFALVFGyNhPJEMzD1QIDr"));
        assert!(!dbg.contains(&hex::encode(seed)));
        assert!(!dbg.contains(&format!("{:?}", seed)));
    }
}
