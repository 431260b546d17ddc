//! Offline checks of Fulcio-style short-lived workload certificates.
//!
//! A workload signs with an Ed25519 key certified for a few minutes by the
//! Countersign CA (crate `countersign-ca`). This module reads such a
//! certificate ([`inspect`]) and checks that it chains to a given CA
//! certificate at a given time ([`verify_chain`]), with nothing but the two
//! certificates: no server, no network, no clock.
//!
//! The certificate profile follows Fulcio's: the identity is a URI
//! SubjectAltName (`urn:countersign:identity:<handle>`), the OIDC issuer that
//! vouched for the workload is in Fulcio's "Issuer (V2)" extension
//! (1.3.6.1.4.1.57264.1.8, a DER UTF8String), the leaf has the codeSigning
//! extended key usage and digitalSignature key usage.
//!
//! It deliberately does not: build paths through intermediates (the CA signs
//! leaves directly), check revocation (leaves live minutes, which is the
//! point of short-lived certificates), accept any algorithm but Ed25519, or
//! match names other than byte for byte (the leaf's issuer must be encoded
//! exactly as the CA's subject, which is what our CA produces). It verifies
//! signatures with `ed25519-dalek`'s `verify_strict` over the raw
//! TBSCertificate bytes, so it needs no `ring` and x509-parser's `verify`
//! feature stays off.

use std::collections::HashSet;
use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_SIG_ED25519, OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_BASIC_CONSTRAINTS,
    OID_X509_EXT_EXTENDED_KEY_USAGE, OID_X509_EXT_KEY_USAGE, OID_X509_EXT_SUBJECT_ALT_NAME,
    OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
};
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer as _;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo, X509Version};

/// The URI SubjectAltName prefix naming a Countersign identity; the identity
/// handle follows it.
pub const IDENTITY_URI_PREFIX: &str = "urn:countersign:identity:";

/// Fulcio's registered "Issuer (V2)" extension: the OIDC issuer that
/// authenticated the subject, as a DER UTF8String.
pub const OIDC_ISSUER_V2_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 8];

/// The dotted form of [`OIDC_ISSUER_V2_OID`].
const OIDC_ISSUER_V2_DOTTED: &str = "1.3.6.1.4.1.57264.1.8";

/// What a certificate says, once parsed and checked for shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Serial number: lowercase hex of its big-endian magnitude, without
    /// leading zero octets.
    pub serial: String,
    /// The subject's first commonName, if any.
    pub subject_cn: Option<String>,
    /// The identity handle from the `urn:countersign:identity:` URI
    /// SubjectAltName, if there is one.
    pub identity: Option<String>,
    /// The OIDC issuer from Fulcio's Issuer (V2) extension, if present.
    pub oidc_issuer: Option<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The subject's raw Ed25519 public key.
    pub public_key: [u8; 32],
    /// BasicConstraints says CA:true.
    pub is_ca: bool,
    /// ExtendedKeyUsage includes codeSigning.
    pub code_signing: bool,
    /// Lowercase hex SHA-256 of the certificate DER.
    pub fingerprint: String,
}

/// Which certificate of a chain an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leaf,
    Ca,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Leaf => "leaf",
            Role::Ca => "CA",
        })
    }
}

