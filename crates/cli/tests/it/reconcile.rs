//! Entitlement change intake, reconciliation and the control exception
//! workflow, through the real server: one test per exception kind that
//! raises it, one where everything is in order and nothing is raised, and
//! the workflow from assignment to a signed resolution and reopening.

use countersign_proto::api::*;
use countersign_proto::governance::{DelegationScope, Role};
use countersign_proto::iga::*;
use countersign_proto::model::*;
use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::*;

const ENTITLEMENT: &str = "org/acme/team/eng";

fn change(subject: &str, operation: Operation, entitlement: &str, id: &str) -> ReportChange {
    ReportChange {
        system: "github".into(),
        subject: subject.into(),
        operation,
        entitlement: entitlement.into(),
        changed_at: wall_clock(),
        changed_by: "okta-provisioner".into(),
        source_event_id: id.into(),
    }
}

/// Report one change at the server's current time.
fn report(s: &TestServer, mut c: ReportChange) -> ChangeIntake {
    c.changed_at = s.now();
    let (status, v) = s.call(
        Method::POST,
        "/v1/entitlement-changes",
        Some(&serde_json::to_value(&c).unwrap()),
        true,
    );
    assert!(status == 201 || status == 200, "{status}: {v}");
    serde_json::from_value(v).unwrap()
}

fn exceptions(s: &TestServer, query: &str) -> Vec<ControlException> {
    let l: ControlList = s.get(&format!("/v1/control-exceptions{query}"));
    l.exceptions
}

fn only(s: &TestServer, kind: ControlKind) -> ControlException {
    let all = exceptions(s, "");
    let found: Vec<_> = all.iter().filter(|e| e.kind == kind).cloned().collect();
    assert_eq!(found.len(), 1, "want one {kind:?} in {all:#?}");
    found.into_iter().next().unwrap()
}

fn refs(e: &ControlException) -> Vec<String> {
    e.frameworks
        .iter()
        .map(|f| format!("{} {}", f.framework, f.control))
        .collect()
}

fn reconcile(s: &TestServer) -> ReconcileReport {
    s.post("/v1/reconcile", &json!({}))
}

fn approve(s: &TestServer, r: &Request, actor: &str, key: &SigningKey) {
    let (status, v) = s.submit(&sign(
        &statement(r, actor, key, Decision::Approve, s.now()),
        key,
    ));
    assert_eq!(status, 201, "{v}");
}

/// alice asks for dave's github access; bob approves.
fn approved_onboarding(s: &TestServer) -> Request {
    let (r, keys) = s.onboarding(&["bob"]);
    approve(s, &r, "bob", &keys[0]);
    let r: Request = s.get(&format!("/v1/requests/{}", r.id));
    assert_eq!(r.state, RequestState::Approved);
    r
}

/// Replace the policy set with one that permits everything, as an
/// operator might: reconciliation must not rely on policy to have refused.
fn permissive_policy(s: &TestServer) {
    let dir = s.policy_dir();
    std::fs::write(
        dir.join("default.cedar"),
        "@id(\"permit-all\")\npermit(principal, action, resource);\n",
    )
    .unwrap();
    let (status, v) = s.call(Method::POST, "/v1/policy/reload", Some(&json!({})), true);
    assert_eq!(status, 200, "{v}");
}

fn identity(s: &TestServer, handle: &str, kind: IdentityKind, owner: Option<&str>, shared: bool) {
    let _: Identity = s.post(
        "/v1/identities",
        &CreateIdentity {
            handle: handle.into(),
            kind,
            display_name: None,
            email: None,
            owner: owner.map(str::to_string),
            shared,
            groups: vec![],
            roles: vec![],
            manager: None,
        },
    );
}

// ----------------------------------------------------------- intake

#[test]
fn a_change_matching_a_fresh_approval_raises_nothing() {
    let s = TestServer::start();
    let r = approved_onboarding(&s);
    let size = s.tree_size();
    let got = report(&s, change("dave", Operation::Grant, ENTITLEMENT, "evt-1"));
    assert!(!got.duplicate);
    assert_eq!(got.change.request.as_deref(), Some(r.id.as_str()));
    assert!(got.exceptions.is_empty(), "{:?}", got.exceptions);
    assert_eq!(got.change.log_index, size);
    let entry = s.entry(size);
    assert_eq!(entry["type"], "entitlement.changed");
    assert_eq!(entry["change"]["request"], r.id.as_str());
    // A full run finds nothing either.
    let report = reconcile(&s);
    assert_eq!(report.changes_checked, 1);
    assert!(report.raised.is_empty(), "{report:?}");
    assert!(exceptions(&s, "").is_empty());
}

