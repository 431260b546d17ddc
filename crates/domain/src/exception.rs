//! Policy exceptions (break-glass): a signer refused by policy asks for a
//! one-time exception with a justification; a different identity holding
//! the `exception_approver` role approves or denies it; an approved
//! exception lets exactly one signature through before it expires.

use countersign_proto::governance::{ExceptionState, PolicyException};
use countersign_proto::model::{Request, RequestState};
use time::{Duration, OffsetDateTime};

use crate::{check_text, ErrorCode, Refusal, Result};

/// The policy refusal an exception answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRefusal {
    pub log_index: u64,
    pub policies: Vec<String>,
}

/// The state to show at `now`: an approved exception past its deadline is expired.
pub fn effective_state(e: &PolicyException, now: OffsetDateTime) -> ExceptionState {
    match (e.state, e.expires_at) {
        (ExceptionState::Approved, Some(at)) if at <= now => ExceptionState::Expired,
        (s, _) => s,
    }
}

/// Whether `e` is open: awaiting a decision, or approved and unused in time.
pub fn is_open(e: &PolicyException, now: OffsetDateTime) -> bool {
    matches!(
        effective_state(e, now),
        ExceptionState::Requested | ExceptionState::Approved
    )
}

/// Check and build a new exception request.
#[allow(clippy::too_many_arguments)]
pub fn request(
    request: &Request,
    actor: &str,
    justification: &str,
    refusal: Option<PolicyRefusal>,
    existing: &[PolicyException],
    id: String,
    log_index: u64,
    now: OffsetDateTime,
) -> Result<PolicyException> {
    check_text("justification", justification, 10, 4000)?;
    if request.state != RequestState::Pending || request.expires_at <= now {
        return Err(Refusal::new(
            ErrorCode::RequestNotPending,
            format!("request {} is no longer pending", request.id),
        ));
    }
    let Some(refusal) = refusal else {
        return Err(Refusal::new(
            ErrorCode::ExceptionNotApplicable,
            format!(
                "policy has not refused a signature by {actor} on request {}; exceptions answer a policy refusal",
                request.id
            ),
        ));
    };
    if let Some(open) = existing
        .iter()
        .find(|e| e.actor == actor && e.request == request.id && is_open(e, now))
    {
        return Err(Refusal::new(
            ErrorCode::ExceptionExists,
            format!(
                "exception {} for {actor} on request {} is already {}",
                open.id,
                request.id,
                effective_state(open, now).as_str()
            ),
        ));
    }
    Ok(PolicyException {
        id,
        request: request.id.clone(),
        actor: actor.to_string(),
        justification: justification.to_string(),
        refusal_index: refusal.log_index,
        refused_by: refusal.policies,
        state: ExceptionState::Requested,
        requested_at: now,
        decided_by: None,
        decided_at: None,
        decision_reason: None,
        expires_at: None,
        used_by: None,
        log_index,
    })
}

/// Record an approver's decision. `lifetime` bounds how long an approved
/// exception may wait to be used.
pub fn decide(
    e: &PolicyException,
    approver: &str,
    approve: bool,
    reason: Option<&str>,
    lifetime: Duration,
    now: OffsetDateTime,
) -> Result<PolicyException> {
    if effective_state(e, now) != ExceptionState::Requested {
        return Err(Refusal::new(
            ErrorCode::ExceptionNotPending,
            format!("exception {} is {}", e.id, effective_state(e, now).as_str()),
        ));
    }
    if approver == e.actor {
        return Err(Refusal::new(
            ErrorCode::ExceptionSelfApproval,
            format!("{approver} cannot decide their own exception"),
        ));
    }
    if let Some(r) = reason {
        check_text("reason", r, 1, 2000)?;
    }
    if !approve && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            "denying an exception needs a reason",
        ));
    }
    let mut next = e.clone();
    next.state = if approve {
        ExceptionState::Approved
    } else {
        ExceptionState::Denied
    };
    next.decided_by = Some(approver.to_string());
    next.decided_at = Some(now);
    next.decision_reason = reason.map(str::to_string);
    if approve {
        next.expires_at = Some(now + lifetime);
    }
    Ok(next)
}

/// The approved, unused, unexpired exception for `actor` on `request`, if any.
pub fn usable<'a>(
    exceptions: &'a [PolicyException],
    request: &str,
    actor: &str,
    now: OffsetDateTime,
) -> Option<&'a PolicyException> {
    exceptions.iter().find(|e| {
        e.request == request
            && e.actor == actor
            && effective_state(e, now) == ExceptionState::Approved
    })
}

/// Mark an exception used by the signature at `log_index`.
pub fn consume(e: &PolicyException, log_index: u64) -> PolicyException {
    let mut next = e.clone();
    next.state = ExceptionState::Used;
    next.used_by = Some(log_index);
    next
}
