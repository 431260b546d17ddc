//! Putting a [`PolicyQuery`] to Cedar and turning the answer into a
//! [`PolicyDecision`].
//!
//! The mapping (documented for policy authors in the schema):
//!
//! * each identity of the query is a `Countersign::Identity` named by handle,
//!   a member of `Countersign::Group::"<name>"` for each of its groups;
//! * a request is a `Countersign::Request` named by id, an exception a
//!   `Countersign::Exception` named by id, a credential a
//!   `Countersign::Credential` named by key id;
//! * the action is `Countersign::Action::"<wire name>"`;
//! * the context carries the time as unix seconds, the authentication
//!   assurance, on whose behalf the actor acts, and the action's own facts
//!   (the credential for `sign`, the scope for `delegate`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr as _;

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    RestrictedExpression as Expr,
};
use countersign_domain::policy::{
    CredentialFacts, DelegationFacts, PolicyContext, PolicyEngine, PolicyQuery, PolicyResource,
};
use countersign_proto::governance::{Effect, PolicyAction, PolicyDecision};
use countersign_proto::model::{Identity, Impact, Request};

use crate::set::PolicySet;
use crate::{
    ACTION_TYPE, CREDENTIAL_TYPE, EXCEPTION_TYPE, GROUP_TYPE, IDENTITY_TYPE, REQUEST_TYPE,
};

impl PolicyEngine for PolicySet {
    fn decide(&self, query: &PolicyQuery) -> PolicyDecision {
        match self.evaluate(query) {
            Ok(decision) => decision,
            Err(errors) => PolicyDecision {
                action: query.action,
                effect: Effect::Deny,
                policy_set: self.digest.clone(),
                policies: Vec::new(),
                reasons: vec![format!(
                    "the policy question ({} by {} on {}) could not be evaluated",
                    query.action.as_str(),
                    query.principal,
                    resource_name(&query.resource)
                )],
                errors,
            },
        }
    }

    fn digest(&self) -> String {
        self.digest.clone()
    }

    fn view(&self) -> countersign_proto::api::PolicySetView {
        PolicySet::view(self)
    }
}

/// The impact's rank, as policies compare it (`impact_level`).
pub(crate) fn impact_level(impact: Impact) -> i64 {
    match impact {
        Impact::Low => 1,
        Impact::Medium => 2,
        Impact::High => 3,
        Impact::Critical => 4,
    }
}

fn resource_name(resource: &PolicyResource) -> &str {
    match resource {
        PolicyResource::Request(request) => &request.id,
        PolicyResource::Identity(handle) => handle,
        PolicyResource::Exception(exception) => &exception.id,
    }
}

/// Errors met while building the Cedar question, one message each.
type Problems = Vec<String>;

impl PolicySet {
    fn evaluate(&self, query: &PolicyQuery) -> Result<PolicyDecision, Problems> {
        let builder = Builder::new(query)?;
        let (entities, resource) = builder.entities(query)?;
        let context = builder.context(query)?;
        let entities = Entities::from_entities(entities, Some(&self.schema))
            .map_err(|e| vec![format!("the query's entities do not match the schema: {e}")])?;
        let principal = uid(IDENTITY_TYPE, &query.principal).map_err(|e| vec![e])?;
        let action = uid(ACTION_TYPE, query.action.as_str()).map_err(|e| vec![e])?;
        let request =
            cedar_policy::Request::new(principal, action, resource, context, Some(&self.schema))
                .map_err(|e| vec![format!("the question does not match the schema: {e}")])?;

        let response = Authorizer::new().is_authorized(&request, &self.cedar, &entities);
        let diagnostics = response.diagnostics();
        let policies: Vec<String> = diagnostics
            .reason()
            .map(ToString::to_string)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let errors = diagnostics.errors().map(ToString::to_string).collect();
        let effect = match response.decision() {
            cedar_policy::Decision::Allow => Effect::Allow,
            cedar_policy::Decision::Deny => Effect::Deny,
        };
        let reasons = if policies.is_empty() {
            // Only a deny can have no determining policy.
            vec![format!(
                "no policy permits {} by {} on {}",
                query.action.as_str(),
                query.principal,
                resource_name(&query.resource)
            )]
        } else {
            policies
                .iter()
                .map(|id| {
                    self.cedar
                        .annotation(&PolicyId::new(id), "reason")
                        .map_or_else(|| format!("policy {id} (no @reason given)"), str::to_owned)
                })
                .collect()
        };
        Ok(PolicyDecision {
            action: query.action,
            effect,
            policy_set: self.digest.clone(),
            policies,
            reasons,
            errors,
        })
    }
}

/// The query's identities by handle (the first of duplicates wins).
struct Builder<'q> {
    identities: HashMap<&'q str, &'q Identity>,
}

