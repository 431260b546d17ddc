//! A certificate authority for workloads, after Sigstore's Fulcio.
//!
//! A workload (a CI job, a release bot) proves who it is with an OIDC token;
//! the server then asks this crate to certify the workload's own Ed25519
//! public key for a few minutes. The certificate names the Countersign
//! identity in a URI SubjectAltName (`urn:countersign:identity:<handle>`)
//! and the OIDC issuer that vouched for it in Fulcio's registered
//! "Issuer (V2)" extension, so anyone holding the CA certificate can check
//! offline, with [`countersign_attest::x509::verify_chain`], who signed and
//! on whose word.
//!
//! The CA is a single self-signed Ed25519 root (pathlen 0) that signs leaves
//! directly. Every certificate this crate issues is checked with that same
//! offline verifier before it is returned, so the CA cannot hand out a
//! certificate an auditor would refuse.
//!
//! It deliberately does not: read the clock (validity times are
//! parameters), verify OIDC tokens or decide who may get a certificate (the
//! domain and the OIDC crate do), store keys or write files (the binary
//! does, with 0600 permissions), hold or see a workload's private key,
//! support intermediates, other key algorithms, revocation or Certificate
//! Transparency (leaves live minutes and every issuance belongs in the
//! transparency log, which is the caller's job).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_attest::x509::{self, X509Error, OIDC_ISSUER_V2_OID};
use ed25519_dalek::VerifyingKey;
use rand_core::{OsRng, RngCore as _};
use rcgen::string::{Ia5String, PrintableString};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PublicKeyData,
    SanType, SerialNumber, SignatureAlgorithm, PKCS_ED25519,
};
use time::{Duration, OffsetDateTime, UtcOffset};
use x509_parser::asn1_rs::Tag;
use x509_parser::extensions::ParsedExtension;
use x509_parser::x509::X509Name;

pub use countersign_attest::x509::IDENTITY_URI_PREFIX;

/// The CA certificate's Organization.
const ORGANIZATION: &str = "Countersign";

/// X.520 upper bound on a commonName (ub-common-name).
const MAX_COMMON_NAME: usize = 64;

/// Upper bound on the OIDC issuer URL we put in a certificate.
const MAX_OIDC_ISSUER: usize = 1024;

/// Why the CA refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("CA common name {0:?} must be 1 to 64 characters with no control characters")]
    InvalidCommonName(String),
    #[error(
        "identity handle {0:?} must be 1 to 128 characters from A-Z a-z 0-9 . _ - @ and not start with a dot"
    )]
    InvalidIdentity(String),
    #[error(
        "OIDC issuer {0:?} must be 1 to 1024 characters with no whitespace or control characters"
    )]
    InvalidOidcIssuer(String),
    #[error("subject public key is not a usable Ed25519 key: {0}")]
    InvalidPublicKey(&'static str),
    #[error("validity: {0}")]
    InvalidValidity(String),
    #[error(
        "requested validity {not_before} .. {not_after} is outside the CA certificate's {ca_not_before} .. {ca_not_after}"
    )]
    OutsideCaValidity {
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        ca_not_before: OffsetDateTime,
        ca_not_after: OffsetDateTime,
    },
    #[error("CA private key: {0}")]
    Key(String),
    #[error("CA certificate: {0}")]
    Certificate(#[from] X509Error),
    #[error("the CA private key does not match the CA certificate's public key")]
    KeyMismatch,
    #[error("CA certificate cannot be used to issue certificates: {0}")]
    UnusableCa(String),
    #[error("random number generator: {0}")]
    Random(String),
    #[error("certificate encoding: {0}")]
    Encoding(String),
    #[error("issued certificate failed offline verification (a CA bug): {0}")]
    SelfCheck(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// An Ed25519 certificate authority: its key and its self-signed certificate.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: Vec<u8>,
    fingerprint: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl fmt::Debug for CertificateAuthority {
    /// The key is never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("fingerprint", &self.fingerprint)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// What to certify: a workload's Ed25519 public key, for one identity, for
/// a window of time, on the word of one OIDC issuer.
#[derive(Debug, Clone, Copy)]
pub struct IssueRequest<'a> {
    /// The identity handle; it goes into the URI SubjectAltName and, when it
    /// fits (64 characters), the subject commonName.
    pub identity: &'a str,
    /// The workload's raw Ed25519 public key. The CA never sees the private
    /// key; the caller must already have checked possession of it.
    pub public_key: &'a [u8; 32],
    /// Start of validity; truncated to a whole second (X.509 has no finer
    /// resolution).
    pub not_before: OffsetDateTime,
    /// End of validity, inclusive; truncated to a whole second.
    pub not_after: OffsetDateTime,
    /// The OIDC issuer URL that authenticated the workload.
    pub oidc_issuer: &'a str,
}

/// A certificate the CA issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    pub pem: String,
    pub der: Vec<u8>,
    /// Lowercase hex of the serial number, as [`x509::inspect`] reports it.
    pub serial: String,
    /// Validity as written into the certificate (whole seconds, UTC).
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// The subject's public key, which the CA certifies but cannot sign with.
struct SubjectKey<'a>(&'a [u8; 32]);

impl PublicKeyData for SubjectKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ED25519
    }
}

