//! IAM/IGA integration records: entitlement changes reported by target
//! systems, control exceptions raised by reconciliation, the signed
//! resolution of a control exception, and webhook endpoints with their
//! CloudEvents deliveries.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::model::{wire_names, Operation};
use crate::statement::Envelope;
use crate::Timestamp;

wire_names!(ControlKind {
    UnapprovedChange => "unapproved_change",
    AccessBeforeApproval => "access_before_approval",
    StaleApproval => "stale_approval",
    ActionMismatch => "action_mismatch",
    ProxyWithoutDelegation => "proxy_without_delegation",
    InactiveSigner => "inactive_signer",
    SharedSigner => "shared_signer",
    LongLivedMachineCredential => "long_lived_machine_credential",
    OffboardingLag => "offboarding_lag",
    ApprovedNotExecuted => "approved_not_executed",
    OrphanedIdentityAccess => "orphaned_identity_access",
});
wire_names!(Severity { Low => "low", Medium => "medium", High => "high", Critical => "critical" });
wire_names!(ControlState { Open => "open", Acknowledged => "acknowledged", Resolved => "resolved" });
wire_names!(Resolution { AcceptedRisk => "accepted_risk", Remediated => "remediated", FalsePositive => "false_positive" });
wire_names!(DeliveryState { Pending => "pending", Delivered => "delivered", Dead => "dead" });

/// The kinds of reconciliation finding.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ControlKind {
    /// An access grant no approved request authorised.
    UnapprovedChange,
    /// Access was granted before the approval that authorised it was signed.
    AccessBeforeApproval,
    /// The approval was too old when the change happened, or signed before
    /// the document's current version.
    StaleApproval,
    /// The change differs from the signed action (subject, entitlement,
    /// operation or system).
    ActionMismatch,
    /// An approval was signed by a proxy without a delegation valid for it.
    ProxyWithoutDelegation,
    /// An approval's signer was suspended or terminated when signing.
    InactiveSigner,
    /// An approval was signed with a shared account.
    SharedSigner,
    /// A non-human signer used a long-lived credential.
    LongLivedMachineCredential,
    /// A leaver's access was not removed within the SLA.
    OffboardingLag,
    /// An approved change was not carried out within the SLA.
    ApprovedNotExecuted,
    /// An orphaned non-human identity still holds entitlements.
    OrphanedIdentityAccess,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// Where a control exception is in its workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ControlState {
    Open,
    Acknowledged,
    Resolved,
}

/// How a control exception was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The risk is known and accepted by its owner.
    AcceptedRisk,
    /// The access was fixed (removed, or approved properly).
    Remediated,
    /// Reconciliation was wrong.
    FalsePositive,
}

/// Where one webhook delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Gave up after the configured number of attempts; replay sends it again.
    Dead,
}

/// One change a target system reports: what actually happened to someone's
/// access, whoever approved it or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportChange {
    /// Target system (`github`, `okta`, `payroll`), as named in requests' actions.
    pub system: String,
    /// Handle of the identity whose access changed (as known to Countersign).
    pub subject: String,
    pub operation: Operation,
    pub entitlement: String,
    /// When the change took effect in the target system.
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub changed_at: Timestamp,
    /// Who or what made the change (an admin, a provisioning connector).
    pub changed_by: String,
    /// The source system's own event id; reporting it again is a no-op.
    pub source_event_id: String,
}

/// A recorded entitlement change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitlementChange {
    pub id: String,
    #[serde(flatten)]
    pub change: ReportChange,
    #[serde(with = "crate::rfc3339")]
    pub reported_at: Timestamp,
    /// The API caller that reported it.
    pub reported_by: String,
    /// The approved request this change carried out, when reconciliation found one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Log index of the `entitlement.changed` entry.
    pub log_index: u64,
}

/// The OpenAPI schema of [`EntitlementChange`], spelt out: derived, the
/// flattened [`ReportChange`] would become an `allOf` whose first part
/// (a request body, so closed to unknown fields) refuses the recorded
/// change's own fields.
#[derive(ToSchema)]
#[schema(as = EntitlementChange, description = "A recorded entitlement change.")]
#[allow(dead_code)] // only its schema is used
struct EntitlementChangeSchema {
    id: String,
    /// Target system (`github`, `okta`, `payroll`), as named in requests' actions.
    system: String,
    /// Handle of the identity whose access changed (as known to Countersign).
    subject: String,
    operation: Operation,
    entitlement: String,
    /// When the change took effect in the target system.
    #[schema(value_type = String, format = DateTime)]
    changed_at: Timestamp,
    /// Who or what made the change (an admin, a provisioning connector).
    changed_by: String,
    /// The source system's own event id; reporting it again is a no-op.
    source_event_id: String,
    #[schema(value_type = String, format = DateTime)]
    reported_at: Timestamp,
    /// The API caller that reported it.
    reported_by: String,
    /// The approved request this change carried out, when reconciliation found one.
    #[schema(required = false)]
    request: Option<String>,
    /// Log index of the `entitlement.changed` entry.
    log_index: u64,
}

