use super::*;
use countersign_proto::governance::DelegationScope;
use countersign_proto::iga::ReportChange;
use countersign_proto::model::{
    ApprovalOrder, Assurance, IdentityKind, KeyAlgorithm, RequestDocument,
};
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2025-03-01 09:00 UTC);

fn identity(handle: &str, kind: IdentityKind) -> Identity {
    Identity {
        id: format!("id-{handle}"),
        handle: handle.to_string(),
        kind,
        display_name: handle.to_string(),
        email: None,
        owner: (!kind.is_human()).then(|| "olivia".to_string()),
        shared: false,
        status: IdentityStatus::Active,
        groups: vec![],
        roles: vec![],
        manager: None,
        orphaned: false,
        scim_adoptable: false,
        created_at: T0 - Duration::days(400),
        updated_at: T0 - Duration::days(400),
        revision: 1,
    }
}

fn human(handle: &str) -> Identity {
    identity(handle, IdentityKind::Human)
}

fn action(op: Operation, system: &str, entitlement: &str, subject: &str) -> EntitlementAction {
    EntitlementAction {
        system: system.to_string(),
        subject: subject.to_string(),
        operation: op,
        entitlement: entitlement.to_string(),
    }
}

fn admin_for_bob() -> EntitlementAction {
    action(Operation::Grant, "github", "org:acme/role:admin", "bob")
}

fn change(
    id: &str,
    a: &EntitlementAction,
    at: OffsetDateTime,
    log_index: u64,
) -> EntitlementChange {
    EntitlementChange {
        id: id.to_string(),
        change: ReportChange {
            system: a.system.clone(),
            subject: a.subject.clone(),
            operation: a.operation,
            entitlement: a.entitlement.clone(),
            changed_at: at,
            changed_by: "okta-connector".to_string(),
            source_event_id: format!("evt-{id}"),
        },
        reported_at: at + Duration::minutes(1),
        reported_by: "integration".to_string(),
        request: None,
        log_index,
    }
}

fn signature(actor: &str, at: OffsetDateTime, log_index: u64) -> SignatureRecord {
    SignatureRecord {
        actor: actor.to_string(),
        principal: None,
        delegation: None,
        exception: None,
        decision: Decision::Approve,
        reason: None,
        key_id: format!("key-{actor}"),
        signed_at: at,
        accepted_at: at,
        envelope_sha256: "0".repeat(64),
        log_index,
    }
}

/// A request created 2 days before T0, approved at `decided_at` (when
/// approved) by `approver`'s signature at log index `log_index + 1`.
fn request(
    id: &str,
    a: Option<EntitlementAction>,
    state: RequestState,
    decided_at: Option<OffsetDateTime>,
    log_index: u64,
) -> Request {
    Request {
        id: id.to_string(),
        event_kind: EventKind::PrivilegedAccess,
        purpose: "on-call admin".to_string(),
        impact: Impact::High,
        documents: vec![RequestDocument {
            document: "access-policy".to_string(),
            version: 3,
            sha256: "a".repeat(64),
        }],
        action: a,
        requester: "rita".to_string(),
        beneficiary: "bob".to_string(),
        approvers: vec!["alice".to_string()],
        order: ApprovalOrder::Parallel,
        quorum: 1,
        created_at: T0 - Duration::days(2),
        expires_at: T0 + Duration::days(5),
        state,
        decided_at,
        signatures: vec![],
        log_index,
    }
}

fn credential(
    owner: &str,
    kind: CredentialKind,
    assurance: Assurance,
    life: Option<Duration>,
) -> Credential {
    let enrolled_at = T0 - Duration::days(10);
    Credential {
        key_id: format!("key-{owner}"),
        kind,
        identity: owner.to_string(),
        algorithm: KeyAlgorithm::Ed25519,
        public_key: String::new(),
        assurance,
        assurance_basis: Default::default(),
        vouch: None,
        passkey: None,
        label: None,
        enrolled_at,
        expires_at: life.map(|l| enrolled_at + l),
        revoked_at: None,
        revocation_reason: None,
        certificate: None,
        log_index: 7,
    }
}

fn delegation(
    principal: &str,
    delegate: &str,
    from: OffsetDateTime,
    until: OffsetDateTime,
) -> Delegation {
    Delegation {
        id: "dlg-1".to_string(),
        principal: principal.to_string(),
        delegate: delegate.to_string(),
        scope: DelegationScope {
            event_kinds: vec![],
            max_impact: Impact::Critical,
            requests: vec![],
        },
        not_before: from,
        not_after: until,
        reason: "holiday cover".to_string(),
        granted_by: principal.to_string(),
        granted_at: from,
        ended_at: None,
        end_reason: None,
        log_index: 15,
    }
}

fn facts<'a>(
    record: &'a SignatureRecord,
    actor_then: &'a Identity,
    credential: &'a Credential,
) -> SignatureFacts<'a> {
    SignatureFacts {
        record,
        actor_then: Some(actor_then),
        credential: Some(credential),
        delegation: None,
    }
}

fn candidate<'a>(request: &'a Request, signatures: Vec<SignatureFacts<'a>>) -> Candidate<'a> {
    Candidate {
        request,
        signatures,
        newer_documents: vec![],
    }
}

fn cfg() -> ReconcileConfig {
    ReconcileConfig::default()
}