#[test]
fn intake_is_idempotent_on_the_source_event_id_and_refuses_conflicts() {
    let s = TestServer::start();
    s.human("dave");
    let first = report(&s, change("dave", Operation::Revoke, ENTITLEMENT, "evt-9"));
    let size = s.tree_size();
    let again = report(&s, change("dave", Operation::Revoke, ENTITLEMENT, "evt-9"));
    assert!(again.duplicate);
    assert_eq!(again.change.id, first.change.id);
    assert_eq!(s.tree_size(), size, "a duplicate records nothing");

    let (status, v) = s.call(
        Method::POST,
        "/v1/entitlement-changes",
        Some(
            &serde_json::to_value(change("dave", Operation::Grant, ENTITLEMENT, "evt-9")).unwrap(),
        ),
        true,
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("change_conflict")),
        "{v}"
    );
    assert_eq!(s.tree_size(), size);
}

#[test]
fn batches_arrive_as_json_arrays_or_ndjson_and_bad_ones_change_nothing() {
    let s = TestServer::start();
    s.human("dave");
    let size = s.tree_size();
    let lines: Vec<String> = (0..3)
        .map(|i| {
            serde_json::to_string(&change(
                "dave",
                Operation::Revoke,
                ENTITLEMENT,
                &format!("nd-{i}"),
            ))
            .unwrap()
        })
        .collect();
    let post_raw = |ctype: &str, body: String| {
        let r = s
            .http
            .post(format!("{}/v1/entitlement-changes", s.base))
            .bearer_auth(TOKEN)
            .header("content-type", ctype)
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().unwrap())
    };
    let (status, v) = post_raw("application/x-ndjson", lines.join("\n") + "\n");
    assert_eq!(status, 201, "{v}");
    let batch: ChangeBatch = serde_json::from_value(v).unwrap();
    assert_eq!((batch.recorded, batch.duplicates), (3, 0));
    assert_eq!(s.tree_size(), size + 3);

    // A malformed line refuses the whole batch, naming the line.
    let mut bad = lines.clone();
    bad[1] = r#"{"system": "github"}"#.into();
    bad[0] =
        serde_json::to_string(&change("dave", Operation::Revoke, ENTITLEMENT, "nd-new")).unwrap();
    let (status, v) = post_raw("application/x-ndjson", bad.join("\n"));
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );
    assert!(v["detail"].as_str().unwrap().contains("line 2"), "{v}");
    assert_eq!(
        s.tree_size(),
        size + 3,
        "nothing of a refused batch is recorded"
    );

    // A change from the future is refused, naming the item.
    let mut future = change("dave", Operation::Revoke, ENTITLEMENT, "nd-future");
    future.changed_at = s.now() + time::Duration::hours(1);
    let ok = change("dave", Operation::Revoke, ENTITLEMENT, "nd-ok");
    let (status, v) = post_raw(
        "application/json",
        serde_json::to_string(&vec![ok, future]).unwrap(),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (422, Some("invalid_field")),
        "{v}"
    );
    assert!(
        v["detail"].as_str().unwrap().starts_with("change 1:"),
        "{v}"
    );
    assert_eq!(s.tree_size(), size + 3);

    // Too many in one call.
    let many: Vec<ReportChange> = (0..1001)
        .map(|i| change("dave", Operation::Revoke, ENTITLEMENT, &format!("m-{i}")))
        .collect();
    let (status, v) = post_raw("application/json", serde_json::to_string(&many).unwrap());
    assert_eq!(status, 422, "{v}");
    assert_eq!(s.tree_size(), size + 3);

    // Integration tokens may report; approvers may not.
    let approver = s.token_for(None, &[Role::Approver]);
    let (status, _) = s.call_as(
        Method::POST,
        "/v1/entitlement-changes",
        Some(&serde_json::to_value(change("dave", Operation::Revoke, ENTITLEMENT, "x")).unwrap()),
        Some(&approver),
    );
    assert_eq!(status, 403);
}

// ----------------------------------------------------------- one test per kind

