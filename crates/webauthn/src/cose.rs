//! Credential public keys as COSE_Key (RFC 9052 §7, RFC 9053): the three
//! algorithms this crate verifies.
//!
//! - EC2 (kty 2), curve P-256 (crv 1), ES256 (alg -7): 32-byte x and y,
//!   a point on the curve.
//! - OKP (kty 1), curve Ed25519 (crv 6), EdDSA (alg -8): a 32-byte x that
//!   decompresses and is not of small order.
//! - RSA (kty 3), RS256 (alg -257): n of 2048 to 8192 bits, e.
//!
//! Anything else, or a combination that does not fit (an EC2 key with alg
//! -8, a P-384 key), is refused. The exact CBOR bytes are kept: a relying
//! party stores what the authenticator sent, and [`CosePublicKey::from_cose`]
//! reads them back.

use std::fmt;

use ciborium::value::Value;

use crate::cbor;
use crate::crypto::{PublicKey, SignatureAlgorithm};
use crate::{Error, Result};

const WHAT: &str = "COSE key";

// COSE labels and values (RFC 9052 §7.1, RFC 9053 §7).
const LABEL_KTY: i128 = 1;
const LABEL_ALG: i128 = 3;
const LABEL_CRV_OR_N: i128 = -1;
const LABEL_X_OR_E: i128 = -2;
const LABEL_Y: i128 = -3;
const KTY_OKP: i64 = 1;
const KTY_EC2: i64 = 2;
const KTY_RSA: i64 = 3;
const CRV_P256: i64 = 1;
const CRV_ED25519: i64 = 6;

/// A credential algorithm this crate verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CoseAlgorithm {
    /// EdDSA over Ed25519 (COSE -8).
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// ECDSA over P-256 with SHA-256 (COSE -7).
    #[serde(rename = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (COSE -257).
    #[serde(rename = "RS256")]
    Rs256,
}

impl CoseAlgorithm {
    /// Every supported algorithm, in the order creation options offer them.
    pub const ALL: [CoseAlgorithm; 3] = [
        CoseAlgorithm::EdDsa,
        CoseAlgorithm::Es256,
        CoseAlgorithm::Rs256,
    ];

    /// The COSE algorithm identifier.
    pub fn id(self) -> i64 {
        match self {
            CoseAlgorithm::EdDsa => -8,
            CoseAlgorithm::Es256 => -7,
            CoseAlgorithm::Rs256 => -257,
        }
    }

    pub fn from_id(id: i64) -> Result<Self> {
        match id {
            -8 => Ok(CoseAlgorithm::EdDsa),
            -7 => Ok(CoseAlgorithm::Es256),
            -257 => Ok(CoseAlgorithm::Rs256),
            other => Err(Error::UnsupportedAlgorithm(other)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CoseAlgorithm::EdDsa => "EdDSA",
            CoseAlgorithm::Es256 => "ES256",
            CoseAlgorithm::Rs256 => "RS256",
        }
    }

    pub(crate) fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            CoseAlgorithm::EdDsa => SignatureAlgorithm::Ed25519,
            CoseAlgorithm::Es256 => SignatureAlgorithm::EcdsaSha256,
            CoseAlgorithm::Rs256 => SignatureAlgorithm::RsaPkcs1Sha256,
        }
    }
}

impl fmt::Display for CoseAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A credential public key: its exact COSE_Key bytes and the key they hold.
#[derive(Clone, PartialEq, Eq)]
pub struct CosePublicKey {
    bytes: Vec<u8>,
    algorithm: CoseAlgorithm,
    key: PublicKey,
    /// The coordinates or RSA parts as the COSE_Key gave them, for the
    /// comparisons attestation formats make (TPM `unique`, U2F's raw point).
    params: KeyParams,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyParams {
    Ec2 { x: [u8; 32], y: [u8; 32] },
    Okp { x: [u8; 32] },
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl fmt::Debug for CosePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosePublicKey")
            .field("algorithm", &self.algorithm)
            .field("cose", &hex::encode(&self.bytes))
            .finish()
    }
}

impl CosePublicKey {
    /// Parse stored COSE_Key bytes: exactly one CBOR map, nothing after it.
    pub fn from_cose(bytes: &[u8]) -> Result<Self> {
        let value = cbor::decode_exact(bytes, WHAT)?;
        Self::from_value(value, bytes)
    }

    /// The exact COSE_Key bytes, as the authenticator encoded them.
    pub fn cose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn algorithm(&self) -> CoseAlgorithm {
        self.algorithm
    }