fn kinds(outcome: &ChangeOutcome) -> Vec<ControlKind> {
    outcome.findings.iter().map(|f| f.kind).collect()
}

fn only(outcome: &ChangeOutcome, kind: ControlKind) -> &Finding {
    let matching: Vec<&Finding> = outcome.findings.iter().filter(|f| f.kind == kind).collect();
    assert_eq!(matching.len(), 1, "one {kind:?} in {:#?}", outcome.findings);
    matching[0]
}

fn controls(f: &Finding) -> Vec<(&str, &str)> {
    f.frameworks
        .iter()
        .map(|r| (r.framework.as_str(), r.control.as_str()))
        .collect()
}

/// The standard approved request: approved at T0 by alice (signature at
/// log index 11), created at log index 10.
struct Approved {
    request: Request,
    record: SignatureRecord,
    alice: Identity,
    key: Credential,
}

fn approved() -> Approved {
    let decided = T0;
    Approved {
        request: request(
            "req-1",
            Some(admin_for_bob()),
            RequestState::Approved,
            Some(decided),
            10,
        ),
        record: signature("alice", decided, 11),
        alice: human("alice"),
        key: credential("alice", CredentialKind::Key, Assurance::Hardware, None),
    }
}

#[test]
fn everything_in_order_matches_and_raises_nothing() {
    let a = approved();
    let c = candidate(&a.request, vec![facts(&a.record, &a.alice, &a.key)]);
    let ch = change("chg-1", &admin_for_bob(), T0 + Duration::hours(2), 20);
    let out = reconcile_change(&ch, &[c], Some(&human("bob")), &cfg());
    assert_eq!(out.matched.as_deref(), Some("req-1"));
    assert!(out.findings.is_empty(), "{:#?}", out.findings);

    // A short-lived software key is as good for a human.
    let short = credential(
        "alice",
        CredentialKind::Key,
        Assurance::Software,
        Some(Duration::hours(8)),
    );
    let c = candidate(&a.request, vec![facts(&a.record, &a.alice, &short)]);
    let out = reconcile_change(&ch, &[c], None, &cfg());
    assert_eq!(out.matched.as_deref(), Some("req-1"));
    assert!(out.findings.is_empty());
}

#[test]
fn a_human_with_a_long_lived_key_is_not_a_machine_finding() {
    let a = approved();
    let forever = credential("alice", CredentialKind::Key, Assurance::Software, None);
    let c = candidate(&a.request, vec![facts(&a.record, &a.alice, &forever)]);
    let out = reconcile_change(
        &change("chg-1", &admin_for_bob(), T0, 20),
        &[c],
        None,
        &cfg(),
    );
    assert!(out.findings.is_empty());
}

#[test]
fn unapproved_change() {
    let ch = change("chg-1", &admin_for_bob(), T0, 20);
    let out = reconcile_change(&ch, &[], None, &cfg());
    assert_eq!(out.matched, None);
    let f = only(&out, ControlKind::UnapprovedChange);
    assert_eq!(f.key, "change:chg-1");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.evidence.changes, vec![20]);
    assert_eq!(f.evidence.request, None);
    assert_eq!(f.system.as_deref(), Some("github"));
    assert_eq!(f.subject.as_deref(), Some("bob"));
    assert_eq!(f.change.as_deref(), Some("chg-1"));
    assert!(
        f.summary
            .contains("grant github org:acme/role:admin to bob"),
        "{}",
        f.summary
    );
    assert!(f.summary.contains("okta-connector"), "{}", f.summary);
    assert_eq!(
        controls(f),
        vec![(CSF, "PR.AA-05"), (SP800_53, "AC-2"), (SP800_53, "AC-6")]
    );
}

#[test]
fn a_change_matching_only_a_rejected_request_is_unapproved() {
    let mut r = request(
        "req-9",
        Some(admin_for_bob()),
        RequestState::Rejected,
        Some(T0),
        30,
    );
    r.impact = Impact::Critical;
    let mut rec = signature("alice", T0, 31);
    rec.decision = Decision::Reject;
    let alice = human("alice");
    let key = credential("alice", CredentialKind::Key, Assurance::Hardware, None);
    let c = candidate(&r, vec![facts(&rec, &alice, &key)]);
    let out = reconcile_change(
        &change("chg-1", &admin_for_bob(), T0 + Duration::hours(1), 40),
        &[c],
        None,
        &cfg(),
    );
    assert_eq!(out.matched, None);
    let f = only(&out, ControlKind::UnapprovedChange);
    assert!(f.summary.contains("req-9 was rejected"), "{}", f.summary);
    assert_eq!(f.request.as_deref(), Some("req-9"));
    assert_eq!(f.evidence.request, Some(30));
    // The rejected request was critical: raised one level.
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(out.findings.len(), 1);
}

#[test]
fn a_revoke_without_any_request_raises_nothing() {
    let revoke = action(Operation::Revoke, "github", "org:acme/role:admin", "bob");
    let out = reconcile_change(
        &change("chg-1", &revoke, T0, 20),
        &[],
        Some(&human("bob")),
        &cfg(),
    );
    assert_eq!(out, ChangeOutcome::default());
    let disable = action(Operation::Disable, "okta", "account", "bob");
    let out = reconcile_change(&change("chg-2", &disable, T0, 21), &[], None, &cfg());
    assert_eq!(out, ChangeOutcome::default());
}

