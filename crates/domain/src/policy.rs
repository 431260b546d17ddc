//! Policy questions and answers, independent of the engine that decides.
//!
//! The ledger builds a [`PolicyQuery`] from stored facts and asks a
//! [`PolicyEngine`] (Cedar, in `countersign-policy`) for a
//! [`PolicyDecision`], which it records beside the action it governed.

use countersign_proto::governance::{AuthContext, PolicyAction, PolicyDecision};
use countersign_proto::model::{
    Assurance, Credential, CredentialKind, EventKind, Identity, Impact, Request,
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

/// AAL a signature proves by itself: a hardware-held key is AAL3 (a
/// non-exportable, phishing-resistant authenticator); a short-lived
/// workload certificate AAL2 (issued against a verified token); a software
/// key AAL1.
pub fn credential_aal(c: &Credential) -> u8 {
    match (c.kind, c.assurance) {
        (_, Assurance::Hardware) => 3,
        (CredentialKind::Certificate, _) => 2,
        (CredentialKind::Key, Assurance::Software) => 1,
    }
}

/// The credential as policy sees it.
pub fn credential_facts(c: &Credential, long_lived_after: Duration) -> CredentialFacts {
    let lifetime = c.expires_at.map(|e| e - c.enrolled_at);
    CredentialFacts {
        key_id: c.key_id.clone(),
        kind: c.kind,
        assurance: c.assurance,
        lifetime,
        long_lived: lifetime.is_none_or(|l| l > long_lived_after),
    }
}

/// The authentication context of a signature by `actor` with `credential`:
/// the credential's own AAL, raised by the caller's session when the caller
/// is the actor (an OIDC login with `acr`/`amr`, and its `auth_time`).
pub fn signing_auth(actor: &str, credential: &Credential, caller: &Authentication) -> AuthContext {
    let own = credential_aal(credential);
    let method = format!("credential:{}", credential.kind.as_str());
    if caller.identity.as_deref() == Some(actor) {
        let aal = own.max(caller.aal.unwrap_or(0)).min(3);
        let method = match &caller.method {
            Some(m) => format!("{method}+{m}"),
            None => method,
        };
        AuthContext {
            aal,
            auth_time: caller.auth_time,
            method,
        }
    } else {
        AuthContext {
            aal: own,
            auth_time: None,
            method,
        }
    }
}
