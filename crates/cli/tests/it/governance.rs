//! Governance through the real server: each default policy rule allowed and
//! refused, delegation, break-glass exceptions, API tokens and roles, OIDC
//! callers and workload certificates, with JWTs minted here from real keys.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_proto::api::*;
use countersign_proto::governance::*;
use countersign_proto::model::*;
use countersign_proto::statement::Envelope;
use ed25519_dalek::{Signer as _, SigningKey};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::harness::*;

/// Submit as `bearer` and answer (status, problem or receipt, the entry written).
fn attempt(s: &TestServer, env: &Envelope, bearer: &str) -> (u16, Value, Value) {
    let before = s.tree_size();
    let (status, body) = s.submit_as(env, bearer);
    assert_eq!(s.tree_size(), before + 1, "one entry per attempt: {body}");
    (status, body, s.entry(before))
}

/// Assert a policy refusal by exactly `policies`, recorded with its decision.
fn assert_policy_refused(s: &TestServer, env: &Envelope, bearer: &str, policies: &[&str]) -> Value {
    let (status, problem, entry) = attempt(s, env, bearer);
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["code"], "policy_denied", "{problem}");
    for p in policies {
        assert!(
            problem["detail"].as_str().unwrap().contains(p),
            "the refusal names {p}: {problem}"
        );
    }
    assert_eq!(entry["type"], "signature.refused");
    assert_eq!(entry["code"], "policy_denied");
    assert_eq!(entry["policy"]["action"], "sign");
    assert_eq!(entry["policy"]["effect"], "deny");
    assert_eq!(entry["policy"]["policies"], json!(policies));
    assert!(entry["policy"]["policy_set"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    entry
}

/// Assert acceptance, with the recorded decision naming `permit`.
fn assert_allowed(s: &TestServer, env: &Envelope, bearer: &str, permit: &str) -> Value {
    let (status, body, entry) = attempt(s, env, bearer);
    assert_eq!(status, 201, "{body}");
    assert_eq!(entry["type"], "signature.accepted");
    assert_eq!(entry["policy"]["effect"], "allow");
    let policies: Vec<String> =
        serde_json::from_value(entry["policy"]["policies"].clone()).unwrap();
    assert!(policies.contains(&permit.to_string()), "{entry}");
    entry
}

fn approve(s: &TestServer, r: &Request, actor: &str, key: &SigningKey) -> Envelope {
    sign(&statement(r, actor, key, Decision::Approve, s.now()), key)
}

fn identity(s: &TestServer, handle: &str, kind: IdentityKind, owner: Option<&str>) -> Identity {
    s.post(
        "/v1/identities",
        &CreateIdentity {
            handle: handle.into(),
            kind,
            display_name: None,
            email: Some(format!("{handle}@acme.test")),
            owner: owner.map(str::to_string),
            shared: false,
            groups: vec![],
            roles: vec![],
            manager: None,
        },
    )
}

fn create(s: &TestServer, body: CreateRequest) -> Request {
    s.request(&body)
}

/// A request with `approvers`, for `event`/`impact`, granting `subject` access.
fn access_request(
    s: &TestServer,
    event: EventKind,
    impact: Impact,
    requester: &str,
    subject: &str,
    approvers: &[&str],
) -> Request {
    let mut body = request_body("doc", requester, subject, approvers);
    body.event_kind = event;
    body.impact = impact;
    body.expires_in_seconds = Some(7 * 86_400);
    create(s, body)
}

fn people(s: &TestServer, handles: &[&str]) -> Vec<SigningKey> {
    s.document("doc", b"the document\n");
    handles
        .iter()
        .map(|h| {
            identity(s, h, IdentityKind::Human, None);
            s.enroll(h, None)
        })
        .collect()
}

// ----------------------------------------------------------- default rules

#[test]
fn approvers_may_sign_and_others_may_not() {
    let s = TestServer::start();
    let k = people(&s, &["alice", "dave", "bob", "eve"]);
    let r = access_request(
        &s,
        EventKind::Onboarding,
        Impact::Low,
        "alice",
        "dave",
        &["bob"],
    );
    assert_policy_refused(&s, &approve(&s, &r, "eve", &k[3]), TOKEN, &[]);
    assert_allowed(
        &s,
        &approve(&s, &r, "bob", &k[2]),
        TOKEN,
        "approvers-may-sign",
    );
}

#[test]
fn separation_of_duties_keeps_requester_and_beneficiary_from_approving() {
    let s = TestServer::start();
    let k = people(&s, &["alice", "dave", "bob"]);
    // An access change its requester or beneficiary would approve could
    // never complete: it is refused when it is made, by the policy.
    for approvers in [&["alice", "bob"][..], &["bob", "dave"][..]] {
        let mut body = request_body("doc", "alice", "dave", approvers);
        body.event_kind = EventKind::RoleChange;
        let (status, v) = s.call(
            Method::POST,
            "/v1/requests",
            Some(&serde_json::to_value(&body).unwrap()),
            true,
        );
        assert_eq!(
            (status, v["code"].as_str()),
            (403, Some("policy_denied")),
            "{v}"
        );
        assert!(
            v["detail"].as_str().unwrap().contains("sod-at-request"),
            "{v}"
        );
    }
    // At signing it still holds for a delegate: alice, the requester,
    // signing for bob is refused.
    let r = access_request(
        &s,
        EventKind::RoleChange,
        Impact::Low,
        "alice",
        "dave",
        &["bob"],
    );
    let bob = s.token_for(Some("bob"), &[Role::Approver]);
    let (status, v) = s.call_as(
        Method::POST,
        "/v1/delegations",
        Some(&json!({"delegate": "alice", "scope": {"max_impact": "high"}, "duration_seconds": 86400, "reason": "on leave"})),
        Some(&bob),
    );
    assert_eq!(status, 201, "{v}");
    let mut st = statement(&r, "alice", &k[0], Decision::Approve, s.now());
    st.predicate.principal = Some("bob".into());
    assert_policy_refused(&s, &sign(&st, &k[0]), TOKEN, &["sod-requester"]);
    assert_allowed(
        &s,
        &approve(&s, &r, "bob", &k[2]),
        TOKEN,
        "approvers-may-sign",
    );
    // Without an access change, a requester may approve their own contract.
    let mut body = request_body("doc", "alice", "dave", &["alice"]);
    body.event_kind = EventKind::Contract;
    body.action = None;
    let contract = create(&s, body);
    assert_allowed(
        &s,
        &approve(&s, &contract, "alice", &k[0]),
        TOKEN,
        "approvers-may-sign",
    );
}

#[test]
fn high_impact_needs_step_up_by_fresh_login_or_hardware_key() {
    let s = TestServer::start();
    let k = people(&s, &["alice", "dave", "bob", "carol"]);
    let r = access_request(
        &s,
        EventKind::PrivilegedAccess,
        Impact::High,
        "alice",
        "dave",
        &["bob", "carol"],
    );
    // A software key and no recent login: refused.
    let entry = assert_policy_refused(
        &s,
        &approve(&s, &r, "bob", &k[2]),
        TOKEN,
        &["step-up-high-impact"],
    );
    assert_eq!(entry["auth"]["aal"], 1);
    // A login ten minutes old is not fresh either.
    let stale = s.id_token(
        "bob@acme.test",
        time::Duration::minutes(10),
        &["pwd", "otp"],
    );
    assert_policy_refused(
        &s,
        &approve(&s, &r, "bob", &k[2]),
        &stale,
        &["step-up-high-impact"],
    );
    // Bob logs in again: a one-minute-old authentication is step-up.
    let fresh = s.id_token("bob@acme.test", time::Duration::minutes(1), &["pwd", "otp"]);
    let entry = assert_allowed(
        &s,
        &approve(&s, &r, "bob", &k[2]),
        &fresh,
        "approvers-may-sign",
    );
    assert_eq!(entry["auth"]["aal"], 2, "pwd+otp is AAL2");
    assert!(entry["auth"]["auth_time"].is_string());
    assert!(entry["auth"]["method"]
        .as_str()
        .unwrap()
        .contains("oidc:https://idp.test"));
    // Carol's key is hardware-held: AAL3 without any login.
    let hw = SigningKey::generate(&mut rand_core::OsRng);
    s.enroll_key("carol", &hw, Assurance::Hardware, None);
    let entry = assert_allowed(
        &s,
        &approve(&s, &r, "carol", &hw),
        TOKEN,
        "approvers-may-sign",
    );
    assert_eq!(entry["auth"]["aal"], 3);
}

#[test]
fn suspended_and_shared_identities_cannot_sign() {
    let s = TestServer::start();
    let k = people(&s, &["alice", "dave", "bob", "team"]);
    // Suspended first: a suspension re-routes requests already pending.
    let _: Identity = s.post("/v1/identities/bob/suspend", &json!({"reason": "leave"}));
    let r = access_request(
        &s,
        EventKind::Onboarding,
        Impact::Low,
        "alice",
        "dave",
        &["bob", "team"],
    );
    assert_policy_refused(
        &s,
        &approve(&s, &r, "bob", &k[2]),
        TOKEN,
        &["inactive-cannot-sign"],
    );
    let _: Identity = s.post("/v1/identities/bob/reactivate", &json!({}));
    assert_allowed(
        &s,
        &approve(&s, &r, "bob", &k[2]),
        TOKEN,
        "approvers-may-sign",
    );

    let _: Identity = s.post_patch("/v1/identities/team", &json!({"shared": true}));
    assert_policy_refused(
        &s,
        &approve(&s, &r, "team", &k[3]),
        TOKEN,
        &["shared-accounts-cannot-sign"],
    );
    let _: Identity = s.post_patch("/v1/identities/team", &json!({"shared": false}));
    assert_allowed(
        &s,
        &approve(&s, &r, "team", &k[3]),
        TOKEN,
        "approvers-may-sign",
    );
}

#[test]
fn machines_approve_human_access_only_where_a_policy_permits_it() {
    let s = TestServer::start();
    people(&s, &["alice", "dave"]);
    identity(&s, "hr-bot", IdentityKind::Service, Some("alice"));
    identity(&s, "svc-db", IdentityKind::Service, Some("alice"));
    let bot = s.enroll("hr-bot", None);
    // A service approving a change to a human's access: nothing permits it.
    let human = access_request(
        &s,
        EventKind::Offboarding,
        Impact::Low,
        "alice",
        "dave",
        &["hr-bot"],
    );
    assert_policy_refused(&s, &approve(&s, &human, "hr-bot", &bot), TOKEN, &[]);
    // The same service approving a change to a service's access is permitted.
    let machine = access_request(
        &s,
        EventKind::RoleChange,
        Impact::Low,
        "alice",
        "svc-db",
        &["hr-bot"],
    );
    assert_allowed(
        &s,
        &approve(&s, &machine, "hr-bot", &bot),
        TOKEN,
        "non-human-approvers-may-sign",
    );
    // An operator adds an explicit permit and reloads: now it may.
    std::fs::write(
        s.policy_dir().join("hr-bot.cedar"),
        r#"@id("hr-bot-offboards")
@reason("the HR bot approves offboarding for people it has an HR record of")
permit (principal == Countersign::Identity::"hr-bot", action == Countersign::Action::"sign", resource)
when { resource.event == "offboarding" && resource.approvers.contains(context.on_behalf_of) };
"#,
    )
    .unwrap();
    let before = s.tree_size();
    let view: PolicySetView = s.post("/v1/policy/reload", &json!({}));
    let activated = s.entry(before);
    assert_eq!(activated["type"], "policy.activated");
    assert_eq!(activated["trigger"], "reload");
    assert_eq!(activated["policy_set"], json!(view.policy_set));
    assert_allowed(
        &s,
        &approve(&s, &human, "hr-bot", &bot),
        TOKEN,
        "hr-bot-offboards",
    );
}

#[test]
fn machines_with_long_lived_keys_cannot_sign_releases_but_certificates_can() {
    let s = TestServer::start();
    people(&s, &["alice", "rm"]);
    identity(&s, "ci-release", IdentityKind::Workload, Some("alice"));
    let long_lived = s.enroll("ci-release", None);
    let mut body = request_body("doc", "alice", "alice", &["ci-release"]);
    body.event_kind = EventKind::CodeRelease;
    body.action = None;
    let r = create(&s, body);
    assert_policy_refused(
        &s,
        &approve(&s, &r, "ci-release", &long_lived),
        TOKEN,
        &["machine-long-lived-credential"],
    );
    let (key, cert) = workload_login(&s, &s.ci_token("repo:acme/app:ref:refs/heads/main"));
    let jwt = s.ci_token("repo:acme/app:ref:refs/heads/main");
    let entry = assert_allowed(
        &s,
        &approve(&s, &r, "ci-release", &key),
        &jwt,
        "non-human-approvers-may-sign",
    );
    assert_eq!(entry["key_id"], json!(cert.key_id));
}

#[test]
fn creating_a_request_needs_an_active_requester() {
    let s = TestServer::start();
    people(&s, &["alice", "dave", "bob"]);
    let _: Identity = s.post("/v1/identities/alice/suspend", &json!({}));
    let before = s.tree_size();
    let (status, problem) = s.call(
        Method::POST,
        "/v1/requests",
        Some(&serde_json::to_value(request_body("doc", "alice", "dave", &["bob"])).unwrap()),
        true,
    );
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("policy_denied")),
        "{problem}"
    );
    assert_eq!(
        s.tree_size(),
        before,
        "a refused request creation writes nothing"
    );
    let r = access_request(
        &s,
        EventKind::Onboarding,
        Impact::Low,
        "bob",
        "dave",
        &["alice"],
    );
    let created = s.entry(r.log_index);
    assert_eq!(
        created["policy"]["policies"],
        json!(["active-identities-may-request"])
    );
}

