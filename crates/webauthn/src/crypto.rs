//! Public keys and signature checks, shared by assertions, attestation
//! statements and certificate chains.
//!
//! Certificates are verified here too, over their raw TBSCertificate bytes,
//! rather than with x509-parser's `verify` feature: the same four key types
//! and the same RustCrypto code then serve every signature in the crate, and
//! x509-parser's ring backend stays out of the build.

use ed25519_dalek::pkcs8::DecodePublicKey as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// RSA moduli below this many bits are refused: 1024-bit RSA is within
/// reach of well-funded attackers and no WebAuthn authenticator uses it.
pub(crate) const RSA_MIN_BITS: usize = 2048;
/// RSA moduli above this many bits are refused so a hostile key cannot make
/// verification arbitrarily slow.
pub(crate) const RSA_MAX_BITS: usize = 8192;

/// A public key of a type WebAuthn uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(RsaPublicKey),
}

/// A signature scheme: key type and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureAlgorithm {
    /// ECDSA with an ASN.1 DER signature, on whichever curve the key is.
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
    /// Pure Ed25519 (RFC 8032), checked with `verify_strict`.
    Ed25519,
    /// RSASSA-PKCS1-v1_5. SHA-1 exists only for TPM attestation
    /// statements (`RS1`), which Windows TPMs still produce.
    RsaPkcs1Sha1,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
}

impl PublicKey {
    /// Read a DER SubjectPublicKeyInfo: EC P-256 or P-384, Ed25519, or RSA.
    pub(crate) fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::P256(key));
        }
        if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::P384(key));
        }
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::Ed25519(key));
        }
        match RsaPublicKey::from_public_key_der(der) {
            Ok(key) => {
                check_rsa_size(&key)?;
                Ok(PublicKey::Rsa(key))
            }
            Err(_) => Err(
                "subject public key is not EC P-256, EC P-384, Ed25519 or RSA (or is malformed)"
                    .into(),
            ),
        }
    }

    /// An RSA key from big-endian modulus and exponent.
    pub(crate) fn rsa(n: &[u8], e: &[u8]) -> Result<Self, String> {
        let key = RsaPublicKey::new_with_max_size(
            BigUint::from_bytes_be(n),
            BigUint::from_bytes_be(e),
            RSA_MAX_BITS,
        )
        .map_err(|e| format!("RSA key: {e}"))?;
        check_rsa_size(&key)?;
        Ok(PublicKey::Rsa(key))
    }

    /// Verify `signature` over `message`. `Err` says why it does not verify,
    /// including a scheme that does not fit this key's type.
    pub(crate) fn verify(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        use SignatureAlgorithm as A;
        let bad = |e: &dyn std::fmt::Display| format!("signature does not verify: {e}");
        match (self, algorithm) {
            (PublicKey::P256(key), A::EcdsaSha256 | A::EcdsaSha384 | A::EcdsaSha512) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|e| format!("not a DER ECDSA P-256 signature: {e}"))?;
                key.verify_prehash(&ecdsa_digest(algorithm, message), &sig)
                    .map_err(|e| bad(&e))
            }
            (PublicKey::P384(key), A::EcdsaSha256 | A::EcdsaSha384 | A::EcdsaSha512) => {
                let sig = p384::ecdsa::Signature::from_der(signature)
                    .map_err(|e| format!("not a DER ECDSA P-384 signature: {e}"))?;
                key.verify_prehash(&ecdsa_digest(algorithm, message), &sig)
                    .map_err(|e| bad(&e))
            }
            (PublicKey::Ed25519(key), A::Ed25519) => {
                let sig = ed25519_dalek::Signature::from_slice(signature).map_err(|_| {
                    format!("{} bytes, not a 64-byte Ed25519 signature", signature.len())
                })?;
                key.verify_strict(message, &sig).map_err(|e| bad(&e))
            }
            (PublicKey::Rsa(key), A::RsaPkcs1Sha1) => key
                .verify(
                    Pkcs1v15Sign::new::<Sha1>(),
                    &Sha1::digest(message),
                    signature,
                )
                .map_err(|e| bad(&e)),
            (PublicKey::Rsa(key), A::RsaPkcs1Sha256) => key
                .verify(
                    Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(message),
                    signature,
                )
                .map_err(|e| bad(&e)),
            (PublicKey::Rsa(key), A::RsaPkcs1Sha384) => key
                .verify(
                    Pkcs1v15Sign::new::<Sha384>(),
                    &Sha384::digest(message),
                    signature,
                )
                .map_err(|e| bad(&e)),
            (PublicKey::Rsa(key), A::RsaPkcs1Sha512) => key
                .verify(
                    Pkcs1v15Sign::new::<Sha512>(),
                    &Sha512::digest(message),
                    signature,
                )
                .map_err(|e| bad(&e)),
            (key, algorithm) => Err(format!(
                "{algorithm:?} cannot be used with a {} key",
                key.kind()
            )),
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            PublicKey::P256(_) => "EC P-256",
            PublicKey::P384(_) => "EC P-384",
            PublicKey::Ed25519(_) => "Ed25519",
            PublicKey::Rsa(_) => "RSA",
        }
    }

    /// The modulus and exponent, big-endian without leading zeros.
    pub(crate) fn rsa_parts(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        match self {
            PublicKey::Rsa(key) => Some((key.n().to_bytes_be(), key.e().to_bytes_be())),
            _ => None,
        }
    }
}