impl CertificateAuthority {
    /// A new Ed25519 CA: self-signed, `CN = common_name, O = Countersign`,
    /// BasicConstraints CA:true pathlen 0 and KeyUsage keyCertSign + cRLSign
    /// (both critical), a SubjectKeyIdentifier, valid from one minute before
    /// `now` (to absorb clock skew) until `now + validity`.
    ///
    /// Answers the CA and its private key as PKCS#8 PEM; the caller stores
    /// the key with 0600 permissions.
    pub fn generate(
        common_name: &str,
        now: OffsetDateTime,
        validity: Duration,
    ) -> Result<(Self, String)> {
        if common_name.is_empty()
            || common_name.chars().count() > MAX_COMMON_NAME
            || common_name.chars().any(char::is_control)
        {
            return Err(Error::InvalidCommonName(common_name.to_string()));
        }
        if validity <= Duration::ZERO {
            return Err(Error::InvalidValidity(format!(
                "CA validity {validity} must be positive"
            )));
        }
        let out_of_range = || Error::InvalidValidity(format!("{now} + {validity} is out of range"));
        let not_before = certificate_time(
            now.checked_sub(Duration::minutes(1))
                .ok_or_else(out_of_range)?,
        )?;
        let not_after = certificate_time(now.checked_add(validity).ok_or_else(out_of_range)?)?;

        let key = KeyPair::generate_for(&PKCS_ED25519).map_err(|e| Error::Key(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(random_serial()?.0);
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, ORGANIZATION);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // KeyIdMethod::Sha256 (the default) makes the SubjectKeyIdentifier,
        // and the issuer derives the leaves' AuthorityKeyIdentifier the same way.
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = params.self_signed(&key).map_err(encoding)?;
        let key_pem = key.serialize_pem();
        let ca = Self::new(Issuer::new(params, key), cert.der().to_vec())?;
        Ok((ca, key_pem))
    }

    /// Load a CA from its PKCS#8 PEM Ed25519 private key and its certificate
    /// PEM. Fails if the key does not match the certificate, or if the pair
    /// cannot issue a certificate that [`x509::verify_chain`] accepts (for
    /// example, the certificate is not a self-signed CA).
    pub fn load(key_pem: &str, cert_pem: &str) -> Result<Self> {
        let key = KeyPair::from_pkcs8_pem_and_sign_algo(key_pem, &PKCS_ED25519)
            .map_err(|e| Error::Key(format!("not a PKCS#8 PEM Ed25519 private key: {e}")))?;
        let der = x509::pem_to_der(cert_pem)?;
        let info = x509::inspect(&der)?;
        if key.public_key_raw() != info.public_key.as_slice() {
            return Err(Error::KeyMismatch);
        }
        if !info.is_ca {
            return Err(Error::UnusableCa(
                "it lacks BasicConstraints CA:true".into(),
            ));
        }

        // The issuer name written into every leaf must be byte for byte the
        // CA's subject, so rebuild it from the certificate, and reuse the
        // CA's SubjectKeyIdentifier as the leaves' AuthorityKeyIdentifier.
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| Error::Certificate(X509Error::Malformed(e.to_string())))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(cert.subject())?;
        params.key_identifier_method = cert
            .extensions()
            .iter()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(ski) => {
                    Some(KeyIdMethod::PreSpecified(ski.0.to_vec()))
                }
                _ => None,
            })
            .unwrap_or(KeyIdMethod::Sha256);

        let ca = Self::new(Issuer::new(params, key), der)?;

        // Prove the pair works end to end: certify the CA's own key for the
        // CA's whole validity and let the offline verifier judge it.
        ca.issue(&IssueRequest {
            identity: "countersign-ca-load-check",
            public_key: &info.public_key,
            not_before: ca.not_before,
            not_after: ca.not_after,
            oidc_issuer: "urn:countersign:ca-load-check",
        })
        .map_err(|e| match e {
            Error::SelfCheck(why) => Error::UnusableCa(why),
            other => Error::UnusableCa(other.to_string()),
        })?;
        Ok(ca)
    }

    fn new(issuer: Issuer<'static, KeyPair>, cert_der: Vec<u8>) -> Result<Self> {
        let info = x509::inspect(&cert_der)?;
        Ok(Self {
            issuer,
            cert_pem: certificate_pem(&cert_der),
            fingerprint: info.fingerprint,
            not_before: info.not_before,
            not_after: info.not_after,
            cert_der,
        })
    }

    /// The CA certificate as PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate as DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Lowercase hex SHA-256 of the CA certificate DER.
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// Certify `req.public_key` for `req.identity`.
    ///
    /// The leaf has a random 128-bit serial; subject `CN = <handle>` (empty
    /// if the handle is longer than 64 characters, in which case the
    /// SubjectAltName is critical); SubjectAltName URI
    /// `urn:countersign:identity:<handle>`; KeyUsage digitalSignature
    /// (critical); ExtendedKeyUsage codeSigning; BasicConstraints CA:false;
    /// Subject and Authority Key Identifiers; the OIDC issuer in
    /// 1.3.6.1.4.1.57264.1.8 as a UTF8String. Validity is exactly
    /// `[not_before, not_after]` (whole seconds) and must lie within the
    /// CA's own validity.
    pub fn issue(&self, req: &IssueRequest<'_>) -> Result<IssuedCertificate> {
        check_handle(req.identity)?;
        check_oidc_issuer(req.oidc_issuer)?;
        let key = VerifyingKey::from_bytes(req.public_key)
            .map_err(|_| Error::InvalidPublicKey("not a valid Ed25519 point"))?;
        if key.is_weak() {
            return Err(Error::InvalidPublicKey(
                "a small-order key would accept forged signatures",
            ));
        }
        let not_before = certificate_time(req.not_before)?;
        let not_after = certificate_time(req.not_after)?;
        if not_after <= not_before {
            return Err(Error::InvalidValidity(format!(
                "not_after {not_after} must be later than not_before {not_before}"
            )));
        }
        if not_before < self.not_before || not_after > self.not_after {
            return Err(Error::OutsideCaValidity {
                not_before,
                not_after,
                ca_not_before: self.not_before,
                ca_not_after: self.not_after,
            });
        }

        let (serial_number, serial) = random_serial()?;
        let mut params = CertificateParams::default();
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(serial_number);
        params.distinguished_name = DistinguishedName::new();
        if req.identity.len() <= MAX_COMMON_NAME {
            params
                .distinguished_name
                .push(DnType::CommonName, req.identity);
        }
        let uri = Ia5String::try_from(format!("{IDENTITY_URI_PREFIX}{}", req.identity))
            .map_err(encoding)?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            OIDC_ISSUER_V2_OID,
            der_utf8_string(req.oidc_issuer)?,
        )];
        let cert = params
            .signed_by(&SubjectKey(req.public_key), &self.issuer)
            .map_err(encoding)?;
        let der = cert.der().to_vec();

        let info = x509::verify_chain(&der, &self.cert_der, not_before)
            .map_err(|e| Error::SelfCheck(e.to_string()))?;
        if info.identity.as_deref() != Some(req.identity)
            || info.oidc_issuer.as_deref() != Some(req.oidc_issuer)
            || &info.public_key != req.public_key
            || info.serial != serial
            || info.not_before != not_before
            || info.not_after != not_after
        {
            return Err(Error::SelfCheck(
                "the certificate does not say what was requested".into(),
            ));
        }

        Ok(IssuedCertificate {
            pem: certificate_pem(&der),
            der,
            serial,
            not_before,
            not_after,
        })
    }
}

