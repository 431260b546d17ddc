//! What happens to the pending approvals of an identity that leaves
//! (is suspended or terminated).
//!
//! A leaver cannot sign, so every pending request that still waits for
//! them would sit until it expires. The operator chooses between voiding
//! such requests outright and re-routing them: the leaver's slot goes to
//! their manager when the manager can take it, or is dropped when the
//! remaining approvers still make the quorum; only when neither works is
//! the request voided. Either way the requester is told (by the caller,
//! through an outbound event) and the change is logged.

use countersign_proto::model::{Identity, IdentityStatus, Request, RequestState};
use time::OffsetDateTime;

use crate::request::close;
use crate::Result;

/// What to do with the pending approvals of a leaver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingApprovals {
    /// Hand the slot to the manager, or drop it when the quorum still holds;
    /// void otherwise.
    Reroute,
    /// Void every pending request the leaver must still sign.
    Void,
}

impl PendingApprovals {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reroute" => Some(PendingApprovals::Reroute),
            "void" => Some(PendingApprovals::Void),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PendingApprovals::Reroute => "reroute",
            PendingApprovals::Void => "void",
        }
    }
}

/// The fate of one pending request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rerouting {
    /// The leaver was taken off the approvers; `added` took their place.
    Rerouted {
        request: Request,
        added: Option<String>,
        reason: String,
    },
    Voided {
        request: Request,
        reason: String,
    },
}

/// Whether `handle` is an approver of `request` who has yet to sign.
pub fn must_still_sign(request: &Request, handle: &str) -> bool {
    request.state == RequestState::Pending
        && request.approvers.iter().any(|a| a == handle)
        && !request.signatures.iter().any(|s| s.approver() == handle)
}

/// Decide what happens to `request`, which `leaver` must still sign.
/// `manager` is the leaver's manager's current record, if there is one.
pub fn reroute(
    request: &Request,
    leaver: &Identity,
    manager: Option<&Identity>,
    mode: PendingApprovals,
    now: OffsetDateTime,
) -> Result<Rerouting> {
    let why = format!("approver {} is {}", leaver.handle, leaver.status.as_str());
    if mode == PendingApprovals::Reroute {
        let stand_in = manager.filter(|m| {
            m.status == IdentityStatus::Active
                && !m.shared
                && m.handle != request.requester
                && m.handle != request.beneficiary
                && !request.approvers.contains(&m.handle)
                && !request.signatures.iter().any(|s| s.actor == m.handle)
        });
        if let Some(m) = stand_in {
            let mut next = request.clone();
            for a in next.approvers.iter_mut() {
                if *a == leaver.handle {
                    a.clone_from(&m.handle);
                }
            }
            return Ok(Rerouting::Rerouted {
                request: next,
                added: Some(m.handle.clone()),
                reason: format!("{why}; re-routed to their manager {}", m.handle),
            });
        }
        let remaining = request.approvers.len().saturating_sub(1);
        if remaining >= request.quorum as usize {
            let mut next = request.clone();
            next.approvers.retain(|a| *a != leaver.handle);
            return Ok(Rerouting::Rerouted {
                request: next,
                added: None,
                reason: format!(
                    "{why}; removed, the remaining {remaining} approvers still make the quorum of {}",
                    request.quorum
                ),
            });
        }
    }
    let reason = match mode {
        PendingApprovals::Void => format!("{why}; pending approvals of leavers are voided"),
        PendingApprovals::Reroute => {
            format!("{why}; no manager can take the slot and the quorum cannot be met without it")
        }
    };
    Ok(Rerouting::Voided {
        request: close(request, RequestState::Voided, now)?,
        reason,
    })
}
