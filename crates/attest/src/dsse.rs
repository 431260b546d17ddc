//! DSSE v1 envelopes carrying in-toto statements.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_proto::iga::{ResolutionStatement, RESOLUTION_PAYLOAD_TYPE};
use countersign_proto::model::{Decision, Request};
use countersign_proto::statement::{
    ApprovalPredicate, Envelope, EnvelopeSignature, Statement, Subject, APPROVAL_PREDICATE_TYPE,
    PAYLOAD_TYPE, STATEMENT_TYPE,
};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::keys::key_id;
use crate::{Error, Result};

/// The DSSE v1 pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// The statement an approver signs for `request`: one subject per document
/// version (`name@vN` with its SHA-256), and the approval predicate echoing
/// the request's entitlement action.
pub fn approval_statement(
    request: &Request,
    actor: &str,
    decision: Decision,
    reason: Option<String>,
    key_id: String,
    signed_at: time::OffsetDateTime,
) -> Statement {
    Statement {
        statement_type: STATEMENT_TYPE.into(),
        subject: request
            .documents
            .iter()
            .map(|d| Subject {
                name: format!("{}@v{}", d.document, d.version),
                digest: std::collections::BTreeMap::from([(
                    "sha256".to_string(),
                    d.sha256.clone(),
                )]),
            })
            .collect(),
        predicate_type: APPROVAL_PREDICATE_TYPE.into(),
        predicate: ApprovalPredicate {
            request: request.id.clone(),
            decision,
            reason,
            actor: actor.to_string(),
            principal: None,
            action: request.action.clone(),
            signed_at,
            key_id,
            nonce: None,
        },
    }
}

/// Serialize `statement`, sign its PAE with `key` and wrap it in an envelope.
pub fn sign_statement(statement: &Statement, key: &SigningKey) -> Result<Envelope> {
    sign_payload(PAYLOAD_TYPE, &serde_json::to_vec(statement)?, key)
}

/// Sign `payload` under `payload_type` with `key`: a one-signature envelope.
fn sign_payload(payload_type: &str, payload: &[u8], key: &SigningKey) -> Result<Envelope> {
    let signature = key.sign(&pae(payload_type, payload));
    Ok(Envelope {
        payload: B64.encode(payload),
        payload_type: payload_type.to_string(),
        signatures: vec![EnvelopeSignature {
            keyid: key_id(&key.verifying_key()),
            sig: B64.encode(signature.to_bytes()),
            extension: None,
        }],
    })
}

/// The envelope's payload bytes.
pub(crate) fn payload_of(envelope: &Envelope) -> Result<Vec<u8>> {
    B64.decode(envelope.payload.as_bytes())
        .map_err(|e| Error::PayloadEncoding(e.to_string()))
}

/// Check the envelope's single signature over its PAE with `key`.
fn check_signature(envelope: &Envelope, key: &VerifyingKey) -> Result<()> {
    let [signature] = envelope.signatures.as_slice() else {
        return Err(Error::SignatureCount(envelope.signatures.len()));
    };
    let raw = B64
        .decode(signature.sig.as_bytes())
        .map_err(|_| Error::SignatureEncoding)?;
    let sig = Signature::from_slice(&raw).map_err(|_| Error::SignatureEncoding)?;
    key.verify(&pae(&envelope.payload_type, &payload_of(envelope)?), &sig)
        .map_err(|_| Error::BadSignature(key_id(key)))
}

/// Decode the statement inside an envelope without checking any signature,
/// and check that it is a Countersign approval statement.
pub fn statement_of(envelope: &Envelope) -> Result<Statement> {
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(Error::PayloadType(envelope.payload_type.clone()));
    }
    let statement: Statement = serde_json::from_slice(&payload_of(envelope)?)
        .map_err(|e| Error::Statement(e.to_string()))?;
    if statement.statement_type != STATEMENT_TYPE {
        return Err(Error::Statement(format!(
            "_type is {:?}, expected {STATEMENT_TYPE:?}",
            statement.statement_type
        )));
    }
    if statement.predicate_type != APPROVAL_PREDICATE_TYPE {
        return Err(Error::Statement(format!(
            "predicateType is {:?}, expected {APPROVAL_PREDICATE_TYPE:?}",
            statement.predicate_type
        )));
    }
    if statement.subject.is_empty() {
        return Err(Error::Statement("subject is empty".into()));
    }
    for subject in &statement.subject {
        match subject.digest.get("sha256") {
            Some(d) if is_sha256_hex(d) => {}
            _ => {
                return Err(Error::Statement(format!(
                    "subject {:?} has no lowercase hex sha256 digest",
                    subject.name
                )))
            }
        }
    }
    Ok(statement)
}

