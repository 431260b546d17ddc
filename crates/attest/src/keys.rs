//! Key identifiers, key file encodings and the proof-of-possession message.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// A credential's key id: lowercase hex SHA-256 of the raw public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Parse a raw Ed25519 public key from standard base64.
pub fn public_key_from_base64(s: &str) -> Result<VerifyingKey> {
    let raw = B64
        .decode(s.trim().as_bytes())
        .map_err(|e| Error::Key(format!("public key is not base64: {e}")))?;
    let raw: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| Error::Key(format!("public key is {} bytes, expected 32", raw.len())))?;
    VerifyingKey::from_bytes(&raw).map_err(|_| Error::Key("not a valid Ed25519 point".into()))
}

/// Standard base64 of the raw public key.
pub fn public_key_to_base64(key: &VerifyingKey) -> String {
    B64.encode(key.as_bytes())
}

/// Encode a private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
pub fn signing_key_to_pem(key: &SigningKey) -> Result<String> {
    key.to_pkcs8_pem(Default::default())
        .map(|pem| pem.to_string())
        .map_err(|e| Error::Key(e.to_string()))
}

/// Decode a PKCS#8 PEM Ed25519 private key.
pub fn signing_key_from_pem(pem: &str) -> Result<SigningKey> {
    SigningKey::from_pkcs8_pem(pem)
        .map_err(|e| Error::Key(format!("not a PKCS#8 PEM Ed25519 private key: {e}")))
}

/// The message a client signs to prove it holds the private key it enrols:
/// domain-separated and bound to the identity, the challenge and the key.
pub fn pop_message(handle: &str, challenge: &str, public_key_b64: &str) -> Vec<u8> {
    format!("countersign key enrolment v1\n{handle}\n{challenge}\n{public_key_b64}\n").into_bytes()
}

/// The message a workload signs to prove it holds the private key it asks
/// a certificate for: bound to the presented token (by its SHA-256) and to
/// the key, so a proof cannot be replayed with another token or key.
pub fn workload_pop_message(token_sha256: &str, key_id: &str) -> Vec<u8> {
    format!("countersign workload certificate v1\ntoken-sha256: {token_sha256}\nkey: {key_id}\n")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_and_base64_round_trip() {
        let key = SigningKey::generate(&mut rand_core::OsRng);
        let pem = signing_key_to_pem(&key).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(
            signing_key_from_pem(&pem).unwrap().to_bytes(),
            key.to_bytes()
        );
        let b64 = public_key_to_base64(&key.verifying_key());
        assert_eq!(public_key_from_base64(&b64).unwrap(), key.verifying_key());
        assert!(public_key_from_base64("AAAA").is_err());
        assert!(signing_key_from_pem("garbage").is_err());
        assert_eq!(key_id(&key.verifying_key()).len(), 64);
    }
}
