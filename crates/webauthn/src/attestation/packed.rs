//! `packed` (§8.2): self attestation without `x5c`, basic/AttCA with it.

use super::{certs, Attestation, AttestationKind, Inputs, Statement, Trust};
use crate::Result;

/// The subject OU §8.2.1 requires of a packed attestation certificate.
const ATTESTATION_OU: &str = "Authenticator Attestation";

pub(super) fn verify(mut stmt: Statement, inputs: &Inputs<'_>) -> Result<Attestation> {
    let alg = stmt.int("alg")?;
    let sig = stmt.bytes("sig")?;
    let signed = inputs.signed_data();

    if !stmt.has("x5c") {
        // Self attestation: the credential key signs, with its own algorithm.
        let credential_alg = inputs.credential.public_key.algorithm();
        if alg != credential_alg.id() {
            return Err(stmt.fail(format!(
                "self attestation alg {alg} is not the credential's algorithm {credential_alg}"
            )));
        }
        inputs
            .credential
            .public_key
            .verify(&signed, &sig)
            .map_err(|_| stmt.fail("the self-attestation signature does not verify"))?;
        return Ok(Attestation {
            format: stmt.format(),
            kind: AttestationKind::SelfAttestation,
            trust: Trust::NoCertificates,
            certificates: Vec::new(),
        });
    }

    let x5c = stmt.x5c()?;
    let chain = stmt.chain(&x5c)?;
    let leaf = &chain[0];
    stmt.verify_by_certificate(
        alg,
        leaf,
        "attestation",
        &signed,
        &sig,
        "attestation signature",
    )?;
    check_leaf(leaf).map_err(|e| stmt.fail(e))?;
    leaf.check_aaguid(&inputs.credential.aaguid.0)
        .map_err(|e| stmt.fail(e))?;
    stmt.certified(AttestationKind::Basic, &chain, &x5c, inputs)
}

/// §8.2.1: version 3; subject C, O, OU = "Authenticator Attestation" and
/// CN; not a CA.
fn check_leaf(leaf: &certs::Cert<'_>) -> std::result::Result<(), String> {
    leaf.require_v3()?;
    let subject = leaf.x509.subject();
    let has = |count: usize, name: &str| {
        if count == 0 {
            Err(format!(
                "the attestation certificate's subject has no {name}"
            ))
        } else {
            Ok(())
        }
    };
    has(subject.iter_country().count(), "C")?;
    has(subject.iter_organization().count(), "O")?;
    has(subject.iter_common_name().count(), "CN")?;
    let ou_ok = subject
        .iter_organizational_unit()
        .any(|ou| ou.as_str().is_ok_and(|ou| ou == ATTESTATION_OU));
    if !ou_ok {
        return Err(format!(
            "the attestation certificate's subject OU is not {ATTESTATION_OU:?}"
        ));
    }
    leaf.require_not_ca()
}
