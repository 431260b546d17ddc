//! Standard Webhooks signatures.
//!
//! The signed content is `{webhook-id}.{webhook-timestamp}.{body}`, with the
//! body bytes exactly as sent. The `webhook-signature` header is a
//! space-delimited list of `<version>,<base64 signature>` entries:
//!
//! - `v1`: HMAC-SHA256 keyed with the bytes a `whsec_<base64>` secret
//!   decodes to (the spec asks for 24 to 64 random bytes);
//! - `v1a`: Ed25519. The spec says only "standard ed25519 key pair, base64
//!   encoded, prefixed with `whsk_` for the secret key, and `whpk_` for the
//!   public key". We read it as the reference Go library
//!   (`libraries/go/webhook_asymmetric.go`) implements it: `whsk_` carries
//!   the 32-byte RFC 8032 seed (decoded with `ed25519.NewKeyFromSeed`) and
//!   `whpk_` the 32-byte public key. That library's published vector is one
//!   of the tests below. For interoperability with libsodium-style keys a
//!   64-byte `whsk_` (seed followed by public key) is also accepted when its
//!   halves agree, but we always write the 32-byte seed.
//!
//! Secrets are all base64 with the standard alphabet and padding, as in
//! every reference library. Unlike the reference libraries, a secret without
//! its prefix is refused: the prefix is what tells the schemes apart (spec,
//! "Secret serialization"), so guessing would only hide mistakes.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac as _};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;

use crate::{Error, Result};

/// Header carrying the message id, stable across retries.
pub const ID_HEADER: &str = "webhook-id";
/// Header carrying the attempt's Unix timestamp in seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Header carrying the space-delimited signatures.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// Prefix of a symmetric (HMAC-SHA256) secret.
pub const HMAC_SECRET_PREFIX: &str = "whsec_";
/// Prefix of an Ed25519 signing key (32-byte seed).
pub const ED25519_SECRET_PREFIX: &str = "whsk_";
/// Prefix of an Ed25519 public key.
pub const ED25519_PUBLIC_PREFIX: &str = "whpk_";

/// Signature identifier of HMAC-SHA256 signatures.
pub const HMAC_VERSION: &str = "v1";
/// Signature identifier of Ed25519 signatures.
pub const ED25519_VERSION: &str = "v1a";

/// The tolerance the spec's reference libraries use: five minutes either way.
pub const DEFAULT_TOLERANCE_SECS: i64 = 5 * 60;

/// The spec's bounds on a symmetric secret ("at least 24 bytes", "512
/// [bits] maximum").
const HMAC_KEY_MIN: usize = 24;
const HMAC_KEY_MAX: usize = 64;
/// We generate 256-bit secrets: the HMAC-SHA256 output size, well inside
/// the spec's bounds.
const HMAC_KEY_GENERATED: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// The key bytes of a `whsec_` secret, 24 to 64 of them.
#[derive(Clone)]
pub struct HmacKey(Vec<u8>);

impl HmacKey {
    /// Wraps raw key bytes, refusing lengths the spec does not allow.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if !(HMAC_KEY_MIN..=HMAC_KEY_MAX).contains(&bytes.len()) {
            return Err(Error::MalformedSecret(
                "whsec_ secret must decode to 24 to 64 bytes",
            ));
        }
        Ok(Self(bytes.to_vec()))
    }

    fn mac(&self, content: &[u8]) -> Result<HmacSha256> {
        // HMAC accepts keys of any length, so this cannot fail for a key we
        // hold; the error arm only keeps the library free of panics.
        let mut mac = HmacSha256::new_from_slice(&self.0)
            .map_err(|_| Error::MalformedSecret("HMAC key rejected"))?;
        mac.update(content);
        Ok(mac)
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(<redacted>)")
    }
}

/// A secret a producer signs with.
///
/// `Display` prints the wire form (`whsec_…` or `whsk_…`), which *is* the
/// secret; `Debug` never does.
#[derive(Clone)]
pub enum SigningSecret {
    /// `whsec_`: HMAC-SHA256, signatures tagged `v1`.
    Hmac(HmacKey),
    /// `whsk_`: Ed25519, signatures tagged `v1a`.
    Ed25519(SigningKey),
}

