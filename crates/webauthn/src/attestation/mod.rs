//! Attestation objects (§6.5) and the verification procedures of the
//! attestation statement formats (§8).
//!
//! Each format's procedure answers the attestation type and trust path;
//! this module then walks the trust path to the caller's anchors. The split
//! between error and result follows one rule: anything the authenticator
//! signed or structured wrongly is an [`Error::Attestation`]; a statement
//! that verifies but whose certificates reach no trusted anchor (unknown
//! vendor, anchor not configured, certificate expired at `now`) is an
//! [`Attestation`] with [`Trust::Untrusted`], because what to make of it is
//! the caller's policy.

mod android_key;
mod apple;
mod certs;
mod der;
mod fido_u2f;
mod packed;
mod tpm;

#[cfg(test)]
mod tests;

use std::fmt;

use ciborium::value::Value;
use time::OffsetDateTime;

use crate::authdata::{AttestedCredentialData, AuthenticatorData};
use crate::cbor;
use crate::trust::TrustAnchors;
use crate::{Error, Result};

/// An attestation statement format (§8, the IANA registry's identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AttestationFormat {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "packed")]
    Packed,
    #[serde(rename = "tpm")]
    Tpm,
    #[serde(rename = "android-key")]
    AndroidKey,
    #[serde(rename = "apple")]
    Apple,
    #[serde(rename = "fido-u2f")]
    FidoU2f,
}

impl AttestationFormat {
    /// The format identifier as it appears in `fmt`.
    pub fn identifier(self) -> &'static str {
        match self {
            AttestationFormat::None => "none",
            AttestationFormat::Packed => "packed",
            AttestationFormat::Tpm => "tpm",
            AttestationFormat::AndroidKey => "android-key",
            AttestationFormat::Apple => "apple",
            AttestationFormat::FidoU2f => "fido-u2f",
        }
    }

    fn from_identifier(fmt: &str) -> Option<Self> {
        // Identifiers are matched case-sensitively (§8.1).
        Some(match fmt {
            "none" => AttestationFormat::None,
            "packed" => AttestationFormat::Packed,
            "tpm" => AttestationFormat::Tpm,
            "android-key" => AttestationFormat::AndroidKey,
            "apple" => AttestationFormat::Apple,
            "fido-u2f" => AttestationFormat::FidoU2f,
            _ => return None,
        })
    }
}

impl fmt::Display for AttestationFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.identifier())
    }
}

/// The attestation type (§6.5.3) the statement conveys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestationKind {
    /// No attestation (`none`).
    None,
    /// Signed by the credential key itself (`packed` without `x5c`): proves
    /// possession of the key, says nothing about the authenticator.
    SelfAttestation,
    /// Signed by an attestation key certified for an authenticator model
    /// (`packed` with `x5c`, `android-key`, `fido-u2f`). Basic and AttCA
    /// cannot be told apart without metadata; both are reported as this.
    Basic,
    /// Signed by a TPM attestation identity key certified by a CA (`tpm`).
    AttCa,
    /// A certificate for the credential key issued by an anonymization CA
    /// (`apple`).
    AnonCa,
}

/// Where the attestation's certificates lead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "trust")]
pub enum Trust {
    /// The chain reached this trust anchor, every certificate on the way
    /// valid at `now`.
    Trusted {
        /// Lowercase hex SHA-256 of the anchor's DER.
        anchor_sha256: String,
    },
    /// The statement verified, but its chain reached no trust anchor that
    /// was valid at `now`; `reason` says where it stopped.
    Untrusted { reason: String },
    /// `none` or self attestation: there is no certificate to chain.
    NoCertificates,
}

/// What a verified attestation statement says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    pub format: AttestationFormat,
    pub kind: AttestationKind,
    pub trust: Trust,
    /// The `x5c` certificates (DER) as sent, leaf first; empty for `none`
    /// and self attestation.
    pub certificates: Vec<Vec<u8>>,
}

impl Attestation {
    /// Whether the chain reached a trust anchor.
    pub fn is_trusted(&self) -> bool {
        matches!(self.trust, Trust::Trusted { .. })
    }

