//! Requests: creation, state, and closing.

use countersign_proto::api::CreateRequest;
use countersign_proto::model::{
    ApprovalOrder, Decision, DocumentVersion, Identity, Request, RequestDocument, RequestState,
    SignatureRecord,
};
use std::collections::HashSet;
use time::OffsetDateTime;

use crate::{check_future, check_name, check_text, ErrorCode, Limits, Refusal, Result};

/// The facts a new request refers to, loaded by the caller.
pub struct RequestFacts<'a> {
    /// The document versions named, in the order named (`None` where unknown).
    pub documents: Vec<Option<DocumentVersion>>,
    /// Every identity the request names, by handle, where known.
    pub identity: &'a dyn Fn(&str) -> Option<Identity>,
}

fn known(facts: &RequestFacts<'_>, role: &str, handle: &str) -> Result<Identity> {
    (facts.identity)(handle).ok_or_else(|| {
        Refusal::new(
            ErrorCode::IdentityNotFound,
            format!("{role} {handle:?} is not a known identity"),
        )
    })
}

/// Check and build a new pending request.
pub fn create_request(
    input: &CreateRequest,
    id: String,
    facts: &RequestFacts<'_>,
    limits: &Limits,
    log_index: u64,
    now: OffsetDateTime,
) -> Result<Request> {
    check_text("purpose", &input.purpose, 1, 4000)?;
    if input.documents.is_empty() {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            "documents must name at least one document version",
        ));
    }
    if input.documents.len() > 64 {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            "at most 64 documents",
        ));
    }
    let mut documents = Vec::with_capacity(input.documents.len());
    let mut seen = HashSet::new();
    for (wanted, found) in input.documents.iter().zip(&facts.documents) {
        let Some(v) = found else {
            return Err(Refusal::new(
                ErrorCode::DocumentNotFound,
                match wanted.version {
                    Some(n) => format!("document {:?} has no version {n}", wanted.document),
                    None => format!("document {:?} is not registered", wanted.document),
                },
            ));
        };
        if !seen.insert((v.document.clone(), v.version)) {
            return Err(Refusal::new(
                ErrorCode::InvalidField,
                format!(
                    "document {:?} version {} is named twice",
                    v.document, v.version
                ),
            ));
        }
        documents.push(RequestDocument {
            document: v.document.clone(),
            version: v.version,
            sha256: v.sha256.clone(),
        });
    }
    known(facts, "requester", &input.requester)?;
    known(facts, "beneficiary", &input.beneficiary)?;
    if let Some(action) = &input.action {
        check_name("action.system", &action.system)?;
        check_text("action.entitlement", &action.entitlement, 1, 512)?;
        known(facts, "action.subject", &action.subject)?;
    }
    if input.approvers.is_empty() {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            "approvers must not be empty",
        ));
    }
    if input.approvers.len() > 32 {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            "at most 32 approvers",
        ));
    }
    let mut unique = HashSet::new();
    for a in &input.approvers {
        if !unique.insert(a) {
            return Err(Refusal::new(
                ErrorCode::InvalidField,
                format!("approver {a:?} is named twice"),
            ));
        }
        known(facts, "approver", a)?;
    }
    let m = input.approvers.len() as u32;
    let quorum = input.quorum.unwrap_or(m);
    if quorum == 0 || quorum > m {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            format!("quorum must be between 1 and the number of approvers ({m})"),
        ));
    }
    let expires_at = match (input.expires_at, input.expires_in_seconds) {
        (Some(_), Some(_)) => {
            return Err(Refusal::new(
                ErrorCode::InvalidField,
                "give expires_at or expires_in_seconds, not both",
            ))
        }
        (Some(at), None) => at,
        (None, Some(secs)) => {
            let secs = i64::try_from(secs).unwrap_or(i64::MAX);
            now.checked_add(time::Duration::seconds(secs))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        }
        (None, None) => now + limits.default_request_lifetime,
    };
    check_future("expires_at", expires_at, now)?;
    if expires_at - now > limits.max_request_lifetime {
        return Err(Refusal::new(
            ErrorCode::InvalidField,
            format!(
                "expires_at is more than {} days away",
                limits.max_request_lifetime.whole_days()
            ),
        ));
    }
    Ok(Request {
        id,
        event_kind: input.event_kind,
        purpose: input.purpose.clone(),
        impact: input.impact,
        documents,
        action: input.action.clone(),
        requester: input.requester.clone(),
        beneficiary: input.beneficiary.clone(),
        approvers: input.approvers.clone(),
        order: input.order,
        quorum,
        created_at: now,
        expires_at,
        state: RequestState::Pending,
        decided_at: None,
        signatures: Vec::new(),
        log_index,
    })
}