    /// Verify a signature made with this key's algorithm over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        self.key
            .verify(self.algorithm.signature_algorithm(), message, signature)
            .map_err(|_| Error::BadSignature)
    }

    pub(crate) fn public_key(&self) -> &PublicKey {
        &self.key
    }

    pub(crate) fn params(&self) -> &KeyParams {
        &self.params
    }

    /// Interpret a decoded COSE_Key whose encoding is `bytes`.
    pub(crate) fn from_value(value: Value, bytes: &[u8]) -> Result<Self> {
        let mut entries = cbor::int_map(value, WHAT)?;
        let kty = take_int(&mut entries, LABEL_KTY, "kty")?;
        let alg = take_int(&mut entries, LABEL_ALG, "alg")?;
        let algorithm = CoseAlgorithm::from_id(alg)?;

        let (key, params) = match (kty, algorithm) {
            (KTY_EC2, CoseAlgorithm::Es256) => {
                let crv = take_int(&mut entries, LABEL_CRV_OR_N, "crv")?;
                if crv != CRV_P256 {
                    return Err(Error::InvalidKey(format!(
                        "ES256 needs curve P-256 (1), the key says crv {crv}"
                    )));
                }
                let x = take_fixed::<32>(&mut entries, LABEL_X_OR_E, "x")?;
                let y = take_y(&mut entries)?;
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| {
                    Error::InvalidKey("the EC2 point is not on the P-256 curve".into())
                })?;
                (PublicKey::P256(key), KeyParams::Ec2 { x, y })
            }
            (KTY_OKP, CoseAlgorithm::EdDsa) => {
                let crv = take_int(&mut entries, LABEL_CRV_OR_N, "crv")?;
                if crv != CRV_ED25519 {
                    return Err(Error::InvalidKey(format!(
                        "EdDSA is supported on Ed25519 (6) only, the key says crv {crv}"
                    )));
                }
                let x = take_fixed::<32>(&mut entries, LABEL_X_OR_E, "x")?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| Error::InvalidKey("x is not an Ed25519 point encoding".into()))?;
                // A small-order key lets one signature verify for many
                // messages; no honest authenticator produces one.
                if key.is_weak() {
                    return Err(Error::InvalidKey("the Ed25519 key has small order".into()));
                }
                (PublicKey::Ed25519(key), KeyParams::Okp { x })
            }
            (KTY_RSA, CoseAlgorithm::Rs256) => {
                let n = take_bytes(&mut entries, LABEL_CRV_OR_N, "n")?;
                let e = take_bytes(&mut entries, LABEL_X_OR_E, "e")?;
                let key = PublicKey::rsa(&n, &e).map_err(Error::InvalidKey)?;
                let (n, e) = key.rsa_parts().unwrap_or_default();
                (key, KeyParams::Rsa { n, e })
            }
            (kty, algorithm) => {
                return Err(Error::InvalidKey(format!(
                    "key type {kty} does not go with algorithm {algorithm}"
                )))
            }
        };

        // Other labels (kid, key_ops, base IV) are allowed by COSE and carry
        // nothing this crate needs; labels that belong to another key type's
        // parameters are refused since they mean the key is not what its
        // kty says.
        if let Some((label, _)) = entries.iter().find(|(label, _)| *label < 0) {
            return Err(Error::InvalidKey(format!(
                "unexpected key parameter {label} for {algorithm}"
            )));
        }

        Ok(CosePublicKey {
            bytes: bytes.to_vec(),
            algorithm,
            key,
            params,
        })
    }

    /// Build a COSE_Key in the canonical CTAP2 encoding (the test kit's
    /// authenticator, and tests, need to encode keys as authenticators do).
    #[cfg(any(test, feature = "testkit"))]
    pub(crate) fn encode_ec2(x: &[u8; 32], y: &[u8; 32]) -> Result<Self> {
        let value = Value::Map(vec![
            (cbor::integer(1), cbor::integer(KTY_EC2)),
            (cbor::integer(3), cbor::integer(-7)),
            (cbor::integer(-1), cbor::integer(CRV_P256)),
            (cbor::integer(-2), Value::Bytes(x.to_vec())),
            (cbor::integer(-3), Value::Bytes(y.to_vec())),
        ]);
        Self::from_cose(&cbor::encode(&value)?)
    }

    #[cfg(any(test, feature = "testkit"))]
    pub(crate) fn encode_okp(x: &[u8; 32]) -> Result<Self> {
        let value = Value::Map(vec![
            (cbor::integer(1), cbor::integer(KTY_OKP)),
            (cbor::integer(3), cbor::integer(-8)),
            (cbor::integer(-1), cbor::integer(CRV_ED25519)),
            (cbor::integer(-2), Value::Bytes(x.to_vec())),
        ]);
        Self::from_cose(&cbor::encode(&value)?)
    }
}

