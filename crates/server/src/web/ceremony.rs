//! WebAuthn ceremonies for the web app: the relying party, creation and
//! request options, and turning a verified registration into an enrolment.
//! The checks themselves are `countersign-webauthn`'s.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use countersign_domain::identity::PasskeyEnrolment;
use countersign_ledger::LedgerError;
use countersign_proto::model::{
    Credential, CredentialKind, Identity, KeyAlgorithm, Passkey, PasskeyAttestation,
};
use countersign_proto::ErrorCode;
use countersign_webauthn::{
    AttestationConveyance, AttestationKind, CoseAlgorithm, CreationOptions, CredentialDescriptor,
    RegistrationCheck, RegistrationResponseJson, RelyingParty, RpEntity, UserEntity,
    UserVerification,
};
use time::OffsetDateTime;

use crate::{ApiError, AppState};

/// The relying party of this deployment.
pub fn relying_party(s: &AppState) -> Result<RelyingParty, ApiError> {
    let web = s.ledger.web();
    RelyingParty::new(web.rp_id.clone(), web.origins.clone())
        .map_err(|e| ApiError::internal(format!("the WebAuthn relying party: {e}")))
}

/// A ceremony error, for the person in front of the browser. A refusal,
/// so it can end a ledger closure as well as a handler.
pub fn failed(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::refused(
        ErrorCode::WebauthnFailed,
        format!("the passkey check failed: {e}"),
    )
}

/// The challenge bytes behind a challenge id (the id is the base64url of
/// 32 random bytes, so it is its own challenge).
pub fn challenge_bytes(id: &str) -> Result<Vec<u8>, LedgerError> {
    B64URL
        .decode(id.as_bytes())
        .map_err(|_| failed("the challenge id is not base64url"))
}

/// Descriptors of an identity's passkeys, for `allowCredentials` and
/// `excludeCredentials`.
pub fn descriptors(credentials: &[Credential]) -> Vec<CredentialDescriptor> {
    credentials
        .iter()
        .filter(|c| c.kind == CredentialKind::Passkey && c.revoked_at.is_none())
        .filter_map(|c| {
            let p = c.passkey.as_ref()?;
            let id = B64URL.decode(p.credential_id.trim_end_matches('=')).ok()?;
            Some(CredentialDescriptor::new(id, p.transports.clone()))
        })
        .collect()
}

/// Creation options for a new passkey of `who`, asking for attestation
/// (so a device-bound authenticator can prove what it is) and requiring
/// user verification.
pub fn creation_options(
    s: &AppState,
    who: &Identity,
    existing: &[Credential],
    challenge: Vec<u8>,
) -> CreationOptions {
    let web = s.ledger.web();
    let mut o = CreationOptions::passkey(
        RpEntity {
            id: web.rp_id.clone(),
            name: s.web.rp_name.clone(),
        },
        UserEntity {
            // The identity's immutable id, not a name: the user handle
            // travels with every sign-in and must not be personal data.
            id: countersign_webauthn::Base64UrlBytes(who.id.as_bytes().to_vec()),
            name: who.email.clone().unwrap_or_else(|| who.handle.clone()),
            display_name: who.display_name.clone(),
        },
        challenge,
        UserVerification::Required,
        AttestationConveyance::Direct,
    );
    o.exclude_credentials = descriptors(existing);
    o.timeout = Some(300_000);
    o
}

fn algorithm(a: CoseAlgorithm) -> KeyAlgorithm {
    match a {
        CoseAlgorithm::EdDsa => KeyAlgorithm::Ed25519,
        CoseAlgorithm::Es256 => KeyAlgorithm::Es256,
        CoseAlgorithm::Rs256 => KeyAlgorithm::Rs256,
    }
}

/// Verify a registration response against `challenge` and turn it into
/// an enrolment; answers it with the authenticator's signature counter.
pub fn verify_registration(
    s: &AppState,
    challenge: &[u8],
    response: &RegistrationResponseJson,
    now: OffsetDateTime,
) -> Result<(PasskeyEnrolment, u32), LedgerError> {
    let rp = relying_party(s)
        .map_err(|e| LedgerError::refused(ErrorCode::Internal, e.problem.detail))?;
    let reg = countersign_webauthn::verify_registration(
        response,
        &RegistrationCheck {
            challenge,
            relying_party: &rp,
            require_user_verification: true,
            trust_anchors: &s.web.trust,
            now,
            allow_android_software_enforced: false,
        },
    )
    .map_err(failed)?;
    let kind = match reg.attestation.kind {
        AttestationKind::None => "none",
        AttestationKind::SelfAttestation => "self",
        _ => "basic",
    };
    let passkey = Passkey {
        credential_id: B64URL.encode(&reg.credential_id),
        rp_id: rp.id().to_string(),
        aaguid: hex::encode(reg.aaguid.0),
        user_verified: reg.flags.user_verified,
        backup_eligible: reg.flags.backup_eligible,
        backup_state: reg.flags.backup_state,
        attestation: PasskeyAttestation {
            format: reg.attestation.format.identifier().to_string(),
            kind: kind.to_string(),
            trusted: reg.attestation.is_trusted(),
            root: reg.attestation.trusted_anchor().map(str::to_string),
        },
        transports: reg.transports.clone(),
    };
    Ok((
        PasskeyEnrolment {
            credential_id: reg.credential_id.clone(),
            cose_key: reg.public_key.cose_bytes().to_vec(),
            algorithm: algorithm(reg.algorithm),
            passkey,
        },
        reg.sign_count,
    ))
}
