//! Policy questions and answers, independent of the engine that decides.
//!
//! The ledger builds a [`PolicyQuery`] from stored facts and asks a
//! [`PolicyEngine`] (Cedar, in `countersign-policy`) for a
//! [`PolicyDecision`], which it records beside the action it governed.

use countersign_proto::governance::{AuthContext, PolicyAction, PolicyDecision};
use countersign_proto::model::{
    Assurance, AssuranceBasis, Credential, CredentialKind, EventKind, Identity, Impact, Request,
};
use time::{Duration, OffsetDateTime};

/// The credential an action is performed with, as policy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialFacts {
    pub key_id: String,
    pub kind: CredentialKind,
    pub assurance: Assurance,
    /// From enrolment or issue to expiry; `None` when it never expires.
    pub lifetime: Option<Duration>,
    /// A credential that lives longer than the long-lived threshold.
    pub long_lived: bool,
}

/// What a delegation being granted would cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelegationFacts {
    pub event_kinds: Vec<EventKind>,
    pub max_impact: Impact,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// A policy exception being decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExceptionFacts {
    pub id: String,
    /// Handle of the identity the exception would let sign.
    pub requested_by: String,
    pub request: Request,
}

/// What the action is performed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyResource {
    /// `create_request`, `sign`: the request.
    Request(Request),
    /// `delegate`: the identity receiving the delegation.
    Identity(String),
    /// `approve_exception`: the exception.
    Exception(ExceptionFacts),
}

/// The circumstances of the action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyContext {
    pub now: OffsetDateTime,
    /// NIST SP 800-63-4 AAL of the actor's authentication, 1 to 3.
    pub aal: u8,
    /// When the actor last authenticated interactively, if known.
    pub auth_time: Option<OffsetDateTime>,
    /// How recent an authentication counts as step-up.
    pub step_up_window: Duration,
    /// On whose behalf the actor acts; the actor itself when not delegated.
    pub on_behalf_of: String,
    /// The delegation the actor acts under, if any.
    pub delegation: Option<String>,
    /// The credential used (signing).
    pub credential: Option<CredentialFacts>,
    /// Whether an approved, unused policy exception is being applied.
    pub exception: bool,
    /// The delegation being granted (`delegate`).
    pub granting: Option<DelegationFacts>,
}

/// One policy question: may `principal` perform `action` on `resource`?
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyQuery {
    pub action: PolicyAction,
    /// Handle of the acting identity (present in `identities`).
    pub principal: String,
    pub resource: PolicyResource,
    pub context: PolicyContext,
    /// Every identity the question refers to (the actor, on-behalf-of,
    /// requester, beneficiary, subject, owners), so the engine can give
    /// them attributes. Approvers absent from this list are still known by
    /// handle.
    pub identities: Vec<Identity>,
}

/// Decides policy questions. Implementations are pure: same question, same
/// policy set, same answer.
pub trait PolicyEngine: Send + Sync {
    fn decide(&self, query: &PolicyQuery) -> PolicyDecision;
    /// `sha256:<hex>` of the policy set.
    fn digest(&self) -> String;
    /// The set as shown to people: its digest, policies and schema.
    fn view(&self) -> countersign_proto::api::PolicySetView;
}

/// How the caller behind an action authenticated, as far as the server knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Authentication {
    /// The identity the caller is bound to (token or OIDC), if any.
    pub identity: Option<String>,
    /// AAL of the caller's session (OIDC), if known.
    pub aal: Option<u8>,
    pub auth_time: Option<OffsetDateTime>,
    /// `oidc:<issuer>`, `token:<id>`.
    pub method: Option<String>,
}

/// The highest NIST SP 800-63-4 AAL a credential can prove by itself.
/// Assurance is earned, not declared:
/// - a file key is AAL1, also when labelled `hardware`, unless an
///   administrator vouched for the label (then AAL3);
/// - a workload certificate is AAL2 (issued against a verified token);
/// - a passkey is AAL2 (a synced or unattested authenticator with user
///   verification: SP 800-63-4 lets syncable authenticators reach AAL2),
///   and AAL3 only when it is device-bound (not backup-eligible) and its
///   attestation verified to a trusted root. Either needs user verification
///   in the assertion itself (see [`signature_aal`]).
pub fn credential_aal(c: &Credential) -> u8 {
    match c.kind {
        CredentialKind::Certificate => 2,
        CredentialKind::Key => {
            if c.assurance == Assurance::Hardware && c.assurance_basis == AssuranceBasis::Vouched {
                3
            } else {
                1
            }
        }
        CredentialKind::Passkey => match &c.passkey {
            Some(p) if c.assurance_basis == AssuranceBasis::Attestation && p.device_bound() => 3,
            Some(_) => 2,
            None => 1,
        },
    }
}

/// The assurance label that counts: `hardware` only when earned.
pub fn earned_assurance(c: &Credential) -> Assurance {
    if credential_aal(c) >= 3 {
        Assurance::Hardware
    } else {
        Assurance::Software
    }
}

/// What a passkey assertion proved, beyond possession of the credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasskeyProof {
    /// The UV flag: the authenticator verified the user (PIN, biometrics).
    pub user_verified: bool,
}

/// AAL one signature proves by itself. A passkey reaches its ceiling
/// only when the assertion verified the user; without user verification
/// it proves possession alone, AAL1.
pub fn signature_aal(c: &Credential, proof: Option<&PasskeyProof>) -> u8 {
    match (c.kind, proof) {
        (CredentialKind::Passkey, Some(p)) if p.user_verified => credential_aal(c),
        (CredentialKind::Passkey, _) => 1,
        _ => credential_aal(c),
    }
}

/// The credential as policy sees it.
pub fn credential_facts(c: &Credential, long_lived_after: Duration) -> CredentialFacts {
    let lifetime = c.expires_at.map(|e| e - c.enrolled_at);
    CredentialFacts {
        key_id: c.key_id.clone(),
        kind: c.kind,
        assurance: earned_assurance(c),
        lifetime,
        long_lived: lifetime.is_none_or(|l| l > long_lived_after),
    }
}

/// The authentication context of a signature by `actor` with `credential`:
/// the signature's own AAL, raised by the caller's session when the caller
/// is the actor (an OIDC login with `acr`/`amr`, and its `auth_time`). A
/// passkey assertion with user verification is itself a fresh
/// multi-factor authentication: its time, `now`, is the authentication
/// time, which is what step-up policies look at.
pub fn signing_auth(
    actor: &str,
    credential: &Credential,
    proof: Option<&PasskeyProof>,
    caller: &Authentication,
    now: OffsetDateTime,
) -> AuthContext {
    let own = signature_aal(credential, proof);
    let verified_now =
        credential.kind == CredentialKind::Passkey && proof.is_some_and(|p| p.user_verified);
    let method = if verified_now {
        "credential:passkey+uv".to_string()
    } else {
        format!("credential:{}", credential.kind.as_str())
    };
    let own_time = verified_now.then_some(now);
    if caller.identity.as_deref() == Some(actor) {
        let aal = own.max(caller.aal.unwrap_or(0)).min(3);
        let method = match &caller.method {
            Some(m) => format!("{method}+{m}"),
            None => method,
        };
        let auth_time = match (own_time, caller.auth_time) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        AuthContext {
            aal,
            auth_time,
            method,
        }
    } else {
        AuthContext {
            aal: own,
            auth_time: own_time,
            method,
        }
    }
}
