//! Identities and credentials.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_attest::keys::{key_id, pop_message, public_key_from_base64};
use countersign_proto::api::{CreateIdentity, EnrollKey, UpdateIdentity};
use countersign_proto::model::{
    Assurance, AssuranceBasis, Credential, CredentialKind, Identity, IdentityKind, IdentityStatus,
    KeyAlgorithm, Passkey, Vouch,
};
use ed25519_dalek::{Signature, Verifier as _};
use time::OffsetDateTime;

use crate::{check_future, check_name, check_text, ErrorCode, Refusal, Result};

/// Non-human identities need an accountable owner who is an active human.
fn check_owner(kind: IdentityKind, owner: Option<&Identity>, named: Option<&str>) -> Result<()> {
    if kind.is_human() {
        if named.is_some() {
            return Err(Refusal::new(
                ErrorCode::InvalidField,
                "a human identity has no owner",
            ));
        }
        return Ok(());
    }
    let Some(name) = named else {
        return Err(Refusal::new(
            ErrorCode::OwnerRequired,
            format!(
                "a {} identity needs an owner: an active human's handle",
                kind.as_str()
            ),
        ));
    };
    match owner {
        None => Err(Refusal::new(
            ErrorCode::OwnerNotActiveHuman,
            format!("owner {name:?} is not a known identity"),
        )),
        Some(o) if !o.kind.is_human() || o.status != IdentityStatus::Active => Err(Refusal::new(
            ErrorCode::OwnerNotActiveHuman,
            format!(
                "owner {name:?} is a {} {} identity; owners must be active humans",
                o.status.as_str(),
                o.kind.as_str()
            ),
        )),
        Some(_) => Ok(()),
    }
}

fn check_email(email: &Option<String>) -> Result<()> {
    if let Some(e) = email {
        check_text("email", e, 3, 254)?;
        let at = e.find('@');
        if at.is_none_or(|i| i == 0 || i + 1 == e.len()) || e.contains(char::is_whitespace) {
            return Err(Refusal::new(
                ErrorCode::InvalidField,
                format!("email {e:?} is not an address"),
            ));
        }
    }
    Ok(())
}

/// A new identity. `existing` is the identity already holding the handle, if
/// any; `owner` is the identity named as owner, if it exists.
pub fn create_identity(
    input: &CreateIdentity,
    id: String,
    existing: Option<&Identity>,
    owner: Option<&Identity>,
    now: OffsetDateTime,
) -> Result<Identity> {
    check_name("handle", &input.handle)?;
    if existing.is_some() {
        return Err(Refusal::new(
            ErrorCode::HandleTaken,
            format!(
                "handle {:?} is taken (handles are never reused)",
                input.handle
            ),
        ));
    }
    let display_name = input
        .display_name
        .clone()
        .unwrap_or_else(|| input.handle.clone());
    check_text("display_name", &display_name, 1, 200)?;
    check_email(&input.email)?;
    check_owner(input.kind, owner, input.owner.as_deref())?;
    let groups = check_labels("groups", &input.groups)?;
    let roles = check_labels("roles", &input.roles)?;
    Ok(Identity {
        id,
        handle: input.handle.clone(),
        kind: input.kind,
        display_name,
        email: input.email.clone(),
        owner: input.owner.clone(),
        shared: input.shared,
        status: IdentityStatus::Active,
        groups,
        roles,
        manager: check_manager(&input.handle, input.manager.as_deref())?,
        orphaned: false,
        scim_adoptable: false,
        created_at: now,
        updated_at: now,
        revision: 1,
    })
}

/// A manager is another identity's handle (whether it exists is the
/// caller's business: an IdP may push a report before their manager).
fn check_manager(handle: &str, manager: Option<&str>) -> Result<Option<String>> {
    match manager {
        None | Some("") => Ok(None),
        Some(m) if m == handle => Err(Refusal::new(
            ErrorCode::InvalidField,
            format!("{handle} cannot be their own manager"),
        )),
        Some(m) => {
            check_name("manager", m)?;
            Ok(Some(m.to_string()))
        }
    }
}

/// Check a set of group or role names; answers them sorted and deduplicated.
fn check_labels(field: &str, values: &[String]) -> Result<Vec<String>> {
    if values.len() > 64 {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            format!("at most 64 {field}"),
        ));
    }
    for v in values {
        check_name(field, v)?;
    }
    let mut out = values.to_vec();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Apply a patch; answers the new record and the names of changed fields.