#[test]
fn a_revoke_matches_an_approved_offboarding_request() {
    let revoke = action(Operation::Revoke, "github", "org:acme/role:admin", "bob");
    let mut r = request(
        "req-off",
        Some(revoke.clone()),
        RequestState::Approved,
        Some(T0),
        10,
    );
    r.event_kind = EventKind::Offboarding;
    let rec = signature("alice", T0, 11);
    let (alice, key) = (
        human("alice"),
        credential("alice", CredentialKind::Key, Assurance::Hardware, None),
    );
    let c = candidate(&r, vec![facts(&rec, &alice, &key)]);
    let out = reconcile_change(
        &change("chg-1", &revoke, T0 + Duration::hours(3), 20),
        &[c],
        None,
        &cfg(),
    );
    assert_eq!(out.matched.as_deref(), Some("req-off"));
    assert!(out.findings.is_empty());
}

#[test]
fn access_before_approval_of_a_later_approved_request() {
    let a = approved();
    let c = candidate(&a.request, vec![facts(&a.record, &a.alice, &a.key)]);
    let ch = change("chg-1", &admin_for_bob(), T0 - Duration::hours(5), 20);
    let out = reconcile_change(&ch, &[c], None, &cfg());
    assert_eq!(out.matched.as_deref(), Some("req-1"));
    assert_eq!(kinds(&out), vec![ControlKind::AccessBeforeApproval]);
    let f = &out.findings[0];
    assert_eq!(f.key, "change:chg-1");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.request.as_deref(), Some("req-1"));
    assert_eq!(f.evidence.changes, vec![20]);
    assert_eq!(f.evidence.request, Some(10));
    assert_eq!(f.evidence.approvals, vec![11]);
    assert_eq!(controls(f), vec![(CSF, "PR.AA-05"), (SP800_53, "AC-2")]);
}

#[test]
fn access_before_approval_of_a_pending_request_matches_nothing() {
    let mut r = request(
        "req-2",
        Some(admin_for_bob()),
        RequestState::Pending,
        None,
        10,
    );
    r.impact = Impact::Critical;
    let c = candidate(&r, vec![]);
    let out = reconcile_change(
        &change("chg-1", &admin_for_bob(), T0, 20),
        &[c],
        None,
        &cfg(),
    );
    assert_eq!(out.matched, None);
    let f = only(&out, ControlKind::AccessBeforeApproval);
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.summary.contains("still pending"), "{}", f.summary);
    assert_eq!(f.evidence.request, Some(10));
    assert!(f.evidence.approvals.is_empty());
}

#[test]
fn a_revoke_before_its_approval_is_matched_without_a_finding() {
    let revoke = action(Operation::Revoke, "github", "org:acme/role:admin", "bob");
    let r = request(
        "req-3",
        Some(revoke.clone()),
        RequestState::Approved,
        Some(T0),
        10,
    );
    let c = candidate(&r, vec![]);
    let out = reconcile_change(
        &change("chg-1", &revoke, T0 - Duration::hours(1), 20),
        &[c],
        None,
        &cfg(),
    );
    assert_eq!(out.matched.as_deref(), Some("req-3"));
    assert!(out.findings.is_empty());
}

#[test]
fn stale_approval_by_age_with_its_boundary() {
    let a = approved();
    let c = candidate(&a.request, vec![facts(&a.record, &a.alice, &a.key)]);
    let at_limit = change("chg-1", &admin_for_bob(), T0 + Duration::days(30), 20);
    let out = reconcile_change(&at_limit, std::slice::from_ref(&c), None, &cfg());
    assert_eq!(out.matched.as_deref(), Some("req-1"));
    assert!(out.findings.is_empty(), "exactly at the limit is not stale");

    let late = change(
        "chg-2",
        &admin_for_bob(),
        T0 + Duration::days(30) + Duration::seconds(1),
        21,
    );
    let out = reconcile_change(&late, &[c], None, &cfg());
    assert_eq!(out.matched.as_deref(), Some("req-1"));
    let f = only(&out, ControlKind::StaleApproval);
    assert_eq!(f.key, "change:chg-2");
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(f.evidence.changes, vec![21]);
    assert_eq!(f.evidence.request, Some(10));
    assert_eq!(f.evidence.approvals, vec![11]);
    assert!(f.summary.contains("30 days"), "{}", f.summary);
    assert_eq!(controls(f), vec![(CSF, "PR.AA-05"), (SP800_53, "AC-2")]);
}

#[test]
fn stale_approval_by_a_newer_document_version() {
    let a = approved();
    let mut c = candidate(&a.request, vec![facts(&a.record, &a.alice, &a.key)]);
    c.newer_documents = vec![("access-policy".to_string(), 4, 17)];
    let out = reconcile_change(
        &change("chg-1", &admin_for_bob(), T0 + Duration::hours(1), 20),
        &[c],
        None,
        &cfg(),
    );
    assert_eq!(out.matched.as_deref(), Some("req-1"));
    let f = only(&out, ControlKind::StaleApproval);
    assert_eq!(f.evidence.related, vec![17]);
    assert!(
        f.summary
            .contains("access-policy version 4 (signed: version 3)"),
        "{}",
        f.summary
    );
    assert_eq!(out.findings.len(), 1);
}