impl<'q> Builder<'q> {
    /// Refuses a question whose acting parties the query does not describe:
    /// policies about them would fail to evaluate, and Cedar skips a policy
    /// that fails — a `forbid` among them would silently not apply.
    fn new(query: &'q PolicyQuery) -> Result<Self, Problems> {
        let mut identities = HashMap::new();
        for identity in &query.identities {
            identities
                .entry(identity.handle.as_str())
                .or_insert(identity);
        }
        let mut problems = Vec::new();
        let mut require = |role: &str, handle: &str| {
            if !identities.contains_key(handle) {
                problems.push(format!(
                    "the {role} `{handle}` is not among the query's identities"
                ));
            }
        };
        require("principal", &query.principal);
        if query.context.on_behalf_of != query.principal {
            require("on-behalf-of identity", &query.context.on_behalf_of);
        }
        if let PolicyResource::Identity(delegate) = &query.resource {
            require("delegate", delegate);
        }
        if problems.is_empty() {
            Ok(Builder { identities })
        } else {
            Err(problems)
        }
    }

    /// Every entity of the question, and the resource's uid.
    fn entities(&self, query: &PolicyQuery) -> Result<(Vec<Entity>, EntityUid), Problems> {
        let mut entities = Vec::new();
        let mut problems = Vec::new();
        let mut keep = |built: Result<Entity, String>| match built {
            Ok(entity) => entities.push(entity),
            Err(problem) => problems.push(problem),
        };

        let groups: BTreeSet<&str> = self
            .identities
            .values()
            .flat_map(|identity| identity.groups.iter().map(String::as_str))
            .collect();
        for group in groups {
            keep(uid(GROUP_TYPE, group).map(|uid| Entity::new_no_attrs(uid, HashSet::new())));
        }
        // Sorted, so the same question always builds the same entities.
        let mut handles: Vec<&&str> = self.identities.keys().collect();
        handles.sort();
        for handle in handles {
            if let Some(identity) = self.identities.get(*handle) {
                keep(self.identity_entity(identity));
            }
        }

        let resource = match &query.resource {
            PolicyResource::Request(request) => {
                keep(request_entity(request));
                uid(REQUEST_TYPE, &request.id)
            }
            PolicyResource::Identity(handle) => uid(IDENTITY_TYPE, handle),
            PolicyResource::Exception(exception) => {
                keep(request_entity(&exception.request));
                keep(entity(
                    EXCEPTION_TYPE,
                    &exception.id,
                    vec![
                        ("requested_by", identity_ref(&exception.requested_by)),
                        (
                            "request",
                            uid(REQUEST_TYPE, &exception.request.id).map(Expr::new_entity_uid),
                        ),
                    ],
                    HashSet::new(),
                ));
                uid(EXCEPTION_TYPE, &exception.id)
            }
        };
        if query.action == PolicyAction::Sign {
            if let Some(credential) = &query.context.credential {
                keep(credential_entity(credential));
            }
        }
        match resource {
            Ok(resource) if problems.is_empty() => Ok((entities, resource)),
            Ok(_) => Err(problems),
            Err(problem) => {
                problems.push(problem);
                Err(problems)
            }
        }
    }

    fn identity_entity(&self, identity: &Identity) -> Result<Entity, String> {
        let mut attrs = vec![
            ("kind", Ok(string(identity.kind.as_str()))),
            ("status", Ok(string(identity.status.as_str()))),
            ("shared", Ok(Expr::new_bool(identity.shared))),
            (
                "roles",
                Ok(Expr::new_set(identity.roles.iter().map(|r| string(r)))),
            ),
        ];
        // An owner the query does not describe is left out rather than
        // given as a reference to an unknown entity.
        if let Some(owner) = &identity.owner {
            if self.identities.contains_key(owner.as_str()) {
                attrs.push(("owner", identity_ref(owner)));
            }
        }
        let parents = identity
            .groups
            .iter()
            .map(|group| uid(GROUP_TYPE, group))
            .collect::<Result<HashSet<_>, _>>()?;
        entity(IDENTITY_TYPE, &identity.handle, attrs, parents)
    }