#[test]
fn a_grant_with_no_approved_request_is_an_unapproved_change() {
    let s = TestServer::start();
    s.human("erin");
    let got = report(
        &s,
        change("erin", Operation::Grant, "org/acme/admins", "evt-u"),
    );
    assert_eq!(got.exceptions.len(), 1);
    let e = only(&s, ControlKind::UnapprovedChange);
    assert_eq!(got.exceptions[0], e.id);
    assert_eq!(e.severity, Severity::High);
    assert_eq!(e.state, ControlState::Open);
    assert_eq!(e.evidence.changes, vec![got.change.log_index]);
    assert_eq!(e.subject.as_deref(), Some("erin"));
    let refs = refs(&e);
    assert!(
        refs.contains(&"NIST CSF 2.0 PR.AA-05".to_string()),
        "{refs:?}"
    );
    assert!(
        refs.contains(&"NIST SP 800-53 Rev. 5 AC-2".to_string()),
        "{refs:?}"
    );
    // Logged, with an outbound-ready record.
    let entry = s.entry(e.log_index);
    assert_eq!(entry["type"], "control.raised");
    assert_eq!(entry["exception"]["kind"], "unapproved_change");
    // Removing access needs no approval.
    let revoke = report(
        &s,
        change("erin", Operation::Revoke, "org/acme/admins", "evt-u2"),
    );
    assert!(revoke.exceptions.is_empty());
}

#[test]
fn access_granted_before_the_approval_was_signed_is_flagged() {
    let s = TestServer::start();
    let (r, keys) = s.onboarding(&["bob"]);
    let got = report(
        &s,
        change("dave", Operation::Grant, ENTITLEMENT, "evt-early"),
    );
    let e = only(&s, ControlKind::AccessBeforeApproval);
    assert_eq!(got.exceptions, vec![e.id.clone()]);
    assert_eq!(e.request.as_deref(), Some(r.id.as_str()));
    assert_eq!(e.evidence.request, Some(r.log_index));
    // Approving afterwards does not make the early grant right.
    s.advance(time::Duration::minutes(5));
    approve(&s, &r, "bob", &keys[0]);
    reconcile(&s);
    assert_eq!(only(&s, ControlKind::AccessBeforeApproval).id, e.id);
}

#[test]
fn an_approval_older_than_the_limit_or_over_an_old_document_version_is_stale() {
    let s = TestServer::start();
    let r = approved_onboarding(&s);
    s.advance(time::Duration::days(31));
    let got = report(
        &s,
        change("dave", Operation::Grant, ENTITLEMENT, "evt-late"),
    );
    assert_eq!(got.change.request.as_deref(), Some(r.id.as_str()));
    let e = only(&s, ControlKind::StaleApproval);
    assert_eq!(got.exceptions, vec![e.id.clone()]);
    assert_eq!(e.severity, Severity::Medium);
    assert_eq!(e.evidence.approvals, vec![r.signatures[0].log_index]);

    // Signed before the document's current version.
    let s = TestServer::start();
    approved_onboarding(&s);
    let v2 = s.document("offer-letter", b"Offer letter for Dave, amended\n");
    assert_eq!(v2.version, 2);
    report(&s, change("dave", Operation::Grant, ENTITLEMENT, "evt-v2"));
    let e = only(&s, ControlKind::StaleApproval);
    assert!(e.evidence.related.contains(&v2.log_index), "{e:?}");
}

#[test]
fn a_change_that_differs_from_the_signed_action_is_a_mismatch() {
    let s = TestServer::start();
    approved_onboarding(&s);
    let got = report(
        &s,
        change("dave", Operation::Grant, "org/acme/team/admins", "evt-m"),
    );
    let e = only(&s, ControlKind::ActionMismatch);
    assert_eq!(got.exceptions, vec![e.id.clone()]);
    assert!(e.summary.contains("org/acme/team/admins"), "{}", e.summary);
    assert!(e.summary.contains(ENTITLEMENT), "{}", e.summary);
    assert!(exceptions(&s, "?kind=unapproved_change").is_empty());
}