// ----------------------------------------------------------- delegation

struct Deleg {
    s: TestServer,
    keys: Vec<SigningKey>,
    carol_token: String,
    bob_token: String,
}

/// carol (approver) delegates to bob; alice requests dave's access.
fn delegation_world() -> Deleg {
    let s = TestServer::start();
    let keys = people(&s, &["alice", "dave", "bob", "carol", "erin"]);
    let carol_token = s.token_for(Some("carol"), &[Role::Approver]);
    let bob_token = s.token_for(Some("bob"), &[Role::Approver]);
    Deleg {
        s,
        keys,
        carol_token,
        bob_token,
    }
}

impl Deleg {
    fn grant(&self, scope: DelegationScope, seconds: u64) -> Delegation {
        let (status, v) = self.s.call_as(
            Method::POST,
            "/v1/delegations",
            Some(&json!({"delegate": "bob", "scope": scope, "duration_seconds": seconds, "reason": "on leave"})),
            Some(&self.carol_token),
        );
        assert_eq!(status, 201, "{v}");
        serde_json::from_value(v).unwrap()
    }

    fn on_behalf(&self, r: &Request) -> Envelope {
        let mut st = statement(r, "bob", &self.keys[2], Decision::Approve, self.s.now());
        st.predicate.principal = Some("carol".into());
        sign(&st, &self.keys[2])
    }