/// Verify the envelope's single signature with an enrolled credential:
/// Ed25519 over the PAE for keys and workload certificates, a WebAuthn
/// assertion over the PAE's digest for passkeys (`origins` and
/// `require_user_verification` apply to passkeys only). Answers what a
/// passkey assertion proved; `None` for a key.
pub fn verify_with_credential(
    envelope: &Envelope,
    credential: &countersign_proto::model::Credential,
    origins: crate::passkey::Origins<'_>,
    require_user_verification: bool,
) -> Result<Option<crate::passkey::PasskeyVerified>> {
    use countersign_proto::model::CredentialKind;
    match credential.kind {
        CredentialKind::Passkey => crate::passkey::verify_passkey_envelope(
            envelope,
            credential,
            origins,
            require_user_verification,
        )
        .map(Some),
        CredentialKind::Key | CredentialKind::Certificate => {
            if envelope.signatures.iter().any(|s| s.extension.is_some()) {
                return Err(Error::Statement(format!(
                    "{} is an Ed25519 key; its signature carries no extension",
                    credential.key_id
                )));
            }
            let key = crate::keys::public_key_from_base64(&credential.public_key)?;
            check_signature(envelope, &key)?;
            Ok(None)
        }
    }
}

/// Verify the envelope's single signature with `key` and return the statement.
pub fn verify_envelope(envelope: &Envelope, key: &VerifyingKey) -> Result<Statement> {
    let statement = statement_of(envelope)?;
    check_signature(envelope, key)?;
    Ok(statement)
}

/// Lowercase hex SHA-256 of the envelope's canonical JSON. Re-submitting the
/// same envelope yields the same digest, which makes submission idempotent.
pub fn envelope_digest(envelope: &Envelope) -> Result<String> {
    Ok(hex::encode(Sha256::digest(serde_json::to_vec(envelope)?)))
}

/// Whether `s` is 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Sign a control-exception resolution: a DSSE envelope whose payload is
/// the statement's JSON, under its own payload type (it is not an in-toto
/// statement: it attests to a decision about a finding, not to artifacts).
pub fn sign_resolution(statement: &ResolutionStatement, key: &SigningKey) -> Result<Envelope> {
    sign_payload(
        RESOLUTION_PAYLOAD_TYPE,
        &serde_json::to_vec(statement)?,
        key,
    )
}

/// Decode a resolution envelope's statement without checking its signature.
pub fn resolution_of(envelope: &Envelope) -> Result<ResolutionStatement> {
    if envelope.payload_type != RESOLUTION_PAYLOAD_TYPE {
        return Err(Error::Statement(format!(
            "payloadType is {:?}, expected {RESOLUTION_PAYLOAD_TYPE:?}",
            envelope.payload_type
        )));
    }
    serde_json::from_slice(&payload_of(envelope)?).map_err(|e| Error::Statement(e.to_string()))
}

/// Verify a resolution envelope's single signature with `key`.
pub fn verify_resolution(envelope: &Envelope, key: &VerifyingKey) -> Result<ResolutionStatement> {
    let statement = resolution_of(envelope)?;
    check_signature(envelope, key)?;
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The example from the DSSE v1 protocol specification
    /// (secure-systems-lab/dsse, protocol.md, "Test vectors").
    #[test]
    fn pae_matches_the_dsse_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    fn statement(key: &SigningKey) -> Statement {
        let mut digest = BTreeMap::new();
        digest.insert("sha256".to_string(), "ab".repeat(32));
        Statement {
            statement_type: STATEMENT_TYPE.into(),
            subject: vec![Subject {
                name: "offer".into(),
                digest,
            }],
            predicate_type: APPROVAL_PREDICATE_TYPE.into(),
            predicate: ApprovalPredicate {
                request: "req_1".into(),
                decision: Decision::Approve,
                reason: None,
                actor: "alice".into(),
                principal: None,
                action: None,
                signed_at: time::macros::datetime!(2026-01-01 00:00 UTC),
                key_id: key_id(&key.verifying_key()),
                nonce: None,
            },
        }
    }

    #[test]
    fn signed_envelopes_verify_and_tampering_is_caught() {
        let key = SigningKey::generate(&mut rand_core::OsRng);
        let other = SigningKey::generate(&mut rand_core::OsRng);
        let st = statement(&key);
        let env = sign_statement(&st, &key).unwrap();
        assert_eq!(verify_envelope(&env, &key.verifying_key()).unwrap(), st);
        assert!(matches!(
            verify_envelope(&env, &other.verifying_key()),
            Err(Error::BadSignature(_))
        ));
        let mut changed = st.clone();
        changed.predicate.decision = Decision::Reject;
        let mut forged = env.clone();
        forged.payload = B64.encode(serde_json::to_vec(&changed).unwrap());
        assert!(verify_envelope(&forged, &key.verifying_key()).is_err());
        let mut wrong_type = env.clone();
        wrong_type.payload_type = "text/plain".into();
        assert!(matches!(
            verify_envelope(&wrong_type, &key.verifying_key()),
            Err(Error::PayloadType(_))
        ));
        let mut two = env.clone();
        two.signatures.push(env.signatures[0].clone());
        assert!(matches!(
            verify_envelope(&two, &key.verifying_key()),
            Err(Error::SignatureCount(2))
        ));
    }
}