pub fn update_identity(
    current: &Identity,
    patch: &UpdateIdentity,
    owner: Option<&Identity>,
    now: OffsetDateTime,
) -> Result<(Identity, Vec<String>)> {
    if current.status == IdentityStatus::Terminated {
        return Err(Refusal::new(
            ErrorCode::IdentityTerminated,
            format!("{} is terminated and can no longer change", current.handle),
        ));
    }
    let mut next = current.clone();
    let mut changed = Vec::new();
    if let Some(name) = &patch.display_name {
        check_text("display_name", name, 1, 200)?;
        if *name != next.display_name {
            next.display_name = name.clone();
            changed.push("display_name".to_string());
        }
    }
    if patch.email.is_some() {
        check_email(&patch.email)?;
        if patch.email != next.email {
            next.email = patch.email.clone();
            changed.push("email".to_string());
        }
    }
    if let Some(o) = &patch.owner {
        if Some(o) != next.owner.as_ref() {
            check_owner(next.kind, owner, Some(o))?;
            next.owner = Some(o.clone());
            changed.push("owner".to_string());
            // An accountable owner again: no longer orphaned.
            if next.orphaned {
                next.orphaned = false;
                changed.push("orphaned".to_string());
            }
        }
    }
    if let Some(shared) = patch.shared {
        if shared != next.shared {
            next.shared = shared;
            changed.push("shared".to_string());
        }
    }
    if let Some(groups) = &patch.groups {
        let groups = check_labels("groups", groups)?;
        if groups != next.groups {
            next.groups = groups;
            changed.push("groups".to_string());
        }
    }
    if let Some(roles) = &patch.roles {
        let roles = check_labels("roles", roles)?;
        if roles != next.roles {
            next.roles = roles;
            changed.push("roles".to_string());
        }
    }
    if let Some(m) = &patch.manager {
        let manager = check_manager(&next.handle, Some(m))?;
        if manager != next.manager {
            next.manager = manager;
            changed.push("manager".to_string());
        }
    }
    if !changed.is_empty() {
        next.updated_at = now;
        next.revision += 1;
    }
    Ok((next, changed))
}

/// Move an identity to `to`. Active ⇄ suspended; either → terminated, which is final.
pub fn change_status(
    current: &Identity,
    to: IdentityStatus,
    now: OffsetDateTime,
) -> Result<Identity> {
    use IdentityStatus::*;
    let allowed = matches!(
        (current.status, to),
        (Active, Suspended) | (Suspended, Active) | (Active, Terminated) | (Suspended, Terminated)
    );
    if current.status == Terminated {
        return Err(Refusal::new(
            ErrorCode::IdentityTerminated,
            format!("{} is terminated; termination is final", current.handle),
        ));
    }
    if !allowed {
        return Err(Refusal::new(
            ErrorCode::InvalidTransition,
            format!(
                "{} is already {}; cannot move it to {}",
                current.handle,
                current.status.as_str(),
                to.as_str()
            ),
        ));
    }
    let mut next = current.clone();
    next.status = to;
    next.updated_at = now;
    next.revision += 1;
    Ok(next)
}

/// A key-enrolment challenge as the server remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub challenge: String,
    pub identity: String,
    pub expires_at: OffsetDateTime,
}

/// Only an active identity enrols `what` (keys, passkeys).
pub fn check_active_enrolment(identity: &Identity, what: &str) -> Result<()> {
    if identity.status != IdentityStatus::Active {
        return Err(Refusal::new(
            ErrorCode::ActorNotActive,
            format!(
                "{} is {}; only active identities enrol {what}",
                identity.handle,
                identity.status.as_str()
            ),
        ));
    }
    Ok(())
}

/// Check the vouching for a key's label. `voucher` is who would vouch:
/// set by the caller only for administrators.
fn check_vouch(
    assurance: Assurance,
    reason: Option<&str>,
    voucher: Option<&str>,
    now: OffsetDateTime,
) -> Result<(AssuranceBasis, Option<Vouch>)> {
    match (assurance, reason, voucher) {
        (Assurance::Software, None, _) => Ok((AssuranceBasis::Declared, None)),
        (Assurance::Software, Some(_), _) => Err(Refusal::new(
            ErrorCode::InvalidField,
            "vouch applies only to a key enrolled as hardware",
        )),
        (Assurance::Hardware, None, _) => Err(Refusal::new(
            ErrorCode::AssuranceNotEarned,
            "a key labelled hardware must be vouched for by an administrator (give a vouch reason), or enrol a passkey whose attestation proves a device-bound authenticator; assurance is earned, not declared",
        )),
        (Assurance::Hardware, Some(_), None) => Err(Refusal::new(
            ErrorCode::Forbidden,
            "only an administrator can vouch for a key's hardware label",
        )),
        (Assurance::Hardware, Some(reason), Some(by)) => {
            check_text("vouch", reason, 3, 2000)?;
            Ok((
                AssuranceBasis::Vouched,
                Some(Vouch {
                    by: by.to_string(),
                    reason: reason.to_string(),
                    at: now,
                }),
            ))
        }
    }
}

