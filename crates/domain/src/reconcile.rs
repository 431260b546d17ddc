//! Reconciliation: what target systems say changed, held against what was
//! signed, and the control exceptions where the two disagree.
//!
//! Two kinds of rule live here, both pure:
//!
//! - [`reconcile_change`] judges one reported [`EntitlementChange`] at
//!   intake against the requests that might have authorised it: which
//!   approved request it carried out, and whether it came before its
//!   approval, outlived its approval, differs from what was signed, or rests
//!   on a doubtful signature (a proxy without a delegation, an inactive or
//!   shared signer, a machine signing with a long-lived key).
//! - The sweep rules ([`overdue_execution`], [`offboarding_lag`],
//!   [`orphaned_access`], over [`holdings`]) judge what time alone reveals:
//!   approvals nobody carried out, leavers who still hold access, orphaned
//!   non-human identities that still hold entitlements.
//!
//! Each rule answers with [`Finding`]s keyed so that raising the same finding
//! again (another change under the same approval, another sweep) adds
//! evidence to one control exception instead of opening a second one. This
//! module loads nothing and records nothing: the store supplies the facts,
//! keeps one control exception per (kind, key) and merges evidence with
//! [`ControlEvidence::absorb`].

use countersign_proto::governance::Delegation;
use countersign_proto::iga::{
    ControlEvidence, ControlKind, EntitlementChange, FrameworkRef, Severity,
};
use countersign_proto::model::{
    Credential, CredentialKind, Decision, EntitlementAction, EventKind, Identity, IdentityStatus,
    Impact, Operation, Request, RequestState, SignatureRecord,
};
use time::{Duration, OffsetDateTime};

use crate::policy::credential_facts;
use crate::{delegation, Limits};

#[cfg(test)]
mod tests;

/// `NIST CSF 2.0`.
pub const CSF: &str = "NIST CSF 2.0";
/// `NIST SP 800-53 Rev. 5`.
pub const SP800_53: &str = "NIST SP 800-53 Rev. 5";
/// `OWASP Non-Human Identities Top 10 (2025)`.
pub const OWASP_NHI: &str = "OWASP Non-Human Identities Top 10 (2025)";

/// Tunables of reconciliation, set by the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconcileConfig {
    /// An approval older than this when the change happens is stale.
    pub max_approval_age: Duration,
    /// A leaver's access must be gone within this after termination or an
    /// approved offboarding.
    pub offboarding_sla: Duration,
    /// An approved change must be carried out within this.
    pub execution_sla: Duration,
    /// Machine credentials valid longer than this are long-lived (the same
    /// threshold as [`Limits::long_lived_after`]).
    pub long_lived_after: Duration,
}

impl Default for ReconcileConfig {
    /// 30 days, 24 hours, 7 days, and the default long-lived threshold.
    fn default() -> Self {
        ReconcileConfig {
            max_approval_age: Duration::days(30),
            offboarding_sla: Duration::hours(24),
            execution_sla: Duration::days(7),
            long_lived_after: Limits::default().long_lived_after,
        }
    }
}

/// One accepted signature of a request, with the facts as of its signing.
#[derive(Clone, Copy, Debug)]
pub struct SignatureFacts<'a> {
    pub record: &'a SignatureRecord,
    /// The actor as it was at `record.signed_at` (from its history); `None`
    /// if unknown.
    pub actor_then: Option<&'a Identity>,
    /// The credential the signature used.
    pub credential: Option<&'a Credential>,
    /// The delegation the record names (`record.delegation`), if it exists.
    pub delegation: Option<&'a Delegation>,
}

/// A request that might authorise a change.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    pub request: &'a Request,
    /// Its accepted signatures (any decision), with their facts.
    pub signatures: Vec<SignatureFacts<'a>>,
    /// Document versions newer than the ones the request binds, registered
    /// before the change: `(document, version, log_index)`. The approval
    /// time is `request.decided_at`.
    pub newer_documents: Vec<(String, u32, u64)>,
}

/// A reconciliation finding, ready for the store to record as (or merge
/// into) a control exception.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: ControlKind,
    pub severity: Severity,
    /// Dedup key, unique per kind: `change:<id>`, `request:<id>`,
    /// `request:<id>:signer:<actor>`, `identity:<handle>`. The store keeps
    /// one control exception per (kind, key) and adds evidence to it when
    /// the finding is raised again.
    pub key: String,
    /// One sentence for people naming the subject, entitlement, request and
    /// who.
    pub summary: String,
    pub system: Option<String>,
    pub subject: Option<String>,
    pub request: Option<String>,
    pub change: Option<String>,
    /// Log indexes: the change's entry, the request's creation, the
    /// approving signatures, related identity/delegation/document entries.
    pub evidence: ControlEvidence,
    pub frameworks: Vec<FrameworkRef>,
}