    /// The SHA-256 (lowercase hex) of the anchor the chain reached, if any.
    pub fn trusted_anchor(&self) -> Option<&str> {
        match &self.trust {
            Trust::Trusted { anchor_sha256 } => Some(anchor_sha256),
            _ => None,
        }
    }
}

/// The three members of an attestation object (§6.5.4).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttestationObject {
    pub(crate) fmt: String,
    pub(crate) att_stmt: Value,
    /// The exact authenticator data bytes the statement signs.
    pub(crate) auth_data: Vec<u8>,
}

impl AttestationObject {
    /// Parse a CBOR attestation object: a map with `fmt` (text), `attStmt`
    /// (map) and `authData` (bytes), nothing after it. Other members are
    /// ignored.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "attestation object";
        let value = cbor::decode_exact(bytes, WHAT)?;
        let mut entries = cbor::text_map(value, WHAT)?;
        let fmt = match cbor::take(&mut entries, "fmt".to_string()) {
            Some(Value::Text(fmt)) => fmt,
            Some(_) => return Err(Error::malformed(WHAT, "fmt is not a text string")),
            None => return Err(Error::malformed(WHAT, "fmt is missing")),
        };
        let att_stmt = match cbor::take(&mut entries, "attStmt".to_string()) {
            Some(stmt @ Value::Map(_)) => stmt,
            Some(_) => return Err(Error::malformed(WHAT, "attStmt is not a map")),
            None => return Err(Error::malformed(WHAT, "attStmt is missing")),
        };
        let auth_data = match cbor::take(&mut entries, "authData".to_string()) {
            Some(Value::Bytes(bytes)) => bytes,
            Some(_) => return Err(Error::malformed(WHAT, "authData is not a byte string")),
            None => return Err(Error::malformed(WHAT, "authData is missing")),
        };
        Ok(AttestationObject {
            fmt,
            att_stmt,
            auth_data,
        })
    }
}

/// Everything a verification procedure looks at.
pub(crate) struct Inputs<'a> {
    pub(crate) auth_data_bytes: &'a [u8],
    pub(crate) auth_data: &'a AuthenticatorData,
    pub(crate) credential: &'a AttestedCredentialData,
    pub(crate) client_data_hash: [u8; 32],
    pub(crate) anchors: &'a TrustAnchors,
    pub(crate) now: OffsetDateTime,
    pub(crate) android_software_enforced: bool,
}

impl Inputs<'_> {
    /// `authenticatorData || clientDataHash`: what most statements sign.
    pub(crate) fn signed_data(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(self.auth_data_bytes.len() + 32);
        data.extend_from_slice(self.auth_data_bytes);
        data.extend_from_slice(&self.client_data_hash);
        data
    }
}

/// Run the verification procedure of `fmt` on `att_stmt`.
pub(crate) fn verify(fmt: &str, att_stmt: Value, inputs: &Inputs<'_>) -> Result<Attestation> {
    let format = AttestationFormat::from_identifier(fmt)
        .ok_or_else(|| Error::UnsupportedAttestationFormat(fmt.to_string()))?;
    let stmt = Statement::new(format, att_stmt)?;
    match format {
        AttestationFormat::None => {
            if !stmt.is_empty() {
                return Err(Error::attestation(format, "attStmt must be an empty map"));
            }
            Ok(Attestation {
                format,
                kind: AttestationKind::None,
                trust: Trust::NoCertificates,
                certificates: Vec::new(),
            })
        }
        AttestationFormat::Packed => packed::verify(stmt, inputs),
        AttestationFormat::Tpm => tpm::verify(stmt, inputs),
        AttestationFormat::AndroidKey => android_key::verify(stmt, inputs),
        AttestationFormat::Apple => apple::verify(stmt, inputs),
        AttestationFormat::FidoU2f => fido_u2f::verify(stmt, inputs),
    }
}

/// An attestation statement's members, read one by one. Members a format
/// does not define are ignored: the formats' CDDL is open to extension.
pub(crate) struct Statement {
    format: AttestationFormat,
    entries: Vec<(String, Value)>,
}