/// Check a key enrolment and build the credential. `voucher` is the
/// administrator vouching for a `hardware` label, when the caller is one.
#[allow(clippy::too_many_arguments)]
pub fn enroll_key(
    identity: &Identity,
    input: &EnrollKey,
    challenge: Option<&Challenge>,
    already_enrolled: Option<&Credential>,
    voucher: Option<&str>,
    log_index: u64,
    now: OffsetDateTime,
) -> Result<Credential> {
    check_active_enrolment(identity, "keys")?;
    let (assurance_basis, vouch) =
        check_vouch(input.assurance, input.vouch.as_deref(), voucher, now)?;
    let key = public_key_from_base64(&input.public_key)
        .map_err(|e| Refusal::new(ErrorCode::InvalidField, format!("public_key: {e}")))?;
    let kid = key_id(&key);
    if let Some(c) = already_enrolled {
        return Err(Refusal::new(
            ErrorCode::KeyAlreadyEnrolled,
            format!(
                "key {kid} is already enrolled for {}; a key belongs to exactly one identity",
                c.identity
            ),
        ));
    }
    match challenge {
        Some(c) if c.identity == identity.handle && c.expires_at > now => {}
        Some(c) if c.identity != identity.handle => {
            return Err(Refusal::new(
                ErrorCode::ChallengeInvalid,
                "the challenge was issued for another identity",
            ))
        }
        Some(_) => {
            return Err(Refusal::new(
                ErrorCode::ChallengeInvalid,
                "the challenge has expired",
            ))
        }
        None => {
            return Err(Refusal::new(
                ErrorCode::ChallengeInvalid,
                "unknown or already used challenge; request a new one",
            ))
        }
    }
    let proof = B64
        .decode(input.proof.as_bytes())
        .ok()
        .and_then(|raw| Signature::from_slice(&raw).ok())
        .ok_or_else(|| {
            Refusal::new(
                ErrorCode::InvalidField,
                "proof must be a base64 Ed25519 signature",
            )
        })?;
    let message = pop_message(&identity.handle, &input.challenge, &input.public_key);
    key.verify(&message, &proof).map_err(|_| {
        Refusal::new(
            ErrorCode::ProofOfPossessionFailed,
            "the proof does not verify: sign the enrolment message with the private key being enrolled",
        )
    })?;
    if let Some(exp) = input.expires_at {
        check_future("expires_at", exp, now)?;
    }
    if let Some(label) = &input.label {
        check_text("label", label, 1, 200)?;
    }
    Ok(Credential {
        key_id: kid,
        kind: CredentialKind::Key,
        certificate: None,
        identity: identity.handle.clone(),
        algorithm: KeyAlgorithm::Ed25519,
        public_key: input.public_key.trim().to_string(),
        assurance: input.assurance,
        assurance_basis,
        vouch,
        passkey: None,
        label: input.label.clone(),
        enrolled_at: now,
        expires_at: input.expires_at,
        revoked_at: None,
        revocation_reason: None,
        log_index,
    })
}

/// An administrator vouches for a key's `hardware` label after the fact
/// (for keys enrolled before assurance had to be earned, whose label is
/// kept but counts as declared).
pub fn vouch_key(
    current: &Credential,
    reason: &str,
    voucher: &str,
    now: OffsetDateTime,
) -> Result<Credential> {
    if current.kind != CredentialKind::Key {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            format!(
                "{} is a {}; only enrolled keys are vouched for (a passkey's assurance comes from its attestation)",
                current.key_id,
                current.kind.as_str()
            ),
        ));
    }
    if current.revoked_at.is_some() {
        return Err(Refusal::new(
            ErrorCode::KeyAlreadyRevoked,
            format!("key {} is revoked", current.key_id),
        ));
    }
    let (assurance_basis, vouch) =
        check_vouch(Assurance::Hardware, Some(reason), Some(voucher), now)?;
    let mut next = current.clone();
    next.assurance = Assurance::Hardware;
    next.assurance_basis = assurance_basis;
    next.vouch = vouch;
    Ok(next)
}

