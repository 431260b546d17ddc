//! Governance records: policy decisions, delegations, policy exceptions
//! (break-glass), API tokens and caller authentication context.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{wire_names, EventKind, Impact};
use crate::Timestamp;

wire_names!(PolicyAction { CreateRequest => "create_request", Sign => "sign", Delegate => "delegate", ApproveException => "approve_exception" });
wire_names!(Effect { Allow => "allow", Deny => "deny" });
wire_names!(Role { Admin => "admin", Requester => "requester", Approver => "approver", Auditor => "auditor", Integration => "integration", Scim => "scim", Compliance => "compliance" });
wire_names!(ExceptionState { Requested => "requested", Approved => "approved", Denied => "denied", Used => "used", Expired => "expired" });

/// What a caller asks the policy to allow. Cedar sees these as
/// `Countersign::Action::"<name>"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyAction {
    CreateRequest,
    Sign,
    Delegate,
    ApproveException,
}

/// The outcome of a policy evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Allow,
    Deny,
}

/// A recorded policy decision: what was decided, under which policy set,
/// and which policies determined it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyDecision {
    pub action: PolicyAction,
    pub effect: Effect,
    /// `sha256:<hex>` digest of the policy set in force (schema and policies).
    pub policy_set: String,
    /// Ids of the policies that determined the decision: the permits that
    /// matched for an allow, the forbids that matched for a deny; empty when
    /// nothing permitted the action (Cedar's default deny).
    pub policies: Vec<String>,
    /// Why, in people's words: each determining policy's `@reason`, or a
    /// note that no policy permits the action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Policies that failed to evaluate (they are skipped, as Cedar does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl PolicyDecision {
    pub fn allowed(&self) -> bool {
        self.effect == Effect::Allow
    }
}

/// How the actor was authenticated when a decision was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthContext {
    /// NIST SP 800-63-4 authentication assurance level, 1 to 3.
    pub aal: u8,
    /// When the actor last authenticated interactively (from an OIDC
    /// `auth_time`), if known.
    #[serde(
        default,
        with = "crate::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub auth_time: Option<Timestamp>,
    /// How the AAL was established: `credential:<assurance>`, `oidc:<issuer>`.
    pub method: String,
}

/// An API role. Every route names the roles it admits.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Registers documents and creates, reads and withdraws requests.
    Requester,
    /// Reads requests, signs, delegates, asks for and decides exceptions.
    Approver,
    /// Reads everything and exports evidence.
    Auditor,
    /// Machines feeding Countersign: directory writes, signature relay,
    /// entitlement change reports.
    Integration,
    /// Identity providers pushing users and groups over SCIM (`/scim/v2` only).
    Scim,
    /// GRC: works control exceptions (assign, acknowledge, resolve, reopen).
    Compliance,
}

/// A scoped API token, as listed (the secret is shown once, at issue).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    /// The identity the token acts as, if bound to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    #[serde(
        default,
        with = "crate::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    /// Who issued it (token id or `bootstrap`).
    pub created_by: String,
}

/// What a delegation lets the delegate sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegationScope {
    /// Event kinds covered; empty means every kind.
    #[serde(default)]
    pub event_kinds: Vec<EventKind>,
    /// Highest impact covered.
    pub max_impact: Impact,
    /// Only these requests, when not empty.
    #[serde(default)]
    pub requests: Vec<String>,
}

/// The right of `delegate` to sign on `principal`'s behalf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Delegation {
    pub id: String,
    /// Handle of the identity on whose behalf the delegate signs.
    pub principal: String,
    /// Handle of the identity who may sign.
    pub delegate: String,
    pub scope: DelegationScope,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_before: Timestamp,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_after: Timestamp,
    pub reason: String,
    /// Who granted it: the principal's handle, or `admin` for an
    /// administrative grant.
    pub granted_by: String,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub granted_at: Timestamp,
    /// When it stopped early (revoked, or a party left active status).
    #[serde(
        default,
        with = "crate::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
    /// Log index of the grant.
    pub log_index: u64,
}

/// Lifecycle of a policy exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionState {
    Requested,
    Approved,
    Denied,
    /// Consumed by the signature it allowed.
    Used,
    /// Approved but not used in time, or never decided.
    Expired,
}

/// A break-glass exception: a one-time permission for `actor` to sign
/// `request` although policy refused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyException {
    pub id: String,
    pub request: String,
    /// Handle of the identity the exception lets sign.
    pub actor: String,
    pub justification: String,
    /// Log index of the policy refusal the exception answers.
    pub refusal_index: u64,
    /// The policies that refused.
    pub refused_by: Vec<String>,
    pub state: ExceptionState,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: Timestamp,
    /// Handle of the exception approver who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(
        default,
        with = "crate::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_reason: Option<String>,
    /// An approved exception must be used before this time.
    #[serde(
        default,
        with = "crate::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// Log index of the signature that used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<u64>,
    /// Log index of the request entry.
    pub log_index: u64,
}

/// A legal hold: while it is in force, nothing about its identity or
/// request is erased.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LegalHold {
    pub id: String,
    /// The identity whose personal values it keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The request whose entries' personal values it keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    pub reason: String,
    /// Who placed it (an API caller label).
    pub placed_by: String,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub placed_at: Timestamp,
    #[serde(
        default,
        with = "crate::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub released_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<String>,
    /// The `hold.placed` entry.
    pub log_index: u64,
}

/// `POST /v1/identities/{handle}/holds`, `POST /v1/requests/{id}/holds`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceHold {
    pub reason: String,
}

/// What an erasure did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Erasure {
    pub identity: String,
    /// Personal values erased (their openings deleted, the identity's
    /// records blanked).
    pub erased: u64,
    /// Personal values kept: under a legal hold, or still within retention.
    pub kept: u64,
    /// Why values were kept, one line per reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_because: Vec<String>,
    /// The `personal.erased` entry, when anything was erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// `GET /v1/holds`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HoldList {
    pub holds: Vec<LegalHold>,
}