impl SigningSecret {
    /// Parses `whsec_<base64>` or `whsk_<base64>`. Surrounding whitespace
    /// is ignored because secrets usually arrive from files and environment
    /// variables, and base64 never contains any.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if let Some(b64) = s.strip_prefix(HMAC_SECRET_PREFIX) {
            Ok(Self::Hmac(HmacKey::from_bytes(&decode(b64)?)?))
        } else if let Some(b64) = s.strip_prefix(ED25519_SECRET_PREFIX) {
            Ok(Self::Ed25519(parse_ed25519_secret(&decode(b64)?)?))
        } else if s.starts_with(ED25519_PUBLIC_PREFIX) {
            Err(Error::MalformedSecret(
                "a whpk_ public key can verify but not sign",
            ))
        } else {
            Err(Error::MalformedSecret("expected a whsec_ or whsk_ prefix"))
        }
    }

    /// A fresh 32-byte symmetric secret. The receiver gets the same secret
    /// (see [`SigningSecret::verifying_secret`]).
    pub fn generate_hmac<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut key = [0u8; HMAC_KEY_GENERATED];
        rng.fill_bytes(&mut key);
        Self::Hmac(HmacKey(key.to_vec()))
    }

    /// A fresh Ed25519 key pair: the signing key for the producer and the
    /// public key for the receiver.
    pub fn generate_ed25519<R: RngCore + CryptoRng>(rng: &mut R) -> (Self, VerifyingSecret) {
        let key = SigningKey::generate(rng);
        let public = key.verifying_key();
        (Self::Ed25519(key), VerifyingSecret::Ed25519Public(public))
    }

    /// What the receiver needs to verify this secret's signatures: the same
    /// key for HMAC, the public key for Ed25519.
    pub fn verifying_secret(&self) -> VerifyingSecret {
        match self {
            Self::Hmac(key) => VerifyingSecret::Hmac(key.clone()),
            Self::Ed25519(key) => VerifyingSecret::Ed25519Public(key.verifying_key()),
        }
    }

    /// One `webhook-signature` entry, `v1,<b64>` or `v1a,<b64>`.
    fn sign_entry(&self, content: &[u8]) -> Result<String> {
        Ok(match self {
            Self::Hmac(key) => {
                let tag = key.mac(content)?.finalize().into_bytes();
                format!("{HMAC_VERSION},{}", B64.encode(tag))
            }
            Self::Ed25519(key) => {
                let sig = key.sign(content);
                format!("{ED25519_VERSION},{}", B64.encode(sig.to_bytes()))
            }
        })
    }
}

impl fmt::Display for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hmac(key) => write!(f, "{HMAC_SECRET_PREFIX}{}", B64.encode(&key.0)),
            Self::Ed25519(key) => {
                write!(f, "{ED25519_SECRET_PREFIX}{}", B64.encode(key.to_bytes()))
            }
        }
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hmac(_) => f.write_str("SigningSecret::Hmac(<redacted>)"),
            // The public half is not secret and tells keys apart in logs.
            Self::Ed25519(key) => write!(
                f,
                "SigningSecret::Ed25519 {{ public: {ED25519_PUBLIC_PREFIX}{}, secret: <redacted> }}",
                B64.encode(key.verifying_key().as_bytes())
            ),
        }
    }
}

/// A secret a receiver verifies with.
///
/// `Display` prints the wire form (`whsec_…` or `whpk_…`); `Debug` redacts
/// HMAC keys and shows public keys.
#[derive(Clone)]
pub enum VerifyingSecret {
    /// `whsec_`: the shared HMAC-SHA256 key, checks `v1` signatures.
    Hmac(HmacKey),
    /// `whpk_`: an Ed25519 public key, checks `v1a` signatures.
    Ed25519Public(VerifyingKey),
}