impl Statement {
    fn new(format: AttestationFormat, value: Value) -> Result<Self> {
        let entries = cbor::text_map(value, "attestation statement")
            .map_err(|e| Error::attestation(format, e.to_string()))?;
        Ok(Statement { format, entries })
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn fail(&self, reason: impl Into<String>) -> Error {
        Error::attestation(self.format, reason)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        cbor::take(&mut self.entries, key.to_string())
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    pub(crate) fn int(&mut self, key: &str) -> Result<i64> {
        match self.take(key) {
            Some(value) => {
                cbor::int(&value).ok_or_else(|| self.fail(format!("{key} is not an integer")))
            }
            None => Err(self.fail(format!("{key} is missing"))),
        }
    }

    pub(crate) fn bytes(&mut self, key: &str) -> Result<Vec<u8>> {
        match self.take(key) {
            Some(Value::Bytes(bytes)) => Ok(bytes),
            Some(_) => Err(self.fail(format!("{key} is not a byte string"))),
            None => Err(self.fail(format!("{key} is missing"))),
        }
    }

    pub(crate) fn text(&mut self, key: &str) -> Result<String> {
        match self.take(key) {
            Some(Value::Text(text)) => Ok(text),
            Some(_) => Err(self.fail(format!("{key} is not a text string"))),
            None => Err(self.fail(format!("{key} is missing"))),
        }
    }

    /// `x5c`: a non-empty array of DER certificates, at most
    /// [`certs::MAX_CHAIN`] of them.
    pub(crate) fn x5c(&mut self) -> Result<Vec<Vec<u8>>> {
        let Some(value) = self.take("x5c") else {
            return Err(self.fail("x5c is missing"));
        };
        let Value::Array(items) = value else {
            return Err(self.fail("x5c is not an array"));
        };
        if items.is_empty() {
            return Err(self.fail("x5c is empty"));
        }
        if items.len() > certs::MAX_CHAIN {
            return Err(self.fail(format!(
                "x5c holds {} certificates, more than the {} accepted",
                items.len(),
                certs::MAX_CHAIN
            )));
        }
        items
            .into_iter()
            .map(|item| match item {
                Value::Bytes(der) => Ok(der),
                _ => Err(self.fail("an x5c element is not a byte string")),
            })
            .collect()
    }

    pub(crate) fn format(&self) -> AttestationFormat {
        self.format
    }

    /// The parsed `x5c` chain, leaf first; never empty, so `chain[0]` is
    /// the leaf.
    pub(crate) fn chain<'a>(&self, x5c: &'a [Vec<u8>]) -> Result<Vec<certs::Cert<'a>>> {
        let chain = certs::parse_chain(x5c).map_err(|e| self.fail(e))?;
        if chain.is_empty() {
            return Err(self.fail("x5c is empty"));
        }
        Ok(chain)
    }

    /// Check `sig` over `msg` by `cert` (`whose` certificate, as the
    /// message names it) under the COSE algorithm `alg`, which must fit the
    /// certificate's key.
    pub(crate) fn verify_by_certificate(
        &self,
        alg: i64,
        cert: &certs::Cert<'_>,
        whose: &str,
        msg: &[u8],
        sig: &[u8],
        what: &str,
    ) -> Result<()> {
        let algorithm = crate::crypto::cose_signature_algorithm(alg)
            .ok_or_else(|| self.fail(format!("attestation algorithm {alg} is not supported")))?;
        if !crate::crypto::cose_algorithm_fits(alg, &cert.key) {
            return Err(self.fail(format!(
                "alg {alg} does not fit the {whose} certificate's {} key",
                cert.key.kind()
            )));
        }
        cert.key
            .verify(algorithm, msg, sig)
            .map_err(|e| self.fail(format!("{what}: {e}")))
    }

    /// The attestation of a format whose own checks passed: its chain
    /// judged against the trust anchors.
    pub(crate) fn certified(
        &self,
        kind: AttestationKind,
        chain: &[certs::Cert<'_>],
        x5c: &[Vec<u8>],
        inputs: &Inputs<'_>,
    ) -> Result<Attestation> {
        let trust = certs::trust(chain, inputs.anchors, inputs.now).map_err(|e| self.fail(e))?;
        Ok(Attestation {
            format: self.format,
            kind,
            trust,
            certificates: x5c.to_vec(),
        })
    }
}