/// What reconciling one change found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeOutcome {
    /// The approved request this change carried out, if any.
    pub matched: Option<String>,
    pub findings: Vec<Finding>,
}

/// What the target systems say an identity holds: the latest change per
/// (system, entitlement) left it granted or enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    pub system: String,
    pub entitlement: String,
    /// When the current, unbroken holding began.
    pub since: OffsetDateTime,
    /// Log index of the change that began it.
    pub change_log_index: u64,
}

/// The control framework references for a kind of finding.
///
/// Every kind names at least one NIST CSF 2.0 outcome and one NIST SP
/// 800-53 Rev. 5 control:
///
/// - PR.AA-01 (identities and credentials are managed), PR.AA-05 (access
///   permissions and entitlements are defined, managed, enforced and
///   reviewed, with least privilege and separation of duties).
/// - AC-2 (account management: approvals for access, creating, modifying,
///   disabling and removing accounts as authorised, aligned with
///   termination), AC-5 (separation of duties), AC-6 (least privilege),
///   CM-3 (approved changes implemented as approved), IA-2 (unique
///   identification of organizational users), IA-5 (authenticator
///   management, including lifetime), PS-4 (disable access on personnel
///   termination within a set period).
/// - OWASP NHI1 (Improper Offboarding) and NHI7 (Long-Lived Secrets). NHI1
///   applies to offboarding lag only when the subject is non-human, which
///   this function cannot know; the rules add it where they can.
pub fn frameworks(kind: ControlKind) -> Vec<FrameworkRef> {
    let refs: &[(&str, &str)] = match kind {
        ControlKind::UnapprovedChange => {
            &[(CSF, "PR.AA-05"), (SP800_53, "AC-2"), (SP800_53, "AC-6")]
        }
        ControlKind::AccessBeforeApproval => &[(CSF, "PR.AA-05"), (SP800_53, "AC-2")],
        ControlKind::StaleApproval => &[(CSF, "PR.AA-05"), (SP800_53, "AC-2")],
        ControlKind::ActionMismatch => &[(CSF, "PR.AA-05"), (SP800_53, "AC-2"), (SP800_53, "CM-3")],
        ControlKind::ProxyWithoutDelegation => &[
            (CSF, "PR.AA-01"),
            (CSF, "PR.AA-05"),
            (SP800_53, "AC-2"),
            (SP800_53, "AC-5"),
        ],
        ControlKind::InactiveSigner => &[(CSF, "PR.AA-01"), (SP800_53, "AC-2"), (SP800_53, "PS-4")],
        ControlKind::SharedSigner => &[(CSF, "PR.AA-01"), (SP800_53, "AC-2"), (SP800_53, "IA-2")],
        ControlKind::LongLivedMachineCredential => {
            &[(CSF, "PR.AA-01"), (SP800_53, "IA-5"), (OWASP_NHI, "NHI7")]
        }
        ControlKind::OffboardingLag => &[(CSF, "PR.AA-01"), (SP800_53, "AC-2"), (SP800_53, "PS-4")],
        ControlKind::ApprovedNotExecuted => &[(CSF, "PR.AA-05"), (SP800_53, "AC-2")],
        ControlKind::OrphanedIdentityAccess => {
            &[(CSF, "PR.AA-01"), (SP800_53, "AC-2"), (OWASP_NHI, "NHI1")]
        }
    };
    refs.iter()
        .map(|(framework, control)| FrameworkRef {
            framework: (*framework).to_string(),
            control: (*control).to_string(),
        })
        .collect()
}