/// Why a certificate was refused.
///
/// This module has its own error type rather than new variants of
/// [`crate::Error`]: certificate failures are many and specific, and callers
/// that only check envelopes should not have to match them.
#[derive(Debug, thiserror::Error)]
pub enum X509Error {
    #[error("PEM: {0}")]
    Pem(String),
    #[error("not a DER X.509 certificate: {0}")]
    Malformed(String),
    #[error("{0} bytes follow the certificate's DER encoding")]
    TrailingBytes(usize),
    #[error("certificate is X.509 {0}; only v3 is accepted")]
    Version(String),
    #[error("subject public key algorithm is {0}; only Ed25519 (1.3.101.112) is accepted")]
    KeyAlgorithm(String),
    #[error("Ed25519 subject public key is malformed: {0}")]
    KeyEncoding(String),
    #[error("extension: {0}")]
    Extension(String),
    #[error("critical extension {0} is not understood")]
    UnhandledCriticalExtension(String),
    #[error("{role} certificate is invalid: {source}")]
    Certificate {
        role: Role,
        #[source]
        source: Box<X509Error>,
    },
    #[error(
        "{role} certificate is signed with {algorithm}; only Ed25519 (1.3.101.112) is accepted"
    )]
    SignatureAlgorithm { role: Role, algorithm: String },
    #[error("{0} certificate's signature is not a 64-byte Ed25519 signature")]
    SignatureEncoding(Role),
    #[error("CA certificate is not self-issued: issuer {issuer:?}, subject {subject:?}")]
    CaNotSelfIssued { issuer: String, subject: String },
    #[error("CA certificate's self-signature does not verify with its own key")]
    CaBadSignature,
    #[error("CA certificate lacks BasicConstraints CA:true")]
    NotCa,
    #[error("CA certificate's KeyUsage does not allow keyCertSign")]
    CaKeyUsage,
    #[error("leaf issuer {leaf_issuer:?} is not the CA subject {ca_subject:?}")]
    WrongIssuer {
        leaf_issuer: String,
        ca_subject: String,
    },
    #[error("leaf signature does not verify with the CA key")]
    BadSignature,
    #[error("leaf AuthorityKeyIdentifier {leaf} does not match the CA SubjectKeyIdentifier {ca}")]
    KeyIdMismatch { leaf: String, ca: String },
    #[error("leaf certificate is a CA (BasicConstraints CA:true)")]
    LeafIsCa,
    #[error("leaf KeyUsage does not allow digitalSignature")]
    NoDigitalSignature,
    #[error("leaf ExtendedKeyUsage does not include codeSigning")]
    NotCodeSigning,
    #[error("{role} certificate is not valid until {not_before} (checked at {at})")]
    NotYetValid {
        role: Role,
        not_before: OffsetDateTime,
        at: OffsetDateTime,
    },
    #[error("{role} certificate expired at {not_after} (checked at {at})")]
    Expired {
        role: Role,
        not_after: OffsetDateTime,
        at: OffsetDateTime,
    },
}

pub type Result<T> = std::result::Result<T, X509Error>;

/// Decode PEM text holding exactly one `CERTIFICATE` block into DER.
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>> {
    let blocks = Pem::iter_from_buffer(pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| X509Error::Pem(e.to_string()))?;
    match blocks.as_slice() {
        [block] if block.label == "CERTIFICATE" => Ok(block.contents.clone()),
        [block] => Err(X509Error::Pem(format!(
            "block is {:?}, expected CERTIFICATE",
            block.label
        ))),
        blocks => Err(X509Error::Pem(format!(
            "found {} PEM blocks, expected exactly one CERTIFICATE",
            blocks.len()
        ))),
    }
}

/// Parse a DER certificate and read what it says.
///
/// Refuses anything but a single v3 certificate with an Ed25519 subject key,
/// well-formed unique extensions and no critical extension this module does
/// not understand. It does not check signatures or validity times; that is
/// [`verify_chain`]'s job.
pub fn inspect(der: &[u8]) -> Result<CertificateInfo> {
    let cert = parse(der)?;
    info(&cert, der)
}

