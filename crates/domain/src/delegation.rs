//! Delegation: the right of one identity to sign on another's behalf,
//! scoped by event kind, impact and request, and bounded in time.
//!
//! Only direct delegations count: a delegate never passes on a right they
//! hold by delegation (re-delegation is refused when granting, and chains
//! are never followed when signing).

use countersign_proto::api::GrantDelegation;
use countersign_proto::governance::{Delegation, DelegationScope};
use countersign_proto::model::{Identity, IdentityStatus, Request};
use time::{Duration, OffsetDateTime};

use crate::{check_name, check_text, ErrorCode, Refusal, Result};

/// Who grants a delegation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grantor<'a> {
    /// An administrator recording a delegation for the principal.
    Admin,
    /// An identity granting it themself.
    Identity(&'a str),
}

/// Whether `d` is in force at `now`.
pub fn in_force(d: &Delegation, now: OffsetDateTime) -> bool {
    d.ended_at.is_none_or(|e| e > now) && d.not_before <= now && now < d.not_after
}

/// Check and build a new delegation.
///
/// `held` are the delegations the grantor currently holds as a delegate;
/// a grantor acting for a principal they only hold a delegation from is
/// attempting re-delegation.
#[allow(clippy::too_many_arguments)]
pub fn grant(
    input: &GrantDelegation,
    principal: &Identity,
    delegate: &Identity,
    grantor: Grantor<'_>,
    held: &[Delegation],
    max_duration: Duration,
    id: String,
    log_index: u64,
    now: OffsetDateTime,
) -> Result<Delegation> {
    if let Grantor::Identity(who) = grantor {
        if who != principal.handle {
            let redelegating = held
                .iter()
                .any(|d| d.delegate == who && d.principal == principal.handle && in_force(d, now));
            return Err(if redelegating {
                Refusal::new(
                    ErrorCode::RedelegationRefused,
                    format!(
                        "{who} holds {}'s right to sign only by delegation and cannot pass it on",
                        principal.handle
                    ),
                )
            } else {
                Refusal::new(
                    ErrorCode::Forbidden,
                    format!("{who} may grant delegations only on their own behalf"),
                )
            });
        }
    }
    if principal.handle == delegate.handle {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            "an identity cannot delegate to itself",
        ));
    }
    for party in [principal, delegate] {
        if party.status != IdentityStatus::Active {
            return Err(Refusal::new(
                ErrorCode::ActorNotActive,
                format!(
                    "{} is {}; only active identities take part in delegations",
                    party.handle,
                    party.status.as_str()
                ),
            ));
        }
    }
    check_text("reason", &input.reason, 1, 2000)?;
    let scope = check_scope(&input.scope)?;
    let not_before = input.not_before.unwrap_or(now);
    let not_after = match (input.not_after, input.duration_seconds) {
        (Some(_), Some(_)) => {
            return Err(Refusal::new(
                ErrorCode::InvalidField,
                "give not_after or duration_seconds, not both",
            ))
        }
        (Some(at), None) => at,
        (None, Some(secs)) => {
            let secs = i64::try_from(secs).unwrap_or(i64::MAX);
            not_before
                .checked_add(Duration::seconds(secs))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        }
        (None, None) => {
            return Err(Refusal::new(
                ErrorCode::InvalidField,
                "a delegation needs an end: give not_after or duration_seconds",
            ))
        }
    };
    if not_after <= not_before || not_after <= now {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            "not_after must lie after not_before and in the future",
        ));
    }
    if not_after - not_before > max_duration {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            format!(
                "a delegation lasts at most {} days",
                max_duration.whole_days()
            ),
        ));
    }
    Ok(Delegation {
        id,
        principal: principal.handle.clone(),
        delegate: delegate.handle.clone(),
        scope,
        not_before,
        not_after,
        reason: input.reason.clone(),
        granted_by: match grantor {
            Grantor::Admin => "admin".to_string(),
            Grantor::Identity(who) => who.to_string(),
        },
        granted_at: now,
        ended_at: None,
        end_reason: None,
        log_index,
    })
}

fn check_scope(scope: &DelegationScope) -> Result<DelegationScope> {
    if scope.requests.len() > 64 {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            "a delegation names at most 64 requests",
        ));
    }
    for r in &scope.requests {
        check_name("scope.requests", r)?;
    }
    let mut out = scope.clone();
    out.event_kinds.sort_by_key(|k| k.as_str());
    out.event_kinds.dedup();
    out.requests.sort();
    out.requests.dedup();
    Ok(out)
}