#[test]
fn a_proxy_signature_without_a_valid_delegation_is_flagged() {
    let s = TestServer::start_sqlite();
    let keys: Vec<SigningKey> = ["alice", "dave", "bob", "carol"]
        .iter()
        .map(|h| {
            s.human(h);
            s.enroll(h, None)
        })
        .collect();
    let carol = s.token_for(Some("carol"), &[Role::Approver]);
    let (status, v) = s.call_as(
        Method::POST,
        "/v1/delegations",
        Some(&json!({"delegate": "bob", "scope": DelegationScope {
            event_kinds: vec![EventKind::Onboarding], max_impact: Impact::High, requests: vec![],
        }, "duration_seconds": 86400, "reason": "on leave"})),
        Some(&carol),
    );
    assert_eq!(status, 201, "{v}");
    let delegation = v["id"].as_str().unwrap().to_string();
    s.document("offer-letter", b"Offer letter for Dave\n");
    let r = s.request(&request_body("offer-letter", "alice", "dave", &["carol"]));
    let mut st = statement(&r, "bob", &keys[2], Decision::Approve, s.now());
    st.predicate.principal = Some("carol".into());
    let (status, v) = s.submit(&sign(&st, &keys[2]));
    assert_eq!(status, 201, "{v}");

    // In order, nothing is raised.
    report(&s, change("dave", Operation::Grant, ENTITLEMENT, "evt-p1"));
    assert!(exceptions(&s, "").is_empty());

    // Someone edits the stored delegation so it had ended before bob
    // signed: reconciliation re-checks the delegation and flags the proxy.
    let db = rusqlite::Connection::open(s.db_path()).unwrap();
    db.execute(
        "UPDATE delegations SET body = json_set(body, '$.not_after', '2001-01-01T00:00:00Z') WHERE id = ?1",
        [&delegation],
    )
    .unwrap();
    drop(db);
    report(&s, change("dave", Operation::Grant, ENTITLEMENT, "evt-p2"));
    let e = only(&s, ControlKind::ProxyWithoutDelegation);
    assert!(e.summary.contains("bob"), "{}", e.summary);
    let refs = refs(&e);
    assert!(
        refs.contains(&"NIST SP 800-53 Rev. 5 AC-5".to_string()),
        "{refs:?}"
    );
}

/// A request for `beneficiary`'s access approved by `approver`, under a
/// policy set that lets anything through.
fn approved_under_permissive_policy(
    s: &TestServer,
    approver: &str,
    key: &SigningKey,
    beneficiary: &str,
) -> Request {
    s.document("offer-letter", b"Offer letter\n");
    let r = s.request(&request_body(
        "offer-letter",
        "alice",
        beneficiary,
        &[approver],
    ));
    approve(s, &r, approver, key);
    r
}

#[test]
fn a_signer_suspended_when_signing_is_flagged() {
    let s = TestServer::start();
    s.human("alice");
    s.human("dave");
    s.human("bob");
    let key = s.enroll("bob", None);
    permissive_policy(&s);
    let _: Identity = s.post("/v1/identities/bob/suspend", &json!({}));
    approved_under_permissive_policy(&s, "bob", &key, "dave");
    report(&s, change("dave", Operation::Grant, ENTITLEMENT, "evt-s"));
    let e = only(&s, ControlKind::InactiveSigner);
    assert_eq!(e.severity, Severity::High);
    assert!(e.summary.contains("suspended"), "{}", e.summary);
}

#[test]
fn a_shared_account_signing_is_flagged() {
    let s = TestServer::start();
    s.human("alice");
    s.human("dave");
    identity(&s, "ops-team", IdentityKind::Human, None, true);
    let key = s.enroll("ops-team", None);
    permissive_policy(&s);
    approved_under_permissive_policy(&s, "ops-team", &key, "dave");
    report(&s, change("dave", Operation::Grant, ENTITLEMENT, "evt-sh"));
    let e = only(&s, ControlKind::SharedSigner);
    assert_eq!(e.severity, Severity::Medium);
}

#[test]
fn a_machine_signing_with_a_long_lived_key_is_flagged() {
    let s = TestServer::start();
    s.human("alice");
    identity(&s, "etl", IdentityKind::Service, Some("alice"), false);
    identity(
        &s,
        "deploy-bot",
        IdentityKind::Service,
        Some("alice"),
        false,
    );
    let key = s.enroll("deploy-bot", None);
    permissive_policy(&s);
    approved_under_permissive_policy(&s, "deploy-bot", &key, "etl");
    report(&s, change("etl", Operation::Grant, ENTITLEMENT, "evt-ll"));
    let e = only(&s, ControlKind::LongLivedMachineCredential);
    let refs = refs(&e);
    assert!(
        refs.iter()
            .any(|r| r.starts_with("OWASP Non-Human Identities Top 10 (2025) NHI7")),
        "{refs:?}"
    );
}

