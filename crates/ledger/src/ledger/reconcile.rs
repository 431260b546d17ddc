//! Entitlement change intake, reconciliation and the control exception
//! workflow.
//!
//! A reported change is recorded (`entitlement.changed`) and reconciled in
//! the same transaction: the domain's rules compare it with the requests
//! whose action concerns the same subject or entitlement, and every finding
//! becomes a control exception (`control.raised`), or adds evidence to the
//! one already raised for the same kind and key (`control.updated`,
//! reopening it if it had been resolved). A full run (`reconcile`) repeats
//! that for every change and adds the time-based findings: approvals never
//! carried out, leavers still holding access, orphaned identities holding
//! access.

use std::collections::HashMap;

use countersign_domain::reconcile::{
    self, Candidate, ChangeOutcome, Finding, ReconcileConfig, SignatureFacts,
};
use countersign_proto::entry::Event;
use countersign_proto::governance::Delegation;
use countersign_proto::iga::{
    ChangeBatch, ChangeFilter, ChangeIntake, ControlException, ControlFilter, ControlResolution,
    ControlState, EntitlementChange, ReconcileReport, ReportChange,
};
use countersign_proto::model::{
    Credential, Identity, IdentityHistoryEntry, IdentityStatus, Request, RequestState,
};
use countersign_proto::statement::Envelope;
use countersign_proto::ErrorCode;
use serde_json::json;
use time::OffsetDateTime;

use super::outbox::{Outbound, OutboundKind};
use super::{new_id, Ledger, LedgerError, Result, Write};
use crate::ReadTx;

/// The most changes one intake call records.
pub const MAX_CHANGE_BATCH: usize = 1000;

/// Everything a candidate request's signatures need, owned, so that
/// [`Candidate`] can borrow from it.
struct Loaded {
    request: Request,
    actors: Vec<Option<Identity>>,
    credentials: Vec<Option<Credential>>,
    delegations: Vec<Option<Delegation>>,
    newer_documents: Vec<(String, u32, u64)>,
}

impl Loaded {
    fn load(tx: &dyn ReadTx, request: Request, at: OffsetDateTime) -> Result<Self> {
        let mut actors = Vec::new();
        let mut credentials = Vec::new();
        let mut delegations = Vec::new();
        for s in &request.signatures {
            actors.push(identity_then(&tx.identity_history(&s.actor)?, s.signed_at));
            credentials.push(tx.credential(&s.key_id)?);
            delegations.push(match &s.delegation {
                Some(d) => tx.delegation(d)?,
                None => None,
            });
        }
        let mut newer_documents = Vec::new();
        for d in &request.documents {
            if let Some(doc) = tx.document(&d.document)? {
                for v in doc.versions {
                    if v.version > d.version && v.registered_at <= at {
                        newer_documents.push((v.document, v.version, v.log_index));
                    }
                }
            }
        }
        Ok(Loaded {
            request,
            actors,
            credentials,
            delegations,
            newer_documents,
        })
    }

    fn candidate(&self) -> Candidate<'_> {
        Candidate {
            request: &self.request,
            signatures: self
                .request
                .signatures
                .iter()
                .enumerate()
                .map(|(i, record)| SignatureFacts {
                    record,
                    actor_then: self.actors.get(i).and_then(Option::as_ref),
                    credential: self.credentials.get(i).and_then(Option::as_ref),
                    delegation: self.delegations.get(i).and_then(Option::as_ref),
                })
                .collect(),
            newer_documents: self.newer_documents.clone(),
        }
    }
}

/// The version of an identity in force at `at`.
fn identity_then(history: &[IdentityHistoryEntry], at: OffsetDateTime) -> Option<Identity> {
    history
        .iter()
        .rev()
        .find(|h| h.identity.updated_at <= at)
        .map(|h| h.identity.clone())
}

fn check_change(c: &ReportChange, skew: time::Duration, now: OffsetDateTime) -> Result<()> {
    countersign_domain::check_text("system", &c.system, 1, 200)?;
    countersign_domain::check_text("subject", &c.subject, 1, 200)?;
    countersign_domain::check_text("entitlement", &c.entitlement, 1, 500)?;
    countersign_domain::check_text("changed_by", &c.changed_by, 1, 200)?;
    countersign_domain::check_text("source_event_id", &c.source_event_id, 1, 200)?;
    if c.changed_at > now + skew {
        return Err(LedgerError::refused(
            ErrorCode::InvalidField,
            format!(
                "changed_at {} is in the future (server time {now})",
                c.changed_at
            ),
        ));
    }
    Ok(())
}