    fn request(&self, event: EventKind, impact: Impact) -> Request {
        access_request(&self.s, event, impact, "alice", "dave", &["carol"])
    }

    fn refused(&self, env: &Envelope, code: &str) {
        self.refused_with(env, 403, code)
    }

    fn refused_with(&self, env: &Envelope, want: u16, code: &str) {
        let (status, problem, entry) = attempt(&self.s, env, &self.bob_token);
        assert_eq!(
            (status, problem["code"].as_str()),
            (want, Some(code)),
            "{problem}"
        );
        assert_eq!(entry["code"], code);
        assert_eq!(entry["actor"], "bob");
        assert_eq!(entry["principal"], "carol");
    }
}

fn scope(kinds: &[EventKind], max: Impact) -> DelegationScope {
    DelegationScope {
        event_kinds: kinds.to_vec(),
        max_impact: max,
        requests: vec![],
    }
}

#[test]
fn a_delegate_signs_in_scope_naming_actor_and_principal() {
    let w = delegation_world();
    let d = w.grant(scope(&[EventKind::Onboarding], Impact::Medium), 86_400);
    let granted = w.s.entry(d.log_index);
    assert_eq!(granted["type"], "delegation.granted");
    assert_eq!(
        granted["policy"]["policies"],
        json!(["active-parties-may-delegate"])
    );
    let r = w.request(EventKind::Onboarding, Impact::Medium);
    let (status, body, entry) = attempt(&w.s, &w.on_behalf(&r), &w.bob_token);
    assert_eq!(status, 201, "{body}");
    assert_eq!(entry["actor"], "bob");
    assert_eq!(entry["principal"], "carol");
    assert_eq!(entry["delegation"], json!(d.id));
    let statement = countersign_attest::statement_of(
        &serde_json::from_value(entry["envelope"].clone()).unwrap(),
    )
    .unwrap();
    assert_eq!(statement.predicate.actor, "bob");
    assert_eq!(statement.predicate.principal.as_deref(), Some("carol"));
    let after: Request = w.s.get(&format!("/v1/requests/{}", r.id));
    assert_eq!(
        after.state,
        RequestState::Approved,
        "bob's signature fills carol's slot"
    );
    assert_eq!(after.signatures[0].approver(), "carol");
}