#[test]
fn a_leaver_still_holding_access_after_the_sla_is_offboarding_lag() {
    let s = TestServer::start();
    approved_onboarding(&s);
    report(&s, change("dave", Operation::Grant, ENTITLEMENT, "evt-g"));
    let _: Identity = s.post("/v1/identities/dave/terminate", &json!({}));
    // Within the SLA: not yet late.
    s.advance(time::Duration::hours(23));
    assert!(reconcile(&s).raised.is_empty());
    s.advance(time::Duration::hours(2));
    let run = reconcile(&s);
    let e = only(&s, ControlKind::OffboardingLag);
    assert_eq!(run.raised, vec![e.id.clone()]);
    assert_eq!(e.key, "identity:dave");
    assert!(e.summary.contains(ENTITLEMENT), "{}", e.summary);
    // A second run adds nothing.
    let again = reconcile(&s);
    assert!(
        again.raised.is_empty() && again.updated.is_empty(),
        "{again:?}"
    );
}

#[test]
fn an_approved_change_never_carried_out_is_flagged_after_the_sla() {
    let s = TestServer::start();
    let r = approved_onboarding(&s);
    s.advance(time::Duration::days(6));
    assert!(reconcile(&s).raised.is_empty());
    s.advance(time::Duration::days(2));
    reconcile(&s);
    let e = only(&s, ControlKind::ApprovedNotExecuted);
    assert_eq!(e.request.as_deref(), Some(r.id.as_str()));
    assert_eq!(e.severity, Severity::Low);
}

#[test]
fn an_orphaned_machine_identity_holding_access_is_flagged() {
    let s = TestServer::start();
    s.human("alice");
    identity(&s, "etl-bot", IdentityKind::Service, Some("alice"), false);
    report(
        &s,
        change("etl-bot", Operation::Grant, "db/warehouse/read", "evt-o"),
    );
    let left = s.tree_size();
    let _: Identity = s.post("/v1/identities/alice/terminate", &json!({}));
    let bot: Identity = s.get("/v1/identities/etl-bot");
    assert!(bot.orphaned, "{bot:?}");
    // The termination and the orphaning are both logged.
    let kinds: Vec<Value> = (left..s.tree_size())
        .map(|i| s.entry(i)["type"].clone())
        .collect();
    assert!(kinds.contains(&json!("identity.updated")), "{kinds:?}");
    reconcile(&s);
    let e = only(&s, ControlKind::OrphanedIdentityAccess);
    assert_eq!(e.subject.as_deref(), Some("etl-bot"));
    assert!(
        refs(&e).iter().any(|r| r.contains("NHI1")),
        "{:?}",
        refs(&e)
    );
}

// ----------------------------------------------------------- workflow

fn resolution(
    e: &ControlException,
    resolver: &str,
    key: &SigningKey,
    revision: u64,
    at: time::OffsetDateTime,
) -> Value {
    let st = ResolutionStatement {
        exception: e.id.clone(),
        revision,
        resolution: Resolution::Remediated,
        justification: "access removed in github".into(),
        resolver: resolver.into(),
        key_id: countersign_attest::key_id(&key.verifying_key()),
        signed_at: at,
        nonce: None,
    };
    json!({"envelope": countersign_attest::sign_resolution(&st, key).unwrap()})
}