/// Identity handles follow the domain's naming rule (`countersign-domain`
/// `check_name`), repeated here so the CA does not depend on the domain;
/// every such handle is a valid URN NSS.
fn check_handle(handle: &str) -> Result<()> {
    let ok = !handle.is_empty()
        && handle.len() <= 128
        && !handle.starts_with('.')
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidIdentity(handle.to_string()))
    }
}

fn check_oidc_issuer(issuer: &str) -> Result<()> {
    let ok = !issuer.is_empty()
        && issuer.len() <= MAX_OIDC_ISSUER
        && !issuer.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidOidcIssuer(issuer.to_string()))
    }
}

/// A time as X.509 can write it: UTC, whole seconds, year 1950 to 9999
/// (UTCTime, then GeneralizedTime).
fn certificate_time(t: OffsetDateTime) -> Result<OffsetDateTime> {
    let t = t
        .to_offset(UtcOffset::UTC)
        .replace_nanosecond(0)
        .map_err(|e| Error::InvalidValidity(e.to_string()))?;
    if (1950..=9999).contains(&t.year()) {
        Ok(t)
    } else {
        Err(Error::InvalidValidity(format!(
            "{t} is outside the years 1950 to 9999 that X.509 can express"
        )))
    }
}

/// A random positive 128-bit serial number and its lowercase hex (big-endian,
/// no leading zero octets, as the DER INTEGER holds it).
fn random_serial() -> Result<(SerialNumber, String)> {
    let mut bytes = [0u8; 16];
    // Zero is not a positive serial; redraw in the (2^-128) case.
    while bytes.iter().all(|b| *b == 0) {
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| Error::Random(e.to_string()))?;
    }
    let significant: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    Ok((SerialNumber::from_slice(&bytes), hex::encode(significant)))
}