#[test]
fn a_delegate_who_signed_for_themself_cannot_also_fill_the_principals_slot() {
    let w = delegation_world();
    w.grant(scope(&[], Impact::Critical), 86_400);
    let r = access_request(
        &w.s,
        EventKind::Onboarding,
        Impact::Low,
        "alice",
        "dave",
        &["bob", "carol"],
    );
    let (status, body, _) = attempt(&w.s, &approve(&w.s, &r, "bob", &w.keys[2]), &w.bob_token);
    assert_eq!(status, 201, "{body}");
    w.refused_with(&w.on_behalf(&r), 409, "already_signed");
}

#[test]
fn a_delegate_is_refused_out_of_scope() {
    let w = delegation_world();
    w.grant(scope(&[EventKind::Onboarding], Impact::Medium), 86_400);
    w.refused(
        &w.on_behalf(&w.request(EventKind::Offboarding, Impact::Low)),
        "delegation_out_of_scope",
    );
    w.refused(
        &w.on_behalf(&w.request(EventKind::Onboarding, Impact::High)),
        "delegation_out_of_scope",
    );
}

#[test]
fn an_expired_delegation_is_refused() {
    let w = delegation_world();
    w.grant(scope(&[], Impact::Critical), 3600);
    let r = w.request(EventKind::Onboarding, Impact::Low);
    w.s.advance(time::Duration::minutes(61));
    w.refused(&w.on_behalf(&r), "delegation_not_in_window");
}

#[test]
fn a_revoked_delegation_is_refused() {
    let w = delegation_world();
    let d = w.grant(scope(&[], Impact::Critical), 3600);
    let (status, v) = w.s.call_as(
        Method::POST,
        &format!("/v1/delegations/{}/revoke", d.id),
        Some(&json!({"reason": "back from leave"})),
        Some(&w.carol_token),
    );
    assert_eq!(status, 200, "{v}");
    let ended = w.s.entry(w.s.tree_size() - 1);
    assert_eq!(ended["type"], "delegation.ended");
    w.refused(
        &w.on_behalf(&w.request(EventKind::Onboarding, Impact::Low)),
        "delegation_ended",
    );
}

#[test]
fn redelegation_is_refused_and_chains_are_not_followed() {
    let w = delegation_world();
    w.grant(scope(&[], Impact::Critical), 3600);
    let before = w.s.tree_size();
    let (status, v) = w.s.call_as(
        Method::POST,
        "/v1/delegations",
        Some(&json!({"principal": "carol", "delegate": "erin", "scope": {"max_impact": "critical"}, "duration_seconds": 600, "reason": "passing it on"})),
        Some(&w.bob_token),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("redelegation_refused")),
        "{v}"
    );
    assert_eq!(w.s.tree_size(), before);
    // bob delegates his own right to erin; erin still cannot sign for carol.
    let erin_token = w.s.token_for(Some("erin"), &[Role::Approver]);
    let (status, v) = w.s.call_as(
        Method::POST,
        "/v1/delegations",
        Some(&json!({"delegate": "erin", "scope": {"max_impact": "critical"}, "duration_seconds": 600, "reason": "cover"})),
        Some(&w.bob_token),
    );
    assert_eq!(status, 201, "{v}");
    let r = w.request(EventKind::Onboarding, Impact::Low);
    let mut st = statement(&r, "erin", &w.keys[4], Decision::Approve, w.s.now());
    st.predicate.principal = Some("carol".into());
    let (status, problem, _) = attempt(&w.s, &sign(&st, &w.keys[4]), &erin_token);
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("no_delegation")),
        "{problem}"
    );
}