    fn context(&self, query: &PolicyQuery) -> Result<Context, Problems> {
        let c: &PolicyContext = &query.context;
        let now = c.now.unix_timestamp();
        let mut pairs = vec![
            ("now", Ok(Expr::new_long(now))),
            ("aal", Ok(Expr::new_long(i64::from(c.aal)))),
            (
                "step_up_window_seconds",
                Ok(Expr::new_long(c.step_up_window.whole_seconds())),
            ),
            ("on_behalf_of", identity_ref(&c.on_behalf_of)),
            ("delegated", Ok(Expr::new_bool(c.delegation.is_some()))),
            ("exception", Ok(Expr::new_bool(c.exception))),
        ];
        if let Some(auth_time) = c.auth_time {
            let auth_time = auth_time.unix_timestamp();
            pairs.push(("auth_time", Ok(Expr::new_long(auth_time))));
            pairs.push((
                "auth_age_seconds",
                Ok(Expr::new_long(now.saturating_sub(auth_time))),
            ));
        }
        let mut problems = Vec::new();
        match query.action {
            PolicyAction::Sign => match &c.credential {
                Some(credential) => pairs.push((
                    "credential",
                    uid(CREDENTIAL_TYPE, &credential.key_id).map(Expr::new_entity_uid),
                )),
                None => problems.push("a sign question must name the credential used".to_owned()),
            },
            PolicyAction::Delegate => match &c.granting {
                Some(granting) => pairs.extend(granting_pairs(granting)),
                None => problems
                    .push("a delegate question must describe the delegation granted".to_owned()),
            },
            PolicyAction::CreateRequest | PolicyAction::ApproveException => {}
        }
        let mut values = Vec::new();
        for (name, value) in pairs {
            match value {
                Ok(value) => values.push((name.to_owned(), value)),
                Err(problem) => problems.push(problem),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Context::from_pairs(values).map_err(|e| vec![format!("invalid context: {e}")])
    }
}

fn granting_pairs(granting: &DelegationFacts) -> Vec<(&'static str, Result<Expr, String>)> {
    vec![
        (
            "event_kinds",
            Ok(Expr::new_set(
                granting.event_kinds.iter().map(|k| string(k.as_str())),
            )),
        ),
        ("max_impact", Ok(string(granting.max_impact.as_str()))),
        (
            "max_impact_level",
            Ok(Expr::new_long(impact_level(granting.max_impact))),
        ),
        (
            "duration_seconds",
            Ok(Expr::new_long(
                (granting.not_after - granting.not_before).whole_seconds(),
            )),
        ),
    ]
}

fn request_entity(request: &Request) -> Result<Entity, String> {
    let approvers = request
        .approvers
        .iter()
        .map(|handle| identity_ref(handle))
        .collect::<Result<Vec<_>, _>>()?;
    let mut attrs = vec![
        ("event", Ok(string(request.event_kind.as_str()))),
        ("impact", Ok(string(request.impact.as_str()))),
        (
            "impact_level",
            Ok(Expr::new_long(impact_level(request.impact))),
        ),
        ("requester", identity_ref(&request.requester)),
        ("beneficiary", identity_ref(&request.beneficiary)),
        ("approvers", Ok(Expr::new_set(approvers))),
        (
            "has_access_change",
            Ok(Expr::new_bool(request.action.is_some())),
        ),
    ];
    if let Some(action) = &request.action {
        attrs.push(("subject", identity_ref(&action.subject)));
        attrs.push(("system", Ok(string(&action.system))));
        attrs.push(("operation", Ok(string(action.operation.as_str()))));
        attrs.push(("entitlement", Ok(string(&action.entitlement))));
    }
    entity(REQUEST_TYPE, &request.id, attrs, HashSet::new())
}

fn credential_entity(credential: &CredentialFacts) -> Result<Entity, String> {
    let mut attrs = vec![
        ("kind", Ok(string(credential.kind.as_str()))),
        ("assurance", Ok(string(credential.assurance.as_str()))),
        ("long_lived", Ok(Expr::new_bool(credential.long_lived))),
    ];
    if let Some(lifetime) = credential.lifetime {
        attrs.push((
            "lifetime_seconds",
            Ok(Expr::new_long(lifetime.whole_seconds())),
        ));
    }
    entity(CREDENTIAL_TYPE, &credential.key_id, attrs, HashSet::new())
}

fn entity(
    ty: &str,
    id: &str,
    attrs: Vec<(&str, Result<Expr, String>)>,
    parents: HashSet<EntityUid>,
) -> Result<Entity, String> {
    let uid = uid(ty, id)?;
    let attrs = attrs
        .into_iter()
        .map(|(name, value)| value.map(|value| (name.to_owned(), value)))
        .collect::<Result<HashMap<_, _>, _>>()?;
    Entity::new(uid, attrs, parents).map_err(|e| format!("{ty}::{id:?}: {e}"))
}

fn uid(ty: &str, id: &str) -> Result<EntityUid, String> {
    let ty = EntityTypeName::from_str(ty).map_err(|e| format!("entity type {ty}: {e}"))?;
    Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
}

fn identity_ref(handle: &str) -> Result<Expr, String> {
    uid(IDENTITY_TYPE, handle).map(Expr::new_entity_uid)
}

fn string(s: &str) -> Expr {
    Expr::new_string(s.to_owned())
}