#[test]
fn control_exceptions_are_assigned_acknowledged_resolved_with_a_signature_and_reopened() {
    let s = TestServer::start();
    s.human("erin");
    s.human("gina");
    let gina_key = s.enroll("gina", None);
    let gina = s.token_for(Some("gina"), &[Role::Compliance]);
    let auditor = s.token_for(None, &[Role::Auditor]);
    report(
        &s,
        change("erin", Operation::Grant, "org/acme/admins", "evt-w"),
    );
    let e = only(&s, ControlKind::UnapprovedChange);

    // Auditors read, but do not work exceptions.
    let (status, _) = s.call_as(Method::GET, "/v1/control-exceptions", None, Some(&auditor));
    assert_eq!(status, 200);
    let path = |what: &str| format!("/v1/control-exceptions/{}/{what}", e.id);
    let (status, _) = s.call_as(
        Method::POST,
        &path("acknowledge"),
        Some(&json!({})),
        Some(&auditor),
    );
    assert_eq!(status, 403);

    let (status, v) = s.call_as(
        Method::POST,
        &path("assign"),
        Some(&json!({"assignee": "gina"})),
        Some(&gina),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["assignee"], "gina");
    let (status, v) = s.call_as(
        Method::POST,
        &path("assign"),
        Some(&json!({"assignee": "nobody"})),
        Some(&gina),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("identity_not_found"))
    );
    let (status, v) = s.call_as(
        Method::POST,
        &path("acknowledge"),
        Some(&json!({})),
        Some(&gina),
    );
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("acknowledged")),
        "{v}"
    );
    let mine = exceptions(&s, "?assignee=gina&state=acknowledged");
    assert_eq!(mine.len(), 1);
    let current = mine[0].clone();

    // A resolution signed over an older revision is refused.
    let (status, v) = s.call_as(
        Method::POST,
        &path("resolve"),
        Some(&resolution(
            &current,
            "gina",
            &gina_key,
            current.revision - 1,
            s.now(),
        )),
        Some(&gina),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("control_exception_stale")),
        "{v}"
    );
    // One signed with a key that is not gina's is refused.
    let stranger = SigningKey::generate(&mut rand_core::OsRng);
    let (status, v) = s.call_as(
        Method::POST,
        &path("resolve"),
        Some(&resolution(
            &current,
            "gina",
            &stranger,
            current.revision,
            s.now(),
        )),
        Some(&gina),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (422, Some("resolution_invalid")),
        "{v}"
    );
    // A tampered justification breaks the signature.
    let mut tampered = resolution(&current, "gina", &gina_key, current.revision, s.now());
    let env: countersign_proto::statement::Envelope =
        serde_json::from_value(tampered["envelope"].clone()).unwrap();
    let mut st = countersign_attest::resolution_of(&env).unwrap();
    st.justification = "nothing to see".into();
    let payload = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        serde_json::to_vec(&st).unwrap(),
    );
    tampered["envelope"]["payload"] = json!(payload);
    let (status, v) = s.call_as(Method::POST, &path("resolve"), Some(&tampered), Some(&gina));
    assert_eq!(
        (status, v["code"].as_str()),
        (422, Some("resolution_invalid")),
        "{v}"
    );
    assert_eq!(
        exceptions(&s, "?state=acknowledged").len(),
        1,
        "refusals change nothing"
    );

    let (status, v) = s.call_as(
        Method::POST,
        &path("resolve"),
        Some(&resolution(
            &current,
            "gina",
            &gina_key,
            current.revision,
            s.now(),
        )),
        Some(&gina),
    );
    assert_eq!(status, 200, "{v}");
    let resolved: ControlException = serde_json::from_value(v).unwrap();
    assert_eq!(resolved.state, ControlState::Resolved);
    let res = resolved.resolution.clone().unwrap();
    assert_eq!(
        (res.resolution, res.resolver.as_str()),
        (Resolution::Remediated, "gina")
    );
    let entry = s.entry(res.log_index);
    assert_eq!(entry["type"], "control.updated");
    assert_eq!(entry["action"], "resolved");
    // The logged envelope verifies with gina's key.
    let env: countersign_proto::statement::Envelope =
        serde_json::from_value(entry["envelope"].clone()).unwrap();
    countersign_attest::verify_resolution(&env, &gina_key.verifying_key()).unwrap();

    // Export for GRC tools: CSV with a header and one row, and JSON.
    let csv = s
        .http
        .get(format!(
            "{}/v1/control-exceptions/export?format=csv",
            s.base
        ))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().unwrap();
    let mut rows = text.lines();
    assert!(rows
        .next()
        .unwrap()
        .starts_with("id,kind,severity,state,summary"));
    let row = rows.next().unwrap();
    assert!(
        row.starts_with(&format!("{},unapproved_change,high,resolved,", e.id)),
        "{row}"
    );
    assert!(
        row.contains("remediated,gina,access removed in github"),
        "{row}"
    );
    assert_eq!(rows.next(), None);
    let json: ControlList = s.get("/v1/control-exceptions/export?format=json&state=resolved");
    assert_eq!(json.exceptions.len(), 1);
    let (status, _) = s.call(
        Method::GET,
        "/v1/control-exceptions/export?format=xml",
        None,
        true,
    );
    assert_eq!(status, 400);

    // Reopened by hand, with a reason.
    let (status, v) = s.call_as(
        Method::POST,
        &path("reopen"),
        Some(&json!({"reason": "came back"})),
        Some(&gina),
    );
    assert_eq!(
        (status, v["state"].as_str(), v["reopened"].as_u64()),
        (200, Some("open"), Some(1)),
        "{v}"
    );
    let (status, v) = s.call_as(
        Method::POST,
        &path("reopen"),
        Some(&json!({"reason": "again"})),
        Some(&gina),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("control_exception_state"))
    );
}

