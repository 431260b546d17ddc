//! `fido-u2f` (§8.6): a U2F security key's registration signature, kept for
//! the many older keys that still produce it.

use super::{Attestation, AttestationKind, Inputs, Statement};
use crate::cose::KeyParams;
use crate::crypto::{PublicKey, SignatureAlgorithm};
use crate::Result;

pub(super) fn verify(mut stmt: Statement, inputs: &Inputs<'_>) -> Result<Attestation> {
    let sig = stmt.bytes("sig")?;
    let x5c = stmt.x5c()?;
    if x5c.len() != 1 {
        return Err(stmt.fail(format!(
            "x5c must hold exactly one certificate, it holds {}",
            x5c.len()
        )));
    }
    let chain = stmt.chain(&x5c)?;
    let cert = &chain[0];
    if !matches!(cert.key, PublicKey::P256(_)) {
        return Err(stmt.fail(format!(
            "the attestation certificate's key is {}, U2F requires EC P-256",
            cert.key.kind()
        )));
    }
    let KeyParams::Ec2 { x, y } = inputs.credential.public_key.params() else {
        return Err(stmt.fail("U2F credentials are ES256 keys"));
    };

    // The U2F registration response's signed data (U2F Raw Message Formats
    // §4.3): 0x00 || application || challenge || key handle || user key.
    let mut data = Vec::with_capacity(1 + 32 + 32 + inputs.credential.credential_id.len() + 65);
    data.push(0x00);
    data.extend_from_slice(&inputs.auth_data.rp_id_hash);
    data.extend_from_slice(&inputs.client_data_hash);
    data.extend_from_slice(&inputs.credential.credential_id);
    data.push(0x04);
    data.extend_from_slice(x);
    data.extend_from_slice(y);
    cert.key
        .verify(SignatureAlgorithm::EcdsaSha256, &data, &sig)
        .map_err(|e| stmt.fail(format!("registration signature: {e}")))?;

    stmt.certified(AttestationKind::Basic, &chain, &x5c, inputs)
}