/// DER encoding of a UTF8String (tag 12, definite length).
fn der_utf8_string(s: &str) -> Result<Vec<u8>> {
    let len = s.len();
    let mut out = vec![0x0c];
    if let Ok(short) = u8::try_from(len) {
        if short < 0x80 {
            out.push(short);
        } else {
            out.extend_from_slice(&[0x81, short]);
        }
    } else {
        let len = u16::try_from(len)
            .map_err(|_| Error::Encoding(format!("string of {len} bytes is too long")))?;
        out.push(0x82);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
    Ok(out)
}

/// Rebuild an X.509 name as rcgen values, refusing what rcgen cannot write
/// back identically (multi-valued RDNs, repeated attribute types, string
/// types other than UTF8String, PrintableString and IA5String).
fn distinguished_name(name: &X509Name<'_>) -> Result<DistinguishedName> {
    let unusable = |why: String| Error::UnusableCa(format!("subject {name}: {why}"));
    let mut dn = DistinguishedName::new();
    for rdn in name.iter_rdn() {
        let mut attributes = rdn.iter();
        let (Some(attribute), None) = (attributes.next(), attributes.next()) else {
            return Err(unusable("multi-valued RDNs are not supported".into()));
        };
        let oid: Vec<u64> = attribute
            .attr_type()
            .iter()
            .ok_or_else(|| unusable("attribute type OID is too large".into()))?
            .collect();
        let ty = DnType::from_oid(&oid);
        if dn.get(&ty).is_some() {
            return Err(unusable(format!(
                "attribute {} appears twice",
                attribute.attr_type()
            )));
        }
        let text = attribute
            .as_str()
            .map_err(|e| unusable(format!("attribute {}: {e}", attribute.attr_type())))?;
        let value = match attribute.attr_value().tag() {
            Tag::Utf8String => DnValue::Utf8String(text.to_string()),
            Tag::PrintableString => {
                DnValue::PrintableString(PrintableString::try_from(text).map_err(encoding)?)
            }
            Tag::Ia5String => DnValue::Ia5String(Ia5String::try_from(text).map_err(encoding)?),
            tag => return Err(unusable(format!("string type {tag} is not supported"))),
        };
        dn.push(ty, value);
    }
    Ok(dn)
}

fn certificate_pem(der: &[u8]) -> String {
    let body = B64.encode(der);
    let mut pem = String::with_capacity(body.len() + body.len() / 64 + 64);
    pem.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn encoding(e: rcgen::Error) -> Error {
    Error::Encoding(e.to_string())
}

#[cfg(test)]
mod tests;