impl VerifyingSecret {
    /// Parses `whsec_<base64>` or `whpk_<base64>`, ignoring surrounding
    /// whitespace. A `whsk_` signing key is refused: receivers of
    /// asymmetric webhooks should never hold the producer's private key.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if let Some(b64) = s.strip_prefix(HMAC_SECRET_PREFIX) {
            Ok(Self::Hmac(HmacKey::from_bytes(&decode(b64)?)?))
        } else if let Some(b64) = s.strip_prefix(ED25519_PUBLIC_PREFIX) {
            let bytes: [u8; 32] = decode(b64)?
                .try_into()
                .map_err(|_| Error::MalformedSecret("whpk_ key must decode to 32 bytes"))?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| Error::MalformedSecret("whpk_ key is not an Ed25519 point"))?;
            Ok(Self::Ed25519Public(key))
        } else if s.starts_with(ED25519_SECRET_PREFIX) {
            Err(Error::MalformedSecret(
                "a whsk_ signing key is not for receivers; use its whpk_ public key",
            ))
        } else {
            Err(Error::MalformedSecret("expected a whsec_ or whpk_ prefix"))
        }
    }
}

impl fmt::Display for VerifyingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hmac(key) => write!(f, "{HMAC_SECRET_PREFIX}{}", B64.encode(&key.0)),
            Self::Ed25519Public(key) => {
                write!(f, "{ED25519_PUBLIC_PREFIX}{}", B64.encode(key.as_bytes()))
            }
        }
    }
}

impl fmt::Debug for VerifyingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hmac(_) => f.write_str("VerifyingSecret::Hmac(<redacted>)"),
            Self::Ed25519Public(_) => write!(f, "VerifyingSecret::Ed25519Public({self})"),
        }
    }
}

fn decode(b64: &str) -> Result<Vec<u8>> {
    B64.decode(b64)
        .map_err(|_| Error::MalformedSecret("not standard padded base64"))
}

fn parse_ed25519_secret(bytes: &[u8]) -> Result<SigningKey> {
    let (seed, public) = match bytes.len() {
        32 => (bytes, None),
        64 => {
            let (seed, public) = bytes.split_at(32);
            (seed, Some(public))
        }
        _ => {
            return Err(Error::MalformedSecret(
                "whsk_ key must decode to a 32-byte seed (or 64 bytes: seed then public key)",
            ))
        }
    };
    let seed: &[u8; 32] = seed
        .try_into()
        .map_err(|_| Error::MalformedSecret("whsk_ seed must be 32 bytes"))?;
    let key = SigningKey::from_bytes(seed);
    // A 64-byte key whose second half is not the seed's public key is
    // corrupt; signing with it would yield signatures nobody can check.
    if public.is_some_and(|p| p != key.verifying_key().as_bytes()) {
        return Err(Error::MalformedSecret(
            "whsk_ key's public half does not match its seed",
        ));
    }
    Ok(key)
}

/// The three Standard Webhooks headers as received. A field is `None` when
/// the header was absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookHeaders {
    /// `webhook-id`.
    pub id: Option<String>,
    /// `webhook-timestamp`.
    pub timestamp: Option<String>,
    /// `webhook-signature`.
    pub signature: Option<String>,
}

impl WebhookHeaders {
    /// Picks the three headers out of `(name, value)` pairs, matching names
    /// case-insensitively as HTTP requires and trimming values as HTTP
    /// parsers do. Other headers are ignored.
    ///
    /// If a header repeats, the first occurrence wins. That is safe because
    /// [`verify`] only succeeds when a signature covers exactly the id and
    /// timestamp chosen, so no choice can make a forged webhook pass.
    pub fn from_pairs<'a, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut headers = Self::default();
        for (name, value) in pairs {
            let slot = if name.eq_ignore_ascii_case(ID_HEADER) {
                &mut headers.id
            } else if name.eq_ignore_ascii_case(TIMESTAMP_HEADER) {
                &mut headers.timestamp
            } else if name.eq_ignore_ascii_case(SIGNATURE_HEADER) {
                &mut headers.signature
            } else {
                continue;
            };
            if slot.is_none() {
                *slot = Some(value.trim().to_owned());
            }
        }
        headers
    }
}

/// Signs a webhook and returns the `webhook-signature` header value: one
/// `v1,<sig>` or `v1a,<sig>` entry per secret, in the given order and
/// separated by single spaces. Pass the old and the new secret together
/// while rotating, so receivers holding either keep verifying.
///
/// `timestamp` is the Unix time of this attempt (it changes on every retry);
/// `msg_id` stays the same across retries. The id must be non-empty visible
/// ASCII without `.`: the spec forbids `.` because the signed content is
/// joined with dots, and visible ASCII keeps it a valid header value.
pub fn sign(
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    secrets: &[SigningSecret],
) -> Result<String> {
    if secrets.is_empty() {
        return Err(Error::NoSecrets);
    }
    check_msg_id(msg_id)?;
    let content = signed_content(msg_id, timestamp, body);
    let entries = secrets
        .iter()
        .map(|secret| secret.sign_entry(&content))
        .collect::<Result<Vec<_>>>()?;
    Ok(entries.join(" "))
}

