//! Identity lifecycle: status changes and their consequences, all in the
//! transaction of the status change itself.
//!
//! When an identity leaves (suspended or terminated): its API tokens are
//! revoked, its workload certificates (and on termination every key) are
//! revoked, its delegations end, the pending requests it must still sign
//! are re-routed or voided (the requester is told by an outbound event),
//! and the non-human identities it owns are flagged orphaned. Each
//! consequence is its own log entry after the status change.

use countersign_domain::identity;
use countersign_domain::lifecycle::{self, Rerouting};
use countersign_proto::api::{IdentityFilter, RequestFilter};
use countersign_proto::entry::Event;
use countersign_proto::model::{CredentialKind, Identity, IdentityStatus, RequestState};
use serde_json::json;
use time::OffsetDateTime;

use super::outbox::{Outbound, OutboundKind};
use super::{Ledger, Receipted, Result, Write};

impl Ledger {
    /// Suspend, reactivate or terminate, with the consequences above.
    pub fn change_status(
        &self,
        handle: &str,
        to: IdentityStatus,
        reason: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Receipted<Identity>> {
        if let Some(r) = &reason {
            countersign_domain::check_text("reason", r, 1, 2000)?;
        }
        let mut tx = self.begin(now)?;
        let current = Self::load_identity(&*tx, handle)?;
        let next = identity::change_status(&current, to, now)?;
        let first = tx.next_index()?;
        let next = self.change_status_in(&mut tx, &current, next, reason)?;
        tx.commit()?;
        Ok(Receipted {
            value: next,
            log_index: first,
        })
    }

    /// Store a status change and its consequences in `tx`, logging their
    /// entries (the status change first) and queueing their outbound
    /// events; answers the new record. The caller commits.
    pub(crate) fn change_status_in(
        &self,
        tx: &mut Write<'_>,
        current: &Identity,
        next: Identity,
        reason: Option<String>,
    ) -> Result<Identity> {
        let now = tx.now();
        let handle = next.handle.clone();
        let to = next.status;
        let leaving = to != IdentityStatus::Active;
        let mut revoked_keys = Vec::new();
        for c in tx.credentials_of(&handle)? {
            let ends = match to {
                IdentityStatus::Terminated => true,
                // Short-lived certificates are session credentials: a
                // suspension ends them; enrolled keys are kept (policy
                // refuses an inactive signer) for a reactivation.
                IdentityStatus::Suspended => c.kind == CredentialKind::Certificate,
                IdentityStatus::Active => false,
            };
            if ends && c.revoked_at.is_none() && c.expires_at.is_none_or(|e| e > now) {
                let why = format!("identity {}", to.as_str());
                let r = identity::revoke_key(&c, Some(why), now)?;
                tx.put_credential(&r)?;
                revoked_keys.push(r.key_id);
            }
        }
        let status_entry = tx.next_index()?;
        tx.put_identity(&next, reason.as_deref(), status_entry)?;
        tx.log(Event::IdentityStatusChanged {
            identity: next.clone(),
            previous: current.status,
            reason: reason.clone(),
            revoked_keys: revoked_keys.clone(),
        })?;
        if !leaving {
            // A reactivated owner is accountable again for the non-human
            // identities that were orphaned when they left.
            Self::flag_owned(tx, &handle, false, "owner reactivated")?;
            return Ok(next);
        }
        // Every browser session of a leaver ends with the status change.
        tx.delete_sessions_of(&handle)?;

        let mut revoked_tokens = Vec::new();
        for mut t in tx.tokens()? {
            if t.identity.as_deref() == Some(handle.as_str())
                && t.revoked_at.is_none()
                && t.expires_at > now
            {
                t.revoked_at = Some(now);
                tx.put_token(&t, None)?;
                revoked_tokens.push(t.id.clone());
                tx.log(Event::TokenRevoked {
                    token: t.id,
                    name: t.name,
                    identity: t.identity,
                })?;
            }
        }

        let ended_delegations = Self::end_delegations_of(tx, &next)?;

        let manager = match &next.manager {
            Some(m) => tx.identity(m)?,
            None => None,
        };
        let pending = tx.requests(&RequestFilter {
            state: Some(RequestState::Pending),
            approver: Some(handle.clone()),
            limit: Some(1000),
            ..RequestFilter::default()
        })?;
        let mut rerouted = Vec::new();
        let mut voided = Vec::new();
        // Reported after the status change itself, which goes out first.
        let mut consequences = Vec::new();
        for r in pending {
            if !lifecycle::must_still_sign(&r, &handle) || r.expires_at <= now {
                continue;
            }
            match lifecycle::reroute(
                &r,
                &next,
                manager.as_ref(),
                self.config.iga.pending_approvals,
                now,
            )? {
                Rerouting::Rerouted {
                    request,
                    added,
                    reason,
                } => {
                    tx.put_request(&request)?;
                    self.notify_needed(&mut **tx, &request, Some(&r), Some(&handle), now)?;
                    let o = Outbound {
                        kind: OutboundKind::RequestRerouted,
                        subject: request.id.clone(),
                        ordering_key: request.id.clone(),
                        data: json!({
                            "request": request,
                            "requester": request.requester,
                            "removed": handle,
                            "added": added,
                            "reason": reason,
                        }),
                    };
                    rerouted.push(request.id.clone());
                    let index = tx.log(Event::RequestRerouted {
                        request: request.id,
                        removed: handle.clone(),
                        added,
                        reason,
                    })?;
                    consequences.push((index, o));
                }
                Rerouting::Voided { request, reason } => {
                    tx.put_request(&request)?;
                    self.notify_outcome(&mut **tx, &request, Some(&reason), now)?;
                    let o = Outbound {
                        kind: OutboundKind::RequestVoided,
                        subject: request.id.clone(),
                        ordering_key: request.id.clone(),
                        data: json!({
                            "request": request,
                            "requester": request.requester,
                            "reason": reason,
                        }),
                    };
                    voided.push(request.id.clone());
                    let index = tx.log(Event::RequestClosed {
                        request: request.id,
                        state: RequestState::Voided,
                        reason: Some(reason),
                    })?;
                    consequences.push((index, o));
                }
            }
        }

        let why = format!("owner {handle} is {}", to.as_str());
        let mut orphaned = Vec::new();
        for (nhi, index) in Self::flag_owned(tx, &handle, true, &why)? {
            let o = Outbound {
                kind: OutboundKind::IdentityOrphaned,
                subject: nhi.handle.clone(),
                ordering_key: nhi.handle.clone(),
                data: json!({ "identity": nhi, "owner": handle, "reason": why }),
            };
            consequences.push((index, o));
            orphaned.push(nhi.handle);
        }

        tx.emit(
            status_entry,
            Outbound {
                kind: if to == IdentityStatus::Terminated {
                    OutboundKind::IdentityTerminated
                } else {
                    OutboundKind::IdentitySuspended
                },
                subject: handle.clone(),
                ordering_key: handle.clone(),
                data: json!({
                    "identity": next,
                    "previous": current.status,
                    "reason": reason,
                    "consequences": {
                        "revoked_keys": revoked_keys,
                        "revoked_tokens": revoked_tokens,
                        "ended_delegations": ended_delegations,
                        "rerouted_requests": rerouted,
                        "voided_requests": voided,
                        "orphaned_identities": orphaned,
                    },
                }),
            },
        );
        for (index, o) in consequences {
            tx.emit(index, o);
        }
        Ok(next)
    }

    /// Set `orphaned` on the live non-human identities `owner` owns whose
    /// flag differs, each change an `identity.updated` entry; answers each
    /// changed identity with its entry's index.
    fn flag_owned(
        tx: &mut Write<'_>,
        owner: &str,
        orphaned: bool,
        why: &str,
    ) -> Result<Vec<(Identity, u64)>> {
        let now = tx.now();
        let mut changed = Vec::new();
        for mut nhi in tx.identities(&IdentityFilter::default())? {
            if nhi.kind.is_human()
                || nhi.owner.as_deref() != Some(owner)
                || nhi.status == IdentityStatus::Terminated
                || nhi.orphaned == orphaned
            {
                continue;
            }
            nhi.orphaned = orphaned;
            nhi.updated_at = now;
            nhi.revision += 1;
            let index = tx.next_index()?;
            tx.put_identity(&nhi, Some(why), index)?;
            tx.log(Event::IdentityUpdated {
                identity: nhi.clone(),
                changed: vec!["orphaned".to_string()],
            })?;
            changed.push((nhi, index));
        }
        Ok(changed)
    }
}