fn take_int(entries: &mut Vec<(i128, Value)>, label: i128, name: &str) -> Result<i64> {
    let value = cbor::take(entries, label)
        .ok_or_else(|| Error::InvalidKey(format!("{name} ({label}) is missing")))?;
    cbor::int(&value)
        .ok_or_else(|| Error::InvalidKey(format!("{name} ({label}) is not an integer")))
}

fn take_bytes(entries: &mut Vec<(i128, Value)>, label: i128, name: &str) -> Result<Vec<u8>> {
    match cbor::take(entries, label) {
        Some(Value::Bytes(bytes)) => Ok(bytes),
        Some(_) => Err(Error::InvalidKey(format!(
            "{name} ({label}) is not a byte string"
        ))),
        None => Err(Error::InvalidKey(format!("{name} ({label}) is missing"))),
    }
}

fn take_fixed<const N: usize>(
    entries: &mut Vec<(i128, Value)>,
    label: i128,
    name: &str,
) -> Result<[u8; N]> {
    let bytes = take_bytes(entries, label, name)?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| Error::InvalidKey(format!("{name} is {} bytes, expected {N}", bytes.len())))
}

/// The EC2 y coordinate. COSE also allows a boolean (the sign bit of a
/// compressed point), which WebAuthn authenticators never send; refusing it
/// keeps one encoding per key.
fn take_y(entries: &mut Vec<(i128, Value)>) -> Result<[u8; 32]> {
    if matches!(
        entries.iter().find(|(l, _)| *l == LABEL_Y),
        Some((_, Value::Bool(_)))
    ) {
        return Err(Error::InvalidKey(
            "compressed EC2 points (boolean y) are not accepted".into(),
        ));
    }
    take_fixed::<32>(entries, LABEL_Y, "y")
}

#[cfg(test)]
mod tests {
    use ciborium::value::Value;

    use super::*;

