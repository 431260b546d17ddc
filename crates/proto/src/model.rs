//! The records Countersign keeps: identities, credentials, documents,
//! requests and signatures, as they appear on the wire and in log entries.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Timestamp;

/// An enum that travels as one fixed lowercase name per variant: the name
/// serde writes, the name URLs and the CLI accept.
pub trait WireName: Copy + Send + Sync + 'static {
    /// Every variant, in declaration order.
    fn all() -> &'static [Self];
    /// The variant's wire name.
    fn name(self) -> &'static str;
}

/// Give an enum its wire names once: `ALL`, `as_str`, `parse` and [`WireName`].
macro_rules! wire_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some($ty::$variant),)+ _ => None }
            }
        }
        impl $crate::model::WireName for $ty {
            fn all() -> &'static [Self] {
                Self::ALL
            }
            fn name(self) -> &'static str {
                self.as_str()
            }
        }
    };
}
pub(crate) use wire_names;

wire_names!(IdentityKind { Human => "human", Service => "service", Workload => "workload" });
wire_names!(IdentityStatus { Active => "active", Suspended => "suspended", Terminated => "terminated" });
wire_names!(Assurance { Software => "software", Hardware => "hardware" });
wire_names!(CredentialKind { Key => "key", Certificate => "certificate", Passkey => "passkey" });
wire_names!(AssuranceBasis { Declared => "declared", Vouched => "vouched", Attestation => "attestation", Authenticator => "authenticator", Issued => "issued" });
wire_names!(EventKind { Onboarding => "onboarding", RoleChange => "role_change", PrivilegedAccess => "privileged_access", Offboarding => "offboarding", Contract => "contract", Payment => "payment", CodeRelease => "code_release", Custom => "custom" });
wire_names!(Impact { Low => "low", Medium => "medium", High => "high", Critical => "critical" });
wire_names!(Operation { Grant => "grant", Revoke => "revoke", Disable => "disable", Enable => "enable" });
wire_names!(ApprovalOrder { Parallel => "parallel", Sequential => "sequential" });
wire_names!(RequestState { Pending => "pending", Approved => "approved", Rejected => "rejected", Expired => "expired", Withdrawn => "withdrawn", Voided => "voided" });
wire_names!(Decision { Approve => "approve", Reject => "reject" });

impl IdentityKind {
    pub fn is_human(self) -> bool {
        self == IdentityKind::Human
    }
}

/// What kind of principal an identity is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// A person.
    Human,
    /// A service account.
    Service,
    /// A CI job, Kubernetes service account or SPIFFE workload.
    Workload,
}

/// Lifecycle status of an identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityStatus {
    Active,
    Suspended,
    Terminated,
}

/// A unique, attributable principal, as of some moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Identity {
    /// Immutable identifier.
    pub id: String,
    /// Unique, immutable handle (`alice`, `ci-release`).
    pub handle: String,
    pub kind: IdentityKind,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Handle of the accountable human owner (non-human identities only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// A generic or team account that more than one person can use.
    pub shared: bool,
    pub status: IdentityStatus,
    /// Groups the identity belongs to (from the IdP or set by an admin);
    /// policies see them as the identity's parents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Countersign governance roles, such as `exception_approver`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Handle of the identity's manager (from the IdP's enterprise
    /// extension); pending approvals of a leaver are re-routed to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// A non-human identity whose owner left: nobody is accountable for it
    /// until an active owner is set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub orphaned: bool,
    /// An administrator allowed the next SCIM user with this identity's
    /// e-mail to adopt it (SCIM never adopts an identity made outside SCIM
    /// on its own). Cleared when adopted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scim_adoptable: bool,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When this version of the record took effect.
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// Bumped on every change.
    pub revision: u64,
}

/// One entry of an identity's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityHistoryEntry {
    /// The identity as it was from `at` until the next entry.
    pub identity: Identity,
    /// Why it changed, where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The log entry that recorded the change.
    pub log_index: u64,
}

/// Signature algorithm of an enrolled key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyAlgorithm {
    /// Ed25519 (file keys, workload certificates, EdDSA passkeys).
    Ed25519,
    /// ECDSA P-256 with SHA-256 (most passkeys).
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (Windows Hello passkeys).
    Rs256,
}