#[test]
fn a_delegation_ends_when_the_delegator_is_terminated() {
    let w = delegation_world();
    let d = w.grant(scope(&[], Impact::Critical), 86_400);
    let before = w.s.tree_size();
    let _: Identity = w.s.post(
        "/v1/identities/carol/terminate",
        &json!({"reason": "left the company"}),
    );
    let ended = (before..w.s.tree_size())
        .map(|i| w.s.entry(i))
        .find(|e| e["type"] == "delegation.ended")
        .unwrap();
    // A request still naming carol cannot be signed for her any more.
    let r = w.request(EventKind::Onboarding, Impact::Low);
    assert_eq!(ended["delegation"], json!(d.id));
    assert!(ended["reason"].as_str().unwrap().contains("terminated"));
    w.refused(&w.on_behalf(&r), "delegation_ended");
}

// ----------------------------------------------------------- exceptions

/// alice asks for dave's privileged access; bob approves with a software
/// key; erin holds the exception_approver role. `k` are the four keys.
struct BreakGlass {
    s: TestServer,
    k: Vec<SigningKey>,
    bob: String,
    erin: String,
    r: Request,
}

fn break_glass(impact: Impact) -> BreakGlass {
    let s = TestServer::start();
    let k = people(&s, &["alice", "dave", "bob", "erin"]);
    let _: Identity = s.post_patch(
        "/v1/identities/erin",
        &json!({"roles": ["exception_approver"]}),
    );
    let bob = s.token_for(Some("bob"), &[Role::Approver]);
    let erin = s.token_for(Some("erin"), &[Role::Approver]);
    let r = access_request(
        &s,
        EventKind::PrivilegedAccess,
        impact,
        "alice",
        "dave",
        &["bob"],
    );
    BreakGlass { s, k, bob, erin, r }
}

#[test]
fn a_break_glass_exception_lets_one_refused_signature_through() {
    let BreakGlass { s, k, bob, erin, r } = break_glass(Impact::Critical);
    let ask = json!({"request": r.id, "justification": "production is down and bob has no hardware key on call"});

    // No refusal yet: nothing to make an exception for.
    let (status, v) = s.call_as(Method::POST, "/v1/exceptions", Some(&ask), Some(&bob));
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("exception_not_applicable")),
        "{v}"
    );

    assert_policy_refused(
        &s,
        &approve(&s, &r, "bob", &k[2]),
        &bob,
        &["step-up-high-impact"],
    );
    let refusal_index = s.tree_size() - 1;
    let (status, v) = s.call_as(Method::POST, "/v1/exceptions", Some(&ask), Some(&bob));
    assert_eq!(status, 201, "{v}");
    let e: PolicyException = serde_json::from_value(v).unwrap();
    assert_eq!(e.refusal_index, refusal_index);
    assert_eq!(e.refused_by, vec!["step-up-high-impact".to_string()]);

    // bob cannot approve his own exception; alice holds no exception role.
    let (status, v) = s.call_as(
        Method::POST,
        &format!("/v1/exceptions/{}/approve", e.id),
        Some(&json!({})),
        Some(&bob),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("exception_self_approval")),
        "{v}"
    );
    let alice = s.token_for(Some("alice"), &[Role::Approver]);
    let (status, v) = s.call_as(
        Method::POST,
        &format!("/v1/exceptions/{}/approve", e.id),
        Some(&json!({})),
        Some(&alice),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("policy_denied")),
        "{v}"
    );

    let (status, v) = s.call_as(
        Method::POST,
        &format!("/v1/exceptions/{}/approve", e.id),
        Some(&json!({"reason": "incident INC-42", "valid_for_seconds": 900})),
        Some(&erin),
    );
    assert_eq!(status, 200, "{v}");
    let decided = s.entry(s.tree_size() - 1);
    assert_eq!(decided["type"], "exception.decided");
    assert_eq!(
        decided["policy"]["policies"],
        json!(["exception-approvers-may-approve"])
    );

    let entry = assert_allowed(
        &s,
        &approve(&s, &r, "bob", &k[2]),
        &bob,
        "approvers-may-sign",
    );
    assert_eq!(entry["exception"], json!(e.id));
    let used: PolicyException = s.get(&format!("/v1/exceptions/{}", e.id));
    assert_eq!(used.state, ExceptionState::Used);
    assert_eq!(used.used_by, Some(s.tree_size() - 1));

    // Single use: a second request is refused again without a new exception.
    let r2 = access_request(
        &s,
        EventKind::PrivilegedAccess,
        Impact::Critical,
        "alice",
        "dave",
        &["bob"],
    );
    assert_policy_refused(
        &s,
        &approve(&s, &r2, "bob", &k[2]),
        &bob,
        &["step-up-high-impact"],
    );

    // The evidence bundle carries the exception's entries.
    let bundle: Value = s.get(&format!("/v1/requests/{}/evidence", r.id));
    let kinds: Vec<String> = bundle["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e["entry"].as_str().unwrap()).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for k in [
        "exception.requested",
        "exception.decided",
        "signature.refused",
        "policy.activated",
    ] {
        assert!(kinds.contains(&k.to_string()), "{k} in {kinds:?}");
    }
}