    fn encode(entries: Vec<(i64, Value)>) -> Vec<u8> {
        let map = Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (cbor::integer(k), v))
                .collect(),
        );
        cbor::encode(&map).unwrap()
    }

    fn point() -> ([u8; 32], [u8; 32]) {
        let key = p256::ecdsa::SigningKey::from_bytes(&[5u8; 32].into()).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        ((*point.x().unwrap()).into(), (*point.y().unwrap()).into())
    }

    fn ec2(kty: i64, alg: i64, crv: i64, x: &[u8], y: Value) -> Vec<u8> {
        encode(vec![
            (1, cbor::integer(kty)),
            (3, cbor::integer(alg)),
            (-1, cbor::integer(crv)),
            (-2, Value::Bytes(x.to_vec())),
            (-3, y),
        ])
    }

    fn invalid(bytes: &[u8]) -> String {
        match CosePublicKey::from_cose(bytes) {
            Err(Error::InvalidKey(reason)) => reason,
            other => panic!("expected InvalidKey, got {other:?}"),
        }
    }

    #[test]
    fn es256_key_keeps_its_exact_bytes() {
        let (x, y) = point();
        // Labels in a non-canonical order: the bytes are kept as sent.
        let bytes = encode(vec![
            (-3, Value::Bytes(y.to_vec())),
            (1, cbor::integer(2)),
            (-2, Value::Bytes(x.to_vec())),
            (3, cbor::integer(-7)),
            (-1, cbor::integer(1)),
            // kid: allowed and ignored.
            (2, Value::Bytes(b"kid".to_vec())),
        ]);
        let key = CosePublicKey::from_cose(&bytes).unwrap();
        assert_eq!(key.cose_bytes(), bytes.as_slice());
        assert_eq!(key.algorithm(), CoseAlgorithm::Es256);
        let canonical = CosePublicKey::encode_ec2(&x, &y).unwrap();
        assert_ne!(canonical.cose_bytes(), key.cose_bytes());
        assert_eq!(canonical.public_key(), key.public_key());
    }

    #[test]
    fn mismatched_or_malformed_keys_are_refused() {
        let (x, y) = point();
        let y_value = || Value::Bytes(y.to_vec());
        assert!(invalid(&ec2(2, -8, 1, &x, y_value())).contains("does not go with"));
        assert!(invalid(&ec2(1, -7, 1, &x, y_value())).contains("does not go with"));
        assert!(invalid(&ec2(3, -7, 1, &x, y_value())).contains("does not go with"));
        assert!(invalid(&ec2(2, -7, 2, &x, y_value())).contains("P-256"));
        assert!(invalid(&ec2(2, -7, 1, &x[..31], y_value())).contains("31 bytes"));
        assert!(invalid(&ec2(2, -7, 1, &x, Value::Bytes(vec![0; 33]))).contains("33 bytes"));
        assert!(invalid(&ec2(2, -7, 1, &x, Value::Bool(true))).contains("compressed"));
        let mut off_curve = y;
        off_curve[31] ^= 1;
        assert!(
            invalid(&ec2(2, -7, 1, &x, Value::Bytes(off_curve.to_vec())))
                .contains("not on the P-256 curve")
        );
        // A private key parameter (d, -4) must never be accepted as a
        // public key.
        let with_d = encode(vec![
            (1, cbor::integer(2)),
            (3, cbor::integer(-7)),
            (-1, cbor::integer(1)),
            (-2, Value::Bytes(x.to_vec())),
            (-3, y_value()),
            (-4, Value::Bytes(vec![1; 32])),
        ]);
        assert!(invalid(&with_d).contains("-4"));
        let no_kty = encode(vec![(3, cbor::integer(-7))]);
        assert!(invalid(&no_kty).contains("kty"));
        let text_kty = encode(vec![(1, Value::Text("EC2".into())), (3, cbor::integer(-7))]);
        assert!(invalid(&text_kty).contains("not an integer"));
    }

    #[test]
    fn unsupported_algorithms_and_non_keys() {
        let (x, y) = point();
        assert_eq!(
            CosePublicKey::from_cose(&ec2(2, -35, 2, &x, Value::Bytes(y.to_vec()))),
            Err(Error::UnsupportedAlgorithm(-35))
        );
        assert!(matches!(
            CosePublicKey::from_cose(&cbor::encode(&Value::Array(vec![])).unwrap()),
            Err(Error::Malformed { .. })
        ));
        let duplicate = [0xa2, 0x01, 0x02, 0x01, 0x02];
        assert!(matches!(
            CosePublicKey::from_cose(&duplicate),
            Err(Error::Malformed { reason, .. }) if reason.contains("duplicate")
        ));
        let text_label = cbor::encode(&Value::Map(vec![(
            Value::Text("kty".into()),
            cbor::integer(2),
        )]))
        .unwrap();
        assert!(matches!(
            CosePublicKey::from_cose(&text_label),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn ed25519_keys() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        let good = CosePublicKey::encode_okp(key.verifying_key().as_bytes()).unwrap();
        assert_eq!(good.algorithm(), CoseAlgorithm::EdDsa);
        let okp = |crv: i64, x: &[u8]| {
            encode(vec![
                (1, cbor::integer(1)),
                (3, cbor::integer(-8)),
                (-1, cbor::integer(crv)),
                (-2, Value::Bytes(x.to_vec())),
            ])
        };
        // Ed448 (crv 7) with the polymorphic EdDSA identifier.
        assert!(invalid(&okp(7, &[1; 57])).contains("Ed25519"));
        // The identity point has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(invalid(&okp(6, &identity)).contains("small order"));
        assert!(invalid(&okp(6, &[1; 31])).contains("31 bytes"));
    }

    #[test]
    fn rsa_keys() {
        let rsa = |n: &[u8], e: &[u8]| {
            encode(vec![
                (1, cbor::integer(3)),
                (3, cbor::integer(-257)),
                (-1, Value::Bytes(n.to_vec())),
                (-2, Value::Bytes(e.to_vec())),
            ])
        };
        // 1024 bits is too small.
        let mut n = vec![0xc5; 128];
        n[127] |= 1;
        assert!(invalid(&rsa(&n, &[1, 0, 1])).contains("below"));
        let mut n = vec![0xc5; 256];
        n[255] |= 1;
        let key = CosePublicKey::from_cose(&rsa(&n, &[1, 0, 1])).unwrap();
        assert_eq!(key.algorithm(), CoseAlgorithm::Rs256);
        assert_eq!(key.verify(b"message", &[0; 256]), Err(Error::BadSignature));
    }
}
