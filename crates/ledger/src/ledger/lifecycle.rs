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

use super::outbox::Outbound;
use super::{Ledger, Receipted, Result};
use crate::WriteTx;

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
        let mut tx = self.store.write()?;
        let current = Self::load_identity(&*tx, handle)?;
        let next = identity::change_status(&current, to, now)?;
        let (mut events, mut outbound) = (Vec::new(), Vec::new());
        let first = tx.tree_size()?;
        let next = self.change_status_in(
            tx.as_mut(),
            &current,
            next,
            reason,
            now,
            &mut events,
            &mut outbound,
        )?;
        self.finish_emitting(tx, events, outbound, now)?;
        Ok(Receipted {
            value: next,
            log_index: first,
        })
    }

    /// Store a status change and its consequences inside `tx`, adding
    /// their log events (the status change first) to `events` and their
    /// outbound events to `outbound`; answers the new record. The caller
    /// appends `events` in order, then seals and commits.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn change_status_in(
        &self,
        tx: &mut dyn WriteTx,
        current: &Identity,
        next: Identity,
        reason: Option<String>,
        now: OffsetDateTime,
        events: &mut Vec<Event>,
        outbound: &mut Vec<Outbound>,
    ) -> Result<Identity> {
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
        let first = tx.tree_size()?;
        let status_entry = events.len();
        tx.put_identity(&next, reason.as_deref(), first + status_entry as u64)?;
        events.push(Event::IdentityStatusChanged {
            identity: next.clone(),
            previous: current.status,
            reason: reason.clone(),
            revoked_keys: revoked_keys.clone(),
        });
        if !leaving {
            // A reactivated owner is accountable again for the non-human
            // identities that were orphaned when they left.
            self.flag_owned(tx, &handle, false, "owner reactivated", now, events)?;
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
                events.push(Event::TokenRevoked {
                    token: t.id,
                    name: t.name,
                    identity: t.identity,
                });
            }
        }

        let ended = self.end_delegations_of(tx, &next, now)?;
        let ended_delegations: Vec<String> = ended
            .iter()
            .filter_map(|e| match e {
                Event::DelegationEnded { delegation, .. } => Some(delegation.clone()),
                _ => None,
            })
            .collect();
        events.extend(ended);

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
                    self.notify_needed(tx, &request, Some(&r), Some(&handle), now)?;
                    outbound.push(Outbound {
                        kind: "request.rerouted",
                        subject: request.id.clone(),
                        ordering_key: request.id.clone(),
                        data: json!({
                            "request": request,
                            "requester": request.requester,
                            "removed": handle,
                            "added": added,
                            "reason": reason,
                        }),
                        entry: events.len(),
                    });
                    rerouted.push(request.id.clone());
                    events.push(Event::RequestRerouted {
                        request: request.id,
                        removed: handle.clone(),
                        added,
                        reason,
                    });
                }
                Rerouting::Voided { request, reason } => {
                    tx.put_request(&request)?;
                    self.notify_outcome(tx, &request, Some(&reason), now)?;
                    outbound.push(Outbound {
                        kind: "request.voided",
                        subject: request.id.clone(),
                        ordering_key: request.id.clone(),
                        data: json!({
                            "request": request,
                            "requester": request.requester,
                            "reason": reason,
                        }),
                        entry: events.len(),
                    });
                    voided.push(request.id.clone());
                    events.push(Event::RequestClosed {
                        request: request.id,
                        state: RequestState::Voided,
                        reason: Some(reason),
                    });
                }
            }
        }

        let why = format!("owner {handle} is {}", to.as_str());
        let mut orphaned = Vec::new();
        for (nhi, entry) in self.flag_owned(tx, &handle, true, &why, now, events)? {
            outbound.push(Outbound {
                kind: "identity.orphaned",
                subject: nhi.handle.clone(),
                ordering_key: nhi.handle.clone(),
                data: json!({ "identity": nhi, "owner": handle, "reason": why }),
                entry,
            });
            orphaned.push(nhi.handle);
        }

        outbound.insert(
            0,
            Outbound {
                kind: if to == IdentityStatus::Terminated {
                    "identity.terminated"
                } else {
                    "identity.suspended"
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
                entry: status_entry,
            },
        );
        Ok(next)
    }

    /// Set `orphaned` on the live non-human identities `owner` owns whose
    /// flag differs, each change an `identity.updated` entry added to
    /// `events`; answers each changed identity with its entry's position.
    fn flag_owned(
        &self,
        tx: &mut dyn WriteTx,
        owner: &str,
        orphaned: bool,
        why: &str,
        now: OffsetDateTime,
        events: &mut Vec<Event>,
    ) -> Result<Vec<(Identity, usize)>> {
        let first = tx.tree_size()?;
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
            let entry = events.len();
            tx.put_identity(&nhi, Some(why), first + entry as u64)?;
            events.push(Event::IdentityUpdated {
                identity: nhi.clone(),
                changed: vec!["orphaned".to_string()],
            });
            changed.push((nhi, entry));
        }
        Ok(changed)
    }
}