#[test]
fn action_mismatch_names_the_differing_field() {
    let a = approved();
    let c = candidate(&a.request, vec![facts(&a.record, &a.alice, &a.key)]);
    let owner = action(Operation::Grant, "github", "org:acme/role:owner", "bob");
    let out = reconcile_change(
        &change("chg-1", &owner, T0 + Duration::hours(1), 20),
        &[c],
        None,
        &cfg(),
    );
    assert_eq!(out.matched, None);
    assert_eq!(kinds(&out), vec![ControlKind::ActionMismatch]);
    let f = &out.findings[0];
    assert_eq!(f.key, "change:chg-1");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.request.as_deref(), Some("req-1"));
    assert_eq!(f.evidence.changes, vec![20]);
    assert_eq!(f.evidence.request, Some(10));
    assert_eq!(f.evidence.approvals, vec![11]);
    assert!(f.summary.contains(" in entitlement "), "{}", f.summary);
    assert!(
        f.summary.contains(
            "signed: grant github org:acme/role:admin to bob; changed: grant github org:acme/role:owner to bob"
        ),
        "{}",
        f.summary
    );
    assert_eq!(
        controls(f),
        vec![(CSF, "PR.AA-05"), (SP800_53, "AC-2"), (SP800_53, "CM-3")]
    );
}

#[test]
fn action_mismatch_on_subject_or_system_and_not_on_unrelated_requests() {
    let a = approved();
    let c = candidate(&a.request, vec![]);
    let carol = action(Operation::Grant, "github", "org:acme/role:admin", "carol");
    let out = reconcile_change(
        &change("chg-1", &carol, T0, 20),
        std::slice::from_ref(&c),
        None,
        &cfg(),
    );
    let f = only(&out, ControlKind::ActionMismatch);
    assert!(f.summary.contains(" in subject "), "{}", f.summary);

    let gitlab = action(Operation::Grant, "gitlab", "org:acme/role:admin", "bob");
    let out = reconcile_change(
        &change("chg-2", &gitlab, T0, 21),
        std::slice::from_ref(&c),
        None,
        &cfg(),
    );
    let f = only(&out, ControlKind::ActionMismatch);
    assert!(f.summary.contains(" in system "), "{}", f.summary);

    // Another subject and another entitlement: not a near miss.
    let far = action(Operation::Grant, "github", "org:acme/role:owner", "carol");
    let out = reconcile_change(
        &change("chg-3", &far, T0, 22),
        std::slice::from_ref(&c),
        None,
        &cfg(),
    );
    assert_eq!(kinds(&out), vec![ControlKind::UnapprovedChange]);

    // Case matters.
    let upper = action(Operation::Grant, "GitHub", "org:acme/role:admin", "bob");
    let out = reconcile_change(&change("chg-4", &upper, T0, 23), &[c], None, &cfg());
    assert_eq!(out.matched, None);
    assert_eq!(kinds(&out), vec![ControlKind::ActionMismatch]);
}

#[test]
fn proxy_without_delegation() {
    let a = approved();
    let mut rec = signature("dave", T0, 11);
    rec.principal = Some("alice".to_string());
    rec.delegation = Some("dlg-1".to_string());
    let dave = human("dave");
    let key = credential("dave", CredentialKind::Key, Assurance::Hardware, None);
    // The delegation ended before the signature.
    let mut d = delegation(
        "alice",
        "dave",
        T0 - Duration::days(5),
        T0 + Duration::days(5),
    );
    d.ended_at = Some(T0 - Duration::hours(1));
    let mut s = facts(&rec, &dave, &key);
    s.delegation = Some(&d);
    let c = candidate(&a.request, vec![s]);
    let out = reconcile_change(
        &change("chg-1", &admin_for_bob(), T0 + Duration::hours(1), 20),
        &[c],
        None,
        &cfg(),
    );
    assert_eq!(out.matched.as_deref(), Some("req-1"));
    let f = only(&out, ControlKind::ProxyWithoutDelegation);
    assert_eq!(f.key, "request:req-1:signer:dave");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.evidence.changes, vec![20]);
    assert_eq!(f.evidence.request, Some(10));
    assert_eq!(f.evidence.approvals, vec![11]);
    assert_eq!(f.evidence.related, vec![15]);
    assert!(f.summary.contains("on behalf of alice"), "{}", f.summary);
    assert_eq!(
        controls(f),
        vec![
            (CSF, "PR.AA-01"),
            (CSF, "PR.AA-05"),
            (SP800_53, "AC-2"),
            (SP800_53, "AC-5")
        ]
    );
    assert_eq!(out.findings.len(), 1);
}