/// Verify that `leaf` was issued by `ca` and that both are valid at `at`;
/// answer what the leaf says.
///
/// The CA must be a self-signed Ed25519 CA certificate (BasicConstraints
/// CA:true, KeyUsage keyCertSign). The leaf's issuer must be the CA's
/// subject, its Ed25519 signature over its TBSCertificate must verify with
/// the CA key, and it must be an end-entity code-signing certificate
/// (not a CA, digitalSignature, codeSigning). Validity windows are inclusive
/// at both ends, as X.509 defines them.
pub fn verify_chain(leaf_der: &[u8], ca_der: &[u8], at: OffsetDateTime) -> Result<CertificateInfo> {
    let in_role = |role: Role| {
        move |e: X509Error| X509Error::Certificate {
            role,
            source: Box::new(e),
        }
    };

    let ca = parse(ca_der).map_err(in_role(Role::Ca))?;
    let ca_info = info(&ca, ca_der).map_err(in_role(Role::Ca))?;
    let ca_key = verifying_key(&ca_info.public_key).map_err(in_role(Role::Ca))?;
    check_signature_algorithm(&ca, Role::Ca)?;
    if ca.issuer().as_raw() != ca.subject().as_raw() {
        return Err(X509Error::CaNotSelfIssued {
            issuer: ca.issuer().to_string(),
            subject: ca.subject().to_string(),
        });
    }
    if !signature_verifies(&ca, &ca_key, Role::Ca)? {
        return Err(X509Error::CaBadSignature);
    }
    if !ca_info.is_ca {
        return Err(X509Error::NotCa);
    }
    let ca_key_usage = ca
        .key_usage()
        .map_err(|e| X509Error::Certificate {
            role: Role::Ca,
            source: Box::new(X509Error::Extension(e.to_string())),
        })?
        .map(|ku| ku.value.key_cert_sign());
    if ca_key_usage != Some(true) {
        return Err(X509Error::CaKeyUsage);
    }

    let leaf = parse(leaf_der).map_err(in_role(Role::Leaf))?;
    let leaf_info = info(&leaf, leaf_der).map_err(in_role(Role::Leaf))?;
    check_signature_algorithm(&leaf, Role::Leaf)?;
    if leaf.issuer().as_raw() != ca.subject().as_raw() {
        return Err(X509Error::WrongIssuer {
            leaf_issuer: leaf.issuer().to_string(),
            ca_subject: ca.subject().to_string(),
        });
    }
    if !signature_verifies(&leaf, &ca_key, Role::Leaf)? {
        return Err(X509Error::BadSignature);
    }
    // The signature already proves the CA key issued the leaf; a mismatched
    // key identifier would mean the CA wrote inconsistent metadata, which is
    // worth refusing rather than carrying into evidence.
    if let (Some(leaf_aki), Some(ca_ski)) = (authority_key_id(&leaf), subject_key_id(&ca)) {
        if leaf_aki != ca_ski {
            return Err(X509Error::KeyIdMismatch {
                leaf: hex::encode(leaf_aki),
                ca: hex::encode(ca_ski),
            });
        }
    }
    if leaf_info.is_ca {
        return Err(X509Error::LeafIsCa);
    }
    let leaf_key_usage = leaf
        .key_usage()
        .map_err(|e| X509Error::Certificate {
            role: Role::Leaf,
            source: Box::new(X509Error::Extension(e.to_string())),
        })?
        .map(|ku| ku.value.digital_signature());
    if leaf_key_usage != Some(true) {
        return Err(X509Error::NoDigitalSignature);
    }
    if !leaf_info.code_signing {
        return Err(X509Error::NotCodeSigning);
    }

    check_validity(&ca_info, Role::Ca, at)?;
    check_validity(&leaf_info, Role::Leaf, at)?;
    Ok(leaf_info)
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| X509Error::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(X509Error::TrailingBytes(rest.len()));
    }
    if cert.version() != X509Version::V3 {
        return Err(X509Error::Version(cert.version().to_string()));
    }
    Ok(cert)
}

fn info(cert: &X509Certificate<'_>, der: &[u8]) -> Result<CertificateInfo> {
    let public_key = ed25519_key(cert.public_key())?;
    check_extensions(cert)?;

    let subject_cn = match cert.subject().iter_common_name().next() {
        Some(cn) => Some(
            cn.as_str()
                .map_err(|e| X509Error::Malformed(format!("subject commonName: {e}")))?
                .to_string(),
        ),
        None => None,
    };

    let mut identities = Vec::new();
    if let Some(san) = cert
        .subject_alternative_name()
        .map_err(|e| X509Error::Extension(format!("subjectAltName: {e}")))?
    {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name {
                if let Some(handle) = uri.strip_prefix(IDENTITY_URI_PREFIX) {
                    identities.push(handle.to_string());
                }
            }
        }
    }
    if identities.len() > 1 {
        return Err(X509Error::Extension(format!(
            "subjectAltName names {} Countersign identities; at most one is allowed",
            identities.len()
        )));
    }
    let identity = identities.pop();
    if identity.as_deref() == Some("") {
        return Err(X509Error::Extension(
            "subjectAltName identity URI has an empty handle".into(),
        ));
    }

    let oidc_issuer = match cert
        .extensions()
        .iter()
        .find(|ext| ext.oid.to_id_string() == OIDC_ISSUER_V2_DOTTED)
    {
        Some(ext) => Some(oidc_issuer(ext.value)?),
        None => None,
    };

    let extended_key_usage = cert
        .extended_key_usage()
        .map_err(|e| X509Error::Extension(format!("extendedKeyUsage: {e}")))?;
    let basic_constraints = cert
        .basic_constraints()
        .map_err(|e| X509Error::Extension(format!("basicConstraints: {e}")))?;

    let serial = cert
        .raw_serial()
        .iter()
        .skip_while(|b| **b == 0)
        .copied()
        .collect::<Vec<u8>>();
    let serial = if serial.is_empty() {
        "00".to_string()
    } else {
        hex::encode(serial)
    };

    Ok(CertificateInfo {
        serial,
        subject_cn,
        identity,
        oidc_issuer,
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        public_key,
        is_ca: basic_constraints.is_some_and(|bc| bc.value.ca),
        code_signing: extended_key_usage.is_some_and(|eku| eku.value.code_signing),
        fingerprint: hex::encode(Sha256::digest(der)),
    })
}