#[test]
fn a_resolved_exception_reopens_on_new_evidence() {
    let s = TestServer::start();
    s.human("gina");
    let key = s.enroll("gina", None);
    approved_onboarding(&s);
    report(&s, change("dave", Operation::Grant, ENTITLEMENT, "evt-1"));
    let _: Identity = s.post("/v1/identities/dave/terminate", &json!({}));
    s.advance(time::Duration::hours(25));
    reconcile(&s);
    let e = only(&s, ControlKind::OffboardingLag);
    let resolved: ControlException = s.post(
        &format!("/v1/control-exceptions/{}/resolve", e.id),
        &resolution(&e, "gina", &key, e.revision, s.now()),
    );
    assert_eq!(resolved.state, ControlState::Resolved);
    // Nothing new: stays resolved.
    reconcile(&s);
    assert_eq!(
        only(&s, ControlKind::OffboardingLag).state,
        ControlState::Resolved
    );
    // The leaver gets more access: new evidence reopens it.
    report(
        &s,
        change("dave", Operation::Grant, "org/acme/secrets", "evt-2"),
    );
    let run = reconcile(&s);
    let e = only(&s, ControlKind::OffboardingLag);
    assert_eq!(run.reopened, vec![e.id.clone()]);
    assert_eq!((e.state, e.reopened), (ControlState::Open, 1));
    assert!(e.resolution.is_none());
}

// ----------------------------------------------------------- the CLI