/// Checks a received webhook.
///
/// In order: all three headers must be present and non-empty; the id must
/// be signable (see [`sign`]); the timestamp must be a canonical decimal
/// integer within `tolerance_secs` of `now_unix` in either direction (the
/// bounds themselves are accepted, as in the reference libraries; use
/// [`DEFAULT_TOLERANCE_SECS`] unless you have a reason); then at least one
/// entry of `webhook-signature` must verify under at least one secret of
/// its scheme. Entries with unknown versions or undecodable signatures are
/// skipped, as the spec's forward compatibility requires.
///
/// HMAC tags are compared in constant time. Ed25519 signatures are checked
/// with `verify_strict`, which also refuses weak public keys and
/// non-canonical signatures; honest signers never produce those.
///
/// Receivers should also remember `webhook-id`s for at least the tolerance
/// window to refuse replays; that state is theirs, not this function's.
pub fn verify(
    headers: &WebhookHeaders,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
    secrets: &[VerifyingSecret],
) -> Result<()> {
    if secrets.is_empty() {
        return Err(Error::NoSecrets);
    }
    let id = required(&headers.id, ID_HEADER)?;
    let timestamp = required(&headers.timestamp, TIMESTAMP_HEADER)?;
    let signatures = required(&headers.signature, SIGNATURE_HEADER)?;

    check_msg_id(id)?;
    let timestamp = parse_timestamp(timestamp)?;
    check_tolerance(timestamp, now_unix, tolerance_secs)?;

    let content = signed_content(id, timestamp, body);
    for entry in signatures.split(' ').filter(|e| !e.is_empty()) {
        let Some((version, b64)) = entry.split_once(',') else {
            continue;
        };
        if version != HMAC_VERSION && version != ED25519_VERSION {
            continue;
        }
        let Ok(raw) = B64.decode(b64) else {
            continue;
        };
        if version == HMAC_VERSION {
            for secret in secrets {
                if let VerifyingSecret::Hmac(key) = secret {
                    if key.mac(&content)?.verify_slice(&raw).is_ok() {
                        return Ok(());
                    }
                }
            }
        } else if let Ok(sig) = Signature::from_slice(&raw) {
            for secret in secrets {
                if let VerifyingSecret::Ed25519Public(key) = secret {
                    if key.verify_strict(&content, &sig).is_ok() {
                        return Ok(());
                    }
                }
            }
        }
    }
    Err(Error::NoMatchingSignature)
}

fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str> {
    match value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Error::MissingHeader(name)),
    }
}

fn check_msg_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::InvalidMessageId("empty"));
    }
    if id.contains('.') {
        return Err(Error::InvalidMessageId(
            "contains '.', which would make the signed content ambiguous",
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidMessageId(
            "must be visible ASCII without spaces",
        ));
    }
    Ok(())
}

/// Parses the timestamp and insists it is written the way `sign` writes it.
/// We rebuild the signed content from the parsed number, so accepting
/// `+5` or `007` would let a header differ from what was signed.
fn parse_timestamp(raw: &str) -> Result<i64> {
    let ts: i64 = raw.parse().map_err(|_| Error::InvalidTimestamp)?;
    if ts.to_string() != raw {
        return Err(Error::InvalidTimestamp);
    }
    Ok(ts)
}

fn check_tolerance(timestamp: i64, now: i64, tolerance_secs: i64) -> Result<()> {
    // Widened so that extreme timestamps cannot overflow the subtraction;
    // a negative tolerance means "exactly now".
    let tolerance = i128::from(tolerance_secs.max(0));
    let age = i128::from(now) - i128::from(timestamp);
    if age > tolerance {
        Err(Error::TimestampTooOld {
            timestamp,
            now,
            tolerance_secs,
        })
    } else if -age > tolerance {
        Err(Error::TimestampTooNew {
            timestamp,
            now,
            tolerance_secs,
        })
    } else {
        Ok(())
    }
}