/// The raw key of an Ed25519 SubjectPublicKeyInfo (RFC 8410: no parameters,
/// a 32-byte BIT STRING).
fn ed25519_key(spki: &SubjectPublicKeyInfo<'_>) -> Result<[u8; 32]> {
    if spki.algorithm.algorithm != OID_SIG_ED25519 {
        return Err(X509Error::KeyAlgorithm(
            spki.algorithm.algorithm.to_id_string(),
        ));
    }
    if spki.algorithm.parameters.is_some() {
        return Err(X509Error::KeyEncoding(
            "algorithm parameters must be absent".into(),
        ));
    }
    if spki.subject_public_key.unused_bits != 0 {
        return Err(X509Error::KeyEncoding("BIT STRING has unused bits".into()));
    }
    let data: &[u8] = &spki.subject_public_key.data;
    data.try_into()
        .map_err(|_| X509Error::KeyEncoding(format!("{} bytes, expected 32", data.len())))
}

fn verifying_key(raw: &[u8; 32]) -> Result<VerifyingKey> {
    let key = VerifyingKey::from_bytes(raw)
        .map_err(|_| X509Error::KeyEncoding("not a valid Ed25519 point".into()))?;
    if key.is_weak() {
        return Err(X509Error::KeyEncoding(
            "a small-order (weak) Ed25519 key cannot sign".into(),
        ));
    }
    Ok(key)
}

/// Extensions must be unique (RFC 5280 4.2), those x509-parser knows must
/// parse, and a critical one must be one this module acts on.
fn check_extensions(cert: &X509Certificate<'_>) -> Result<()> {
    let understood = [
        &OID_X509_EXT_BASIC_CONSTRAINTS,
        &OID_X509_EXT_KEY_USAGE,
        &OID_X509_EXT_EXTENDED_KEY_USAGE,
        &OID_X509_EXT_SUBJECT_ALT_NAME,
        &OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
        &OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER,
    ];
    let mut seen = HashSet::new();
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        if !seen.insert(oid.clone()) {
            return Err(X509Error::Extension(format!(
                "{oid} appears more than once"
            )));
        }
        if let Some(e) = ext.parsed_extension().error() {
            return Err(X509Error::Extension(format!("{oid} is malformed: {e}")));
        }
        if ext.critical && !understood.contains(&&ext.oid) && oid != OIDC_ISSUER_V2_DOTTED {
            return Err(X509Error::UnhandledCriticalExtension(oid));
        }
    }
    Ok(())
}

/// Fulcio's Issuer (V2) extension value: a DER UTF8String.
fn oidc_issuer(value: &[u8]) -> Result<String> {
    let (rest, issuer) = <&str>::from_der(value)
        .map_err(|e| X509Error::Extension(format!("OIDC issuer is not a DER UTF8String: {e}")))?;
    if !rest.is_empty() {
        return Err(X509Error::Extension(
            "OIDC issuer extension has trailing bytes".into(),
        ));
    }
    Ok(issuer.to_string())
}

fn authority_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })
}

fn subject_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0),
            _ => None,
        })
}

/// Both AlgorithmIdentifiers (outer and inside the TBSCertificate) must be
/// Ed25519 without parameters; RFC 5280 requires them to be equal.
fn check_signature_algorithm(cert: &X509Certificate<'_>, role: Role) -> Result<()> {
    let is_ed25519 = |alg: &AlgorithmIdentifier<'_>| {
        alg.algorithm == OID_SIG_ED25519 && alg.parameters.is_none()
    };
    for alg in [&cert.signature_algorithm, &cert.tbs_certificate.signature] {
        if !is_ed25519(alg) {
            return Err(X509Error::SignatureAlgorithm {
                role,
                algorithm: alg.algorithm.to_id_string(),
            });
        }
    }
    Ok(())
}