#[test]
fn proxy_delegation_window_is_checked_at_signing() {
    let a = approved();
    let mut rec = signature("dave", T0, 11);
    rec.principal = Some("alice".to_string());
    rec.delegation = Some("dlg-1".to_string());
    let dave = human("dave");
    let key = credential("dave", CredentialKind::Key, Assurance::Hardware, None);
    let run = |d: Option<&Delegation>| {
        let mut s = facts(&rec, &dave, &key);
        s.delegation = d;
        let c = candidate(&a.request, vec![s]);
        reconcile_change(
            &change("chg-1", &admin_for_bob(), T0 + Duration::hours(1), 20),
            &[c],
            None,
            &cfg(),
        )
    };
    // Valid from exactly the signing time.
    let ok = delegation("alice", "dave", T0, T0 + Duration::days(1));
    assert!(run(Some(&ok)).findings.is_empty());
    // Ends exactly at the signing time: not valid.
    let ended = delegation("alice", "dave", T0 - Duration::days(1), T0);
    assert_eq!(
        kinds(&run(Some(&ended))),
        vec![ControlKind::ProxyWithoutDelegation]
    );
    // From someone else.
    let other = delegation(
        "erin",
        "dave",
        T0 - Duration::days(1),
        T0 + Duration::days(1),
    );
    assert_eq!(
        kinds(&run(Some(&other))),
        vec![ControlKind::ProxyWithoutDelegation]
    );
    // Missing.
    assert_eq!(kinds(&run(None)), vec![ControlKind::ProxyWithoutDelegation]);
    // In time but out of scope: covers impact up to medium, the request is high.
    let mut narrow = ok.clone();
    narrow.scope.max_impact = Impact::Medium;
    let out = run(Some(&narrow));
    let f = only(&out, ControlKind::ProxyWithoutDelegation);
    assert!(
        f.summary.contains("covers impact up to medium"),
        "{}",
        f.summary
    );
}

#[test]
fn spans_read_past_a_limit() {
    assert_eq!(span(Duration::hours(24)), "1 day");
    assert_eq!(
        span(Duration::hours(24) + Duration::seconds(1)),
        "1 day and 1 second"
    );
    assert_eq!(
        span(Duration::days(30) + Duration::hours(2) + Duration::minutes(5)),
        "30 days and 2 hours"
    );
    assert_eq!(span(Duration::minutes(90)), "1 hour and 30 minutes");
    assert_eq!(span(Duration::ZERO), "0 seconds");
}

#[test]
fn inactive_signer_terminated_and_suspended() {
    let a = approved();
    let mut gone = a.alice.clone();
    gone.status = IdentityStatus::Terminated;
    let c = candidate(&a.request, vec![facts(&a.record, &gone, &a.key)]);
    let out = reconcile_change(
        &change("chg-1", &admin_for_bob(), T0 + Duration::hours(1), 20),
        &[c],
        None,
        &cfg(),
    );
    assert_eq!(out.matched.as_deref(), Some("req-1"));
    let f = only(&out, ControlKind::InactiveSigner);
    assert_eq!(f.key, "request:req-1:signer:alice");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.evidence.changes, vec![20]);
    assert_eq!(f.evidence.request, Some(10));
    assert_eq!(f.evidence.approvals, vec![11]);
    assert!(f.summary.contains("while terminated"), "{}", f.summary);
    assert_eq!(
        controls(f),
        vec![(CSF, "PR.AA-01"), (SP800_53, "AC-2"), (SP800_53, "PS-4")]
    );

    let mut away = a.alice.clone();
    away.status = IdentityStatus::Suspended;
    let c = candidate(&a.request, vec![facts(&a.record, &away, &a.key)]);
    let out = reconcile_change(
        &change("chg-2", &admin_for_bob(), T0 + Duration::hours(1), 21),
        &[c],
        None,
        &cfg(),
    );
    let f = only(&out, ControlKind::InactiveSigner);
    assert_eq!(f.severity, Severity::High);
    // Same key for another change under the same approval.
    assert_eq!(f.key, "request:req-1:signer:alice");
}

#[test]
fn shared_signer() {
    let a = approved();
    let mut team = a.alice.clone();
    team.shared = true;
    let c = candidate(&a.request, vec![facts(&a.record, &team, &a.key)]);
    let out = reconcile_change(
        &change("chg-1", &admin_for_bob(), T0 + Duration::hours(1), 20),
        &[c],
        None,
        &cfg(),
    );
    let f = only(&out, ControlKind::SharedSigner);
    assert_eq!(f.key, "request:req-1:signer:alice");
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(f.evidence.approvals, vec![11]);
    assert_eq!(f.evidence.request, Some(10));
    assert_eq!(f.evidence.changes, vec![20]);
    assert_eq!(
        controls(f),
        vec![(CSF, "PR.AA-01"), (SP800_53, "AC-2"), (SP800_53, "IA-2")]
    );
    assert_eq!(out.findings.len(), 1);
}

#[test]
fn long_lived_machine_credential() {
    let a = approved();
    let bot = identity("release-bot", IdentityKind::Service);
    let rec = signature("release-bot", T0, 11);
    let key = credential(
        "release-bot",
        CredentialKind::Key,
        Assurance::Software,
        Some(Duration::days(90)),
    );
    let c = candidate(&a.request, vec![facts(&rec, &bot, &key)]);
    let out = reconcile_change(
        &change("chg-1", &admin_for_bob(), T0 + Duration::hours(1), 20),
        &[c],
        None,
        &cfg(),
    );
    assert_eq!(out.matched.as_deref(), Some("req-1"));
    let f = only(&out, ControlKind::LongLivedMachineCredential);
    assert_eq!(f.key, "request:req-1:signer:release-bot");
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(f.evidence.changes, vec![20]);
    assert_eq!(f.evidence.request, Some(10));
    assert_eq!(f.evidence.approvals, vec![11]);
    assert_eq!(f.evidence.related, vec![7]);
    assert!(f.summary.contains("90 days"), "{}", f.summary);
    assert_eq!(
        controls(f),
        vec![(CSF, "PR.AA-01"), (SP800_53, "IA-5"), (OWASP_NHI, "NHI7")]
    );
    assert_eq!(out.findings.len(), 1);
}