#[test]
fn an_approved_exception_expires_unused() {
    let BreakGlass { s, k, bob, erin, r } = break_glass(Impact::High);
    assert_policy_refused(
        &s,
        &approve(&s, &r, "bob", &k[2]),
        &bob,
        &["step-up-high-impact"],
    );
    let e: PolicyException = serde_json::from_value(
        s.call_as(
            Method::POST,
            "/v1/exceptions",
            Some(&json!({"request": r.id, "justification": "urgent customer escalation"})),
            Some(&bob),
        )
        .1,
    )
    .unwrap();
    let (status, _) = s.call_as(
        Method::POST,
        &format!("/v1/exceptions/{}/approve", e.id),
        Some(&json!({"valid_for_seconds": 60})),
        Some(&erin),
    );
    assert_eq!(status, 200);
    s.advance(time::Duration::minutes(2));
    assert_policy_refused(
        &s,
        &approve(&s, &r, "bob", &k[2]),
        &bob,
        &["step-up-high-impact"],
    );
    let shown: PolicyException = s.get(&format!("/v1/exceptions/{}", e.id));
    assert_eq!(shown.state, ExceptionState::Expired);
}

// ----------------------------------------------------------- tokens and roles

#[test]
fn api_tokens_are_scoped_by_role_listable_and_revocable() {
    let s = TestServer::start();
    people(&s, &["alice", "dave", "bob"]);
    let auditor = s.token_for(None, &[Role::Auditor]);
    let requester = s.token_for(Some("alice"), &[Role::Requester]);
    let body = serde_json::to_value(request_body("doc", "alice", "dave", &["bob"])).unwrap();

    let (status, v) = s.call_as(Method::POST, "/v1/requests", Some(&body), None);
    assert_eq!(
        (status, v["code"].as_str()),
        (401, Some("unauthenticated")),
        "{v}"
    );
    let (status, v) = s.call_as(Method::POST, "/v1/requests", Some(&body), Some(&auditor));
    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    let (status, v) = s.call_as(Method::POST, "/v1/requests", Some(&body), Some(&requester));
    assert_eq!(status, 201, "{v}");
    // A requester bound to alice cannot file requests in bob's name.
    let mut as_bob = body.clone();
    as_bob["requester"] = json!("bob");
    let (status, _) = s.call_as(
        Method::POST,
        "/v1/requests",
        Some(&as_bob),
        Some(&requester),
    );
    assert_eq!(status, 403);
    let (status, _) = s.call_as(Method::GET, "/v1/requests", None, Some(&auditor));
    assert_eq!(status, 200);
    let (status, v) = s.call_as(Method::GET, "/v1/tokens", None, Some(&auditor));
    assert_eq!((status, v["code"].as_str()), (403, Some("forbidden")));

    let list: TokenList = s.get("/v1/tokens");
    assert_eq!(list.tokens.len(), 2);
    let listed = serde_json::to_string(&list).unwrap();
    assert!(
        !listed.contains(&auditor)
            && !listed.contains(&countersign_server::auth::token_hash(&auditor))
    );
    let id = &list.tokens[0].id;
    let _: ApiToken = s.post(&format!("/v1/tokens/{id}/revoke"), &json!({}));
    let (status, v) = s.call_as(Method::GET, "/v1/requests", None, Some(&auditor));
    assert_eq!(
        (status, v["code"].as_str()),
        (401, Some("unauthenticated")),
        "revoked: {v}"
    );
    // Tokens expire.
    s.advance(time::Duration::days(2));
    let (status, _) = s.call_as(Method::GET, "/v1/requests", None, Some(&requester));
    assert_eq!(status, 401, "expired after a day");
}

#[test]
fn a_bound_approver_submits_only_their_own_signatures() {
    let s = TestServer::start();
    let k = people(&s, &["alice", "dave", "bob", "carol"]);
    let r = access_request(
        &s,
        EventKind::Onboarding,
        Impact::Low,
        "alice",
        "dave",
        &["bob", "carol"],
    );
    let bob = s.token_for(Some("bob"), &[Role::Approver]);
    let before = s.tree_size();
    let (status, v) = s.submit_as(&approve(&s, &r, "carol", &k[3]), &bob);
    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("caller_not_signer")),
        "{v}"
    );
    assert_eq!(s.tree_size(), before);
}

// ----------------------------------------------------------- OIDC callers