fn check_rsa_size(key: &RsaPublicKey) -> Result<(), String> {
    let bits = key.n().bits();
    if bits < RSA_MIN_BITS {
        return Err(format!(
            "RSA modulus of {bits} bits is below the {RSA_MIN_BITS}-bit minimum"
        ));
    }
    Ok(())
}

fn ecdsa_digest(algorithm: SignatureAlgorithm, message: &[u8]) -> Vec<u8> {
    match algorithm {
        SignatureAlgorithm::EcdsaSha384 => Sha384::digest(message).to_vec(),
        SignatureAlgorithm::EcdsaSha512 => Sha512::digest(message).to_vec(),
        _ => Sha256::digest(message).to_vec(),
    }
}

/// The signature scheme a COSE algorithm names for an attestation signature
/// (§8: the statement's `alg`), whatever the credential's own algorithm.
pub(crate) fn cose_signature_algorithm(alg: i64) -> Option<SignatureAlgorithm> {
    Some(match alg {
        -7 => SignatureAlgorithm::EcdsaSha256,
        -35 => SignatureAlgorithm::EcdsaSha384,
        -36 => SignatureAlgorithm::EcdsaSha512,
        -8 => SignatureAlgorithm::Ed25519,
        -257 => SignatureAlgorithm::RsaPkcs1Sha256,
        -258 => SignatureAlgorithm::RsaPkcs1Sha384,
        -259 => SignatureAlgorithm::RsaPkcs1Sha512,
        -65535 => SignatureAlgorithm::RsaPkcs1Sha1,
        _ => return None,
    })
}

/// Whether a COSE algorithm fits a key type: ES256 wants P-256, ES384
/// P-384, EdDSA Ed25519, the RS family RSA. (X.509 lets any ECDSA hash go
/// with any curve; COSE algorithms pin the curve.)
pub(crate) fn cose_algorithm_fits(alg: i64, key: &PublicKey) -> bool {
    matches!(
        (alg, key),
        (-7, PublicKey::P256(_))
            | (-35, PublicKey::P384(_))
            | (-8, PublicKey::Ed25519(_))
            | (-257 | -258 | -259 | -65535, PublicKey::Rsa(_))
    )
}

/// The signature scheme an X.509 `signatureAlgorithm` OID names. RSA-PSS
/// and SHA-1 are refused: no attestation root uses PSS, and a SHA-1
/// certificate signature can be forged by a chosen-prefix collision.
pub(crate) fn x509_signature_algorithm(oid: &str) -> Option<SignatureAlgorithm> {
    Some(match oid {
        "1.2.840.10045.4.3.2" => SignatureAlgorithm::EcdsaSha256,
        "1.2.840.10045.4.3.3" => SignatureAlgorithm::EcdsaSha384,
        "1.2.840.10045.4.3.4" => SignatureAlgorithm::EcdsaSha512,
        "1.3.101.112" => SignatureAlgorithm::Ed25519,
        "1.2.840.113549.1.1.11" => SignatureAlgorithm::RsaPkcs1Sha256,
        "1.2.840.113549.1.1.12" => SignatureAlgorithm::RsaPkcs1Sha384,
        "1.2.840.113549.1.1.13" => SignatureAlgorithm::RsaPkcs1Sha512,
        _ => return None,
    })
}