#[test]
fn machine_credentials_that_are_not_long_lived() {
    let a = approved();
    let ci = identity("ci", IdentityKind::Workload);
    let rec = signature("ci", T0, 11);
    let run = |key: &Credential| {
        let c = candidate(&a.request, vec![facts(&rec, &ci, key)]);
        reconcile_change(
            &change("chg-1", &admin_for_bob(), T0, 20),
            &[c],
            None,
            &cfg(),
        )
    };
    // A workload certificate never is, whatever its recorded validity.
    let cert = credential("ci", CredentialKind::Certificate, Assurance::Software, None);
    assert!(run(&cert).findings.is_empty());
    // A key living exactly the threshold is not; one second more is.
    let day = credential(
        "ci",
        CredentialKind::Key,
        Assurance::Software,
        Some(Duration::hours(24)),
    );
    assert!(run(&day).findings.is_empty());
    let more = credential(
        "ci",
        CredentialKind::Key,
        Assurance::Software,
        Some(Duration::hours(24) + Duration::seconds(1)),
    );
    assert_eq!(
        kinds(&run(&more)),
        vec![ControlKind::LongLivedMachineCredential]
    );
}

#[test]
fn offboarding_lag_at_intake_with_its_boundary() {
    let revoke = action(Operation::Disable, "okta", "account", "ci-deployer");
    let mut leaver = identity("ci-deployer", IdentityKind::Service);
    leaver.status = IdentityStatus::Terminated;
    leaver.updated_at = T0;
    let on_time = change("chg-1", &revoke, T0 + Duration::hours(24), 20);
    let out = reconcile_change(&on_time, &[], Some(&leaver), &cfg());
    assert!(out.findings.is_empty(), "exactly at the SLA is not late");

    let late = change(
        "chg-2",
        &revoke,
        T0 + Duration::hours(24) + Duration::seconds(1),
        21,
    );
    let out = reconcile_change(&late, &[], Some(&leaver), &cfg());
    let f = only(&out, ControlKind::OffboardingLag);
    assert_eq!(f.key, "identity:ci-deployer");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.evidence.changes, vec![21]);
    assert_eq!(f.subject.as_deref(), Some("ci-deployer"));
    assert_eq!(
        controls(f),
        vec![
            (CSF, "PR.AA-01"),
            (SP800_53, "AC-2"),
            (SP800_53, "PS-4"),
            (OWASP_NHI, "NHI1")
        ]
    );

    // A human leaver gets no NHI reference.
    let mut person = human("bob");
    person.status = IdentityStatus::Terminated;
    person.updated_at = T0;
    let revoke = action(Operation::Revoke, "github", "org:acme/role:admin", "bob");
    let out = reconcile_change(
        &change("chg-3", &revoke, T0 + Duration::days(3), 22),
        &[],
        Some(&person),
        &cfg(),
    );
    let f = only(&out, ControlKind::OffboardingLag);
    assert_eq!(f.key, "identity:bob");
    assert!(f.frameworks.iter().all(|r| r.framework != OWASP_NHI));
}

#[test]
fn a_matched_revoke_carried_out_late_after_approval() {
    let revoke = action(Operation::Revoke, "github", "org:acme/role:admin", "bob");
    let r = request(
        "req-off",
        Some(revoke.clone()),
        RequestState::Approved,
        Some(T0),
        10,
    );
    let c = candidate(&r, vec![]);
    let on_time = change("chg-1", &revoke, T0 + Duration::hours(24), 20);
    let out = reconcile_change(
        &on_time,
        std::slice::from_ref(&c),
        Some(&human("bob")),
        &cfg(),
    );
    assert!(out.findings.is_empty());
    let late = change("chg-2", &revoke, T0 + Duration::hours(25), 21);
    let out = reconcile_change(&late, &[c], Some(&human("bob")), &cfg());
    assert_eq!(out.matched.as_deref(), Some("req-off"));
    let f = only(&out, ControlKind::OffboardingLag);
    assert_eq!(f.key, "request:req-off");
    assert_eq!(f.evidence.request, Some(10));
}

#[test]
fn prefers_the_most_recent_approval_before_the_change() {
    let older = request(
        "req-old",
        Some(admin_for_bob()),
        RequestState::Approved,
        Some(T0 - Duration::days(3)),
        10,
    );
    let newer = request(
        "req-new",
        Some(admin_for_bob()),
        RequestState::Approved,
        Some(T0 - Duration::days(1)),
        12,
    );
    let after = request(
        "req-after",
        Some(admin_for_bob()),
        RequestState::Approved,
        Some(T0 + Duration::days(1)),
        14,
    );
    let pending = request(
        "req-pending",
        Some(admin_for_bob()),
        RequestState::Pending,
        None,
        16,
    );
    let rejected = request(
        "req-no",
        Some(admin_for_bob()),
        RequestState::Rejected,
        Some(T0 - Duration::hours(1)),
        18,
    );
    let cands: Vec<Candidate<'_>> = [&after, &older, &pending, &newer, &rejected]
        .into_iter()
        .map(|r| candidate(r, vec![]))
        .collect();
    let out = reconcile_change(
        &change("chg-1", &admin_for_bob(), T0, 20),
        &cands,
        None,
        &cfg(),
    );
    assert_eq!(out.matched.as_deref(), Some("req-new"));
    assert!(out.findings.is_empty(), "{:#?}", out.findings);
}