/// How well the private key is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Assurance {
    Software,
    Hardware,
}

/// Whether a credential is an enrolled key or a short-lived certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A public key enrolled with proof of possession.
    #[default]
    Key,
    /// An X.509 certificate issued by Countersign's CA after a workload
    /// token exchange; valid for minutes.
    Certificate,
    /// A WebAuthn credential (a passkey) registered in a browser; its
    /// proof of possession is the registration ceremony.
    Passkey,
}

/// Where a credential's assurance comes from. Assurance is earned, not
/// declared: only `vouched`, `attestation` and `issued` raise a credential
/// above what its kind proves by itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssuranceBasis {
    /// Whoever enrolled the key chose the label; it counts for nothing
    /// beyond a software key. Keys enrolled before assurance had to be
    /// earned carry this basis, with their label kept.
    #[default]
    Declared,
    /// An administrator vouched for the label (see `vouch`).
    Vouched,
    /// A passkey whose WebAuthn attestation verified to a trusted root.
    Attestation,
    /// A passkey without a trusted attestation: the authenticator's own
    /// flags (user verification, backup eligibility) are the evidence.
    Authenticator,
    /// A workload certificate issued by Countersign's CA after a verified
    /// token exchange.
    Issued,
}

/// An administrator's statement that a key's label is true (for example,
/// that the key was generated on a hardware token they inspected).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Vouch {
    /// Who vouched: the caller's label (`bootstrap`, `token:<id>`, a handle).
    pub by: String,
    pub reason: String,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// How a passkey's WebAuthn attestation was judged at registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PasskeyAttestation {
    /// The attestation statement format: `none`, `packed`, `tpm`,
    /// `apple`, `android-key`, `fido-u2f`.
    pub format: String,
    /// `none`, `self` or `basic` (a certificate chain).
    pub kind: String,
    /// Whether the chain ended in one of the configured attestation roots.
    pub trusted: bool,
    /// Lowercase hex SHA-256 of the trusted root's DER, when trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

/// What the registration ceremony proved about a passkey. Nothing here is
/// personal: the credential id is random, the AAGUID names a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Passkey {
    /// The WebAuthn credential id, base64url without padding.
    pub credential_id: String,
    /// The relying party id the credential is scoped to.
    pub rp_id: String,
    /// The authenticator model's AAGUID, lowercase hex (zeros when not disclosed).
    pub aaguid: String,
    /// Whether the registration verified the user (PIN, biometrics).
    pub user_verified: bool,
    /// BE: the credential may be synced to other devices (a synced passkey).
    pub backup_eligible: bool,
    /// BS: the credential was backed up when registered.
    pub backup_state: bool,
    pub attestation: PasskeyAttestation,
    /// Transports the browser reported (`internal`, `usb`, `hybrid`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transports: Vec<String>,
}

impl Passkey {
    /// A device-bound passkey: its private key cannot leave the authenticator.
    pub fn device_bound(&self) -> bool {
        !self.backup_eligible
    }
}

/// An enrolled public key, or a key certified for a workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Credential {
    /// Lowercase hex SHA-256 of the raw public key; the DSSE `keyid`.
    pub key_id: String,
    #[serde(default)]
    pub kind: CredentialKind,
    /// Handle of the identity the key belongs to.
    pub identity: String,
    pub algorithm: KeyAlgorithm,
    /// Standard base64 of the raw Ed25519 public key; for a passkey, of
    /// its COSE_Key encoding.
    pub public_key: String,
    /// The label: `hardware` only counts when `assurance_basis` earns it.
    pub assurance: Assurance,
    /// Where the assurance comes from.
    #[serde(default)]
    pub assurance_basis: AssuranceBasis,
    /// The administrator who vouched for the label, when `vouched`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vouch: Option<Vouch>,
    /// For a passkey: what its registration proved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<Passkey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub enrolled_at: Timestamp,
    #[serde(
        default,
        with = "crate::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    #[serde(
        default,
        with = "crate::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<String>,
    /// For certificates: the leaf certificate, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Log index of the enrolment entry.
    pub log_index: u64,
}