/// Reconcile one reported change against the requests that might have
/// authorised it: every request (any state) whose action shares the
/// change's system, subject or entitlement. `subject` is the subject's
/// current identity record, where known.
///
/// The rules, as a demanding IGA auditor expects them:
///
/// 1. **Exact match.** A request authorises a change only when its action
///    equals the change's system, subject, operation and entitlement
///    exactly (case-sensitive strings).
/// 2. **Carried out.** Among exact candidates, an approved request decided
///    at or before the change is what it carried out (`matched`); with
///    several, the most recently decided. Its approval is then judged:
///    - *stale approval* (`change:<id>`) when the change happened more than
///      `max_approval_age` after the decision, or a newer version of a
///      bound document was registered before the change (the signers never
///      saw what is in force);
///    - the signature rules below, for every approving signature;
///    - for a revoke/disable, *offboarding lag* (`request:<id>`) when it
///      came more than `offboarding_sla` after the approval (the same key
///      the [`overdue_execution`] sweep uses), unless the subject's
///      termination already raised it.
/// 3. **Before approval.** Otherwise, a grant/enable whose exact candidate
///    was approved only after the change (or has no decision time), or is
///    still pending, is *access before approval* (`change:<id>`). The
///    earliest such later approval is `matched` (it is what the change
///    carried out, late), and its signatures are judged too. A
///    revoke/disable approved later is matched without a finding.
/// 4. **Removals need no approval.** A revoke/disable with no approved
///    exact candidate raises nothing about approval: taking access away is
///    always allowed.
/// 5. **Near miss.** A grant/enable with no approved or pending exact
///    candidate is an *action mismatch* (`change:<id>`) when an approved
///    request differs from it only in entitlement and/or operation (same
///    subject and system), only in subject, or only in system; the summary
///    names the differing fields and both actions. Otherwise it is an
///    *unapproved change* (`change:<id>`); rejected, expired, withdrawn and
///    voided exact candidates authorise nothing, and the summary says so.
/// 6. **Leaver.** A revoke/disable for a subject whose current identity is
///    terminated, made more than `offboarding_sla` after the termination,
///    is *offboarding lag* (`identity:<handle>`). The termination time is
///    the identity's `updated_at`: when its current version took effect,
///    which is the termination unless a later edit of a terminated identity
///    moved it (then the lag is measured from that edit, erring towards
///    silence). A matched request is named in it.
///
/// Signature rules, for each approving signature of a matched request
/// (keyed `request:<id>:signer:<actor>`, so several changes under one
/// approval add evidence, not duplicates):
/// - *proxy without delegation*: the signature names a principal other than
///   the actor and the delegation it names is missing, is not from that
///   principal to that actor, or was not usable when signed (outside its
///   window, ended, or out of scope for the request: the same check as
///   signing, [`delegation::authorise`], at `signed_at`);
/// - *inactive signer*: the actor was suspended or terminated when signing;
/// - *shared signer*: the actor was a shared account when signing;
/// - *long-lived machine credential*: a service or workload actor signed
///   with an enrolled key living longer than `long_lived_after`
///   ([`credential_facts`]); a workload certificate is never long-lived.
///
/// Where the actor's state at signing is unknown, the identity rules cannot
/// be judged and raise nothing.
///
/// Severity: inactive signer is Critical when terminated, High when
/// suspended; unapproved change, access before approval, action mismatch,
/// proxy without delegation and offboarding lag are High, raised to
/// Critical when the request involved (matched, near, rejected) has
/// Critical impact; stale approval, shared signer and long-lived machine
/// credential are Medium.
pub fn reconcile_change(
    change: &EntitlementChange,
    candidates: &[Candidate<'_>],
    subject: Option<&Identity>,
    config: &ReconcileConfig,
) -> ChangeOutcome {
    let action = action_of(change);
    let changed_at = change.change.changed_at;
    let removal = is_removal(action.operation);
    let exact: Vec<&Candidate<'_>> = candidates
        .iter()
        .filter(|c| c.request.action.as_ref() == Some(&action))
        .collect();

    let approved = |c: &&&Candidate<'_>| c.request.state == RequestState::Approved;
    let approved_before = exact
        .iter()
        .filter(approved)
        .filter_map(|c| {
            c.request
                .decided_at
                .filter(|d| *d <= changed_at)
                .map(|d| (*c, d))
        })
        .max_by_key(|(c, d)| (*d, c.request.log_index))
        .map(|(c, _)| c);
    // Approved after the change (or with no recorded decision time, which
    // cannot show the approval came first): the closest approval after it.
    let approved_after = exact
        .iter()
        .filter(approved)
        .min_by_key(|c| {
            (
                c.request.decided_at.is_none(),
                c.request.decided_at,
                c.request.log_index,
            )
        })
        .copied();
    let matched = approved_before.or(approved_after);

    let mut outcome = ChangeOutcome {
        matched: matched.map(|c| c.request.id.clone()),
        findings: Vec::new(),
    };
    let leaver = subject.and_then(|s| leaver_lag(change, s, matched, config));
    let leaver_raised = leaver.is_some();
    outcome.findings.extend(leaver);

    if let Some(c) = approved_before {
        outcome.findings.extend(stale_approval(change, c, config));
        if removal && !leaver_raised {
            outcome.findings.extend(late_removal(change, c, config));
        }
    } else if let Some(c) = approved_after {
        if !removal {
            outcome.findings.push(access_before_approval(change, c));
        }
    } else if !removal {
        let pending = exact
            .iter()
            .filter(|c| c.request.state == RequestState::Pending)
            .max_by_key(|c| c.request.log_index);
        match (pending, near_miss(&action, changed_at, candidates)) {
            (Some(c), _) => outcome.findings.push(access_before_approval(change, c)),
            (None, Some((c, signed))) => outcome
                .findings
                .push(action_mismatch(change, &action, c, signed)),
            (None, None) => outcome.findings.push(unapproved_change(change, &exact)),
        }
    }
    if let Some(c) = matched {
        outcome
            .findings
            .extend(signature_findings(change, c, config));
    }
    outcome
}

/// What the target systems say one subject holds, from that subject's
/// changes in any order: replayed by `changed_at`, then log index, the
/// latest change per (system, entitlement) wins, and a grant or enable
/// leaves it held. `since` is when the unbroken holding began (a grant
/// followed by an enable is one holding). Sorted by system, then
/// entitlement.
pub fn holdings(changes: &[EntitlementChange]) -> Vec<Holding> {
    let mut ordered: Vec<&EntitlementChange> = changes.iter().collect();
    ordered.sort_by_key(|c| (c.change.changed_at, c.log_index));
    let mut state: std::collections::BTreeMap<(&str, &str), Option<Holding>> =
        std::collections::BTreeMap::new();
    for c in ordered {
        let key = (c.change.system.as_str(), c.change.entitlement.as_str());
        let slot = state.entry(key).or_insert(None);
        if is_removal(c.change.operation) {
            *slot = None;
        } else if slot.is_none() {
            *slot = Some(Holding {
                system: c.change.system.clone(),
                entitlement: c.change.entitlement.clone(),
                since: c.change.changed_at,
                change_log_index: c.log_index,
            });
        }
    }
    state.into_values().flatten().collect()
}

/// An approved request whose entitlement action nobody carried out in time.
///
/// `changes` are the changes exactly matching the request's action (the
/// store's selection; others are ignored). Any of them made after the
/// request was created counts as carrying it out: one made before the
/// approval was already reported as access before approval. When none did
/// and more than the SLA has passed since `decided_at`:
/// - for a removal (a revoke or disable, or any offboarding request) the
///   SLA is `offboarding_sla` and the finding is *offboarding lag*, High
///   (Critical for a Critical-impact request): a leaver's access outlived
///   its approved removal;
/// - otherwise the SLA is `execution_sla` and the finding is *approved not
///   executed*, Low.
///
/// Either is keyed `request:<id>`. Exactly at the SLA is not late. OWASP
/// NHI1 is not added here: the subject's kind is not among these facts (the
/// [`offboarding_lag`] sweep of the subject adds it).
pub fn overdue_execution(
    candidate: &Candidate<'_>,
    changes: &[EntitlementChange],
    now: OffsetDateTime,
    config: &ReconcileConfig,
) -> Option<Finding> {
    let request = candidate.request;
    if request.state != RequestState::Approved {
        return None;
    }
    let action = request.action.as_ref()?;
    let decided_at = request.decided_at?;
    let executed = changes
        .iter()
        .any(|c| action_of(c) == *action && c.change.changed_at >= request.created_at);
    if executed {
        return None;
    }
    let offboarding = request.event_kind == EventKind::Offboarding || is_removal(action.operation);
    let (sla, kind, severity) = if offboarding {
        (
            config.offboarding_sla,
            ControlKind::OffboardingLag,
            raised(Severity::High, Some(request.impact)),
        )
    } else {
        (
            config.execution_sla,
            ControlKind::ApprovedNotExecuted,
            Severity::Low,
        )
    };
    let waited = now - decided_at;
    if waited <= sla {
        return None;
    }
    let summary = format!(
        "Request {} (approved {}) to {} has not been carried out: {} after approval, beyond the {} allowed.",
        request.id,
        at(decided_at),
        describe(action),
        span(waited),
        span(sla),
    );
    let mut f = Finding::new(kind, severity, format!("request:{}", request.id), summary);
    f.system = Some(action.system.clone());
    f.subject = Some(action.subject.clone());
    f.request = Some(request.id.clone());
    f.evidence.request = Some(request.log_index);
    f.evidence.approvals = approvals(candidate);
    f.finish();
    Some(f)
}

/// A terminated identity that still holds access more than
/// `offboarding_sla` after `terminated_at` (exactly at the SLA is not
/// late): *offboarding lag*, keyed `identity:<handle>`, High, listing what
/// is still held. `holdings` are what the identity holds now (see
/// [`holdings`]); anything granted after the termination counts too. The
/// evidence is the termination entry and the changes that began each
/// holding. OWASP NHI1 is added for a non-human identity.
pub fn offboarding_lag(
    identity: &Identity,
    terminated_at: OffsetDateTime,
    termination_log_index: u64,
    holdings: &[Holding],
    now: OffsetDateTime,
    config: &ReconcileConfig,
) -> Option<Finding> {
    if identity.status != IdentityStatus::Terminated || holdings.is_empty() {
        return None;
    }
    let since = now - terminated_at;
    if since <= config.offboarding_sla {
        return None;
    }
    let summary = format!(
        "{} was terminated at {} and {} later still holds {}, beyond the {} allowed for offboarding.",
        identity.handle,
        at(terminated_at),
        span(since),
        held_list(holdings),
        span(config.offboarding_sla),
    );
    let mut f = Finding::new(
        ControlKind::OffboardingLag,
        Severity::High,
        format!("identity:{}", identity.handle),
        summary,
    );
    f.subject = Some(identity.handle.clone());
    f.system = single_system(holdings);
    f.evidence.changes = holdings.iter().map(|h| h.change_log_index).collect();
    f.evidence.related = vec![termination_log_index];
    if !identity.kind.is_human() {
        f.frameworks.push(nhi1());
    }
    f.finish();
    Some(f)
}

/// An orphaned non-human identity (its owner left and nobody accountable
/// was set) that still holds entitlements: *orphaned identity access*,
/// keyed `identity:<handle>`, High. The evidence is the changes that began
/// each holding and, when given, the entry that orphaned it.
pub fn orphaned_access(
    identity: &Identity,
    holdings: &[Holding],
    orphaned_log_index: Option<u64>,
) -> Option<Finding> {
    if identity.kind.is_human() || !identity.orphaned || holdings.is_empty() {
        return None;
    }
    let summary = format!(
        "{} {} is orphaned (no accountable owner{}) and still holds {}.",
        identity.kind.as_str(),
        identity.handle,
        identity
            .owner
            .as_deref()
            .map(|o| format!("; former owner {o}"))
            .unwrap_or_default(),
        held_list(holdings),
    );
    let mut f = Finding::new(
        ControlKind::OrphanedIdentityAccess,
        Severity::High,
        format!("identity:{}", identity.handle),
        summary,
    );
    f.subject = Some(identity.handle.clone());
    f.system = single_system(holdings);
    f.evidence.changes = holdings.iter().map(|h| h.change_log_index).collect();
    f.evidence.related = orphaned_log_index.into_iter().collect();
    f.finish();
    Some(f)
}

impl Finding {
    fn new(kind: ControlKind, severity: Severity, key: String, summary: String) -> Finding {
        Finding {
            kind,
            severity,
            key,
            summary,
            system: None,
            subject: None,
            request: None,
            change: None,
            evidence: ControlEvidence::default(),
            frameworks: frameworks(kind),
        }
    }

    /// A finding about `change`, keyed `change:<id>`.
    fn about_change(
        kind: ControlKind,
        severity: Severity,
        change: &EntitlementChange,
        summary: String,
    ) -> Finding {
        let mut f = Finding::new(kind, severity, format!("change:{}", change.id), summary);
        f.system = Some(change.change.system.clone());
        f.subject = Some(change.change.subject.clone());
        f.change = Some(change.id.clone());
        f.evidence.changes = vec![change.log_index];
        f
    }

    /// Name `candidate`'s request and its approving signatures.
    fn with_request(mut self, candidate: &Candidate<'_>) -> Finding {
        self.request = Some(candidate.request.id.clone());
        self.evidence.request = Some(candidate.request.log_index);
        self.evidence.approvals = approvals(candidate);
        self
    }

    /// Put evidence in a stable order.
    fn finish(&mut self) {
        for v in [
            &mut self.evidence.changes,
            &mut self.evidence.approvals,
            &mut self.evidence.related,
        ] {
            v.sort_unstable();
            v.dedup();
        }
    }

    fn finished(mut self) -> Finding {
        self.finish();
        self
    }
}

fn action_of(change: &EntitlementChange) -> EntitlementAction {
    EntitlementAction {
        system: change.change.system.clone(),
        subject: change.change.subject.clone(),
        operation: change.change.operation,
        entitlement: change.change.entitlement.clone(),
    }
}

fn is_removal(op: Operation) -> bool {
    matches!(op, Operation::Revoke | Operation::Disable)
}

/// One level up for a Critical-impact request.
fn raised(base: Severity, impact: Option<Impact>) -> Severity {
    if impact != Some(Impact::Critical) {
        return base;
    }
    match base {
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

fn nhi1() -> FrameworkRef {
    FrameworkRef {
        framework: OWASP_NHI.to_string(),
        control: "NHI1".to_string(),
    }
}

/// Log indexes of the approving signatures.
fn approvals(candidate: &Candidate<'_>) -> Vec<u64> {
    candidate
        .signatures
        .iter()
        .filter(|s| s.record.decision == Decision::Approve)
        .map(|s| s.record.log_index)
        .collect()
}

/// `grant github org:acme/role:admin to bob`, `revoke … from bob`,
/// `disable okta account for bob`.
fn describe(a: &EntitlementAction) -> String {
    let to = match a.operation {
        Operation::Grant => "to",
        Operation::Revoke => "from",
        Operation::Enable | Operation::Disable => "for",
    };
    format!(
        "{} {} {} {to} {}",
        a.operation.as_str(),
        a.system,
        a.entitlement,
        a.subject
    )
}

/// RFC 3339, for people and logs alike.
fn at(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// A duration for people: its two largest non-zero parts, so that one
/// second past a limit still reads as past it (`1 day and 1 second`).
fn span(d: Duration) -> String {
    let secs = d.whole_seconds().unsigned_abs();
    let parts = [
        (secs / 86_400, "day"),
        (secs / 3_600 % 24, "hour"),
        (secs / 60 % 60, "minute"),
        (secs % 60, "second"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .take(2)
        .map(|(n, unit)| {
            if *n == 1 {
                format!("1 {unit}")
            } else {
                format!("{n} {unit}s")
            }
        })
        .collect();
    if shown.is_empty() {
        "0 seconds".to_string()
    } else {
        shown.join(" and ")
    }
}

fn held_list(holdings: &[Holding]) -> String {
    holdings
        .iter()
        .map(|h| format!("{} {}", h.system, h.entitlement))
        .collect::<Vec<_>>()
        .join(", ")
}

fn single_system(holdings: &[Holding]) -> Option<String> {
    let first = holdings.first()?;
    holdings
        .iter()
        .all(|h| h.system == first.system)
        .then(|| first.system.clone())
}

/// `change <id> by <who made it>`.
fn who(change: &EntitlementChange) -> String {
    format!("change {} by {}", change.id, change.change.changed_by)
}

/// [`who`], opening a sentence.
fn who_first(change: &EntitlementChange) -> String {
    format!("Change {} by {}", change.id, change.change.changed_by)
}

/// Rule 6: a leaver's access removed later than the SLA after termination.
fn leaver_lag(
    change: &EntitlementChange,
    subject: &Identity,
    matched: Option<&Candidate<'_>>,
    config: &ReconcileConfig,
) -> Option<Finding> {
    if !is_removal(change.change.operation)
        || subject.handle != change.change.subject
        || subject.status != IdentityStatus::Terminated
    {
        return None;
    }
    let lag = change.change.changed_at - subject.updated_at;
    if lag <= config.offboarding_sla {
        return None;
    }
    let summary = format!(
        "{} was terminated at {} but {} ({}) came {} later, beyond the {} allowed for offboarding.",
        subject.handle,
        at(subject.updated_at),
        who(change),
        describe(&action_of(change)),
        span(lag),
        span(config.offboarding_sla),
    );
    let severity = raised(Severity::High, matched.map(|c| c.request.impact));
    let mut f = Finding::about_change(ControlKind::OffboardingLag, severity, change, summary);
    if let Some(c) = matched {
        f = f.with_request(c);
    }
    f.key = format!("identity:{}", subject.handle);
    if !subject.kind.is_human() {
        f.frameworks.push(nhi1());
    }
    Some(f.finished())
}

/// Rule 2, for a matched removal: carried out later than the SLA after its
/// approval.
fn late_removal(
    change: &EntitlementChange,
    c: &Candidate<'_>,
    config: &ReconcileConfig,
) -> Option<Finding> {
    let decided_at = c.request.decided_at?;
    let lag = change.change.changed_at - decided_at;
    if lag <= config.offboarding_sla {
        return None;
    }
    let summary = format!(
        "Request {} to {} was approved at {} but {} carried it out {} later, beyond the {} allowed for offboarding.",
        c.request.id,
        describe(&action_of(change)),
        at(decided_at),
        who(change),
        span(lag),
        span(config.offboarding_sla),
    );
    let mut f = Finding::about_change(
        ControlKind::OffboardingLag,
        raised(Severity::High, Some(c.request.impact)),
        change,
        summary,
    )
    .with_request(c);
    f.key = format!("request:{}", c.request.id);
    Some(f.finished())
}

fn stale_approval(
    change: &EntitlementChange,
    c: &Candidate<'_>,
    config: &ReconcileConfig,
) -> Option<Finding> {
    let decided_at = c.request.decided_at?;
    let age = change.change.changed_at - decided_at;
    let mut reasons = Vec::new();
    if age > config.max_approval_age {
        reasons.push(format!(
            "the approval was {} old, beyond the {} allowed",
            span(age),
            span(config.max_approval_age)
        ));
    }
    if !c.newer_documents.is_empty() {
        let newer = c
            .newer_documents
            .iter()
            .map(|(name, version, _)| {
                let bound = c
                    .request
                    .documents
                    .iter()
                    .find(|d| &d.document == name)
                    .map(|d| format!(" (signed: version {})", d.version))
                    .unwrap_or_default();
                format!("{name} version {version}{bound}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        reasons.push(format!(
            "it was signed before the document's current version: {newer}"
        ));
    }
    if reasons.is_empty() {
        return None;
    }
    let summary = format!(
        "{} ({}) relied on request {}, approved at {}, but {}.",
        who_first(change),
        describe(&action_of(change)),
        c.request.id,
        at(decided_at),
        reasons.join("; and "),
    );
    let mut f = Finding::about_change(
        ControlKind::StaleApproval,
        Severity::Medium,
        change,
        summary,
    )
    .with_request(c);
    f.evidence.related = c.newer_documents.iter().map(|(_, _, i)| *i).collect();
    Some(f.finished())
}

fn access_before_approval(change: &EntitlementChange, c: &Candidate<'_>) -> Finding {
    let when = match (c.request.state, c.request.decided_at) {
        (RequestState::Pending, _) => "is still pending".to_string(),
        (_, Some(d)) => format!("was approved only at {}", at(d)),
        (_, None) => "is approved with no recorded approval time".to_string(),
    };
    let summary = format!(
        "{} made {} at {}, before request {} authorising it was approved: the request {when}.",
        who_first(change),
        describe(&action_of(change)),
        at(change.change.changed_at),
        c.request.id,
    );
    Finding::about_change(
        ControlKind::AccessBeforeApproval,
        raised(Severity::High, Some(c.request.impact)),
        change,
        summary,
    )
    .with_request(c)
    .finished()
}

/// The approved request closest to the change without matching it: one
/// differing only in entitlement and/or operation, only in subject, or only
/// in system. Fewest differences first, then approved before the change,
/// then most recently decided.
fn near_miss<'c, 'a>(
    action: &EntitlementAction,
    changed_at: OffsetDateTime,
    candidates: &'c [Candidate<'a>],
) -> Option<(&'c Candidate<'a>, &'c EntitlementAction)> {
    candidates
        .iter()
        .filter(|c| c.request.state == RequestState::Approved)
        .filter_map(|c| {
            let signed = c.request.action.as_ref()?;
            // Three parts: who (subject), where (system), what (operation
            // and entitlement). A near miss differs in exactly one.
            let differs = [
                signed.subject != action.subject,
                signed.system != action.system,
                signed.operation != action.operation || signed.entitlement != action.entitlement,
            ];
            (differs.iter().filter(|d| **d).count() == 1).then_some((c, signed))
        })
        .min_by_key(|(c, signed)| {
            let before = c.request.decided_at.is_some_and(|d| d <= changed_at);
            (
                differing(signed, action).len(),
                !before,
                std::cmp::Reverse((c.request.decided_at, c.request.log_index)),
            )
        })
}

fn differing(signed: &EntitlementAction, changed: &EntitlementAction) -> Vec<&'static str> {
    let mut out = Vec::new();
    if signed.subject != changed.subject {
        out.push("subject");
    }
    if signed.system != changed.system {
        out.push("system");
    }
    if signed.operation != changed.operation {
        out.push("operation");
    }
    if signed.entitlement != changed.entitlement {
        out.push("entitlement");
    }
    out
}

fn action_mismatch(
    change: &EntitlementChange,
    action: &EntitlementAction,
    c: &Candidate<'_>,
    signed: &EntitlementAction,
) -> Finding {
    let summary = format!(
        "{} differs from approved request {} in {} (signed: {}; changed: {}).",
        who_first(change),
        c.request.id,
        differing(signed, action).join(" and "),
        describe(signed),
        describe(action),
    );
    Finding::about_change(
        ControlKind::ActionMismatch,
        raised(Severity::High, Some(c.request.impact)),
        change,
        summary,
    )
    .with_request(c)
    .finished()
}

fn unapproved_change(change: &EntitlementChange, exact: &[&Candidate<'_>]) -> Finding {
    // Exact candidates here are all rejected, expired, withdrawn or voided.
    let mut closed: Vec<&Candidate<'_>> = exact.to_vec();
    closed.sort_by_key(|c| std::cmp::Reverse(c.request.log_index));
    let note = if closed.is_empty() {
        String::new()
    } else {
        let list = closed
            .iter()
            .map(|c| {
                let how = match c.request.state {
                    RequestState::Expired => "expired",
                    RequestState::Withdrawn => "was withdrawn",
                    RequestState::Voided => "was voided",
                    _ => "was rejected",
                };
                format!("{} {how}", c.request.id)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let requests = if closed.len() == 1 {
            "request"
        } else {
            "requests"
        };
        format!(": the matching {requests} {list}")
    };
    let summary = format!(
        "{} made {} at {} with no approved request authorising it{note}.",
        who_first(change),
        describe(&action_of(change)),
        at(change.change.changed_at),
    );
    let impact = closed.iter().map(|c| c.request.impact).max();
    let mut f = Finding::about_change(
        ControlKind::UnapprovedChange,
        raised(Severity::High, impact),
        change,
        summary,
    );
    if let Some((first, rest)) = closed.split_first() {
        f.request = Some(first.request.id.clone());
        f.evidence.request = Some(first.request.log_index);
        f.evidence.related = rest.iter().map(|c| c.request.log_index).collect();
    }
    f.finished()
}

/// The signature rules over every approving signature of `c`.
fn signature_findings(
    change: &EntitlementChange,
    c: &Candidate<'_>,
    config: &ReconcileConfig,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in c
        .signatures
        .iter()
        .filter(|s| s.record.decision == Decision::Approve)
    {
        let r = s.record;
        let base = |kind: ControlKind, severity: Severity, summary: String| {
            let mut f = Finding::about_change(kind, severity, change, summary);
            f.key = format!("request:{}:signer:{}", c.request.id, r.actor);
            f.request = Some(c.request.id.clone());
            f.evidence.request = Some(c.request.log_index);
            f.evidence.approvals = vec![r.log_index];
            f
        };
        let relied = format!(
            "{} ({}) relied on it",
            who(change),
            describe(&action_of(change))
        );
        let signed = format!(
            "{} signed request {} at {}",
            r.actor,
            c.request.id,
            at(r.signed_at)
        );

        if let Some(principal) = r.principal.as_deref().filter(|p| *p != r.actor) {
            if let Some(problem) = delegation_problem(s, principal, c.request) {
                let mut f = base(
                    ControlKind::ProxyWithoutDelegation,
                    raised(Severity::High, Some(c.request.impact)),
                    format!(
                        "{signed} on behalf of {principal} without a valid delegation ({problem}); {relied}."
                    ),
                );
                f.evidence.related = s.delegation.map(|d| d.log_index).into_iter().collect();
                out.push(f.finished());
            }
        }

        let Some(actor) = s.actor_then else {
            continue;
        };
        let severity = match actor.status {
            IdentityStatus::Active => None,
            IdentityStatus::Suspended => Some(Severity::High),
            IdentityStatus::Terminated => Some(Severity::Critical),
        };
        if let Some(severity) = severity {
            out.push(
                base(
                    ControlKind::InactiveSigner,
                    severity,
                    format!("{signed} while {}; {relied}.", actor.status.as_str()),
                )
                .finished(),
            );
        }
        if actor.shared {
            out.push(
                base(
                    ControlKind::SharedSigner,
                    Severity::Medium,
                    format!(
                        "{signed} with a shared account, so the approval is not attributable to one person; {relied}."
                    ),
                )
                .finished(),
            );
        }
        if let Some(cred) = s.credential.filter(|_| !actor.kind.is_human()) {
            let facts = credential_facts(cred, config.long_lived_after);
            if cred.kind == CredentialKind::Key && facts.long_lived {
                let life = facts
                    .lifetime
                    .map(|l| format!("valid for {}", span(l)))
                    .unwrap_or_else(|| "that never expires".to_string());
                let mut f = base(
                    ControlKind::LongLivedMachineCredential,
                    Severity::Medium,
                    format!(
                        "The {} {signed} with key {} {life}, beyond the {} allowed for machine credentials; {relied}.",
                        actor.kind.as_str(),
                        cred.key_id,
                        span(config.long_lived_after)
                    ),
                );
                f.evidence.related = vec![cred.log_index];
                out.push(f.finished());
            }
        }
    }
    out
}

/// Why the delegation behind a proxy signature does not hold, or `None`
/// when it does.
fn delegation_problem(
    s: &SignatureFacts<'_>,
    principal: &str,
    request: &Request,
) -> Option<String> {
    let r = s.record;
    let Some(d) = s.delegation else {
        return Some(match &r.delegation {
            Some(id) => format!("delegation {id} does not exist"),
            None => "the signature names no delegation".to_string(),
        });
    };
    if r.delegation.as_deref() != Some(d.id.as_str()) {
        return Some(format!(
            "the signature names {} but delegation {} was found",
            r.delegation.as_deref().unwrap_or("no delegation"),
            d.id
        ));
    }
    if d.principal != principal || d.delegate != r.actor {
        return Some(format!(
            "delegation {} lets {} sign for {}, not {} for {principal}",
            d.id, d.delegate, d.principal, r.actor
        ));
    }
    if let Some(ended) = d.ended_at.filter(|e| *e <= r.signed_at) {
        return Some(format!("delegation {} ended at {}", d.id, at(ended)));
    }
    if r.signed_at < d.not_before || r.signed_at >= d.not_after {
        return Some(format!(
            "delegation {} was valid from {} until {}",
            d.id,
            at(d.not_before),
            at(d.not_after)
        ));
    }
    // Scope (event kinds, impact, named requests) is checked exactly as at
    // signing.
    delegation::authorise(
        std::slice::from_ref(d),
        principal,
        &r.actor,
        request,
        r.signed_at,
    )
    .err()
    .map(|refusal| refusal.detail)
}