fn cli(s: &TestServer, args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary())
        .args(["--server", &s.base, "--token", TOKEN])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn entitlements_import_reads_csv_and_ndjson_checks_everything_first_and_is_idempotent() {
    let s = TestServer::start();
    approved_onboarding(&s);
    s.human("erin");
    let dir = tempfile::tempdir().unwrap();
    let at = s
        .now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let csv = dir.path().join("changes.csv");
    std::fs::write(
        &csv,
        format!(
            "source_event_id,system,subject,operation,entitlement,changed_at,changed_by\n\
             c-1,github,dave,grant,{ENTITLEMENT},{at},okta\n\
             c-2,github,erin,grant,org/acme/admins,{at},okta\n\
             c-3,github,erin,revoke,org/acme/admins,{at},okta\n"
        ),
    )
    .unwrap();
    let out = cli(
        &s,
        &["--json", "entitlements", "import", csv.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["recorded"].as_u64(), summary["duplicates"].as_u64()),
        (Some(3), Some(0)),
        "{summary}"
    );
    assert_eq!(
        summary["exceptions"].as_array().map(Vec::len),
        Some(1),
        "{summary}"
    );
    // Again: every record is a duplicate, nothing new is written.
    let size = s.tree_size();
    let out = cli(
        &s,
        &["--json", "entitlements", "import", csv.to_str().unwrap()],
    );
    assert!(out.status.success());
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["recorded"].as_u64(), summary["duplicates"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(s.tree_size(), size);

    // NDJSON with a bad line: nothing is sent, the line is named.
    let nd = dir.path().join("more.ndjson");
    let good =
        serde_json::to_string(&change("dave", Operation::Revoke, ENTITLEMENT, "n-1")).unwrap();
    std::fs::write(
        &nd,
        format!("{good}\n{{\"system\": \"github\", \"operation\": \"explode\"}}\n"),
    )
    .unwrap();
    let out = cli(&s, &["entitlements", "import", nd.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more.ndjson:2:"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert_eq!(s.tree_size(), size);
    // A CSV with an unknown column is refused before sending too.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "system,subject,operation,entitlement,changed_at,changed_by,source_event_id,colour\n",
    )
    .unwrap();
    let out = cli(&s, &["entitlements", "import", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("colour"));
}

#[test]
fn a_control_exception_is_resolved_from_the_cli_with_a_local_key() {
    let s = TestServer::start();
    s.human("erin");
    s.human("gina");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("gina.key");
    let out = cli(&s, &["keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success());
    let out = cli(
        &s,
        &[
            "key",
            "enroll",
            "--identity",
            "gina",
            "--key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report(
        &s,
        change("erin", Operation::Grant, "org/acme/admins", "evt-cli"),
    );
    let e = only(&s, ControlKind::UnapprovedChange);
    let out = cli(&s, &["cx", "assign", &e.id, "--to", "gina"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        &s,
        &[
            "cx",
            "resolve",
            &e.id,
            "--resolution",
            "false-positive",
            "--justification",
            "erin is the break-glass admin",
            "--key",
            key.to_str().unwrap(),
            "--as",
            "gina",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = only(&s, ControlKind::UnapprovedChange);
    assert_eq!(e.state, ControlState::Resolved);
    let r = e.resolution.unwrap();
    assert_eq!(
        (r.resolution, r.resolver.as_str()),
        (Resolution::FalsePositive, "gina")
    );
    let out = cli(&s, &["cx", "export", "--format", "csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("false_positive,gina,erin is the break-glass admin"));
}

#[test]
fn a_reader_that_stops_early_ends_the_cli_quietly() {
    let s = TestServer::start();
    s.human("dave");
    let many: Vec<ReportChange> = (0..1000)
        .map(|i| {
            let mut c = change("dave", Operation::Revoke, ENTITLEMENT, &format!("p-{i}"));
            c.changed_at = s.now();
            c
        })
        .collect();
    let _: ChangeBatch = s.post("/v1/entitlement-changes", &many);
    // Hundreds of kilobytes into a pipe whose reader goes away at once, as
    // with `countersign … | head -1`: no panic, a successful exit.
    let mut child = std::process::Command::new(binary())
        .args([
            "--server",
            &s.base,
            "--token",
            TOKEN,
            "--json",
            "entitlements",
            "list",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

#[test]
fn a_passkey_resolution_needs_user_verification_and_a_counter_that_moves_on() {
    let s = TestServer::start();
    s.human("dave");
    s.human("rita");
    let _: Identity = s.post_patch("/v1/identities/rita", &json!({"roles": ["compliance"]}));
    let mut key = Device::security_key();
    let (session, _) = s.enrol_passkey(
        "rita",
        &mut key,
        countersign_webauthn::testkit::TestAttestation::None,
    );
    report(
        &s,
        change("dave", Operation::Grant, "org/acme/admins", "gh-1"),
    );
    let cx = only(&s, ControlKind::UnapprovedChange).id;
    let csrf = s.csrf(&session);
    let resolve = |device: &mut Device| {
        let c: Value = s
            .web(
                Method::POST,
                &format!("/controls/{cx}/resolve/challenge"),
                Some(&json!({"resolution": "remediated", "justification": "removed the grant"})),
                Some(&session),
                Some(&csrf),
            )
            .json()
            .unwrap();
        assert_eq!(c["request_options"]["userVerification"], "required", "{c}");
        let assertion = device.answer(&s, &c["challenge"]);
        let r = s.web(
            Method::POST,
            &format!("/controls/{cx}/resolve"),
            Some(&json!({"nonce": c["nonce"], "credential": assertion})),
            Some(&session),
            Some(&csrf),
        );
        let status = r.status().as_u16();
        (status, r.json::<Value>().unwrap())
    };
    // A security key touched without its PIN does not resolve.
    key.authenticator.flags.user_verified = false;
    let (status, p) = resolve(&mut key);
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("resolution_invalid")),
        "{p}"
    );
    key.authenticator.flags.user_verified = true;
    // A copy of the key whose counter lags behind is a clone.
    let mut clone = Device {
        authenticator: key.authenticator.clone(),
    };
    let (status, p) = resolve(&mut key);
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["state"], "resolved");
    let _: Value = s.post(
        &format!("/v1/control-exceptions/{cx}/reopen"),
        &json!({"reason": "checking again"}),
    );
    let (status, p) = resolve(&mut clone);
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("authenticator_cloned")),
        "{p}"
    );
}
