use countersign_domain::policy::{
    CredentialFacts, PolicyContext, PolicyEngine, PolicyQuery, PolicyResource,
};
use countersign_proto::governance::{Effect, PolicyAction};
use countersign_proto::model::{
    ApprovalOrder, Assurance, CredentialKind, EventKind, Identity, IdentityKind, IdentityStatus,
    Impact, Request, RequestState,
};
use time::macros::datetime;
use time::Duration;

use crate::{
    cases, Error, PolicySet, DEFAULT_POLICIES, DEFAULT_POLICY_FILE, DEFAULT_SCHEMA, DEFAULT_TESTS,
    SCHEMA_FILE, TESTS_FILE,
};

const DEFAULT_IDS: [&str; 13] = [
    "approvers-may-sign",
    "non-human-approvers-may-sign",
    "sod-requester",
    "sod-beneficiary",
    "step-up-high-impact",
    "inactive-cannot-sign",
    "shared-accounts-cannot-sign",
    "machine-long-lived-credential",
    "active-identities-may-request",
    "sod-at-request",
    "active-parties-may-delegate",
    "exception-approvers-may-approve",
    "exception-approver-independent",
];

fn defaults_with(extra: &[(&str, &str)]) -> PolicySet {
    let mut files = vec![(DEFAULT_POLICY_FILE.to_owned(), DEFAULT_POLICIES.to_owned())];
    files.extend(extra.iter().map(|(n, t)| (n.to_string(), t.to_string())));
    PolicySet::from_sources(DEFAULT_SCHEMA, &files).unwrap()
}

fn refusal(schema: &str, files: &[(&str, &str)]) -> Vec<String> {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    match PolicySet::from_sources(schema, &files) {
        Err(Error::InvalidPolicySet { problems }) => problems,
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("the policy set was accepted"),
    }
}

fn identity(handle: &str, kind: IdentityKind) -> Identity {
    Identity {
        id: format!("id-{handle}"),
        handle: handle.to_owned(),
        kind,
        display_name: handle.to_owned(),
        email: None,
        owner: None,
        shared: false,
        status: IdentityStatus::Active,
        groups: Vec::new(),
        roles: Vec::new(),
        manager: None,
        orphaned: false,
        scim_adoptable: false,
        created_at: datetime!(2026-01-01 00:00 UTC),
        updated_at: datetime!(2026-01-01 00:00 UTC),
        revision: 1,
    }
}

fn contract(approvers: &[&str]) -> Request {
    Request {
        id: "req-1".to_owned(),
        event_kind: EventKind::Contract,
        purpose: "test".to_owned(),
        impact: Impact::Low,
        documents: Vec::new(),
        action: None,
        requester: "bob".to_owned(),
        beneficiary: "bob".to_owned(),
        approvers: approvers.iter().map(|a| a.to_string()).collect(),
        order: ApprovalOrder::Parallel,
        quorum: 1,
        created_at: datetime!(2026-01-01 00:00 UTC),
        expires_at: datetime!(2026-02-01 00:00 UTC),
        state: RequestState::Pending,
        decided_at: None,
        signatures: Vec::new(),
        log_index: 0,
    }
}

fn sign_query(principal: &str, request: Request, identities: Vec<Identity>) -> PolicyQuery {
    PolicyQuery {
        action: PolicyAction::Sign,
        principal: principal.to_owned(),
        resource: PolicyResource::Request(request),
        context: PolicyContext {
            now: datetime!(2026-01-01 12:00 UTC),
            aal: 2,
            auth_time: None,
            step_up_window: Duration::minutes(5),
            on_behalf_of: principal.to_owned(),
            delegation: None,
            credential: Some(CredentialFacts {
                key_id: "k1".to_owned(),
                kind: CredentialKind::Key,
                assurance: Assurance::Hardware,
                lifetime: None,
                long_lived: true,
            }),
            exception: false,
            granting: None,
        },
        identities,
    }
}

#[test]
fn policy_set_is_send_sync_clone_debug() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    check::<PolicySet>();
}

