//! Attestation certificates: parsing, the checks formats share, and the
//! walk from the leaf to a trust anchor.
//!
//! The walk is deliberately narrower than RFC 5280 path building: `x5c`
//! is taken as the path, in order (leaf first, each certificate issued by
//! the next), and it ends where a certificate is itself a trust anchor or
//! is signed by one. Issuers inside `x5c` must be CA certificates allowed to
//! sign certificates. Names are compared byte for byte, name constraints,
//! policies and path lengths are not evaluated, and revocation is not
//! checked (no IO); attestation chains are short and vendor-issued, and the
//! FIDO Metadata Service, not CRLs, is where compromised models are listed.

use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer as _;
use x509_parser::time::ASN1Time;
use x509_parser::x509::X509Version;

use super::der;
use super::Trust;
use crate::crypto::{x509_signature_algorithm, PublicKey};
use crate::trust::{Anchor, TrustAnchors};

/// The most certificates accepted in one `x5c`: real chains hold two to
/// four, and each costs a signature check.
pub(crate) const MAX_CHAIN: usize = 8;

/// `id-fido-gen-ce-aaguid`: the AAGUID an attestation certificate is for.
const OID_FIDO_AAGUID: &str = "1.3.6.1.4.1.45724.1.1.4";

/// A parsed certificate with its key.
pub(crate) struct Cert<'a> {
    pub(crate) der: &'a [u8],
    pub(crate) x509: X509Certificate<'a>,
    pub(crate) key: PublicKey,
}

/// Parse every certificate of `x5c`; any that does not parse (or holds a
/// key of a type this crate cannot use) is an error naming its position.
pub(crate) fn parse_chain(ders: &[Vec<u8>]) -> Result<Vec<Cert<'_>>, String> {
    ders.iter()
        .enumerate()
        .map(|(i, der)| parse(der).map_err(|e| format!("x5c[{i}]: {e}")))
        .collect()
}

fn parse(der: &[u8]) -> Result<Cert<'_>, String> {
    let (rest, x509) =
        X509Certificate::from_der(der).map_err(|e| format!("not a DER X.509 certificate: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes follow the certificate", rest.len()));
    }
    let key = PublicKey::from_spki_der(x509.public_key().raw)?;
    Ok(Cert { der, x509, key })
}

impl Cert<'_> {
    pub(crate) fn require_v3(&self) -> Result<(), String> {
        if self.x509.version() != X509Version::V3 {
            return Err(format!(
                "certificate is X.509 {}, the format requires v3",
                self.x509.version()
            ));
        }
        Ok(())
    }

    /// BasicConstraints CA must be false (an absent extension means false,
    /// as RFC 5280 says).
    pub(crate) fn require_not_ca(&self) -> Result<(), String> {
        let bc = self
            .x509
            .basic_constraints()
            .map_err(|e| format!("basicConstraints: {e}"))?;
        if bc.is_some_and(|bc| bc.value.ca) {
            return Err("the attestation certificate is a CA (basicConstraints CA true)".into());
        }
        Ok(())
    }

    /// The raw value (the DER inside extnValue) of the extension with
    /// `oid`, refusing a certificate that carries it twice.
    pub(crate) fn extension(&self, oid: &str) -> Result<Option<(&[u8], bool)>, String> {
        let mut found = None;
        for ext in self.x509.extensions() {
            if ext.oid.to_id_string() == oid {
                if found.is_some() {
                    return Err(format!("extension {oid} appears twice"));
                }
                found = Some((ext.value, ext.critical));
            }
        }
        Ok(found)
    }

    /// If the certificate names an AAGUID (`id-fido-gen-ce-aaguid`, a
    /// non-critical OCTET STRING of 16 bytes), it must be `aaguid`.
    pub(crate) fn check_aaguid(&self, aaguid: &[u8; 16]) -> Result<(), String> {
        let Some((value, critical)) = self.extension(OID_FIDO_AAGUID)? else {
            return Ok(());
        };
        if critical {
            return Err("the id-fido-gen-ce-aaguid extension must not be critical".into());
        }
        let inner = der::octet_string(value)
            .map_err(|e| format!("id-fido-gen-ce-aaguid extension: {e}"))?;
        if inner != aaguid {
            return Err(format!(
                "the certificate is for AAGUID {}, the authenticator data says {}",
                hex::encode(inner),
                hex::encode(aaguid)
            ));
        }
        Ok(())
    }
}