/// End a delegation early.
pub fn end(d: &Delegation, reason: &str, now: OffsetDateTime) -> Result<Delegation> {
    if d.ended_at.is_some() || d.not_after <= now {
        return Err(Refusal::new(
            ErrorCode::DelegationEnded,
            format!("delegation {} has already ended", d.id),
        ));
    }
    let mut next = d.clone();
    next.ended_at = Some(now);
    next.end_reason = Some(reason.to_string());
    Ok(next)
}

/// The delegation under which `actor` may sign `request` for `principal`
/// at `now`. `candidates` are the delegations involving the actor; only
/// direct ones from `principal` count. When none is usable, the refusal
/// explains the closest miss.
pub fn authorise<'a>(
    candidates: &'a [Delegation],
    principal: &str,
    actor: &str,
    request: &Request,
    now: OffsetDateTime,
) -> Result<&'a Delegation> {
    let direct: Vec<&Delegation> = candidates
        .iter()
        .filter(|d| d.principal == principal && d.delegate == actor)
        .collect();
    if direct.is_empty() {
        return Err(Refusal::new(
            ErrorCode::NoDelegation,
            format!("{actor} holds no delegation from {principal}"),
        ));
    }
    let mut miss = None;
    // Newest first: the most recent grant best explains a refusal.
    for d in direct.iter().rev() {
        match usable(d, request, now) {
            Ok(()) => return Ok(d),
            Err(r) => {
                if miss.is_none() {
                    miss = Some(r);
                }
            }
        }
    }
    Err(miss.unwrap_or_else(|| {
        Refusal::new(
            ErrorCode::NoDelegation,
            format!("{actor} holds no usable delegation from {principal}"),
        )
    }))
}

fn usable(d: &Delegation, request: &Request, now: OffsetDateTime) -> Result<()> {
    if let Some(ended) = d.ended_at {
        if ended <= now {
            return Err(Refusal::new(
                ErrorCode::DelegationEnded,
                format!(
                    "delegation {} ended at {ended}: {}",
                    d.id,
                    d.end_reason.as_deref().unwrap_or("revoked")
                ),
            ));
        }
    }
    if now < d.not_before || now >= d.not_after {
        return Err(Refusal::new(
            ErrorCode::DelegationNotInWindow,
            format!(
                "delegation {} is valid from {} until {}",
                d.id, d.not_before, d.not_after
            ),
        ));
    }
    let scope = &d.scope;
    if !scope.event_kinds.is_empty() && !scope.event_kinds.contains(&request.event_kind) {
        return Err(Refusal::new(
            ErrorCode::DelegationOutOfScope,
            format!(
                "delegation {} does not cover {} requests",
                d.id,
                request.event_kind.as_str()
            ),
        ));
    }
    if request.impact > scope.max_impact {
        return Err(Refusal::new(
            ErrorCode::DelegationOutOfScope,
            format!(
                "delegation {} covers impact up to {}, and request {} is {}",
                d.id,
                scope.max_impact.as_str(),
                request.id,
                request.impact.as_str()
            ),
        ));
    }
    if !scope.requests.is_empty() && !scope.requests.contains(&request.id) {
        return Err(Refusal::new(
            ErrorCode::DelegationOutOfScope,
            format!("delegation {} does not name request {}", d.id, request.id),
        ));
    }
    Ok(())
}

/// Whether `me` is a party to `r` (requester, beneficiary, subject of its
/// action, approver, signer) or a delegate of one of its approvers whose
/// delegation covered it (its kind and impact) at some moment while it
/// was open: what they could have signed. Row-scoped reads show a person
/// exactly these requests.
pub fn party_or_delegate(
    r: &Request,
    me: &str,
    delegations_of_me: &[Delegation],
    now: OffsetDateTime,
) -> bool {
    let party = r.requester == me
        || r.beneficiary == me
        || r.approvers.iter().any(|a| a == me)
        || r.signatures.iter().any(|s| s.actor == me)
        || r.action.as_ref().is_some_and(|a| a.subject == me);
    if party {
        return true;
    }
    let open_until = r.decided_at.unwrap_or(now);
    delegations_of_me.iter().any(|d| {
        let ends = d.ended_at.map_or(d.not_after, |e| e.min(d.not_after));
        let from = d.not_before.max(r.created_at);
        d.delegate == me
            && r.approvers.contains(&d.principal)
            && from < ends
            && from <= open_until
            && authorise(std::slice::from_ref(d), &d.principal, me, r, from).is_ok()
    })
}