#[test]
fn defaults_validate_with_every_required_policy_and_a_reason_for_each() {
    let set = PolicySet::defaults().unwrap();
    let policies = set.policies();
    let ids: Vec<&str> = policies.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, DEFAULT_IDS, "ids in source order");
    for policy in &policies {
        assert_eq!(policy.file, DEFAULT_POLICY_FILE);
        assert!(policy.reason.as_deref().is_some_and(|r| !r.is_empty()));
        // The text is the policy as written, annotations included.
        assert!(policy.text.starts_with(&format!("@id(\"{}\")", policy.id)));
        assert!(policy.text.ends_with(';'));
        let expected = if policy.text.contains("\npermit") {
            Effect::Allow
        } else {
            Effect::Deny
        };
        assert_eq!(policy.effect, expected, "{}", policy.id);
    }
    assert_eq!(set.schema_text(), DEFAULT_SCHEMA);
    assert_eq!(set.sources().len(), 1);
}

#[test]
fn digest_is_stable_across_loads_and_changes_with_any_file() {
    let a = PolicySet::defaults().unwrap();
    let b = PolicySet::defaults().unwrap();
    assert_eq!(a.digest(), b.digest());
    assert_eq!(PolicyEngine::digest(&a), a.digest());
    let hex = a.digest().strip_prefix("sha256:").unwrap().to_owned();
    assert_eq!(hex.len(), 64);
    assert!(hex
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));

    let base = (DEFAULT_POLICY_FILE.to_owned(), DEFAULT_POLICIES.to_owned());
    let extra = ("extra.cedar".to_owned(), "// nothing yet\n".to_owned());
    let digest = |schema: &str, files: &[(String, String)]| {
        PolicySet::from_sources(schema, files).unwrap().digest()
    };
    let variants = [
        digest(&format!("{DEFAULT_SCHEMA}\n"), std::slice::from_ref(&base)),
        digest(
            DEFAULT_SCHEMA,
            &[(base.0.clone(), format!("{}// edited\n", base.1))],
        ),
        digest(
            DEFAULT_SCHEMA,
            &[("renamed.cedar".to_owned(), base.1.clone())],
        ),
        digest(DEFAULT_SCHEMA, &[base.clone(), extra.clone()]),
    ];
    for (i, variant) in variants.iter().enumerate() {
        assert_ne!(*variant, a.digest(), "variant {i}");
    }
    // Order of the input does not matter: files are hashed in name order.
    assert_eq!(
        digest(DEFAULT_SCHEMA, &[base.clone(), extra.clone()]),
        digest(DEFAULT_SCHEMA, &[extra, base])
    );
    // The decision names the digest.
    let decision = a.decide(&sign_query(
        "alice",
        contract(&["alice"]),
        vec![identity("alice", IdentityKind::Human)],
    ));
    assert_eq!(decision.policy_set, a.digest());
}

#[test]
fn default_cases_all_pass_and_every_policy_determines_some_case() {
    let set = PolicySet::defaults().unwrap();
    let report = cases::run(&set, DEFAULT_TESTS).unwrap();
    let failures: Vec<_> = report.results.iter().filter(|r| !r.passed).collect();
    assert!(failures.is_empty(), "failed cases: {failures:#?}");
    assert_eq!(report.failed(), 0);
    assert_eq!(report.passed(), report.results.len());
    assert!(report.all_passed());
    assert!(report.results.len() >= 24);
    for id in DEFAULT_IDS {
        assert!(
            report
                .results
                .iter()
                .any(|r| r.decision.policies.iter().any(|p| p == id)),
            "no case is determined by {id}"
        );
    }
    // Both outcomes are exercised for every action.
    for action in PolicyAction::ALL {
        for effect in [Effect::Allow, Effect::Deny] {
            assert!(
                report
                    .results
                    .iter()
                    .any(|r| r.decision.action == *action && r.decision.effect == effect),
                "no {effect:?} case for {action:?}"
            );
        }
    }
}

const SMALL_CASES: &str = r#"
[[identity]]
handle = "alice"
kind = "human"

[[identity]]
handle = "bob"
kind = "human"

[[request]]
id = "req-1"
event = "contract"
impact = "low"
requester = "bob"
beneficiary = "bob"
approvers = ["alice"]
"#;