#[test]
fn oidc_callers_are_verified_from_real_jwts() {
    let s = TestServer::start();
    people(&s, &["alice", "bob"]);
    let now = s.now().unix_timestamp();
    let claims = |over: Value| {
        let mut c = json!({"iss": IDP, "aud": AUDIENCE, "sub": "u-1", "email": "bob@acme.test", "iat": now, "exp": now + 300, "auth_time": now});
        for (k, v) in over.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let get = |token: &str| s.call_as(Method::GET, "/v1/requests", None, Some(token));
    let valid = s.mint(&s.idp_key, "idp-1", &claims(json!({})));
    assert_eq!(get(&valid).0, 200);

    let other = SigningKey::generate(&mut rand_core::OsRng);
    for (what, token) in [
        (
            "expired",
            s.mint(&s.idp_key, "idp-1", &claims(json!({"exp": now - 120}))),
        ),
        (
            "wrong issuer",
            s.mint(
                &s.idp_key,
                "idp-1",
                &claims(json!({"iss": "https://evil.test"})),
            ),
        ),
        (
            "wrong audience",
            s.mint(&s.idp_key, "idp-1", &claims(json!({"aud": "someone-else"}))),
        ),
        ("bad signature", s.mint(&other, "idp-1", &claims(json!({})))),
        (
            "unknown key id",
            s.mint(&s.idp_key, "idp-9", &claims(json!({}))),
        ),
    ] {
        let (status, v) = get(&token);
        assert_eq!(
            (status, v["code"].as_str()),
            (401, Some("token_invalid")),
            "{what}: {v}"
        );
    }
    let stranger = s.mint(
        &s.idp_key,
        "idp-1",
        &claims(json!({"email": "nobody@acme.test"})),
    );
    let (status, v) = get(&stranger);
    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("identity_unmapped")),
        "{v}"
    );
}

// ----------------------------------------------------------- workloads

/// `countersign workload login` over HTTP: a fresh key, proof, certificate.
fn workload_login(s: &TestServer, jwt: &str) -> (SigningKey, WorkloadCertificate) {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let (status, v) = exchange(s, jwt, &key);
    assert_eq!(status, 201, "{v}");
    (key, serde_json::from_value(v).unwrap())
}

fn exchange(s: &TestServer, jwt: &str, key: &SigningKey) -> (u16, Value) {
    let key_id = countersign_attest::key_id(&key.verifying_key());
    let token_sha = hex::encode(Sha256::digest(jwt.as_bytes()));
    let proof = key.sign(&countersign_attest::keys::workload_pop_message(
        &token_sha, &key_id,
    ));
    s.call_as(
        Method::POST,
        "/v1/workload/certificates",
        Some(&json!({
            "token": jwt,
            "public_key": B64.encode(key.verifying_key().as_bytes()),
            "proof": B64.encode(proof.to_bytes()),
        })),
        None,
    )
}