/// Walk `chain` (leaf first) to a trust anchor valid at `now`.
///
/// `Err` is for a chain that is broken in itself: a certificate not issued
/// by the next one, an issuer that is no CA, a signature that does not
/// verify. Reaching no anchor, or a certificate outside its validity at
/// `now`, is `Ok(Trust::Untrusted)`.
pub(crate) fn trust(
    chain: &[Cert<'_>],
    anchors: &TrustAnchors,
    now: OffsetDateTime,
) -> Result<Trust, String> {
    for (i, cert) in chain.iter().enumerate() {
        let fingerprint = hex::encode(Sha256::digest(cert.der));
        if let Some(anchor) = anchors.iter().find(|a| a.sha256 == fingerprint) {
            return Ok(anchored(&chain[..=i], None, anchor, now));
        }
        for anchor in anchors
            .iter()
            .filter(|a| a.subject == cert.x509.issuer().as_raw())
        {
            if verify_issued_by(cert, &anchor.key).is_ok() {
                return Ok(anchored(&chain[..=i], Some(anchor), anchor, now));
            }
        }
        let Some(issuer) = chain.get(i + 1) else {
            break;
        };
        if cert.x509.issuer().as_raw() != issuer.x509.subject().as_raw() {
            return Err(format!(
                "x5c[{i}] is issued by {:?}, but x5c[{}] is {:?}",
                cert.x509.issuer().to_string(),
                i + 1,
                issuer.x509.subject().to_string()
            ));
        }
        check_can_issue(issuer).map_err(|e| format!("x5c[{}]: {e}", i + 1))?;
        verify_issued_by(cert, &issuer.key)
            .map_err(|e| format!("x5c[{i}] is not signed by x5c[{}]: {e}", i + 1))?;
    }
    let last = chain.last().map(|c| c.x509.issuer().to_string());
    Ok(Trust::Untrusted {
        reason: format!(
            "the chain ends at issuer {:?}, which is not a configured trust anchor",
            last.unwrap_or_default()
        ),
    })
}

/// The outcome once a path reached `anchor`: trusted if every certificate
/// on it (and the anchor, when it is the issuer rather than part of `x5c`)
/// is valid at `now` and carries no critical extension this crate does not
/// understand.
fn anchored(
    path: &[Cert<'_>],
    issuing_anchor: Option<&Anchor>,
    anchor: &Anchor,
    now: OffsetDateTime,
) -> Trust {
    let at = ASN1Time::from(now);
    for (i, cert) in path.iter().enumerate() {
        if !cert.x509.validity().is_valid_at(at) {
            return Trust::Untrusted {
                reason: format!(
                    "x5c[{i}] ({}) is valid from {} to {}, not at {now}",
                    cert.x509.subject(),
                    cert.x509.validity().not_before,
                    cert.x509.validity().not_after
                ),
            };
        }
        if let Some(oid) = unknown_critical_extension(&cert.x509) {
            return Trust::Untrusted {
                reason: format!("x5c[{i}] has a critical extension {oid} that is not understood"),
            };
        }
    }
    if let Some(anchor) = issuing_anchor {
        if let Ok((_, cert)) = X509Certificate::from_der(&anchor.der) {
            if !cert.validity().is_valid_at(at) {
                return Trust::Untrusted {
                    reason: format!(
                        "trust anchor {} ({}) is not valid at {now}",
                        anchor.sha256,
                        cert.subject()
                    ),
                };
            }
        }
    }
    Trust::Trusted {
        anchor_sha256: anchor.sha256.clone(),
    }
}

fn unknown_critical_extension(cert: &X509Certificate<'_>) -> Option<String> {
    cert.extensions()
        .iter()
        .find(|ext| {
            ext.critical
                && matches!(
                    ext.parsed_extension(),
                    ParsedExtension::UnsupportedExtension { .. }
                )
        })
        .map(|ext| ext.oid.to_id_string())
}

/// An issuer inside `x5c` must be a CA whose key usage, if stated, allows
/// certificate signing; otherwise any attestation key holder could mint
/// certificates for keys of its choosing.
fn check_can_issue(issuer: &Cert<'_>) -> Result<(), String> {
    let bc = issuer
        .x509
        .basic_constraints()
        .map_err(|e| format!("basicConstraints: {e}"))?;
    if !bc.is_some_and(|bc| bc.value.ca) {
        return Err("it issues a certificate but is not a CA (basicConstraints)".into());
    }
    let ku = issuer
        .x509
        .key_usage()
        .map_err(|e| format!("keyUsage: {e}"))?;
    if ku.is_some_and(|ku| !ku.value.key_cert_sign()) {
        return Err("it issues a certificate but its keyUsage lacks keyCertSign".into());
    }
    Ok(())
}

/// Verify `cert`'s signature over its TBSCertificate with `issuer_key`.
fn verify_issued_by(cert: &Cert<'_>, issuer_key: &PublicKey) -> Result<(), String> {
    let oid = cert.x509.signature_algorithm.algorithm.to_id_string();
    let algorithm = x509_signature_algorithm(&oid)
        .ok_or_else(|| format!("signature algorithm {oid} is not supported"))?;
    issuer_key.verify(
        algorithm,
        cert.x509.tbs_certificate.as_ref(),
        &cert.x509.signature_value.data,
    )
}
