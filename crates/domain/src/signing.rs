//! The signing check: is this envelope an acceptable decision on this request,
//! by this actor, with this credential, now?

use countersign_attest::passkey::{Origins, PasskeyVerified};
use countersign_attest::{statement_of, verify_with_credential};
use countersign_proto::governance::Delegation;
use countersign_proto::model::{
    Credential, CredentialKind, Identity, Request, RequestState, SignatureRecord,
};
use countersign_proto::statement::{Envelope, Statement};
use std::collections::BTreeSet;
use time::OffsetDateTime;

use crate::delegation;
use crate::identity::credential_valid_at;
use crate::request::{add_signature, order_respected};
use crate::{ErrorCode, Limits, Refusal};

/// What the caller learned from the envelope before loading facts. Refusals
/// carry it so that the refusal event names who tried what.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claimed {
    pub request: Option<String>,
    pub actor: Option<String>,
    pub principal: Option<String>,
    pub key_id: Option<String>,
}

/// A refusal, with what was claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningRefusal {
    pub refusal: Refusal,
    /// Boxed: refusals travel in `Result`s, which should stay small.
    pub claimed: Box<Claimed>,
}

/// Decode the statement and read what it claims. Fails on anything that is
/// not a well-formed Countersign approval statement.
pub fn claims(envelope: &Envelope) -> Result<(Statement, Claimed), SigningRefusal> {
    let statement = statement_of(envelope).map_err(|e| SigningRefusal {
        refusal: Refusal::new(ErrorCode::StatementInvalid, e.to_string()),
        claimed: Box::default(),
    })?;
    let p = &statement.predicate;
    let claimed = Claimed {
        request: Some(p.request.clone()),
        actor: Some(p.actor.clone()),
        principal: p.principal.clone(),
        key_id: Some(p.key_id.clone()),
    };
    let refuse = |detail: String| SigningRefusal {
        refusal: Refusal::new(ErrorCode::StatementInvalid, detail),
        claimed: Box::new(claimed.clone()),
    };
    let [sig] = envelope.signatures.as_slice() else {
        return Err(refuse(format!(
            "envelope has {} signatures; exactly one is required",
            envelope.signatures.len()
        )));
    };
    if sig.keyid != p.key_id {
        return Err(refuse(format!(
            "envelope keyid {:?} differs from the predicate's keyId {:?}",
            sig.keyid, p.key_id
        )));
    }
    if let Some(reason) = &p.reason {
        if reason.chars().count() > 4000 {
            return Err(refuse("reason is longer than 4000 characters".into()));
        }
    }
    if p.decision == countersign_proto::model::Decision::Reject
        && p.reason.as_deref().is_none_or(|r| r.trim().is_empty())
    {
        return Err(refuse("a rejection must give a reason".into()));
    }
    Ok((statement, claimed))
}

/// The facts the check needs, loaded by the caller from what was claimed.
pub struct SigningFacts<'a> {
    pub credential: Option<&'a Credential>,
    pub actor: Option<&'a Identity>,
    pub request: Option<&'a Request>,
    /// Delegations naming the actor as delegate (only read when the
    /// statement names a principal other than the actor).
    pub delegations: &'a [Delegation],
    /// Where a passkey assertion may come from (the server's origins).
    /// Whether user verification was demanded is the signing nonce's to
    /// say, checked by the ledger; without it a passkey proves a lower AAL.
    pub origins: Origins<'a>,
    /// An Ed25519 public key (base64) the envelope's signature was already
    /// verified with, before the serialised section: a key credential
    /// holding that same key needs no second verification.
    pub verified_with: Option<&'a str>,
}

/// An envelope that passed every check that does not depend on policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The approver the signature is for: the statement's principal, or the actor.
    pub principal: String,
    /// The delegation the actor signs under, when principal differs from actor.
    pub delegation: Option<String>,
    /// What a passkey assertion proved (user verification, its counter).
    pub passkey: Option<PasskeyVerified>,
}

/// The result of an accepted signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub signature: SignatureRecord,
    /// The request with the signature added and its new state.
    pub request: Request,
}