#[test]
fn a_wrong_expectation_fails_and_is_reported() {
    let set = PolicySet::defaults().unwrap();
    let src = format!(
        r#"{SMALL_CASES}
[[case]]
name = "right"
principal = "alice"
action = "sign"
resource = "req-1"
expect = "allow"

[[case]]
name = "wrong effect"
principal = "bob"
action = "sign"
resource = "req-1"
expect = "allow"

[[case]]
name = "wrong policies"
principal = "alice"
action = "sign"
resource = "req-1"
expect = "allow"
expect_policies = ["sod-requester"]
"#
    );
    let report = cases::run(&set, &src).unwrap();
    assert_eq!((report.passed(), report.failed()), (1, 2));
    assert!(!report.all_passed());
    let wrong = &report.results[1];
    assert_eq!(wrong.name, "wrong effect");
    assert!(!wrong.passed);
    assert_eq!(wrong.expected, Effect::Allow);
    assert_eq!(wrong.decision.effect, Effect::Deny);
    assert!(wrong.decision.policies.is_empty());
    assert_eq!(
        wrong.decision.reasons,
        ["no policy permits sign by bob on req-1"]
    );
    let policies = &report.results[2];
    assert!(!policies.passed);
    assert_eq!(policies.decision.policies, ["approvers-may-sign"]);
    assert_eq!(
        policies.expected_policies.as_deref(),
        Some(&["sod-requester".to_owned()][..])
    );
    // The report serializes for `--json`.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["results"][1]["passed"], false);
    assert_eq!(json["results"][1]["decision"]["effect"], "deny");
}

#[test]
fn case_file_problems_name_the_case_and_are_all_reported() {
    let set = PolicySet::defaults().unwrap();
    let src = format!(
        r#"{SMALL_CASES}
[[case]]
name = "typo"
principal = "alice"
action = "sign"
resource = "req-1"
expct = "allow"

[[case]]
name = "unknown principal"
principal = "zed"
action = "sign"
resource = "req-1"
expect = "deny"

[[case]]
name = "unknown resource"
principal = "alice"
action = "approve_exception"
resource = "req-1"
expect = "deny"

[[case]]
name = "bad time"
principal = "alice"
action = "sign"
resource = "req-1"
expect = "allow"
[case.context]
now = "yesterday"
"#
    );
    let Err(Error::InvalidCases { problems }) = cases::run(&set, &src) else {
        panic!("accepted");
    };
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].contains("case `typo`") && problems[0].contains("expct"));
    assert!(problems[0].starts_with("line "));
    assert!(problems[1].contains("case `unknown principal`") && problems[1].contains("`zed`"));
    assert!(
        problems[2].contains("case `unknown resource`") && problems[2].contains("[[exception]]")
    );
    assert!(problems[3].contains("case `bad time`") && problems[3].contains("yesterday"));

    // Unknown top-level tables are refused too.
    let Err(Error::InvalidCases { problems }) = cases::run(&set, "[[cases]]\nname = \"x\"\n")
    else {
        panic!("accepted");
    };
    assert!(problems[0].contains("cases"), "{problems:?}");
}

#[test]
fn case_time_is_a_toml_datetime_or_an_rfc3339_string() {
    let set = PolicySet::defaults().unwrap();
    for now in ["2026-03-01T10:00:00Z", "\"2026-03-01T12:00:00+02:00\""] {
        let src = format!(
            r#"{SMALL_CASES}
[[case]]
name = "signs"
principal = "alice"
action = "sign"
resource = "req-1"
expect = "allow"
[case.context]
now = {now}
"#
        );
        let report = cases::run(&set, &src).unwrap();
        assert!(report.all_passed(), "{report:#?}");
    }
}

#[test]
fn a_policy_without_id_is_refused_naming_file_and_line() {
    let problems = refusal(
        DEFAULT_SCHEMA,
        &[(
            "mine.cedar",
            "@id(\"ok\")\npermit (principal, action, resource);\n\n// next\npermit (principal, action, resource);\n",
        )],
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("mine.cedar:5: "), "{problems:?}");
    assert!(problems[0].contains("@id"));
}

