//! Request and response bodies of the HTTP API (`/v1`).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::governance::{ApiToken, Delegation, DelegationScope, PolicyException, Role};
use crate::model::{
    ApprovalOrder, Assurance, EntitlementAction, EventKind, Identity, IdentityKind, IdentityStatus,
    Impact, Request, RequestState,
};
use crate::Timestamp;

/// Body of `POST /v1/identities`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentity {
    pub handle: String,
    pub kind: IdentityKind,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Required for `service` and `workload`: an active human's handle.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub shared: bool,
    /// Groups the identity belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Governance roles, such as `exception_approver`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Handle of the identity's manager.
    #[serde(default)]
    pub manager: Option<String>,
}

/// Body of `PATCH /v1/identities/{handle}`. Absent fields are unchanged.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIdentity {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub shared: Option<bool>,
    /// Replaces the groups.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Replaces the governance roles.
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// Handle of the identity's manager; an empty string clears it.
    #[serde(default)]
    pub manager: Option<String>,
}

/// Body of the status transitions (`suspend`, `reactivate`, `terminate`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Query of `GET /v1/identities`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IdentityFilter {
    pub kind: Option<IdentityKind>,
    pub status: Option<IdentityStatus>,
}

/// Query of `GET /v1/identities/{handle}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AtQuery {
    /// Answer with the identity as it was at this RFC 3339 time.
    #[param(format = DateTime)]
    pub at: Option<String>,
}

/// List of identities.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IdentityList {
    pub identities: Vec<Identity>,
}

/// A key-enrolment challenge.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyChallenge {
    /// Random, single-use, standard base64.
    pub challenge: String,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// Body of `POST /v1/identities/{handle}/keys`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollKey {
    /// Raw Ed25519 public key, standard base64.
    pub public_key: String,
    /// The challenge from `POST /v1/identities/{handle}/key-challenges`.
    pub challenge: String,
    /// Ed25519 signature, standard base64, over the proof-of-possession message.
    pub proof: String,
    /// `hardware` is refused unless an administrator vouches for it
    /// (`vouch`): assurance is earned, not declared.
    pub assurance: Assurance,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default, with = "crate::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// An administrator's reason for vouching that the key is held in
    /// hardware (admins only); logged with who vouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vouch: Option<String>,
}

/// Body of `POST /v1/keys/{key_id}/vouch`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VouchKey {
    /// Why the key's `hardware` label is true (what was inspected, how).
    pub reason: String,
}

/// Body of `POST /v1/keys/{key_id}/revoke`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeKey {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Body of `POST /v1/documents/{name}/versions` (registration by digest).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDigest {
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub media_type: Option<String>,
}

/// Reference to a document version in a new request.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentRef {
    pub document: String,
    /// Defaults to the latest version.
    #[serde(default)]
    pub version: Option<u32>,
}

/// Body of `POST /v1/requests`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub event_kind: EventKind,
    pub purpose: String,
    pub impact: Impact,
    pub documents: Vec<DocumentRef>,
    #[serde(default)]
    pub action: Option<EntitlementAction>,
    pub requester: String,
    pub beneficiary: String,
    pub approvers: Vec<String>,
    #[serde(default = "default_order")]
    pub order: ApprovalOrder,
    /// Defaults to every approver.
    #[serde(default)]
    pub quorum: Option<u32>,
    /// Absolute expiry; give this or `expires_in_seconds`.
    #[serde(default, with = "crate::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    #[serde(default)]
    pub expires_in_seconds: Option<u64>,
}

fn default_order() -> ApprovalOrder {
    ApprovalOrder::Parallel
}

/// Query of `GET /v1/requests`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RequestFilter {
    pub state: Option<RequestState>,
    pub event_kind: Option<EventKind>,
    /// Requests this handle must approve.
    pub approver: Option<String>,
    pub requester: Option<String>,
    pub beneficiary: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// List of requests.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestList {
    pub requests: Vec<Request>,
}

/// Body of `POST /v1/requests/{id}/withdraw`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Withdraw {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Answer to an accepted signature.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SignatureReceipt {
    pub request: String,
    pub request_state: RequestState,
    pub log_index: u64,
    /// C2SP tlog-proof of the signature's log entry.
    pub receipt: String,
    /// The exact bytes of the log entry the receipt proves.
    pub entry: String,
}

/// A log entry as served by `GET /v1/log/entries/{index}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EntryView {
    pub index: u64,
    /// Exact entry bytes.
    pub entry: String,
    /// Base64 RFC 6962 leaf hash.
    pub leaf_hash: String,
    /// The openings of the entry's personal fields, by commitment
    /// (`crate::personal`); an erased one is absent.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub openings: std::collections::BTreeMap<String, crate::personal::Opening>,
}