/// Check everything about the envelope that policy does not decide: the
/// signature, the credential, the request and its documents, and any
/// delegation claimed. The checks run in a fixed order so that a caller
/// who cannot produce a valid signature learns nothing about the request
/// beyond that. Who may sign (approvers, separation of duties, status,
/// step-up) is the policy's question, asked after this.
pub fn check(
    envelope: &Envelope,
    statement: &Statement,
    claimed: &Claimed,
    facts: &SigningFacts<'_>,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<Checked, SigningRefusal> {
    let refuse = |code: ErrorCode, detail: String| SigningRefusal {
        refusal: Refusal::new(code, detail),
        claimed: Box::new(claimed.clone()),
    };
    let p = &statement.predicate;

    let credential = facts.credential.ok_or_else(|| {
        refuse(
            ErrorCode::CredentialUnknown,
            format!("key {} is not an enrolled credential", p.key_id),
        )
    })?;
    let already = credential.kind != CredentialKind::Passkey
        && facts.verified_with == Some(credential.public_key.as_str())
        && envelope.signatures.iter().all(|s| s.extension.is_none());
    let passkey = if already {
        None
    } else {
        verify_with_credential(envelope, credential, facts.origins, false)
            .map_err(|e| refuse(ErrorCode::SignatureInvalid, e.to_string()))?
    };
    if credential.identity != p.actor {
        return Err(refuse(
            ErrorCode::ActorMismatch,
            format!(
                "key {} belongs to {:?}, not to the statement's actor {:?}",
                credential.key_id, credential.identity, p.actor
            ),
        ));
    }
    credential_valid_at(credential, now).map_err(|r| SigningRefusal {
        refusal: r,
        claimed: Box::new(claimed.clone()),
    })?;
    let actor = facts.actor.ok_or_else(|| {
        refuse(
            ErrorCode::IdentityNotFound,
            format!("actor {:?} is not a known identity", p.actor),
        )
    })?;
    let skew = (p.signed_at - now).abs();
    if skew > limits.max_clock_skew {
        return Err(refuse(
            ErrorCode::ClockSkew,
            format!(
                "signedAt {} is {}s from the server's clock; at most {}s is allowed",
                p.signed_at,
                skew.whole_seconds(),
                limits.max_clock_skew.whole_seconds()
            ),
        ));
    }
    let request = facts.request.ok_or_else(|| {
        refuse(
            ErrorCode::RequestNotFound,
            format!("request {:?} does not exist", p.request),
        )
    })?;
    let expired = request.state == RequestState::Expired
        || (request.state == RequestState::Pending && request.expires_at <= now);
    if !expired && request.state != RequestState::Pending {
        return Err(refuse(
            ErrorCode::RequestNotPending,
            format!("request {} is {}", request.id, request.state.as_str()),
        ));
    }
    if expired {
        return Err(refuse(
            ErrorCode::RequestExpired,
            format!("request {} expired at {}", request.id, request.expires_at),
        ));
    }
    let wanted: BTreeSet<&str> = request
        .documents
        .iter()
        .map(|d| d.sha256.as_str())
        .collect();
    let signed: BTreeSet<&str> = statement
        .subject
        .iter()
        .filter_map(|s| s.digest.get("sha256").map(String::as_str))
        .collect();
    if wanted != signed || statement.subject.len() != request.documents.len() {
        let missing: Vec<&str> = wanted.difference(&signed).copied().collect();
        let extra: Vec<&str> = signed.difference(&wanted).copied().collect();
        return Err(refuse(
            ErrorCode::DigestMismatch,
            format!(
                "the statement's subject digests differ from the request's document versions (missing: {missing:?}, unexpected: {extra:?})"
            ),
        ));
    }
    if p.action != request.action {
        return Err(refuse(
            ErrorCode::ActionMismatch,
            "the echoed entitlement action differs from the request's action".into(),
        ));
    }
    match p.principal.as_deref() {
        Some(principal) if principal != actor.handle => {
            let d =
                delegation::authorise(facts.delegations, principal, &actor.handle, request, now)
                    .map_err(|r| SigningRefusal {
                        refusal: r,
                        claimed: Box::new(claimed.clone()),
                    })?;
            Ok(Checked {
                principal: principal.to_string(),
                delegation: Some(d.id.clone()),
                passkey,
            })
        }
        _ => Ok(Checked {
            principal: actor.handle.clone(),
            delegation: None,
            passkey,
        }),
    }
}

/// Record an allowed signature: refuse a second signature for the same
/// approver and a signature out of sequence, then add it to the request.
#[allow(clippy::too_many_arguments)]
pub fn accept(
    statement: &Statement,
    claimed: &Claimed,
    checked: &Checked,
    request: &Request,
    exception: Option<String>,
    envelope_sha256: &str,
    log_index: u64,
    now: OffsetDateTime,
) -> Result<Accepted, SigningRefusal> {
    let refuse = |code: ErrorCode, detail: String| SigningRefusal {
        refusal: Refusal::new(code, detail),
        claimed: Box::new(claimed.clone()),
    };
    let p = &statement.predicate;
    let approver = checked.principal.as_str();
    if request.signatures.iter().any(|s| s.approver() == approver) {
        return Err(refuse(
            ErrorCode::AlreadySigned,
            format!("{approver} has already signed request {}", request.id),
        ));
    }
    // One person, one signature per request: a delegate who already
    // signed (for themself or for someone else) cannot fill a second slot,
    // or a quorum of two could be met by one pair of eyes.
    if let Some(s) = request.signatures.iter().find(|s| s.actor == p.actor) {
        return Err(refuse(
            ErrorCode::AlreadySigned,
            format!(
                "{} has already signed request {} (for {}); one person signs a request once",
                p.actor,
                request.id,
                s.approver()
            ),
        ));
    }
    if !order_respected(request, approver) {
        return Err(refuse(
            ErrorCode::OutOfOrder,
            format!(
                "request {} is sequential; every approver listed before {approver} must sign first",
                request.id
            ),
        ));
    }
    let delegated = approver != p.actor;
    let signature = SignatureRecord {
        actor: p.actor.clone(),
        principal: delegated.then(|| approver.to_string()),
        delegation: checked.delegation.clone(),
        exception,
        decision: p.decision,
        reason: p.reason.clone(),
        key_id: p.key_id.clone(),
        signed_at: p.signed_at,
        accepted_at: now,
        envelope_sha256: envelope_sha256.to_string(),
        log_index,
    };
    Ok(Accepted {
        request: add_signature(request, signature.clone(), now),
        signature,
    })
}