impl Ledger {
    fn reconcile_config(&self) -> &ReconcileConfig {
        &self.config.iga.reconcile
    }

    /// Record reported changes (idempotent on the source event id) and
    /// reconcile each. All or nothing: one bad change refuses the batch.
    pub fn report_changes(
        &self,
        input: &[ReportChange],
        reported_by: &str,
        now: OffsetDateTime,
    ) -> Result<ChangeBatch> {
        if input.is_empty() || input.len() > MAX_CHANGE_BATCH {
            return Err(LedgerError::refused(
                ErrorCode::InvalidField,
                format!(
                    "a batch holds 1 to {MAX_CHANGE_BATCH} changes; this one has {}",
                    input.len()
                ),
            ));
        }
        for (i, c) in input.iter().enumerate() {
            check_change(c, self.config.limits.max_clock_skew, now).map_err(|e| at_item(e, i))?;
        }
        let mut tx = self.begin(now)?;
        let mut report = ReconcileReport::default();
        let mut results = Vec::with_capacity(input.len());
        let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, c) in input.iter().enumerate() {
            let key = (c.system.as_str(), c.source_event_id.as_str());
            let earlier = match seen.get(&key) {
                Some(j) => results.get(*j).map(|r: &ChangeIntake| r.change.clone()),
                None => tx.change_by_source(&c.system, &c.source_event_id)?,
            };
            if let Some(existing) = earlier {
                if existing.change != *c {
                    return Err(at_item(
                        LedgerError::refused(
                            ErrorCode::ChangeConflict,
                            format!(
                                "source event {:?} of {:?} was reported before with different content (change {})",
                                c.source_event_id, c.system, existing.id
                            ),
                        ),
                        i,
                    ));
                }
                results.push(ChangeIntake {
                    change: existing,
                    duplicate: true,
                    exceptions: Vec::new(),
                });
                continue;
            }
            let index = tx.next_index()?;
            let mut change = EntitlementChange {
                id: new_id("chg"),
                change: c.clone(),
                reported_at: now,
                reported_by: reported_by.to_string(),
                request: None,
                log_index: index,
            };
            let marks = (
                report.raised.len(),
                report.reopened.len(),
                report.updated.len(),
            );
            let outcome = self.reconcile_one(&*tx, &change)?;
            if outcome.matched.is_some() {
                change.request.clone_from(&outcome.matched);
            }
            // The change's own entry first, then what reconciling it raised.
            tx.log(Event::EntitlementChanged {
                change: change.clone(),
            })?;
            tx.put_change(&change)?;
            for f in outcome.findings {
                Self::raise(&mut tx, f, &mut report)?;
            }
            let r = &report;
            let exceptions: Vec<String> = r.raised[marks.0..]
                .iter()
                .chain(&r.reopened[marks.1..])
                .chain(&r.updated[marks.2..])
                .cloned()
                .collect();
            seen.insert(key, results.len());
            results.push(ChangeIntake {
                change,
                duplicate: false,
                exceptions,
            });
        }
        let recorded = results.iter().filter(|r| !r.duplicate).count();
        let duplicates = results.len() - recorded;
        if recorded > 0 {
            tx.commit()?;
        }
        Ok(ChangeBatch {
            results,
            recorded,
            duplicates,
        })
    }

    /// Reconcile one recorded change against the requests it may concern.
    fn reconcile_one(&self, tx: &dyn ReadTx, change: &EntitlementChange) -> Result<ChangeOutcome> {
        let c = &change.change;
        let loaded: Vec<Loaded> = tx
            .requests_about_action(&c.subject, &c.system, &c.entitlement)?
            .into_iter()
            .map(|r| Loaded::load(tx, r, c.changed_at))
            .collect::<Result<_>>()?;
        let candidates: Vec<Candidate<'_>> = loaded.iter().map(Loaded::candidate).collect();
        let subject = tx.identity(&c.subject)?;
        Ok(reconcile::reconcile_change(
            change,
            &candidates,
            subject.as_ref(),
            self.reconcile_config(),
        ))
    }

    /// Turn a finding into a new control exception, or add its evidence to
    /// the one already raised for the same kind and key (reopening it if it
    /// was resolved and the evidence is new).
    fn raise(tx: &mut Write<'_>, f: Finding, report: &mut ReconcileReport) -> Result<()> {
        let now = tx.now();
        let index = tx.next_index()?;
        let Some(mut e) = tx.control_exception_by_key(f.kind, &f.key)? else {
            let e = ControlException {
                id: new_id("cx"),
                kind: f.kind,
                severity: f.severity,
                state: ControlState::Open,
                key: f.key,
                summary: f.summary,
                system: f.system,
                subject: f.subject,
                request: f.request,
                change: f.change,
                evidence: f.evidence,
                frameworks: f.frameworks,
                raised_at: now,
                updated_at: now,
                assignee: None,
                acknowledged_by: None,
                resolution: None,
                reopened: 0,
                log_index: index,
                revision: 1,
            };
            tx.put_control_exception(&e)?;
            report.raised.push(e.id.clone());
            let o = control_outbound(OutboundKind::ControlExceptionRaised, &e, "raised");
            let index = tx.log(Event::ControlRaised { exception: e })?;
            tx.emit(index, o);
            return Ok(());
        };
        if !e.evidence.absorb(&f.evidence) {
            return Ok(());
        }
        let action = if e.state == ControlState::Resolved {
            e.state = ControlState::Open;
            e.reopened += 1;
            e.resolution = None;
            e.acknowledged_by = None;
            report.reopened.push(e.id.clone());
            "reopened"
        } else {
            report.updated.push(e.id.clone());
            "evidence"
        };
        e.severity = e.severity.max(f.severity);
        e.summary = f.summary;
        e.updated_at = now;
        e.revision += 1;
        tx.put_control_exception(&e)?;
        let o = control_outbound(OutboundKind::ControlExceptionUpdated, &e, action);
        let index = tx.log(Event::ControlUpdated {
            exception: e,
            action: action.to_string(),
            by: "reconciliation".to_string(),
            reason: Some("new evidence".to_string()),
            envelope: None,
        })?;
        tx.emit(index, o);
        Ok(())
    }

    /// A full reconciliation: every change again, then the time-based rules.
    pub fn reconcile(&self, now: OffsetDateTime) -> Result<ReconcileReport> {
        let mut tx = self.begin(now)?;
        let mut report = ReconcileReport::default();
        let changes = tx.changes(&ChangeFilter::default())?;
        report.changes_checked = changes.len();
        for mut change in changes {
            let outcome = self.reconcile_one(&*tx, &change)?;
            if outcome.matched.is_some() && change.request != outcome.matched {
                change.request = outcome.matched;
                tx.put_change(&change)?;
            }
            for f in outcome.findings {
                Self::raise(&mut tx, f, &mut report)?;
            }
        }

        let approved = tx.requests_with_action(RequestState::Approved)?;
        report.requests_checked = approved.len();
        for r in approved {
            let executed: Vec<EntitlementChange> = match &r.action {
                Some(a) => tx
                    .changes(&ChangeFilter {
                        system: Some(a.system.clone()),
                        subject: Some(a.subject.clone()),
                        request: None,
                    })?
                    .into_iter()
                    .filter(|c| {
                        c.change.operation == a.operation && c.change.entitlement == a.entitlement
                    })
                    .collect(),
                None => Vec::new(),
            };
            let loaded = Loaded::load(&*tx, r, now)?;
            if let Some(f) = reconcile::overdue_execution(
                &loaded.candidate(),
                &executed,
                now,
                self.reconcile_config(),
            ) {
                Self::raise(&mut tx, f, &mut report)?;
            }
        }

        let identities = tx.identities(&countersign_proto::api::IdentityFilter::default())?;
        report.identities_checked = identities.len();
        for identity in identities {
            let watch = identity.status == IdentityStatus::Terminated
                || (identity.orphaned && !identity.kind.is_human());
            if !watch {
                continue;
            }
            let changes = tx.changes(&ChangeFilter {
                subject: Some(identity.handle.clone()),
                ..ChangeFilter::default()
            })?;
            let holdings = reconcile::holdings(&changes);
            let history = tx.identity_history(&identity.handle)?;
            if identity.status == IdentityStatus::Terminated {
                if let Some(t) = history
                    .iter()
                    .find(|h| h.identity.status == IdentityStatus::Terminated)
                {
                    if let Some(f) = reconcile::offboarding_lag(
                        &identity,
                        t.identity.updated_at,
                        t.log_index,
                        &holdings,
                        now,
                        self.reconcile_config(),
                    ) {
                        Self::raise(&mut tx, f, &mut report)?;
                    }
                }
            }
            if identity.orphaned {
                let since = history
                    .iter()
                    .rev()
                    .take_while(|h| h.identity.orphaned)
                    .last()
                    .map(|h| h.log_index);
                if let Some(f) = reconcile::orphaned_access(&identity, &holdings, since) {
                    Self::raise(&mut tx, f, &mut report)?;
                }
            }
        }
        tx.commit()?;
        Ok(report)
    }

    // ----------------------------------------------------------- reads

    pub fn changes(&self, filter: &ChangeFilter) -> Result<Vec<EntitlementChange>> {
        Ok(self.store.read()?.changes(filter)?)
    }

    pub fn change(&self, id: &str) -> Result<EntitlementChange> {
        self.store.read()?.change(id)?.ok_or_else(|| {
            LedgerError::refused(ErrorCode::ChangeNotFound, format!("no change {id:?}"))
        })
    }

    pub fn control_exceptions(&self, filter: &ControlFilter) -> Result<Vec<ControlException>> {
        Ok(self.store.read()?.control_exceptions(filter)?)
    }

    pub fn control_exception(&self, id: &str) -> Result<ControlException> {
        load_control(&*self.store.read()?, id)
    }

    // ----------------------------------------------------------- workflow

    /// Give a control exception an owner.
    pub fn assign_control(
        &self,
        id: &str,
        assignee: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<super::Receipted<ControlException>> {
        let tx = self.begin(now)?;
        let mut e = load_control(&*tx, id)?;
        open_only(&e, "assign")?;
        Self::load_identity(&*tx, assignee)?;
        e.assignee = Some(assignee.to_string());
        self.update_control(tx, e, "assigned", by, None, None, now)
    }

    /// Say someone is looking at it.
    pub fn acknowledge_control(
        &self,
        id: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<super::Receipted<ControlException>> {
        let tx = self.begin(now)?;
        let mut e = load_control(&*tx, id)?;
        if e.state != ControlState::Open {
            return Err(LedgerError::refused(
                ErrorCode::ControlExceptionState,
                format!(
                    "{id} is {}; only open exceptions are acknowledged",
                    e.state.as_str()
                ),
            ));
        }
        e.state = ControlState::Acknowledged;
        e.acknowledged_by = Some(by.to_string());
        self.update_control(tx, e, "acknowledged", by, None, None, now)
    }

    /// Close it with a resolution the resolver signed. `caller` is the
    /// identity the API caller is bound to, if any: a bound caller can only
    /// submit their own resolution.
    pub fn resolve_control(
        &self,
        id: &str,
        envelope: &Envelope,
        caller: Option<&str>,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<super::Receipted<ControlException>> {
        let invalid = |d: String| LedgerError::refused(ErrorCode::ResolutionInvalid, d);
        let statement =
            countersign_attest::resolution_of(envelope).map_err(|e| invalid(e.to_string()))?;
        let tx = self.begin(now)?;
        let mut e = load_control(&*tx, id)?;
        if statement.exception != e.id {
            return Err(invalid(format!(
                "the resolution is for {:?}, not {id}",
                statement.exception
            )));
        }
        open_only(&e, "resolve")?;
        if statement.revision != e.revision {
            return Err(LedgerError::refused(
                ErrorCode::ControlExceptionStale,
                format!(
                    "the resolution was signed over revision {} but {id} is at revision {}; review it again",
                    statement.revision, e.revision
                ),
            ));
        }
        countersign_domain::check_text("justification", &statement.justification, 1, 4000)?;
        if let Some(c) = caller {
            if c != statement.resolver {
                return Err(LedgerError::refused(
                    ErrorCode::CallerNotSigner,
                    format!(
                        "you are {c}; the resolution is signed as {}",
                        statement.resolver
                    ),
                ));
            }
        }
        let skew = self.config.limits.max_clock_skew;
        if (statement.signed_at - now).abs() > skew {
            return Err(LedgerError::refused(
                ErrorCode::ClockSkew,
                format!(
                    "signedAt {} is too far from server time {now}",
                    statement.signed_at
                ),
            ));
        }
        let resolver = Self::load_identity(&*tx, &statement.resolver)?;
        if resolver.status != IdentityStatus::Active || !resolver.kind.is_human() || resolver.shared
        {
            return Err(invalid(format!(
                "{} must be an active, personal human identity to resolve a control exception",
                resolver.handle
            )));
        }
        let credential = tx
            .credential(&statement.key_id)?
            .filter(|c| c.identity == resolver.handle)
            .ok_or_else(|| {
                invalid(format!(
                    "key {} is not enrolled for {}",
                    statement.key_id, resolver.handle
                ))
            })?;
        if credential.revoked_at.is_some() || credential.expires_at.is_some_and(|x| x <= now) {
            return Err(invalid(format!(
                "key {} is revoked or expired",
                credential.key_id
            )));
        }
        let passkey = countersign_attest::verify_with_credential(
            envelope,
            &credential,
            countersign_attest::passkey::Origins::Exact(&self.config.web.origins),
            // Resolving a control exception is a deliberate act of its
            // own: a passkey must verify its user (PIN or biometric).
            true,
        )
        .map_err(|e| invalid(e.to_string()))?;
        let mut tx = tx;
        if let Some(verified) = &passkey {
            Self::advance_counter(&mut *tx, &credential.key_id, verified.sign_count)?;
            // A passkey signs only what the server issued: the nonce must be
            // this resolver's, for this exception and passkey, and unused.
            let nonce = statement.nonce.as_deref().ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::NonceInvalid,
                    "a passkey-signed resolution must name the nonce the server issued",
                )
            })?;
            let record = tx
                .take_web_challenge(nonce)?
                .filter(|c| c.purpose == super::passkey_signing::RESOLUTION && c.expires_at > now)
                .ok_or_else(|| {
                    LedgerError::refused(
                        ErrorCode::NonceInvalid,
                        "the resolution's nonce is unknown, expired or already used",
                    )
                })?;
            if record.identity.as_deref() != Some(statement.resolver.as_str())
                || record.data["exception"].as_str() != Some(id)
                || record.data["key_id"].as_str() != Some(credential.key_id.as_str())
            {
                return Err(LedgerError::refused(
                    ErrorCode::NonceInvalid,
                    "the nonce was issued for another resolver, exception or passkey",
                ));
            }
        }
        let digest =
            countersign_attest::envelope_digest(envelope).map_err(|e| invalid(e.to_string()))?;
        e.state = ControlState::Resolved;
        e.resolution = Some(ControlResolution {
            resolution: statement.resolution,
            justification: statement.justification.clone(),
            resolver: resolver.handle.clone(),
            key_id: credential.key_id,
            resolved_at: now,
            envelope_sha256: digest,
            log_index: tx.tree_size()?,
        });
        self.update_control(
            tx,
            e,
            "resolved",
            by,
            Some(statement.justification),
            Some(envelope.clone()),
            now,
        )
    }

    /// Open a resolved exception again.
    pub fn reopen_control(
        &self,
        id: &str,
        reason: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<super::Receipted<ControlException>> {
        countersign_domain::check_text("reason", reason, 1, 2000)?;
        let tx = self.begin(now)?;
        let mut e = load_control(&*tx, id)?;
        if e.state != ControlState::Resolved {
            return Err(LedgerError::refused(
                ErrorCode::ControlExceptionState,
                format!(
                    "{id} is {}; only resolved exceptions are reopened",
                    e.state.as_str()
                ),
            ));
        }
        e.state = ControlState::Open;
        e.reopened += 1;
        e.resolution = None;
        e.acknowledged_by = None;
        self.update_control(tx, e, "reopened", by, Some(reason.to_string()), None, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn update_control(
        &self,
        mut tx: Write<'_>,
        mut e: ControlException,
        action: &str,
        by: &str,
        reason: Option<String>,
        envelope: Option<Envelope>,
        now: OffsetDateTime,
    ) -> Result<super::Receipted<ControlException>> {
        e.updated_at = now;
        e.revision += 1;
        tx.put_control_exception(&e)?;
        let outbound = control_outbound(OutboundKind::ControlExceptionUpdated, &e, action);
        let index = tx.log(Event::ControlUpdated {
            exception: e.clone(),
            action: action.to_string(),
            by: by.to_string(),
            reason,
            envelope,
        })?;
        tx.emit(index, outbound);
        tx.commit()?;
        Ok(super::Receipted {
            value: e,
            log_index: index,
        })
    }
}

fn control_outbound(kind: OutboundKind, e: &ControlException, action: &str) -> Outbound {
    Outbound {
        kind,
        subject: e.id.clone(),
        ordering_key: e.id.clone(),
        data: json!({ "exception": e, "action": action }),
    }
}

fn load_control(tx: &dyn ReadTx, id: &str) -> Result<ControlException> {
    tx.control_exception(id)?.ok_or_else(|| {
        LedgerError::refused(
            ErrorCode::ControlExceptionNotFound,
            format!("no control exception {id:?}"),
        )
    })
}

fn open_only(e: &ControlException, what: &str) -> Result<()> {
    if e.state == ControlState::Resolved {
        return Err(LedgerError::refused(
            ErrorCode::ControlExceptionState,
            format!("{} is resolved; reopen it to {what} it", e.id),
        ));
    }
    Ok(())
}

/// Say which item of a batch a refusal is about.
fn at_item(e: LedgerError, i: usize) -> LedgerError {
    match e {
        LedgerError::Refused { refusal, log_index } => LedgerError::Refused {
            refusal: countersign_domain::Refusal::new(
                refusal.code,
                format!("change {i}: {}", refusal.detail),
            ),
            log_index,
        },
        other => other,
    }
}
