//! Attestation trust anchors: the root (or intermediate) certificates whose
//! attestations the caller trusts, read from PEM text.
//!
//! One set serves every format; a deployment that wants, say, only Yubico's
//! root for `packed` and only Apple's for `apple` can check
//! [`crate::Attestation::format`] against the anchor it reports. Anchors
//! are trusted by configuration: they need not be self-signed or CA
//! certificates (a deployment may pin one attestation certificate), but they
//! must be valid at the `now` of a verification to count.

use sha2::{Digest as _, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer as _;

use crate::crypto::PublicKey;
use crate::{Error, Result};

/// One trust anchor, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    pub(crate) der: Vec<u8>,
    /// Lowercase hex SHA-256 of `der`.
    pub(crate) sha256: String,
    /// The raw DER of the subject name, compared byte for byte with
    /// issuers.
    pub(crate) subject: Vec<u8>,
    pub(crate) key: PublicKey,
}

/// A set of trusted attestation certificates.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    anchors: Vec<Anchor>,
}

impl TrustAnchors {
    /// No anchors: every certificate attestation verifies as untrusted.
    pub fn new() -> Self {
        TrustAnchors::default()
    }

    /// Read a bundle of PEM `CERTIFICATE` blocks. An error names the block
    /// (counting from 0) and what is wrong with it; text with no block at
    /// all is an error too, since it is almost always the wrong file.
    pub fn from_pem(text: &str) -> Result<Self> {
        let mut anchors = TrustAnchors::new();
        for (index, block) in Pem::iter_from_buffer(text.as_bytes()).enumerate() {
            let block = block.map_err(|e| Error::TrustAnchor {
                index,
                reason: format!("not PEM: {e}"),
            })?;
            if block.label != "CERTIFICATE" {
                return Err(Error::TrustAnchor {
                    index,
                    reason: format!("PEM block is {:?}, expected CERTIFICATE", block.label),
                });
            }
            anchors.add_der_at(&block.contents, index)?;
        }
        if anchors.is_empty() {
            return Err(Error::TrustAnchor {
                index: 0,
                reason: "the text holds no PEM CERTIFICATE block".into(),
            });
        }
        Ok(anchors)
    }

    /// Add one DER certificate.
    pub fn add_der(&mut self, der: &[u8]) -> Result<()> {
        self.add_der_at(der, self.anchors.len())
    }

    fn add_der_at(&mut self, der: &[u8], index: usize) -> Result<()> {
        let fail = |reason: String| Error::TrustAnchor { index, reason };
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|e| fail(format!("not a DER X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(fail(format!("{} bytes follow the certificate", rest.len())));
        }
        let key = PublicKey::from_spki_der(cert.public_key().raw)
            .map_err(|e| fail(format!("{} ({})", e, cert.subject())))?;
        let sha256 = hex::encode(Sha256::digest(der));
        if self.anchors.iter().any(|a| a.sha256 == sha256) {
            return Ok(());
        }
        self.anchors.push(Anchor {
            der: der.to_vec(),
            sha256,
            subject: cert.subject().as_raw().to_vec(),
            key,
        });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Lowercase hex SHA-256 of each anchor's DER, in the order added.
    pub fn fingerprints(&self) -> Vec<String> {
        self.anchors.iter().map(|a| a.sha256.clone()).collect()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Anchor> {
        self.anchors.iter()
    }
}
