//! Policy test cases: a TOML file of identities, requests, exceptions and
//! questions with their expected answers, run against a policy set
//! (`countersign policy test`).
//!
//! The format, for operators writing it by hand (the shipped
//! [`crate::DEFAULT_TESTS`] is a full example):
//!
//! ```toml
//! [[identity]]          # handle, kind (human | service | workload),
//! handle = "alice"      # status (default active), shared (default false),
//! kind = "human"        # groups = [...], roles = [...], owner (a handle)
//!
//! [[request]]           # id, event, impact, requester, beneficiary,
//! id = "req-1"          # approvers = [...], optional
//! event = "role_change" # action = { system, subject, operation, entitlement }
//! impact = "high"
//! requester = "bob"
//! beneficiary = "carol"
//! approvers = ["alice"]
//!
//! [[exception]]         # id, requested_by (a handle), request (a request id)
//!
//! [[case]]
//! name = "high impact needs step-up"
//! principal = "alice"
//! action = "sign"       # create_request | sign | delegate | approve_exception
//! resource = "req-1"    # a request id; a handle for delegate; an exception id
//! expect = "deny"       # allow | deny
//! expect_policies = ["step-up-high-impact"]  # optional, the exact set
//! [case.context]        # all optional
//! now = 2026-01-01T00:00:00Z     # RFC 3339, as a TOML datetime or a string
//! aal = 1
//! auth_age_seconds = 60          # unset: the authentication time is unknown
//! step_up_window_seconds = 300
//! on_behalf_of = "dave"          # default: the principal
//! delegation = "del-1"
//! exception = false
//! credential = { key_id = "k1", kind = "key", assurance = "software", lifetime_seconds = 600, long_lived = true }
//! granting = { event_kinds = ["contract"], max_impact = "high", duration_seconds = 86400 }
//! ```
//!
//! Defaults: `status = "active"`, `shared = false`; in the context
//! `now = 2026-01-01T00:00:00Z`, `aal = 1`, no authentication time,
//! `step_up_window_seconds = 300`, `on_behalf_of` = the principal,
//! `exception = false`; for `sign`, a credential `{ key_id = "test-key",
//! kind = "key", assurance = "software", long_lived = true }` without
//! expiry; for `delegate`, `granting = { event_kinds = [], max_impact =
//! "high", duration_seconds = 86400 }`. `credential` is refused outside
//! `sign` cases and `granting` outside `delegate` cases.
//!
//! Unknown keys are errors, and so are references to identities, requests
//! or exceptions the file does not declare; every problem is reported,
//! naming its line and case (or identity, request, exception). Each case
//! builds real model records and a real [`PolicyQuery`] (with every declared
//! identity) and calls [`PolicyEngine::decide`], the path the server takes.
//!
//! A case passes when the effect is as expected, the determining policies
//! are exactly `expect_policies` (when given), and no policy failed to
//! evaluate: a result that depends on a policy being skipped is not a
//! result to rely on.

use std::collections::{BTreeSet, HashMap};

use countersign_domain::policy::{
    CredentialFacts, DelegationFacts, ExceptionFacts, PolicyContext, PolicyEngine, PolicyQuery,
    PolicyResource,
};
use countersign_proto::governance::{Effect, PolicyAction, PolicyDecision};
use countersign_proto::model::{
    ApprovalOrder, Assurance, CredentialKind, EntitlementAction, EventKind, Identity, IdentityKind,
    IdentityStatus, Impact, Request, RequestState,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::set::{line_of, PolicySet};

/// The time a case asks at unless it says otherwise; also the placeholder
/// creation time of the records a case file declares.
const DEFAULT_NOW: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);
const DEFAULT_STEP_UP_WINDOW_SECONDS: i64 = 300;
const DEFAULT_DELEGATION_SECONDS: i64 = 86_400;

/// The outcome of every case of a file, in file order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaseReport {
    pub results: Vec<CaseResult>,
}

impl CaseReport {
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// Whether every case passed.
    pub fn all_passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }
}

/// One case: what was expected and what the policy set decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub expected: Effect,
    /// The exact set of determining policies expected, sorted, if given.
    pub expected_policies: Option<Vec<String>>,
    pub decision: PolicyDecision,
    pub passed: bool,
}

/// Run every case of `toml_src` against `set`. The file is checked whole
/// first: if anything in it is wrong, no case runs and the error lists
/// every problem.
pub fn run(set: &PolicySet, toml_src: &str) -> Result<CaseReport> {
    let plan = Plan::parse(toml_src)?;
    let results = plan
        .queries
        .into_iter()
        .map(|planned| {
            let decision = set.decide(&planned.query);
            let passed = decision.effect == planned.expected
                && planned
                    .expected_policies
                    .as_ref()
                    .is_none_or(|expected| *expected == decision.policies)
                && decision.errors.is_empty();
            CaseResult {
                name: planned.name,
                expected: planned.expected,
                expected_policies: planned.expected_policies,
                decision,
                passed,
            }
        })
        .collect();
    Ok(CaseReport { results })
}