#[test]
fn workload_token_exchange_verifies_real_jwts() {
    let s = TestServer::start();
    people(&s, &["alice"]);
    identity(&s, "ci-release", IdentityKind::Workload, Some("alice"));
    let now = s.now().unix_timestamp();
    let claims = |over: Value| {
        let mut c = json!({"iss": CI, "aud": AUDIENCE, "sub": "repo:acme/app:ref:refs/heads/main", "iat": now, "exp": now + 300});
        for (k, v) in over.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let other = SigningKey::generate(&mut rand_core::OsRng);
    for (what, token) in [
        (
            "expired",
            s.mint(&s.ci_key, "ci-1", &claims(json!({"exp": now - 120}))),
        ),
        (
            "wrong issuer",
            s.mint(&s.ci_key, "ci-1", &claims(json!({"iss": IDP}))),
        ),
        (
            "wrong audience",
            s.mint(&s.ci_key, "ci-1", &claims(json!({"aud": "other"}))),
        ),
        ("bad signature", s.mint(&other, "ci-1", &claims(json!({})))),
        (
            "unknown key id",
            s.mint(&s.ci_key, "ci-7", &claims(json!({}))),
        ),
        (
            "no rule for the subject",
            s.mint(
                &s.ci_key,
                "ci-1",
                &claims(json!({"sub": "repo:evil/app:ref:refs/heads/main"})),
            ),
        ),
    ] {
        let before = s.tree_size();
        let (status, v) = exchange(&s, &token, &SigningKey::generate(&mut rand_core::OsRng));
        assert_eq!(
            (status, v["code"].as_str()),
            (401, Some("token_invalid")),
            "{what}: {v}"
        );
        assert_eq!(s.tree_size(), before, "{what}: nothing is issued or logged");
    }
    // A proof by another key is refused.
    let jwt = s.mint(&s.ci_key, "ci-1", &claims(json!({})));
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let (status, v) = {
        let token_sha = hex::encode(Sha256::digest(jwt.as_bytes()));
        let kid = countersign_attest::key_id(&key.verifying_key());
        let wrong = other.sign(&countersign_attest::keys::workload_pop_message(
            &token_sha, &kid,
        ));
        s.call_as(
            Method::POST,
            "/v1/workload/certificates",
            Some(&json!({"token": jwt, "public_key": B64.encode(key.verifying_key().as_bytes()), "proof": B64.encode(wrong.to_bytes())})),
            None,
        )
    };
    assert_eq!(
        (status, v["code"].as_str()),
        (422, Some("proof_of_possession_failed")),
        "{v}"
    );

    let (_, cert) = workload_login(&s, &jwt);
    assert_eq!(cert.identity, "ci-release");
    assert_eq!(
        cert.not_after - cert.not_before,
        time::Duration::minutes(10)
    );
    let issued = s.entry(cert.log_index);
    assert_eq!(issued["type"], "credential.certified");
    assert_eq!(issued["oidc_issuer"], CI);
    assert_eq!(issued["credential"]["kind"], "certificate");
    let info = countersign_attest::x509::verify_chain(
        &countersign_attest::x509::pem_to_der(&cert.certificate).unwrap(),
        &countersign_attest::x509::pem_to_der(&cert.ca_certificate).unwrap(),
        s.now(),
    )
    .unwrap();
    assert_eq!(info.identity.as_deref(), Some("ci-release"));
}

#[test]
fn a_workload_certificate_signs_only_within_its_window_and_verifies_offline() {
    let s = TestServer::start();
    people(&s, &["alice"]);
    identity(&s, "ci-release", IdentityKind::Workload, Some("alice"));
    let mut body = request_body("doc", "alice", "alice", &["ci-release"]);
    body.event_kind = EventKind::CodeRelease;
    body.action = None;
    let r1 = create(&s, body.clone());
    let r2 = create(&s, body);
    let jwt = s.ci_token("repo:acme/app:ref:refs/heads/main");
    let (key, _) = workload_login(&s, &jwt);
    assert_allowed(
        &s,
        &approve(&s, &r1, "ci-release", &key),
        &jwt,
        "non-human-approvers-may-sign",
    );

    // Eleven minutes later the certificate has expired.
    s.advance(time::Duration::minutes(11));
    let later = s.ci_token("repo:acme/app:ref:refs/heads/main");
    let (status, problem, _) = attempt(&s, &approve(&s, &r2, "ci-release", &key), &later);
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("credential_expired")),
        "{problem}"
    );

    // Evidence for the signed request verifies offline, chain included...
    let bundle: Value = s.get(&format!("/v1/requests/{}/evidence", r1.id));
    let bytes = serde_json::to_vec(&bundle).unwrap();
    let options = countersign_verify::Options {
        pinned_log_key: Some(s.log_key.clone()),
        documents: vec![],
    };
    let report = countersign_verify::verify_bundle(&bytes, &options);
    assert!(report.ok(), "{}", report.summary());
    assert!(report
        .checks
        .iter()
        .any(|c| c.name == "signature.certificate" && c.ok));

    // ... and fails once the certificate chain is altered: another CA's
    // certificate for the same key, put in place of the issued one.
    let (rogue, _) = countersign_ca::CertificateAuthority::generate(
        "rogue CA",
        s.now() - time::Duration::hours(1),
        time::Duration::days(1),
    )
    .unwrap();
    let forged = rogue
        .issue(&countersign_ca::IssueRequest {
            identity: "ci-release",
            public_key: key.verifying_key().as_bytes(),
            not_before: s.now() - time::Duration::minutes(12),
            not_after: s.now(),
            oidc_issuer: CI,
        })
        .unwrap();
    let mut altered = bundle.clone();
    for e in altered["entries"].as_array_mut().unwrap() {
        let mut entry: Value = serde_json::from_str(e["entry"].as_str().unwrap()).unwrap();
        if entry["type"] == "credential.certified" {
            entry["credential"]["certificate"] = json!(forged.pem);
            e["entry"] = json!(serde_json::to_string(&entry).unwrap());
        }
    }
    // The altered entry no longer proves into the checkpoint, so the
    // signature is left without a credential the verifier can trust.
    let report =
        countersign_verify::verify_bundle(&serde_json::to_vec(&altered).unwrap(), &options);
    assert!(!report.ok());
    assert!(
        report
            .failures()
            .any(|c| c.name == "signature.credential" || c.name == "signature.certificate"),
        "{}",
        report.summary()
    );
}

#[test]
fn a_delegate_sees_in_the_web_app_only_the_requests_their_delegation_covers() {
    let w = delegation_world();
    w.grant(scope(&[EventKind::Onboarding], Impact::Medium), 86_400);
    let (bob, _) = w.s.enrol_passkey(
        "bob",
        &mut Device::synced(),
        countersign_webauthn::testkit::TestAttestation::None,
    );
    let page = |id: &str, tail: &str| {
        w.s.web(
            Method::GET,
            &format!("/requests/{id}{tail}"),
            None,
            Some(&bob),
            None,
        )
        .status()
        .as_u16()
    };
    let covered = w.request(EventKind::Onboarding, Impact::Medium);
    assert_eq!(page(&covered.id, ""), 200, "in scope: bob could sign it");
    assert_eq!(page(&covered.id, "/timeline"), 200);
    for other in [
        w.request(EventKind::Offboarding, Impact::Low),
        w.request(EventKind::Onboarding, Impact::High),
    ] {
        assert_eq!(page(&other.id, ""), 404, "out of scope: not bob's to see");
        assert_eq!(page(&other.id, "/timeline"), 404);
    }
}