#[test]
fn approved_not_executed_with_its_boundary() {
    let grant = admin_for_bob();
    let r = request(
        "req-1",
        Some(grant.clone()),
        RequestState::Approved,
        Some(T0),
        10,
    );
    let rec = signature("alice", T0, 11);
    let (alice, key) = (
        human("alice"),
        credential("alice", CredentialKind::Key, Assurance::Hardware, None),
    );
    let c = candidate(&r, vec![facts(&rec, &alice, &key)]);
    assert_eq!(
        overdue_execution(&c, &[], T0 + Duration::days(7), &cfg()),
        None
    );
    let f = overdue_execution(
        &c,
        &[],
        T0 + Duration::days(7) + Duration::seconds(1),
        &cfg(),
    )
    .expect("overdue");
    assert_eq!(f.kind, ControlKind::ApprovedNotExecuted);
    assert_eq!(f.key, "request:req-1");
    assert_eq!(f.severity, Severity::Low);
    assert_eq!(f.evidence.request, Some(10));
    assert_eq!(f.evidence.approvals, vec![11]);
    assert!(f.evidence.changes.is_empty());
    assert_eq!(controls(&f), vec![(CSF, "PR.AA-05"), (SP800_53, "AC-2")]);
    assert!(
        f.summary
            .contains("grant github org:acme/role:admin to bob"),
        "{}",
        f.summary
    );

    // Carried out (even before approval, after creation): nothing.
    let done = change("chg-1", &grant, T0 - Duration::hours(1), 20);
    assert_eq!(
        overdue_execution(&c, &[done], T0 + Duration::days(30), &cfg()),
        None
    );
    // A change before the request existed does not count.
    let old = change("chg-0", &grant, T0 - Duration::days(10), 19);
    assert!(overdue_execution(&c, &[old], T0 + Duration::days(30), &cfg()).is_some());
    // Not approved, or no action: nothing.
    let p = request(
        "req-2",
        Some(grant.clone()),
        RequestState::Pending,
        None,
        12,
    );
    assert_eq!(
        overdue_execution(&candidate(&p, vec![]), &[], T0 + Duration::days(30), &cfg()),
        None
    );
    let n = request("req-3", None, RequestState::Approved, Some(T0), 13);
    assert_eq!(
        overdue_execution(&candidate(&n, vec![]), &[], T0 + Duration::days(30), &cfg()),
        None
    );
}

#[test]
fn an_unexecuted_offboarding_is_offboarding_lag() {
    let revoke = action(Operation::Revoke, "github", "org:acme/role:admin", "bob");
    let mut r = request(
        "req-off",
        Some(revoke),
        RequestState::Approved,
        Some(T0),
        10,
    );
    r.event_kind = EventKind::Offboarding;
    r.impact = Impact::Critical;
    let c = candidate(&r, vec![]);
    assert_eq!(
        overdue_execution(&c, &[], T0 + Duration::hours(24), &cfg()),
        None
    );
    let f = overdue_execution(
        &c,
        &[],
        T0 + Duration::hours(24) + Duration::seconds(1),
        &cfg(),
    )
    .expect("late");
    assert_eq!(f.kind, ControlKind::OffboardingLag);
    assert_eq!(f.key, "request:req-off");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.evidence.request, Some(10));
}

fn subject_change(
    id: &str,
    op: Operation,
    ent: &str,
    at: OffsetDateTime,
    log_index: u64,
) -> EntitlementChange {
    change(id, &action(op, "github", ent, "bob"), at, log_index)
}

#[test]
fn holdings_follow_the_latest_change() {
    let changes = vec![
        // Given out of order on purpose.
        subject_change(
            "c3",
            Operation::Grant,
            "role:admin",
            T0 + Duration::days(2),
            3,
        ),
        subject_change("c1", Operation::Grant, "role:admin", T0, 1),
        subject_change(
            "c2",
            Operation::Revoke,
            "role:admin",
            T0 + Duration::days(1),
            2,
        ),
        subject_change("c4", Operation::Grant, "role:read", T0, 4),
        subject_change(
            "c5",
            Operation::Disable,
            "role:read",
            T0 + Duration::days(1),
            5,
        ),
        subject_change("c6", Operation::Grant, "role:write", T0, 6),
        subject_change(
            "c7",
            Operation::Enable,
            "role:write",
            T0 + Duration::days(1),
            7,
        ),
        // Same time: the log decides.
        subject_change("c9", Operation::Revoke, "role:triage", T0, 9),
        subject_change("c8", Operation::Grant, "role:triage", T0, 8),
    ];
    let held = holdings(&changes);
    assert_eq!(
        held,
        vec![
            Holding {
                system: "github".to_string(),
                entitlement: "role:admin".to_string(),
                since: T0 + Duration::days(2),
                change_log_index: 3,
            },
            Holding {
                system: "github".to_string(),
                entitlement: "role:write".to_string(),
                since: T0,
                change_log_index: 6,
            },
        ]
    );
}