#[test]
fn a_duplicate_id_is_refused_naming_both_places() {
    let policy = "@id(\"dup\")\nforbid (principal, action, resource);\n";
    let problems = refusal(
        DEFAULT_SCHEMA,
        &[("a.cedar", policy), ("b.cedar", &format!("\n\n{policy}"))],
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("b.cedar:3: "), "{problems:?}");
    assert!(problems[0].contains("`dup`") && problems[0].contains("a.cedar:1"));

    // A duplicate of a default policy's id, too.
    let problems = refusal(
        DEFAULT_SCHEMA,
        &[
            (DEFAULT_POLICY_FILE, DEFAULT_POLICIES),
            (
                "z.cedar",
                "@id(\"sod-requester\")\npermit (principal, action, resource);",
            ),
        ],
    );
    assert!(problems[0].contains("sod-requester"));
}

#[test]
fn a_syntax_error_is_refused_naming_the_file() {
    let problems = refusal(
        DEFAULT_SCHEMA,
        &[
            (DEFAULT_POLICY_FILE, DEFAULT_POLICIES),
            (
                "broken.cedar",
                "@id(\"x\")\npermit (principal, action, resource) when { ;",
            ),
        ],
    );
    assert!(!problems.is_empty());
    assert!(
        problems
            .iter()
            .all(|p| p.starts_with("broken.cedar:2: syntax error")),
        "{problems:?}"
    );
}

#[test]
fn a_policy_that_does_not_match_the_schema_is_refused_naming_it() {
    let problems = refusal(
        DEFAULT_SCHEMA,
        &[
            (DEFAULT_POLICY_FILE, DEFAULT_POLICIES),
            (
                "extra.cedar",
                "// a comment\n@id(\"bad-attr\")\nforbid (principal, action == Countersign::Action::\"sign\", resource)\nwhen { principal.nonexistent };\n",
            ),
        ],
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    // The line of the offending expression, and the policy's id.
    assert!(problems[0].starts_with("extra.cedar:4: "), "{problems:?}");
    assert!(problems[0].contains("policy `bad-attr`") && problems[0].contains("nonexistent"));

    // Strict mode also refuses comparing values of different types.
    let problems = refusal(
        DEFAULT_SCHEMA,
        &[(
            "typed.cedar",
            "@id(\"mixed\")\npermit (principal, action == Countersign::Action::\"sign\", resource)\nwhen { resource.impact_level == \"high\" };\n",
        )],
    );
    assert!(problems[0].contains("`mixed`"), "{problems:?}");
}

#[test]
fn every_problem_is_listed_at_once() {
    let problems = refusal(
        "namespace Countersign { entity Identity; ",
        &[
            ("a.cedar", "permit (principal, action, resource);"),
            ("b.cedar", "permit ("),
        ],
    );
    assert!(
        problems.iter().any(|p| p.starts_with(SCHEMA_FILE)),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("a.cedar:1")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("b.cedar")),
        "{problems:?}"
    );
}

#[test]
fn a_schema_without_the_engines_entities_and_actions_is_refused() {
    let problems = refusal(
        "namespace Countersign { entity Identity; action sign appliesTo { principal: Identity, resource: Identity }; }",
        &[("a.cedar", "@id(\"a\")\npermit (principal, action, resource);")],
    );
    assert!(
        problems.iter().any(|p| p.contains("Countersign::Request")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Countersign::Action::\"delegate\"")),
        "{problems:?}"
    );
}