// ------------------------------------------------------------------ file format

/// The file, with each entry kept as a table so that an entry's problems
/// can be reported under its name and line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    identity: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    request: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    exception: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    case: Vec<toml::Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitySpec {
    handle: String,
    kind: IdentityKind,
    #[serde(default = "active")]
    status: IdentityStatus,
    #[serde(default)]
    shared: bool,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    owner: Option<String>,
}

fn active() -> IdentityStatus {
    IdentityStatus::Active
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestSpec {
    id: String,
    event: EventKind,
    impact: Impact,
    requester: String,
    beneficiary: String,
    approvers: Vec<String>,
    action: Option<EntitlementAction>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptionSpec {
    id: String,
    requested_by: String,
    request: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSpec {
    name: String,
    principal: String,
    action: PolicyAction,
    resource: String,
    expect: Effect,
    expect_policies: Option<Vec<String>>,
    #[serde(default)]
    context: ContextSpec,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextSpec {
    /// A TOML datetime or an RFC 3339 string.
    now: Option<toml::Value>,
    aal: Option<u8>,
    auth_age_seconds: Option<i64>,
    step_up_window_seconds: Option<i64>,
    on_behalf_of: Option<String>,
    delegation: Option<String>,
    #[serde(default)]
    exception: bool,
    credential: Option<CredentialSpec>,
    granting: Option<GrantingSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialSpec {
    #[serde(default = "default_key_id")]
    key_id: String,
    #[serde(default)]
    kind: CredentialKind,
    #[serde(default = "software")]
    assurance: Assurance,
    lifetime_seconds: Option<i64>,
    #[serde(default = "yes")]
    long_lived: bool,
}

impl Default for CredentialSpec {
    fn default() -> Self {
        CredentialSpec {
            key_id: default_key_id(),
            kind: CredentialKind::Key,
            assurance: software(),
            lifetime_seconds: None,
            long_lived: true,
        }
    }
}

fn default_key_id() -> String {
    "test-key".to_owned()
}

fn software() -> Assurance {
    Assurance::Software
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantingSpec {
    #[serde(default)]
    event_kinds: Vec<EventKind>,
    #[serde(default = "high")]
    max_impact: Impact,
    #[serde(default = "one_day")]
    duration_seconds: i64,
}

impl Default for GrantingSpec {
    fn default() -> Self {
        GrantingSpec {
            event_kinds: Vec::new(),
            max_impact: high(),
            duration_seconds: one_day(),
        }
    }
}

fn high() -> Impact {
    Impact::High
}

fn one_day() -> i64 {
    DEFAULT_DELEGATION_SECONDS
}

// ------------------------------------------------------------------ planning

struct PlannedCase {
    name: String,
    expected: Effect,
    expected_policies: Option<Vec<String>>,
    query: PolicyQuery,
}

struct Plan {
    queries: Vec<PlannedCase>,
}

/// Collects problems while the file is checked.
struct Checker<'s> {
    src: &'s str,
    problems: Vec<String>,
}

impl Checker<'_> {
    /// Deserialize one entry; on failure, record the problem under the
    /// entry's kind, position, line and name.
    fn entry<T: DeserializeOwned>(
        &mut self,
        kind: &str,
        index: usize,
        entry: &toml::Spanned<toml::Table>,
        name_key: &str,
    ) -> Option<(T, String)> {
        let line = line_of(self.src, entry.span().start);
        let label = match entry.get_ref().get(name_key).and_then(toml::Value::as_str) {
            Some(name) => format!("line {line}: {kind} `{name}`"),
            None => format!("line {line}: {kind} #{}", index + 1),
        };
        match toml::Value::Table(entry.get_ref().clone()).try_into::<T>() {
            Ok(value) => Some((value, label)),
            Err(e) => {
                self.problems.push(format!("{label}: {}", e.message()));
                None
            }
        }
    }

    fn problem(&mut self, label: &str, problem: impl std::fmt::Display) {
        self.problems.push(format!("{label}: {problem}"));
    }
}

impl Plan {
    fn parse(src: &str) -> Result<Plan> {
        let raw: RawFile = toml::from_str(src).map_err(|e| Error::InvalidCases {
            problems: vec![e.to_string().trim_end().to_owned()],
        })?;
        let mut check = Checker {
            src,
            problems: Vec::new(),
        };

        // Identities.
        let mut identity_specs: Vec<(IdentitySpec, String)> = Vec::new();
        for (i, entry) in raw.identity.iter().enumerate() {
            if let Some(parsed) = check.entry::<IdentitySpec>("identity", i, entry, "handle") {
                identity_specs.push(parsed);
            }
        }
        let mut identities: Vec<Identity> = Vec::new();
        let mut handles = BTreeSet::new();
        for (spec, label) in &identity_specs {
            if !handles.insert(spec.handle.as_str()) {
                check.problem(label, "this handle is declared twice");
            }
        }
        for (spec, label) in &identity_specs {
            if let Some(owner) = &spec.owner {
                if !handles.contains(owner.as_str()) {
                    check.problem(
                        label,
                        format!("owner `{owner}` is not a declared [[identity]]"),
                    );
                }
            }
            identities.push(identity_model(spec));
        }
        let known = |check: &mut Checker, label: &str, what: &str, handle: &str| {
            if !handles.contains(handle) {
                check.problem(
                    label,
                    format!("{what} `{handle}` is not a declared [[identity]]"),
                );
            }
        };

        // Requests.
        let mut requests: HashMap<String, Request> = HashMap::new();
        for (i, entry) in raw.request.iter().enumerate() {
            let Some((spec, label)) = check.entry::<RequestSpec>("request", i, entry, "id") else {
                continue;
            };
            known(&mut check, &label, "requester", &spec.requester);
            known(&mut check, &label, "beneficiary", &spec.beneficiary);
            for approver in &spec.approvers {
                known(&mut check, &label, "approver", approver);
            }
            if let Some(action) = &spec.action {
                known(&mut check, &label, "subject", &action.subject);
            }
            if requests.contains_key(&spec.id) {
                check.problem(&label, "this id is declared twice");
                continue;
            }
            requests.insert(spec.id.clone(), request_model(spec));
        }

        // Exceptions.
        let mut exceptions: HashMap<String, ExceptionFacts> = HashMap::new();
        for (i, entry) in raw.exception.iter().enumerate() {
            let Some((spec, label)) = check.entry::<ExceptionSpec>("exception", i, entry, "id")
            else {
                continue;
            };
            known(&mut check, &label, "requested_by", &spec.requested_by);
            let Some(request) = requests.get(&spec.request) else {
                check.problem(
                    &label,
                    format!("request `{}` is not a declared [[request]]", spec.request),
                );
                continue;
            };
            if exceptions.contains_key(&spec.id) {
                check.problem(&label, "this id is declared twice");
                continue;
            }
            exceptions.insert(
                spec.id.clone(),
                ExceptionFacts {
                    id: spec.id,
                    requested_by: spec.requested_by,
                    request: request.clone(),
                },
            );
        }

        // Cases.
        let mut names = BTreeSet::new();
        let mut queries = Vec::new();
        for (i, entry) in raw.case.iter().enumerate() {
            let Some((spec, label)) = check.entry::<CaseSpec>("case", i, entry, "name") else {
                continue;
            };
            if !names.insert(spec.name.clone()) {
                check.problem(&label, "another case has the same name");
            }
            known(&mut check, &label, "principal", &spec.principal);
            if let Some(on_behalf_of) = &spec.context.on_behalf_of {
                known(&mut check, &label, "on_behalf_of", on_behalf_of);
            }
            let resource = match spec.action {
                PolicyAction::CreateRequest | PolicyAction::Sign => requests
                    .get(&spec.resource)
                    .cloned()
                    .map(PolicyResource::Request),
                PolicyAction::Delegate => handles
                    .contains(spec.resource.as_str())
                    .then(|| PolicyResource::Identity(spec.resource.clone())),
                PolicyAction::ApproveException => exceptions
                    .get(&spec.resource)
                    .cloned()
                    .map(PolicyResource::Exception),
            };
            let Some(resource) = resource else {
                let wanted = match spec.action {
                    PolicyAction::CreateRequest | PolicyAction::Sign => "[[request]] id",
                    PolicyAction::Delegate => "[[identity]] handle",
                    PolicyAction::ApproveException => "[[exception]] id",
                };
                check.problem(
                    &label,
                    format!(
                        "resource `{}` is not a declared {wanted} ({} needs one)",
                        spec.resource,
                        spec.action.as_str()
                    ),
                );
                continue;
            };
            let Some(context) = context(
                &mut check,
                &label,
                spec.action,
                spec.context,
                &spec.principal,
            ) else {
                continue;
            };
            let expected_policies = spec.expect_policies.map(|policies| {
                policies
                    .into_iter()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            });
            queries.push(PlannedCase {
                name: spec.name,
                expected: spec.expect,
                expected_policies,
                query: PolicyQuery {
                    action: spec.action,
                    principal: spec.principal,
                    resource,
                    context,
                    identities: identities.clone(),
                },
            });
        }

        if check.problems.is_empty() {
            Ok(Plan { queries })
        } else {
            Err(Error::InvalidCases {
                problems: check.problems,
            })
        }
    }
}

fn context(
    check: &mut Checker,
    label: &str,
    action: PolicyAction,
    spec: ContextSpec,
    principal: &str,
) -> Option<PolicyContext> {
    let before = check.problems.len();
    let now = match &spec.now {
        None => DEFAULT_NOW,
        Some(value) => {
            let text = match value {
                toml::Value::Datetime(datetime) => datetime.to_string(),
                toml::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            OffsetDateTime::parse(&text, &Rfc3339).unwrap_or_else(|e| {
                check.problem(
                    label,
                    format!("context.now `{text}` is not an RFC 3339 time with an offset: {e}"),
                );
                DEFAULT_NOW
            })
        }
    };
    let aal = spec.aal.unwrap_or(1);
    if !(1..=3).contains(&aal) {
        check.problem(label, format!("context.aal {aal} is not 1, 2 or 3"));
    }
    let step_up_window = spec
        .step_up_window_seconds
        .unwrap_or(DEFAULT_STEP_UP_WINDOW_SECONDS);
    if step_up_window < 0 {
        check.problem(label, "context.step_up_window_seconds is negative");
    }
    let credential = match action {
        PolicyAction::Sign => {
            let spec = spec.credential.unwrap_or_default();
            if spec.lifetime_seconds.is_some_and(|s| s < 0) {
                check.problem(label, "context.credential.lifetime_seconds is negative");
            }
            Some(CredentialFacts {
                key_id: spec.key_id,
                kind: spec.kind,
                assurance: spec.assurance,
                lifetime: spec.lifetime_seconds.map(Duration::seconds),
                long_lived: spec.long_lived,
            })
        }
        _ => {
            if spec.credential.is_some() {
                check.problem(label, "context.credential applies to sign cases only");
            }
            None
        }
    };
    let granting = match action {
        PolicyAction::Delegate => {
            let spec = spec.granting.unwrap_or_default();
            if spec.duration_seconds <= 0 {
                check.problem(label, "context.granting.duration_seconds must be positive");
            }
            Some(DelegationFacts {
                event_kinds: spec.event_kinds,
                max_impact: spec.max_impact,
                not_before: now,
                not_after: now.saturating_add(Duration::seconds(spec.duration_seconds)),
            })
        }
        _ => {
            if spec.granting.is_some() {
                check.problem(label, "context.granting applies to delegate cases only");
            }
            None
        }
    };
    if check.problems.len() > before {
        return None;
    }
    Some(PolicyContext {
        now,
        aal,
        auth_time: spec
            .auth_age_seconds
            .map(|age| now.saturating_sub(Duration::seconds(age))),
        step_up_window: Duration::seconds(step_up_window),
        on_behalf_of: spec.on_behalf_of.unwrap_or_else(|| principal.to_owned()),
        delegation: spec.delegation,
        credential,
        exception: spec.exception,
        granting,
    })
}

fn identity_model(spec: &IdentitySpec) -> Identity {
    Identity {
        id: format!("test:{}", spec.handle),
        handle: spec.handle.clone(),
        kind: spec.kind,
        display_name: spec.handle.clone(),
        email: None,
        owner: spec.owner.clone(),
        shared: spec.shared,
        status: spec.status,
        groups: spec.groups.clone(),
        roles: spec.roles.clone(),
        manager: None,
        orphaned: false,
        scim_adoptable: false,
        created_at: DEFAULT_NOW,
        updated_at: DEFAULT_NOW,
        revision: 1,
    }
}

fn request_model(spec: RequestSpec) -> Request {
    let quorum = u32::try_from(spec.approvers.len().max(1)).unwrap_or(u32::MAX);
    Request {
        id: spec.id,
        event_kind: spec.event,
        purpose: "policy test case".to_owned(),
        impact: spec.impact,
        documents: Vec::new(),
        action: spec.action,
        requester: spec.requester,
        beneficiary: spec.beneficiary,
        approvers: spec.approvers,
        order: ApprovalOrder::Parallel,
        quorum,
        created_at: DEFAULT_NOW,
        expires_at: DEFAULT_NOW.saturating_add(Duration::days(30)),
        state: RequestState::Pending,
        decided_at: None,
        signatures: Vec::new(),
        log_index: 0,
    }
}