impl utoipa::PartialSchema for EntitlementChange {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <EntitlementChangeSchema as utoipa::PartialSchema>::schema()
    }
}

impl ToSchema for EntitlementChange {
    fn name() -> std::borrow::Cow<'static, str> {
        <EntitlementChangeSchema as ToSchema>::name()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <EntitlementChangeSchema as ToSchema>::schemas(schemas)
    }
}

/// What intake answered for one reported change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChangeIntake {
    pub change: EntitlementChange,
    /// True when the source event id had been reported before; nothing new was recorded.
    pub duplicate: bool,
    /// Control exceptions this change raised, reopened or added evidence to.
    #[serde(default)]
    pub exceptions: Vec<String>,
}

/// The answer to a batch of reported changes, in input order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChangeBatch {
    pub results: Vec<ChangeIntake>,
    pub recorded: usize,
    pub duplicates: usize,
}

/// Body of `POST /v1/entitlement-changes` in JSON: one change, or a list
/// of changes (at most 1000). NDJSON (`application/x-ndjson`) carries one
/// change per line instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ChangeReport {
    One(ReportChange),
    Many(Vec<ReportChange>),
}

/// Answer of `POST /v1/entitlement-changes`: a [`ChangeIntake`] when the
/// body was one change, a [`ChangeBatch`] when it was a list or NDJSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ChangeAnswer {
    One(Box<ChangeIntake>),
    Batch(ChangeBatch),
}

/// A control framework reference a finding relates to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct FrameworkRef {
    /// `NIST CSF 2.0`, `NIST SP 800-53 Rev. 5`, `OWASP Non-Human Identities Top 10 (2025)`.
    pub framework: String,
    /// `PR.AA-05`, `AC-2`, `NHI1`.
    pub control: String,
}

/// Log entries that support a finding.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ControlEvidence {
    /// The `entitlement.changed` entries involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<u64>,
    /// The `request.created` entry of the request involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<u64>,
    /// The `signature.accepted` entries involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<u64>,
    /// Other entries: identity status changes, delegations, document versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<u64>,
}

impl ControlEvidence {
    /// Add what `other` holds that this does not; answers whether anything was new.
    pub fn absorb(&mut self, other: &ControlEvidence) -> bool {
        fn merge(into: &mut Vec<u64>, from: &[u64]) -> bool {
            let mut new = false;
            for i in from {
                if !into.contains(i) {
                    into.push(*i);
                    new = true;
                }
            }
            into.sort_unstable();
            new
        }
        let mut new = merge(&mut self.changes, &other.changes);
        new |= merge(&mut self.approvals, &other.approvals);
        new |= merge(&mut self.related, &other.related);
        if self.request.is_none() && other.request.is_some() {
            self.request = other.request;
            new = true;
        }
        new
    }
}

/// How a control exception was closed, signed by whoever closed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ControlResolution {
    pub resolution: Resolution,
    pub justification: String,
    /// Handle of the resolver (the signer).
    pub resolver: String,
    pub key_id: String,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub resolved_at: Timestamp,
    /// Lowercase hex SHA-256 of the resolution envelope.
    pub envelope_sha256: String,
    /// Log index of the `control.updated` entry recording it.
    pub log_index: u64,
}

/// A reconciliation finding: approvals and reality disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ControlException {
    pub id: String,
    pub kind: ControlKind,
    pub severity: Severity,
    pub state: ControlState,
    /// What the finding is about, unique per kind: the change, request or
    /// identity it concerns. Raising the same finding again adds evidence.
    pub key: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Handle of the identity whose access is concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    pub evidence: ControlEvidence,
    pub frameworks: Vec<FrameworkRef>,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub raised_at: Timestamp,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ControlResolution>,
    /// How many times it was reopened on new evidence.
    #[serde(default)]
    pub reopened: u32,
    /// Log index of the `control.raised` entry.
    pub log_index: u64,
    /// Bumped on every change.
    pub revision: u64,
}

/// `payloadType` of a signed control-exception resolution.
pub const RESOLUTION_PAYLOAD_TYPE: &str = "application/vnd.countersign.resolution+json";

/// What a resolver signs (the DSSE payload, JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolutionStatement {
    /// The control exception id.
    pub exception: String,
    /// The revision the resolver saw; a resolution of a stale view is refused.
    pub revision: u64,
    pub resolution: Resolution,
    pub justification: String,
    /// Handle of the resolver.
    pub resolver: String,
    #[serde(rename = "keyId")]
    pub key_id: String,
    #[serde(rename = "signedAt", with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub signed_at: Timestamp,
    /// A single-use value the server issued, required when a passkey
    /// signs (see `statement::WEBAUTHN_EXTENSION_KIND`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// Body of `POST /v1/control-exceptions/{id}/resolve`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveControl {
    /// DSSE envelope over a [`ResolutionStatement`].
    pub envelope: Envelope,
}