/// Rule 2 leaves a workload approving a change to a human's access to
/// Cedar's default deny; an operator's permit lifts that.
#[test]
fn a_custom_permit_lets_a_workload_approve_a_change_to_a_humans_access() {
    let src = r#"
[[identity]]
handle = "bob"
kind = "human"

[[identity]]
handle = "carol"
kind = "human"

[[identity]]
handle = "svc-hr-sync"
kind = "service"
owner = "bob"

[[request]]
id = "onboard-carol"
event = "onboarding"
impact = "medium"
requester = "bob"
beneficiary = "carol"
approvers = ["svc-hr-sync"]
action = { system = "okta", subject = "carol", operation = "grant", entitlement = "group:staff" }

[[case]]
name = "hr sync approves onboarding"
principal = "svc-hr-sync"
action = "sign"
resource = "onboard-carol"
expect = "allow"
expect_policies = ["hr-sync-may-approve-onboarding"]
"#;
    let defaults = PolicySet::defaults().unwrap();
    let before = cases::run(&defaults, src).unwrap();
    assert_eq!(before.failed(), 1);
    assert_eq!(before.results[0].decision.effect, Effect::Deny);
    assert!(before.results[0].decision.policies.is_empty());

    let custom = defaults_with(&[(
        "automation.cedar",
        r#"@id("hr-sync-may-approve-onboarding")
@reason("the HR sync service approves onboarding access for new hires")
permit (
  principal == Countersign::Identity::"svc-hr-sync",
  action == Countersign::Action::"sign",
  resource
)
when {
  resource.event == "onboarding" &&
  resource.approvers.contains(context.on_behalf_of)
};
"#,
    )]);
    let after = cases::run(&custom, src).unwrap();
    assert!(after.all_passed(), "{after:#?}");
    assert_eq!(
        after.results[0].decision.reasons,
        ["the HR sync service approves onboarding access for new hires"]
    );
    // The same policy as commented in default.cedar.
    assert!(DEFAULT_POLICIES.contains("// @id(\"hr-sync-may-approve-onboarding\")"));
}

#[test]
fn group_membership_is_visible_to_policies() {
    let set = PolicySet::from_sources(
        DEFAULT_SCHEMA,
        &[(
            "groups.cedar".to_owned(),
            r#"@id("release-managers-request")
permit (
  principal in Countersign::Group::"release-managers",
  action == Countersign::Action::"create_request",
  resource
);"#
            .to_owned(),
        )],
    )
    .unwrap();
    let mut alice = identity("alice", IdentityKind::Human);
    alice.groups = vec!["staff".to_owned(), "release-managers".to_owned()];
    let bob = identity("bob", IdentityKind::Human);
    let query = |principal: &str| PolicyQuery {
        action: PolicyAction::CreateRequest,
        resource: PolicyResource::Request(contract(&["alice"])),
        principal: principal.to_owned(),
        context: PolicyContext {
            on_behalf_of: principal.to_owned(),
            credential: None,
            ..sign_query("x", contract(&[]), vec![]).context
        },
        identities: vec![alice.clone(), bob.clone()],
    };
    let allowed = set.decide(&query("alice"));
    assert_eq!(allowed.effect, Effect::Allow, "{allowed:?}");
    assert_eq!(allowed.policies, ["release-managers-request"]);
    assert_eq!(
        allowed.reasons,
        ["policy release-managers-request (no @reason given)"]
    );
    let denied = set.decide(&query("bob"));
    assert_eq!(denied.effect, Effect::Deny);
    assert!(denied.errors.is_empty());
}

#[test]
fn questions_that_cannot_be_put_to_cedar_are_denied_with_errors() {
    let set = PolicySet::defaults().unwrap();
    let alice = identity("alice", IdentityKind::Human);

    // A sign question without the credential.
    let mut query = sign_query("alice", contract(&["alice"]), vec![alice.clone()]);
    query.context.credential = None;
    let decision = set.decide(&query);
    assert_eq!(decision.effect, Effect::Deny);
    assert!(decision.errors[0].contains("credential"), "{decision:?}");
    assert!(decision.policies.is_empty());
    assert_eq!(decision.reasons.len(), 1);

    // The principal is not described.
    let decision = set.decide(&sign_query("alice", contract(&["alice"]), vec![]));
    assert_eq!(decision.effect, Effect::Deny);
    assert!(decision.errors[0].contains("`alice`"), "{decision:?}");

    // Acting for someone the query does not describe: otherwise the status
    // and shared-account forbids would fail and be skipped.
    let mut query = sign_query("alice", contract(&["erin"]), vec![alice.clone()]);
    query.context.on_behalf_of = "erin".to_owned();
    let decision = set.decide(&query);
    assert_eq!(decision.effect, Effect::Deny);
    assert!(decision.errors[0].contains("`erin`"), "{decision:?}");

    // A resource of the wrong type for the action.
    let mut query = sign_query("alice", contract(&["alice"]), vec![alice.clone()]);
    query.resource = PolicyResource::Identity("alice".to_owned());
    let decision = set.decide(&query);
    assert_eq!(decision.effect, Effect::Deny);
    assert!(!decision.errors.is_empty());

    // A delegate question without the delegation's scope.
    let mut query = sign_query("alice", contract(&[]), vec![alice.clone()]);
    query.action = PolicyAction::Delegate;
    query.resource = PolicyResource::Identity("alice".to_owned());
    let decision = set.decide(&query);
    assert_eq!(decision.effect, Effect::Deny);
    assert!(
        decision.errors.iter().any(|e| e.contains("delegation")),
        "{decision:?}"
    );
}