/// One registered version of a document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DocumentVersion {
    /// The document's name.
    pub document: String,
    /// 1, 2, 3, ... in registration order.
    pub version: u32,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Whether the bytes are stored (false when registered by digest only).
    pub content_stored: bool,
    /// The identity that registered this version; absent when an
    /// administrator or integration not bound to an identity did. The
    /// registrant of version 1 owns the document: only they (or an
    /// administrator) add versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_by: Option<String>,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub registered_at: Timestamp,
    pub log_index: u64,
}

/// A document and all its versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Document {
    pub name: String,
    pub versions: Vec<DocumentVersion>,
}

/// Business events a request can authorise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Onboarding,
    RoleChange,
    PrivilegedAccess,
    Offboarding,
    Contract,
    Payment,
    CodeRelease,
    Custom,
}

/// How much harm a wrong approval could do.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    Low,
    Medium,
    High,
    Critical,
}

/// What an entitlement action does to the subject's access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Grant,
    Revoke,
    Disable,
    Enable,
}

/// The access change a request authorises.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntitlementAction {
    /// Target system (`github`, `okta`, `payroll`).
    pub system: String,
    /// Handle of the identity whose access changes.
    pub subject: String,
    pub operation: Operation,
    /// The entitlement (`org:acme/role:admin`).
    pub entitlement: String,
}

/// Whether approvers sign in list order or in any order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalOrder {
    /// Any approver may sign at any time.
    Parallel,
    /// An approver may sign only after every approver listed before them has.
    Sequential,
}

/// Lifecycle state of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Pending,
    Approved,
    Rejected,
    Expired,
    Withdrawn,
    /// Closed by Countersign because it can no longer be decided properly
    /// (an approver left and nobody can take their place).
    Voided,
}

/// A document version a request binds to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RequestDocument {
    pub document: String,
    pub version: u32,
    /// Lowercase hex SHA-256; what signers' statements must name.
    pub sha256: String,
}

/// A decision an approver makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// An accepted signature on a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignatureRecord {
    /// Handle of the signer.
    pub actor: String,
    /// Handle of the approver on whose behalf the actor signed, when it
    /// differs from the actor (under a delegation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The delegation the actor signed under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<String>,
    /// The policy exception that allowed this signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub key_id: String,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub signed_at: Timestamp,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub accepted_at: Timestamp,
    /// Lowercase hex SHA-256 of the canonical envelope JSON.
    pub envelope_sha256: String,
    pub log_index: u64,
}

impl SignatureRecord {
    /// The approver whose slot this signature fills: the principal under a
    /// delegation, otherwise the actor.
    pub fn approver(&self) -> &str {
        self.principal.as_deref().unwrap_or(&self.actor)
    }
}

/// An approval request, with its current state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Request {
    pub id: String,
    pub event_kind: EventKind,
    pub purpose: String,
    pub impact: Impact,
    pub documents: Vec<RequestDocument>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<EntitlementAction>,
    /// Handle of the requester.
    pub requester: String,
    /// Handle of the identity the event benefits.
    pub beneficiary: String,
    /// Handles of the approvers, in order.
    pub approvers: Vec<String>,
    pub order: ApprovalOrder,
    /// How many approvals make the request approved.
    pub quorum: u32,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    pub state: RequestState,
    /// When the request left `pending`.
    #[serde(
        default,
        with = "crate::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided_at: Option<Timestamp>,
    #[serde(default)]
    pub signatures: Vec<SignatureRecord>,
    /// Log index of the creation entry.
    pub log_index: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_agrees<T: WireName + serde::Serialize>() {
        for v in T::all() {
            let json = serde_json::to_string(v).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", v.name()));
        }
    }

    #[test]
    fn wire_names_are_the_names_serde_writes() {
        serde_agrees::<IdentityKind>();
        serde_agrees::<IdentityStatus>();
        serde_agrees::<Assurance>();
        serde_agrees::<EventKind>();
        serde_agrees::<Impact>();
        serde_agrees::<Operation>();
        serde_agrees::<ApprovalOrder>();
        serde_agrees::<RequestState>();
        serde_agrees::<Decision>();
        serde_agrees::<CredentialKind>();
        serde_agrees::<AssuranceBasis>();
        assert_eq!(EventKind::parse("role_change"), Some(EventKind::RoleChange));
        assert_eq!(Impact::parse("severe"), None);
    }
}