/// Body of `POST /v1/control-exceptions/{id}/assign`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignControl {
    /// Handle of the identity that owns the follow-up.
    pub assignee: String,
}

/// Body of `POST /v1/control-exceptions/{id}/reopen`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenControl {
    pub reason: String,
}

/// Filter for listing control exceptions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ControlFilter {
    #[serde(default)]
    pub kind: Option<ControlKind>,
    #[serde(default)]
    pub state: Option<ControlState>,
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub request: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ControlList {
    pub exceptions: Vec<ControlException>,
}

/// Filter for listing entitlement changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangeFilter {
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub request: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChangeList {
    pub changes: Vec<EntitlementChange>,
}

/// What a full reconciliation run found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReconcileReport {
    pub changes_checked: usize,
    pub requests_checked: usize,
    pub identities_checked: usize,
    /// Exceptions raised for the first time.
    pub raised: Vec<String>,
    /// Resolved exceptions reopened on new evidence.
    pub reopened: Vec<String>,
    /// Open exceptions that gained evidence.
    pub updated: Vec<String>,
}

/// A webhook endpoint, without its secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    /// CloudEvents types delivered (`dev.countersign.request.approved`), or
    /// empty for every type.
    #[serde(default)]
    pub events: Vec<String>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Ed25519 public keys (`whpk_…`) receivers verify `v1a` signatures with.
    pub public_keys: Vec<String>,
    /// How many signing secrets are in use (more than one while rotating).
    pub secrets: usize,
    /// Consecutive failed attempts since the last success.
    pub consecutive_failures: u32,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub log_index: u64,
}

/// Body of `POST /v1/webhooks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    pub url: String,
    #[serde(default)]
    pub events: Vec<String>,
}

/// A webhook endpoint with its new secrets, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookSecrets {
    pub endpoint: WebhookEndpoint,
    /// The HMAC secret (`whsec_…`) for `v1` signatures.
    pub secret: String,
    /// The Ed25519 public key (`whpk_…`) for `v1a` signatures.
    pub public_key: String,
}

/// Body of `POST /v1/webhooks/{id}/rotate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateWebhook {
    /// How long the old secrets keep signing beside the new ones, in
    /// seconds (default one day).
    #[serde(default)]
    pub overlap_seconds: Option<u64>,
}

/// Body of `PATCH /v1/webhooks/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub endpoints: Vec<WebhookEndpoint>,
}

/// One outbound event to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryRecord {
    pub id: u64,
    pub endpoint: String,
    /// The CloudEvent id (also the `webhook-id`).
    pub event_id: String,
    pub event_type: String,
    /// Deliveries with the same key arrive in order (the request or identity).
    pub ordering_key: String,
    pub state: DeliveryState,
    pub attempts: u32,
    #[serde(
        default,
        with = "crate::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// One delivery attempt, as the delivery log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryAttempt {
    pub delivery: u64,
    pub attempt: u32,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// Filter for listing deliveries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryFilter {
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub state: Option<DeliveryState>,
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryLog {
    pub delivery: DeliveryRecord,
    pub attempts: Vec<DeliveryAttempt>,
}

/// Body of `POST /v1/webhooks/deliveries/replay`: dead (or, with `all`,
/// any) deliveries to send again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayDeliveries {
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Specific deliveries; absent means every dead delivery (of the endpoint).
    #[serde(default)]
    pub deliveries: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Replayed {
    pub replayed: Vec<u64>,
}

/// A group an identity provider pushed over SCIM, as the log records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Group {
    /// The SCIM resource id.
    pub id: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Handles of the member identities.
    pub members: Vec<String>,
}

/// CloudEvents `specversion`.
pub const CLOUDEVENTS_VERSION: &str = "1.0";
/// Prefix of every CloudEvents `type` Countersign emits.
pub const EVENT_TYPE_PREFIX: &str = "dev.countersign.";

/// A CloudEvents 1.0 event in structured JSON mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub time: Timestamp,
    pub datacontenttype: String,
    /// Log index of the entry that recorded what this event reports
    /// (a CloudEvents extension attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logindex: Option<u64>,
    pub data: serde_json::Value,
}

/// One signature of an approved request, as a provisioning system needs it
/// to verify the approval before acting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedApproval {
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    pub key_id: String,
    /// Lowercase hex SHA-256 of the in-toto statement (the DSSE payload).
    pub statement_sha256: String,
    pub envelope: Envelope,
    pub log_index: u64,
    /// C2SP tlog-proof of the `signature.accepted` entry.
    pub receipt: String,
}