/// Whether `cert`'s signature over its raw TBSCertificate verifies with
/// `key`; an error only when the signature is not even shaped like one.
fn signature_verifies(cert: &X509Certificate<'_>, key: &VerifyingKey, role: Role) -> Result<bool> {
    if cert.signature_value.unused_bits != 0 {
        return Err(X509Error::SignatureEncoding(role));
    }
    let signature = Signature::from_slice(&cert.signature_value.data)
        .map_err(|_| X509Error::SignatureEncoding(role))?;
    Ok(key
        .verify_strict(cert.tbs_certificate.as_ref(), &signature)
        .is_ok())
}

fn check_validity(info: &CertificateInfo, role: Role, at: OffsetDateTime) -> Result<()> {
    if at < info.not_before {
        return Err(X509Error::NotYetValid {
            role,
            not_before: info.not_before,
            at,
        });
    }
    if at > info.not_after {
        return Err(X509Error::Expired {
            role,
            not_after: info.not_after,
            at,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_needs_exactly_one_certificate_block() {
        let block = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_to_der(block).unwrap(), vec![1, 2, 3]);
        assert!(matches!(pem_to_der(""), Err(X509Error::Pem(_))));
        assert!(matches!(
            pem_to_der(&format!("{block}{block}")),
            Err(X509Error::Pem(_))
        ));
        let key = "-----BEGIN PRIVATE KEY-----\nAQID\n-----END PRIVATE KEY-----\n";
        assert!(matches!(pem_to_der(key), Err(X509Error::Pem(_))));
    }

    // Made by OpenSSL 3 (`openssl req -x509` and `openssl x509 -req`, Ed25519
    // keys, the Countersign leaf profile through an extension file), so the
    // verifier is checked against an independent producer.
    const CA: &str = include_str!("../testdata/x509/ca.pem");
    const LEAF: &str = include_str!("../testdata/x509/leaf.pem");
    const P256: &str = include_str!("../testdata/x509/p256.pem");

    #[test]
    fn openssl_vectors_verify() {
        let ca = pem_to_der(CA).unwrap();
        let leaf = pem_to_der(LEAF).unwrap();
        let at = inspect(&leaf).unwrap().not_before;
        let info = verify_chain(&leaf, &ca, at).unwrap();
        assert_eq!(info.serial, "0100");
        assert_eq!(info.identity.as_deref(), Some("vector-bot"));
        assert_eq!(info.subject_cn.as_deref(), Some("vector-bot"));
        assert_eq!(info.oidc_issuer.as_deref(), Some("https://issuer.example"));
        assert!(info.code_signing && !info.is_ca);
        assert_eq!(
            info.fingerprint,
            "6c330defb809314a9fea5840553362605221ada5f1cd073832e457e812ef3408"
        );

        // OpenSSL made both in the same second, so the CA is the first
        // certificate found not yet valid.
        let before = at - time::Duration::seconds(1);
        assert!(matches!(
            verify_chain(&leaf, &ca, before),
            Err(X509Error::NotYetValid { role: Role::Ca, .. })
        ));
        assert!(matches!(
            verify_chain(&ca, &ca, at),
            Err(X509Error::LeafIsCa)
        ));
        assert!(matches!(
            verify_chain(&leaf, &leaf, at),
            Err(X509Error::CaNotSelfIssued { .. })
        ));

        let mut forged = leaf.clone();
        let handle = forged.windows(10).position(|w| w == b"vector-bot").unwrap();
        forged[handle] = b'V';
        assert!(matches!(
            verify_chain(&forged, &ca, at),
            Err(X509Error::BadSignature)
        ));
    }

    #[test]
    fn only_ed25519_keys_are_accepted() {
        let p256 = pem_to_der(P256).unwrap();
        assert!(
            matches!(inspect(&p256), Err(X509Error::KeyAlgorithm(oid)) if oid == "1.2.840.10045.2.1")
        );
        let ca = pem_to_der(CA).unwrap();
        let at = inspect(&ca).unwrap().not_before;
        assert!(matches!(
            verify_chain(&p256, &ca, at),
            Err(X509Error::Certificate {
                role: Role::Leaf,
                ..
            })
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            inspect(b"not a certificate"),
            Err(X509Error::Malformed(_))
        ));
        assert!(matches!(inspect(&[]), Err(X509Error::Malformed(_))));
    }
}
