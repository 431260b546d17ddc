//! `apple` (§8.8): Apple's anonymization CA issues a certificate for the
//! credential key whose extension 1.2.840.113635.100.8.2 holds
//! `SHA-256(authenticatorData || clientDataHash)`.

use sha2::{Digest as _, Sha256};
use x509_parser::asn1_rs::{Class, Tag};

use super::{der, Attestation, AttestationKind, Inputs, Statement};
use crate::Result;

const OID_APPLE_NONCE: &str = "1.2.840.113635.100.8.2";

pub(super) fn verify(mut stmt: Statement, inputs: &Inputs<'_>) -> Result<Attestation> {
    let x5c = stmt.x5c()?;
    let chain = stmt.chain(&x5c)?;
    let leaf = &chain[0];

    let expected: [u8; 32] = Sha256::digest(inputs.signed_data()).into();
    let (value, _critical) = leaf
        .extension(OID_APPLE_NONCE)
        .map_err(|e| stmt.fail(e))?
        .ok_or_else(|| stmt.fail("the credential certificate has no nonce extension"))?;
    let nonce = nonce(value).map_err(|e| stmt.fail(format!("nonce extension: {e}")))?;
    if nonce != expected {
        return Err(stmt
            .fail("the certificate's nonce is not SHA-256(authenticatorData || clientDataHash)"));
    }
    if leaf.key != *inputs.credential.public_key.public_key() {
        return Err(stmt.fail("the credential certificate's key is not the credential public key"));
    }

    stmt.certified(AttestationKind::AnonCa, &chain, &x5c, inputs)
}

/// `SEQUENCE { [1] EXPLICIT OCTET STRING }`, the layout Apple uses.
fn nonce(value: &[u8]) -> std::result::Result<&[u8], String> {
    let (body, rest) = der::expect(value, Tag::Sequence, "nonce")?;
    if !rest.is_empty() {
        return Err(format!("{} bytes follow the SEQUENCE", rest.len()));
    }
    let (tagged, rest) = der::item(body)?;
    if tagged.class() != Class::ContextSpecific || tagged.tag().0 != 1 || !rest.is_empty() {
        return Err("expected exactly one [1] item".into());
    }
    der::octet_string(tagged.data)
}