#[test]
fn offboarding_lag_sweep_with_its_boundary() {
    let mut leaver = identity("ci-deployer", IdentityKind::Workload);
    leaver.status = IdentityStatus::Terminated;
    let held = holdings(&[
        change(
            "c1",
            &action(Operation::Grant, "github", "role:admin", "ci-deployer"),
            T0 - Duration::days(9),
            3,
        ),
        change(
            "c2",
            &action(Operation::Grant, "aws", "role:deploy", "ci-deployer"),
            T0 - Duration::days(9),
            4,
        ),
    ]);
    assert_eq!(
        offboarding_lag(&leaver, T0, 50, &held, T0 + Duration::hours(24), &cfg()),
        None
    );
    let f = offboarding_lag(
        &leaver,
        T0,
        50,
        &held,
        T0 + Duration::hours(24) + Duration::seconds(1),
        &cfg(),
    )
    .expect("late");
    assert_eq!(f.kind, ControlKind::OffboardingLag);
    assert_eq!(f.key, "identity:ci-deployer");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.evidence.related, vec![50]);
    assert_eq!(f.evidence.changes, vec![3, 4]);
    assert!(
        f.summary.contains("aws role:deploy, github role:admin"),
        "{}",
        f.summary
    );
    assert!(f.frameworks.contains(&nhi1()));
    assert_eq!(f.system, None);

    // Nothing held, or not terminated: nothing.
    assert_eq!(
        offboarding_lag(&leaver, T0, 50, &[], T0 + Duration::days(9), &cfg()),
        None
    );
    let active = identity("ci-deployer", IdentityKind::Workload);
    assert_eq!(
        offboarding_lag(&active, T0, 50, &held, T0 + Duration::days(9), &cfg()),
        None
    );
}

#[test]
fn orphaned_identity_access() {
    let mut bot = identity("etl", IdentityKind::Service);
    bot.orphaned = true;
    let held = holdings(&[change(
        "c1",
        &action(Operation::Grant, "snowflake", "role:loader", "etl"),
        T0,
        5,
    )]);
    let f = orphaned_access(&bot, &held, Some(60)).expect("orphaned");
    assert_eq!(f.kind, ControlKind::OrphanedIdentityAccess);
    assert_eq!(f.key, "identity:etl");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.evidence.changes, vec![5]);
    assert_eq!(f.evidence.related, vec![60]);
    assert_eq!(f.system.as_deref(), Some("snowflake"));
    assert_eq!(
        controls(&f),
        vec![(CSF, "PR.AA-01"), (SP800_53, "AC-2"), (OWASP_NHI, "NHI1")]
    );
    assert!(f.summary.contains("snowflake role:loader"), "{}", f.summary);

    assert_eq!(orphaned_access(&bot, &[], Some(60)), None);
    bot.orphaned = false;
    assert_eq!(orphaned_access(&bot, &held, None), None);
    let mut person = human("bob");
    person.orphaned = true;
    assert_eq!(orphaned_access(&person, &held, None), None);
}

#[test]
fn every_kind_names_csf_and_800_53() {
    for kind in ControlKind::ALL {
        let refs = frameworks(*kind);
        assert!(refs.iter().any(|r| r.framework == CSF), "{kind:?}");
        assert!(refs.iter().any(|r| r.framework == SP800_53), "{kind:?}");
    }
}

#[test]
fn several_changes_under_one_approval_share_signature_keys() {
    let a = approved();
    let mut team = a.alice.clone();
    team.shared = true;
    let c = candidate(&a.request, vec![facts(&a.record, &team, &a.key)]);
    let one = reconcile_change(
        &change("chg-1", &admin_for_bob(), T0, 20),
        std::slice::from_ref(&c),
        None,
        &cfg(),
    );
    let two = reconcile_change(
        &change("chg-2", &admin_for_bob(), T0 + Duration::hours(1), 21),
        &[c],
        None,
        &cfg(),
    );
    let (f1, f2) = (
        only(&one, ControlKind::SharedSigner),
        only(&two, ControlKind::SharedSigner),
    );
    assert_eq!(f1.key, f2.key);
    let mut merged = f1.evidence.clone();
    assert!(merged.absorb(&f2.evidence));
    assert_eq!(merged.changes, vec![20, 21]);
}

#[test]
fn a_late_leaver_revoke_under_an_approved_offboarding_is_one_lag() {
    let revoke = action(Operation::Revoke, "github", "org:acme/role:admin", "bob");
    let mut r = request(
        "req-off",
        Some(revoke.clone()),
        RequestState::Approved,
        Some(T0),
        10,
    );
    r.event_kind = EventKind::Offboarding;
    r.impact = Impact::Critical;
    let rec = signature("alice", T0, 11);
    let (alice, key) = (
        human("alice"),
        credential("alice", CredentialKind::Key, Assurance::Hardware, None),
    );
    let c = candidate(&r, vec![facts(&rec, &alice, &key)]);
    let mut bob = human("bob");
    bob.status = IdentityStatus::Terminated;
    bob.updated_at = T0 - Duration::hours(1);
    let out = reconcile_change(
        &change("chg-1", &revoke, T0 + Duration::days(2), 20),
        &[c],
        Some(&bob),
        &cfg(),
    );
    assert_eq!(out.matched.as_deref(), Some("req-off"));
    assert_eq!(kinds(&out), vec![ControlKind::OffboardingLag]);
    let f = &out.findings[0];
    assert_eq!(f.key, "identity:bob");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.request.as_deref(), Some("req-off"));
    assert_eq!(f.evidence.request, Some(10));
    assert_eq!(f.evidence.approvals, vec![11]);
    assert_eq!(f.evidence.changes, vec![20]);
}