/// `c` with an administrator's vouching applied: hardware, and why (how
/// the verifier and the certificate read a `credential.vouched` entry).
pub fn vouched(c: &Credential, vouch: Vouch) -> Credential {
    let mut next = c.clone();
    next.assurance = Assurance::Hardware;
    next.assurance_basis = AssuranceBasis::Vouched;
    next.vouch = Some(vouch);
    next
}

/// What a verified WebAuthn registration ceremony yields, ready to enrol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyEnrolment {
    /// The raw credential id.
    pub credential_id: Vec<u8>,
    /// The credential public key's COSE_Key bytes.
    pub cose_key: Vec<u8>,
    pub algorithm: KeyAlgorithm,
    /// The facts the ceremony proved.
    pub passkey: Passkey,
}

/// A passkey's key id: lowercase hex SHA-256 of its raw credential id.
/// The browser names the credential by id, so the id is what finds it.
pub fn passkey_key_id(credential_id: &[u8]) -> String {
    countersign_attest::keys::sha256_hex(credential_id)
}

/// Enrol a passkey whose registration ceremony the caller verified. Its
/// assurance is what the evidence earns: `hardware` only for a
/// device-bound authenticator whose attestation verified to a trusted root.
pub fn enroll_passkey(
    identity: &Identity,
    enrolment: &PasskeyEnrolment,
    label: Option<String>,
    already_enrolled: Option<&Credential>,
    log_index: u64,
    now: OffsetDateTime,
) -> Result<Credential> {
    check_active_enrolment(identity, "passkeys")?;
    let kid = passkey_key_id(&enrolment.credential_id);
    if let Some(c) = already_enrolled {
        return Err(Refusal::new(
            ErrorCode::KeyAlreadyEnrolled,
            format!("this passkey is already enrolled (for {})", c.identity),
        ));
    }
    if let Some(l) = &label {
        check_text("label", l, 1, 200)?;
    }
    let p = &enrolment.passkey;
    let attested = p.attestation.trusted;
    let assurance_basis = if attested {
        AssuranceBasis::Attestation
    } else {
        AssuranceBasis::Authenticator
    };
    let assurance = if attested && p.device_bound() {
        Assurance::Hardware
    } else {
        Assurance::Software
    };
    Ok(Credential {
        key_id: kid,
        kind: CredentialKind::Passkey,
        certificate: None,
        identity: identity.handle.clone(),
        algorithm: enrolment.algorithm,
        public_key: B64.encode(&enrolment.cose_key),
        assurance,
        assurance_basis,
        vouch: None,
        passkey: Some(p.clone()),
        label,
        enrolled_at: now,
        expires_at: None,
        revoked_at: None,
        revocation_reason: None,
        log_index,
    })
}

/// Revoke a credential.
pub fn revoke_key(
    current: &Credential,
    reason: Option<String>,
    now: OffsetDateTime,
) -> Result<Credential> {
    if current.revoked_at.is_some() {
        return Err(Refusal::new(
            ErrorCode::KeyAlreadyRevoked,
            format!("key {} is already revoked", current.key_id),
        ));
    }
    if let Some(r) = &reason {
        check_text("reason", r, 1, 2000)?;
    }
    let mut next = current.clone();
    next.revoked_at = Some(now);
    next.revocation_reason = reason;
    Ok(next)
}

/// Whether a credential can sign at `now`.
pub fn credential_valid_at(c: &Credential, now: OffsetDateTime) -> Result<()> {
    if let Some(r) = c.revoked_at {
        if r <= now {
            return Err(Refusal::new(
                ErrorCode::CredentialRevoked,
                format!("key {} was revoked at {r}", c.key_id),
            ));
        }
    }
    if now < c.enrolled_at {
        return Err(Refusal::new(
            ErrorCode::CredentialExpired,
            format!("key {} is not valid before {}", c.key_id, c.enrolled_at),
        ));
    }
    if let Some(e) = c.expires_at {
        if e <= now {
            return Err(Refusal::new(
                ErrorCode::CredentialExpired,
                format!("key {} expired at {e}", c.key_id),
            ));
        }
    }
    Ok(())
}