/// Every identity a request names: requester, beneficiary, approvers and
/// the subject of its entitlement action.
pub fn parties(r: &Request) -> Vec<String> {
    let mut out = vec![r.requester.clone(), r.beneficiary.clone()];
    out.extend(r.approvers.iter().cloned());
    if let Some(a) = &r.action {
        out.push(a.subject.clone());
    }
    out
}

/// The state a request's signatures put it in: approved once `quorum`
/// approvals are in, rejected once too few approvers remain to reach it.
pub fn state_from_signatures(request: &Request) -> RequestState {
    let approvals = count(request, Decision::Approve);
    let rejections = count(request, Decision::Reject);
    let approvers = request.approvers.len() as u32;
    if approvals >= request.quorum {
        RequestState::Approved
    } else if approvers.saturating_sub(rejections) < request.quorum {
        RequestState::Rejected
    } else {
        RequestState::Pending
    }
}

/// Decisions of type `d` that fill an approver's slot. A signature counts
/// for the approver it was given for (the principal under a delegation), and
/// only if that approver is listed, whatever a policy allowed.
fn count(request: &Request, d: Decision) -> u32 {
    request
        .signatures
        .iter()
        .filter(|s| s.decision == d && request.approvers.iter().any(|a| a == s.approver()))
        .count() as u32
}

/// Record a signature on a request and move it to the resulting state.
pub fn add_signature(
    request: &Request,
    signature: SignatureRecord,
    now: OffsetDateTime,
) -> Request {
    let mut next = request.clone();
    next.signatures.push(signature);
    next.state = state_from_signatures(&next);
    if next.state != RequestState::Pending {
        next.decided_at = Some(now);
    }
    next
}

/// The state to show for a request at `now`: a pending request past its
/// expiry is expired even before the sweeper records it.
pub fn effective_state(request: &Request, now: OffsetDateTime) -> RequestState {
    if request.state == RequestState::Pending && request.expires_at <= now {
        RequestState::Expired
    } else {
        request.state
    }
}

/// Close a pending request without a deciding signature.
pub fn close(request: &Request, to: RequestState, now: OffsetDateTime) -> Result<Request> {
    if request.state != RequestState::Pending {
        return Err(Refusal::new(
            ErrorCode::RequestNotPending,
            format!("request {} is {}", request.id, request.state.as_str()),
        ));
    }
    if to == RequestState::Withdrawn && request.expires_at <= now {
        return Err(Refusal::new(
            ErrorCode::RequestExpired,
            format!("request {} expired at {}", request.id, request.expires_at),
        ));
    }
    let mut next = request.clone();
    next.state = to;
    next.decided_at = Some(now);
    Ok(next)
}

/// Whether `approver` may act now on a sequential request: every approver
/// listed before them has signed (in person or through a delegate).
pub fn order_respected(request: &Request, approver: &str) -> bool {
    if request.order == ApprovalOrder::Parallel {
        return true;
    }
    let signed: HashSet<&str> = request.signatures.iter().map(|s| s.approver()).collect();
    request
        .approvers
        .iter()
        .take_while(|a| a.as_str() != approver)
        .all(|a| signed.contains(a.as_str()))
}
