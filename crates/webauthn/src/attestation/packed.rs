//! `packed` (§8.2): self attestation without `x5c`, basic/AttCA with it.

use super::{certs, Attestation, AttestationKind, Inputs, Statement, Trust};
use crate::crypto::{cose_algorithm_fits, cose_signature_algorithm};
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
            aaguid: inputs.credential.aaguid,
            certificates: Vec::new(),
        });
    }

    let x5c = stmt.x5c()?;
    let chain = certs::parse_chain(&x5c).map_err(|e| stmt.fail(e))?;
    let leaf = chain.first().ok_or_else(|| stmt.fail("x5c is empty"))?;
    let algorithm = cose_signature_algorithm(alg)
        .ok_or_else(|| stmt.fail(format!("attestation algorithm {alg} is not supported")))?;
    if !cose_algorithm_fits(alg, &leaf.key) {
        return Err(stmt.fail(format!(
            "alg {alg} does not fit the attestation certificate's {} key",
            leaf.key.kind()
        )));
    }
    leaf.key
        .verify(algorithm, &signed, &sig)
        .map_err(|e| stmt.fail(format!("attestation signature: {e}")))?;
    check_leaf(leaf).map_err(|e| stmt.fail(e))?;
    leaf.check_aaguid(&inputs.credential.aaguid.0)
        .map_err(|e| stmt.fail(e))?;
    let trust = certs::trust(&chain, inputs.anchors, inputs.now).map_err(|e| stmt.fail(e))?;
    Ok(Attestation {
        format: stmt.format(),
        kind: AttestationKind::Basic,
        trust,
        aaguid: inputs.credential.aaguid,
        certificates: x5c.clone(),
    })
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