#[test]
fn duplicate_identities_and_absent_owners_are_tolerated() {
    let set = PolicySet::defaults().unwrap();
    let mut ci = identity("ci", IdentityKind::Workload);
    ci.owner = Some("nobody-we-know".to_owned());
    let mut twin = identity("ci", IdentityKind::Human);
    twin.status = IdentityStatus::Suspended;
    let decision = set.decide(&sign_query("ci", contract(&["ci"]), vec![ci, twin]));
    // The first description wins: an active workload.
    assert_eq!(decision.effect, Effect::Allow, "{decision:?}");
    assert_eq!(decision.policies, ["non-human-approvers-may-sign"]);
}

#[test]
fn write_defaults_and_load_dir_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("policy");
    PolicySet::write_defaults(&dir).unwrap();
    for name in [SCHEMA_FILE, DEFAULT_POLICY_FILE, TESTS_FILE] {
        assert!(dir.join(name).is_file(), "{name}");
    }
    let loaded = PolicySet::load_dir(&dir).unwrap();
    assert_eq!(loaded.digest(), PolicySet::defaults().unwrap().digest());
    assert_eq!(loaded.policies(), PolicySet::defaults().unwrap().policies());
    let tests = std::fs::read_to_string(dir.join(TESTS_FILE)).unwrap();
    assert!(cases::run(&loaded, &tests).unwrap().all_passed());

    // Never overwrite: a second write is refused and changes nothing.
    std::fs::write(dir.join(DEFAULT_POLICY_FILE), "// mine\n").unwrap();
    let Err(Error::AlreadyExists { paths }) = PolicySet::write_defaults(&dir) else {
        panic!("overwrote");
    };
    assert_eq!(paths.len(), 3);
    assert_eq!(
        std::fs::read_to_string(dir.join(DEFAULT_POLICY_FILE)).unwrap(),
        "// mine\n"
    );

    // Every *.cedar file is loaded, in name order; others are ignored.
    std::fs::write(dir.join(DEFAULT_POLICY_FILE), DEFAULT_POLICIES).unwrap();
    std::fs::write(
        dir.join("another.cedar"),
        "@id(\"extra\")\nforbid (principal, action, resource) when { false };\n",
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not policy").unwrap();
    std::fs::write(dir.join(".hidden.cedar"), "not even cedar").unwrap();
    let loaded = PolicySet::load_dir(&dir).unwrap();
    let files: Vec<&str> = loaded.sources().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(files, ["another.cedar", DEFAULT_POLICY_FILE]);
    assert_eq!(loaded.policies()[0].id, "extra");

    // A directory without policies, or without a schema, is refused.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(PolicySet::load_dir(&empty), Err(Error::Io { .. })));
    std::fs::write(empty.join(SCHEMA_FILE), DEFAULT_SCHEMA).unwrap();
    assert!(matches!(
        PolicySet::load_dir(&empty),
        Err(Error::NoPolicyFiles { .. })
    ));
}

#[test]
fn parties_absent_from_the_query_are_still_known_by_handle() {
    let set = PolicySet::defaults().unwrap();
    // Neither the requester `bob` nor the approver `ghost` is described.
    let decision = set.decide(&sign_query(
        "alice",
        contract(&["ghost", "alice"]),
        vec![identity("alice", IdentityKind::Human)],
    ));
    assert_eq!(decision.effect, Effect::Allow, "{decision:?}");
    assert!(decision.errors.is_empty());
}