fn signed_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let prefix = format!("{msg_id}.{timestamp}.");
    let mut content = Vec::with_capacity(prefix.len() + body.len());
    content.extend_from_slice(prefix.as_bytes());
    content.extend_from_slice(body);
    content
}

#[cfg(test)]
mod tests {
    use rand_core::OsRng;

    use super::*;

    // The vector published in the reference libraries' tests (Go
    // `libraries/go/webhook_test.go` TestWebhookSign, Python
    // `libraries/python/tests/test_webhooks.py` test_sign_function).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED_V1: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers(id: &str, ts: i64, sig: &str) -> WebhookHeaders {
        WebhookHeaders {
            id: Some(id.to_owned()),
            timestamp: Some(ts.to_string()),
            signature: Some(sig.to_owned()),
        }
    }

    fn hmac_pair() -> (SigningSecret, VerifyingSecret) {
        (
            SigningSecret::parse(SECRET).unwrap(),
            VerifyingSecret::parse(SECRET).unwrap(),
        )
    }

    #[test]
    fn reference_vector_v1() {
        let (s, v) = hmac_pair();
        let sig = sign(MSG_ID, TS, BODY, &[s]).unwrap();
        assert_eq!(sig, EXPECTED_V1);
        verify(
            &headers(MSG_ID, TS, &sig),
            BODY,
            TS,
            DEFAULT_TOLERANCE_SECS,
            &[v],
        )
        .unwrap();
    }

    #[test]
    fn reference_vector_v1_rust_library() {
        // `libraries/rust/src/lib.rs` test_sign: a second, independent vector.
        let s = SigningSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let sig = sign(
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
            &[s],
        )
        .unwrap();
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn reference_vector_v1a() {
        // `libraries/go/webhook_asymmetric_test.go` TestAsymmetricWebhookSign:
        // the key there is a bare base64 32-byte seed, which is how we read
        // `whsk_`.
        let s = SigningSecret::parse("whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=").unwrap();
        let sig = sign(MSG_ID, TS, BODY, std::slice::from_ref(&s)).unwrap();
        assert_eq!(
            sig,
            "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
        );
        let v = s.verifying_secret();
        verify(&headers(MSG_ID, TS, &sig), BODY, TS, 0, &[v]).unwrap();
    }

    #[test]
    fn signature_with_one_bit_changed_fails() {
        // The Python reference's "invalid signature" case: last char E -> A.
        let (_, v) = hmac_pair();
        let h = headers(
            MSG_ID,
            TS,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
        );
        assert_eq!(
            verify(&h, BODY, TS, DEFAULT_TOLERANCE_SECS, &[v]),
            Err(Error::NoMatchingSignature)
        );
    }

    #[test]
    fn tampering_fails() {
        let (s, v) = hmac_pair();
        let sig = sign(MSG_ID, TS, BODY, &[s]).unwrap();
        let tol = DEFAULT_TOLERANCE_SECS;
        let v = [v];
        let body = br#"{"test": 2432232315}"#;
        assert_eq!(
            verify(&headers(MSG_ID, TS, &sig), body, TS, tol, &v),
            Err(Error::NoMatchingSignature)
        );
        assert_eq!(
            verify(&headers("msg_other", TS, &sig), BODY, TS, tol, &v),
            Err(Error::NoMatchingSignature)
        );
        assert_eq!(
            verify(&headers(MSG_ID, TS + 1, &sig), BODY, TS, tol, &v),
            Err(Error::NoMatchingSignature)
        );
    }

    #[test]
    fn wrong_secret_fails() {
        let (s, _) = hmac_pair();
        let sig = sign(MSG_ID, TS, BODY, &[s]).unwrap();
        let other = SigningSecret::generate_hmac(&mut OsRng).verifying_secret();
        assert_eq!(
            verify(&headers(MSG_ID, TS, &sig), BODY, TS, 60, &[other]),
            Err(Error::NoMatchingSignature)
        );
    }

    #[test]
    fn rotation_old_and_new_secrets_both_verify() {
        let old = SigningSecret::parse(SECRET).unwrap();
        let new = SigningSecret::generate_hmac(&mut OsRng);
        let sig = sign(MSG_ID, TS, BODY, &[old.clone(), new.clone()]).unwrap();
        let entries: Vec<&str> = sig.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], EXPECTED_V1);
        let h = headers(MSG_ID, TS, &sig);
        verify(&h, BODY, TS, 60, &[old.verifying_secret()]).unwrap();
        verify(&h, BODY, TS, 60, &[new.verifying_secret()]).unwrap();
        // A receiver mid-rotation holds both and accepts a single-signature
        // webhook from either side.
        let both = [old.verifying_secret(), new.verifying_secret()];
        let only_new = sign(MSG_ID, TS, BODY, &[new]).unwrap();
        verify(&headers(MSG_ID, TS, &only_new), BODY, TS, 60, &both).unwrap();
    }

    #[test]
    fn mixed_schemes_in_one_header() {
        let h = SigningSecret::generate_hmac(&mut OsRng);
        let (e, e_pub) = SigningSecret::generate_ed25519(&mut OsRng);
        let sig = sign(MSG_ID, TS, BODY, &[h.clone(), e]).unwrap();
        assert!(sig.starts_with("v1,"));
        assert!(sig.contains(" v1a,"));
        let hdr = headers(MSG_ID, TS, &sig);
        verify(&hdr, BODY, TS, 0, &[h.verifying_secret()]).unwrap();
        verify(&hdr, BODY, TS, 0, &[e_pub]).unwrap();
    }

    #[test]
    fn tolerance_edges() {
        let (s, v) = hmac_pair();
        let sig = sign(MSG_ID, TS, BODY, &[s]).unwrap();
        let h = headers(MSG_ID, TS, &sig);
        let tol = DEFAULT_TOLERANCE_SECS;
        let v = [v];
        // Exactly at the bounds: accepted.
        verify(&h, BODY, TS + tol, tol, &v).unwrap();
        verify(&h, BODY, TS - tol, tol, &v).unwrap();
        // One second beyond: refused, naming the direction.
        assert_eq!(
            verify(&h, BODY, TS + tol + 1, tol, &v),
            Err(Error::TimestampTooOld {
                timestamp: TS,
                now: TS + tol + 1,
                tolerance_secs: tol
            })
        );
        assert_eq!(
            verify(&h, BODY, TS - tol - 1, tol, &v),
            Err(Error::TimestampTooNew {
                timestamp: TS,
                now: TS - tol - 1,
                tolerance_secs: tol
            })
        );
        // Zero and negative tolerance accept only the exact second.
        verify(&h, BODY, TS, 0, &v).unwrap();
        verify(&h, BODY, TS, -5, &v).unwrap();
        assert!(matches!(
            verify(&h, BODY, TS + 1, -5, &v),
            Err(Error::TimestampTooOld { .. })
        ));
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let (s, v) = hmac_pair();
        let v = [v];
        for (ts, now) in [(i64::MIN, i64::MAX), (i64::MAX, i64::MIN)] {
            let sig = sign(MSG_ID, ts, BODY, std::slice::from_ref(&s)).unwrap();
            let r = verify(&headers(MSG_ID, ts, &sig), BODY, now, i64::MAX, &v);
            assert!(
                matches!(
                    r,
                    Err(Error::TimestampTooOld { .. } | Error::TimestampTooNew { .. })
                ),
                "{r:?}"
            );
        }
    }

    #[test]
    fn v1a_round_trip_and_wrong_public_key() {
        let (s, p) = SigningSecret::generate_ed25519(&mut OsRng);
        let sig = sign(MSG_ID, TS, BODY, std::slice::from_ref(&s)).unwrap();
        assert!(sig.starts_with("v1a,"));
        let h = headers(MSG_ID, TS, &sig);
        verify(&h, BODY, TS, 60, std::slice::from_ref(&p)).unwrap();

        let (_, other) = SigningSecret::generate_ed25519(&mut OsRng);
        assert_eq!(
            verify(&h, BODY, TS, 60, &[other]),
            Err(Error::NoMatchingSignature)
        );
        // An HMAC secret never checks a v1a entry, and vice versa.
        let (_, hmac) = hmac_pair();
        assert_eq!(
            verify(&h, BODY, TS, 60, &[hmac]),
            Err(Error::NoMatchingSignature)
        );
        assert_eq!(
            verify(&h, b"{}", TS, 60, &[p]),
            Err(Error::NoMatchingSignature)
        );
    }

    #[test]
    fn unknown_versions_and_junk_entries_are_skipped() {
        let (s, v) = hmac_pair();
        let good = sign(MSG_ID, TS, BODY, &[s]).unwrap();
        // The reference libraries' multi-signature case, plus junk.
        let header = format!(
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=  \
             nocomma v1,!!notbase64!! v1a,AAAA v1, {good} v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
        );
        verify(
            &headers(MSG_ID, TS, &header),
            BODY,
            TS,
            60,
            std::slice::from_ref(&v),
        )
        .unwrap();

        let only_unknown = good.replacen("v1,", "v2,", 1);
        assert_eq!(
            verify(&headers(MSG_ID, TS, &only_unknown), BODY, TS, 60, &[v]),
            Err(Error::NoMatchingSignature)
        );
    }

    #[test]
    fn missing_and_malformed_headers() {
        let (s, v) = hmac_pair();
        let sig = sign(MSG_ID, TS, BODY, &[s]).unwrap();
        let v = [v];
        let full = headers(MSG_ID, TS, &sig);

        for (name, h) in [
            (
                ID_HEADER,
                WebhookHeaders {
                    id: None,
                    ..full.clone()
                },
            ),
            (
                TIMESTAMP_HEADER,
                WebhookHeaders {
                    timestamp: None,
                    ..full.clone()
                },
            ),
            (
                SIGNATURE_HEADER,
                WebhookHeaders {
                    signature: None,
                    ..full.clone()
                },
            ),
            (
                SIGNATURE_HEADER,
                WebhookHeaders {
                    signature: Some(String::new()),
                    ..full.clone()
                },
            ),
        ] {
            assert_eq!(
                verify(&h, BODY, TS, 60, &v),
                Err(Error::MissingHeader(name))
            );
        }

        for bad in [
            "hello",
            "+1614265330",
            "01614265330",
            " 1614265330",
            "1614265330.0",
            "99999999999999999999",
        ] {
            let h = WebhookHeaders {
                timestamp: Some(bad.to_owned()),
                ..full.clone()
            };
            assert_eq!(
                verify(&h, BODY, TS, 60, &v),
                Err(Error::InvalidTimestamp),
                "{bad}"
            );
        }

        for bad in ["msg.1", "msg 1", "msg\n1"] {
            let h = WebhookHeaders {
                id: Some(bad.to_owned()),
                ..full.clone()
            };
            assert!(
                matches!(
                    verify(&h, BODY, TS, 60, &v),
                    Err(Error::InvalidMessageId(_))
                ),
                "{bad:?}"
            );
        }

        assert_eq!(verify(&full, BODY, TS, 60, &[]), Err(Error::NoSecrets));
    }

    #[test]
    fn from_pairs_is_case_insensitive_and_first_wins() {
        let h = WebhookHeaders::from_pairs([
            ("Content-Type", "application/json"),
            ("Webhook-Id", " msg_1 "),
            ("WEBHOOK-TIMESTAMP", "1614265330"),
            ("webhook-signature", "v1,abc"),
            ("webhook-id", "msg_2"),
        ]);
        assert_eq!(
            h,
            WebhookHeaders {
                id: Some("msg_1".into()),
                timestamp: Some("1614265330".into()),
                signature: Some("v1,abc".into()),
            }
        );
        assert_eq!(WebhookHeaders::from_pairs([]), WebhookHeaders::default());
    }

    #[test]
    fn sign_refuses_bad_inputs() {
        let (s, _) = hmac_pair();
        assert_eq!(sign(MSG_ID, TS, BODY, &[]), Err(Error::NoSecrets));
        for bad in ["", "a.b", "a b", "é"] {
            assert!(matches!(
                sign(bad, TS, BODY, std::slice::from_ref(&s)),
                Err(Error::InvalidMessageId(_))
            ));
        }
    }

    #[test]
    fn secrets_round_trip_through_their_wire_form() {
        let (s, _) = hmac_pair();
        assert_eq!(s.to_string(), SECRET);
        assert_eq!(VerifyingSecret::parse(SECRET).unwrap().to_string(), SECRET);
        // Whitespace from files and environment variables is tolerated.
        assert_eq!(
            SigningSecret::parse(&format!(" {SECRET}\n"))
                .unwrap()
                .to_string(),
            SECRET
        );

        let g = SigningSecret::generate_hmac(&mut OsRng);
        let wire = g.to_string();
        assert!(wire.starts_with("whsec_"));
        assert_eq!(B64.decode(&wire[6..]).unwrap().len(), 32);
        assert_eq!(SigningSecret::parse(&wire).unwrap().to_string(), wire);

        let (sk, pk) = SigningSecret::generate_ed25519(&mut OsRng);
        let sk_wire = sk.to_string();
        let pk_wire = pk.to_string();
        assert!(sk_wire.starts_with("whsk_"));
        assert!(pk_wire.starts_with("whpk_"));
        assert_eq!(B64.decode(&sk_wire[5..]).unwrap().len(), 32);
        assert_eq!(B64.decode(&pk_wire[5..]).unwrap().len(), 32);
        assert_eq!(SigningSecret::parse(&sk_wire).unwrap().to_string(), sk_wire);
        assert_eq!(
            VerifyingSecret::parse(&pk_wire).unwrap().to_string(),
            pk_wire
        );
        assert_eq!(sk.verifying_secret().to_string(), pk_wire);
    }

    #[test]
    fn ed25519_64_byte_keypair_form_is_accepted_when_consistent() {
        let (sk, pk) = SigningSecret::generate_ed25519(&mut OsRng);
        let SigningSecret::Ed25519(key) = &sk else {
            panic!("expected Ed25519");
        };
        let mut pair = key.to_bytes().to_vec();
        pair.extend_from_slice(key.verifying_key().as_bytes());
        let parsed = SigningSecret::parse(&format!("whsk_{}", B64.encode(&pair))).unwrap();
        // Written back in the canonical 32-byte form.
        assert_eq!(parsed.to_string(), sk.to_string());
        assert_eq!(parsed.verifying_secret().to_string(), pk.to_string());

        let (_, other) = SigningSecret::generate_ed25519(&mut OsRng);
        let VerifyingSecret::Ed25519Public(other) = other else {
            panic!("expected public key");
        };
        pair.truncate(32);
        pair.extend_from_slice(other.as_bytes());
        assert!(matches!(
            SigningSecret::parse(&format!("whsk_{}", B64.encode(&pair))),
            Err(Error::MalformedSecret(_))
        ));
    }

    #[test]
    fn malformed_secrets() {
        let short = format!("whsec_{}", B64.encode([7u8; 23]));
        let long = format!("whsec_{}", B64.encode([7u8; 65]));
        let edge_lo = format!("whsec_{}", B64.encode([7u8; 24]));
        let edge_hi = format!("whsec_{}", B64.encode([7u8; 64]));
        assert!(SigningSecret::parse(&edge_lo).is_ok());
        assert!(SigningSecret::parse(&edge_hi).is_ok());
        let pk = SigningSecret::generate_ed25519(&mut OsRng).1.to_string();
        let sk = SigningSecret::generate_ed25519(&mut OsRng).0.to_string();
        for bad in [
            "",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", // unprefixed: scheme unknown
            "whsec_not base64!",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", // bad padding
            &short,
            &long,
            "whsk_AAAA",
            &pk, // public keys cannot sign
        ] {
            assert!(
                matches!(SigningSecret::parse(bad), Err(Error::MalformedSecret(_))),
                "{bad}"
            );
        }
        for bad in ["", "whpk_AAAA", &short, &sk] {
            assert!(
                matches!(VerifyingSecret::parse(bad), Err(Error::MalformedSecret(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_never_prints_secret_material() {
        let (s, v) = hmac_pair();
        let secret_b64 = &SECRET[6..];
        for text in [format!("{s:?}"), format!("{v:?}")] {
            assert!(!text.contains(secret_b64), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
        let (sk, pk) = SigningSecret::generate_ed25519(&mut OsRng);
        let seed_b64 = &sk.to_string()[5..];
        let dbg = format!("{sk:?}");
        assert!(!dbg.contains(seed_b64), "{dbg}");
        // The public half is shown on purpose.
        assert!(dbg.contains(&pk.to_string()), "{dbg}");
        let err = SigningSecret::parse("whsec_AAAA").unwrap_err().to_string();
        assert!(!err.contains("AAAA"), "{err}");
    }
}