/// Query of `GET /v1/log/entries`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntryRange {
    pub start: Option<u64>,
    /// Default 100, at most 1000.
    pub limit: Option<u32>,
}

/// A page of entries.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EntryPage {
    pub entries: Vec<EntryView>,
    pub tree_size: u64,
}

/// Query of `GET /v1/log/proof/inclusion`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    pub index: u64,
    /// Defaults to the latest checkpoint's size.
    pub size: Option<u64>,
}

/// An inclusion proof.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    pub index: u64,
    pub tree_size: u64,
    /// Base64 hashes, leaf to root.
    pub hashes: Vec<String>,
}

/// Query of `GET /v1/log/proof/consistency`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// At least 1: the empty tree is consistent with every tree.
    #[param(minimum = 1)]
    pub old: u64,
    /// Defaults to the latest checkpoint's size.
    pub new: Option<u64>,
}

/// A consistency proof between two tree sizes.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    pub hashes: Vec<String>,
}

/// Server facts for clients.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ServerInfo {
    pub name: String,
    pub version: String,
    pub origin: String,
    pub log_key: String,
    pub tree_size: u64,
}

/// Body of `POST /v1/delegations`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantDelegation {
    /// On whose behalf the delegate will sign. Defaults to the caller's
    /// identity; only an admin may name someone else.
    #[serde(default)]
    pub principal: Option<String>,
    /// Who may sign.
    pub delegate: String,
    pub scope: DelegationScope,
    /// Defaults to now.
    #[serde(default, with = "crate::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub not_before: Option<Timestamp>,
    #[serde(default, with = "crate::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub not_after: Option<Timestamp>,
    /// Alternative to `not_after`.
    #[serde(default)]
    pub duration_seconds: Option<u64>,
    pub reason: String,
}

/// Body of `POST /v1/delegations/{id}/revoke`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndDelegation {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Query of `GET /v1/delegations`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DelegationFilter {
    /// Only delegations where this identity is principal or delegate.
    pub identity: Option<String>,
    /// Only those in force now.
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DelegationList {
    pub delegations: Vec<Delegation>,
}

/// Body of `POST /v1/exceptions`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestException {
    pub request: String,
    /// The identity to be let through; defaults to the caller's identity
    /// (only an admin may name someone else).
    #[serde(default)]
    pub actor: Option<String>,
    /// Why the policy should not apply this once (10 to 4000 characters).
    pub justification: String,
}

/// Body of `POST /v1/exceptions/{id}/approve` and `/deny`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideException {
    /// Required to deny.
    #[serde(default)]
    pub reason: Option<String>,
    /// How long an approval may wait to be used; defaults to the server's
    /// exception lifetime and may not exceed it.
    #[serde(default)]
    pub valid_for_seconds: Option<u64>,
}

/// Query of `GET /v1/exceptions`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExceptionFilter {
    pub request: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ExceptionList {
    pub exceptions: Vec<PolicyException>,
}

/// Body of `POST /v1/tokens`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueToken {
    pub name: String,
    pub roles: Vec<Role>,
    /// Bind the token to an identity: it then acts as that identity.
    #[serde(default)]
    pub identity: Option<String>,
    /// Defaults to 90 days; at most the server's maximum token lifetime.
    #[serde(default)]
    pub expires_in_seconds: Option<u64>,
}

/// Answer to `POST /v1/tokens`: the secret is shown here once and never again.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuedToken {
    pub token: ApiToken,
    pub secret: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<ApiToken>,
}

/// Body of `POST /v1/workload/certificates`: a workload's OIDC token, a
/// fresh public key and proof that the workload holds its private key.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadCertificateRequest {
    /// The workload's OIDC JWT from a trusted workload issuer.
    pub token: String,
    /// Raw Ed25519 public key, standard base64.
    pub public_key: String,
    /// Ed25519 signature, standard base64, over the workload proof message
    /// (`countersign_attest::keys::workload_pop_message`).
    pub proof: String,
}

/// A workload certificate, valid for minutes.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkloadCertificate {
    pub identity: String,
    pub key_id: String,
    /// The leaf certificate, PEM.
    pub certificate: String,
    /// The issuing CA's certificate, PEM.
    pub ca_certificate: String,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_before: Timestamp,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_after: Timestamp,
    /// The `credential.certified` entry.
    pub log_index: u64,
}

/// One policy of the set in force.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    pub id: String,
    pub effect: String,
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub text: String,
}

/// The policy set in force.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicySetView {
    pub policy_set: String,
    pub policies: Vec<PolicyView>,
    pub schema: String,
}
