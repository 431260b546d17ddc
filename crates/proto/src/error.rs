//! Stable error codes and the RFC 9457 problem document.
//!
//! Codes are part of the API contract: clients match on them, tests assert
//! them, and refusal events in the log record them. Never rename a code.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $status:literal; )*) => {
        /// A stable, machine-readable error code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status the server answers with.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// Parse a wire code.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($code => Some(ErrorCode::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    // --- generic input and protocol errors
    /// The request body or a parameter could not be parsed.
    BadRequest = "bad_request", 400;
    /// A field has a value outside what it accepts.
    InvalidField = "invalid_field", 422;
    /// The body is larger than the configured limit.
    PayloadTooLarge = "payload_too_large", 413;
    /// No credentials, or credentials that do not authenticate.
    Unauthenticated = "unauthenticated", 401;
    /// Authenticated, but not allowed to do this.
    Forbidden = "forbidden", 403;
    /// The call must be made as an identity (an OIDC token, or an API
    /// token bound to an identity), not as an unbound token.
    IdentityRequired = "identity_required", 403;
    /// No such route.
    RouteNotFound = "route_not_found", 404;
    /// The method is not allowed on this route.
    MethodNotAllowed = "method_not_allowed", 405;
    /// Too many failed attempts (authentication, refused signatures) from
    /// this caller or address; `Retry-After` says when to try again.
    RateLimited = "rate_limited", 429;
    /// The request (headers and body) took longer than the server allows.
    RequestTimeout = "request_timeout", 408;
    /// More operations are waiting for the server than it queues; nothing
    /// was done. `Retry-After` says when to try again.
    ServerBusy = "server_busy", 503;
    /// Something failed inside the server; details are in the server log only.
    Internal = "internal", 500;
    /// The store refused because its data failed an integrity check.
    IntegrityFailure = "integrity_failure", 500;

    // --- identities
    IdentityNotFound = "identity_not_found", 404;
    HandleTaken = "handle_taken", 409;
    /// Another identity that is not terminated already has this e-mail
    /// address (compared case-insensitively).
    EmailTaken = "email_taken", 409;
    /// The e-mail address names more than one identity, so it identifies
    /// nobody; an administrator must make the addresses unique.
    EmailAmbiguous = "email_ambiguous", 409;
    OwnerRequired = "owner_required", 422;
    OwnerNotActiveHuman = "owner_not_active_human", 422;
    InvalidTransition = "invalid_transition", 409;
    IdentityTerminated = "identity_terminated", 409;

    // --- credentials
    KeyNotFound = "key_not_found", 404;
    KeyAlreadyEnrolled = "key_already_enrolled", 409;
    ChallengeInvalid = "challenge_invalid", 422;
    ProofOfPossessionFailed = "proof_of_possession_failed", 422;
    KeyAlreadyRevoked = "key_already_revoked", 409;
    /// A credential claimed an assurance nothing proves (a `hardware` label
    /// nobody vouched for): assurance is earned, not declared.
    AssuranceNotEarned = "assurance_not_earned", 422;
    /// A WebAuthn ceremony (registration, sign-in) failed; the detail says which check.
    WebauthnFailed = "webauthn_failed", 422;

    // --- documents
    DocumentNotFound = "document_not_found", 404;
    DocumentTooLarge = "document_too_large", 413;
    ContentNotStored = "content_not_stored", 404;

    // --- requests
    RequestNotFound = "request_not_found", 404;
    RequestNotPending = "request_not_pending", 409;

    // --- signing refusals (each is also written to the log)
    /// The DSSE envelope or its statement is not a Countersign approval.
    StatementInvalid = "statement_invalid", 422;
    /// The signature does not verify with the named key.
    SignatureInvalid = "signature_invalid", 422;
    /// The key id is not an enrolled credential.
    CredentialUnknown = "credential_unknown", 422;
    /// The credential was revoked before signing.
    CredentialRevoked = "credential_revoked", 422;
    /// The credential's validity window does not cover now.
    CredentialExpired = "credential_expired", 422;
    /// The credential belongs to another identity than the statement's actor.
    ActorMismatch = "actor_mismatch", 422;
    /// The actor is suspended or terminated.
    ActorNotActive = "actor_not_active", 403;
    /// The request has passed its expiry.
    RequestExpired = "request_expired", 409;
    /// The statement's subject digests differ from the request's documents.
    DigestMismatch = "digest_mismatch", 422;
    /// The echoed entitlement action differs from the request's action.
    ActionMismatch = "action_mismatch", 422;
    /// The actor is not one of the request's approvers.
    NotAnApprover = "not_an_approver", 403;
    /// The actor already signed this request.
    AlreadySigned = "already_signed", 409;
    /// A sequential request needs an earlier approver first.
    OutOfOrder = "out_of_order", 409;
    /// The statement's signed-at time is too far from the server's clock.
    ClockSkew = "clock_skew", 422;
    /// A passkey signature names no signing nonce, or one that is unknown,
    /// expired, already used, or issued for another signer or request.
    NonceInvalid = "nonce_invalid", 422;
    /// This passkey assertion was already accepted; an assertion is single-use.
    AssertionReplayed = "assertion_replayed", 409;
    /// The authenticator's signature counter went backwards: the passkey
    /// may have been cloned.
    AuthenticatorCloned = "authenticator_cloned", 422;
    /// The signer has not opened every document of the request in this session.
    DocumentNotViewed = "document_not_viewed", 409;

    /// Policy refused the action; the detail names the policies and why.
    PolicyDenied = "policy_denied", 403;

    // --- delegation
    /// The actor signs for a principal but holds no delegation from them.
    NoDelegation = "no_delegation", 403;
    /// The delegation does not cover this request's event kind, impact or id.
    DelegationOutOfScope = "delegation_out_of_scope", 403;
    /// The delegation's window does not cover now.
    DelegationNotInWindow = "delegation_not_in_window", 403;
    /// The delegation was revoked or ended when a party left active status.
    DelegationEnded = "delegation_ended", 403;
    /// A delegate tried to pass on a right they only hold by delegation.
    RedelegationRefused = "redelegation_refused", 403;
    DelegationNotFound = "delegation_not_found", 404;

    // --- policy exceptions
    ExceptionNotFound = "exception_not_found", 404;
    /// No policy refusal of this actor on this request to make an exception for.
    ExceptionNotApplicable = "exception_not_applicable", 409;
    /// An exception for this actor and request is already open.
    ExceptionExists = "exception_exists", 409;
    /// The exception was already decided, used or expired.
    ExceptionNotPending = "exception_not_pending", 409;
    /// Nobody approves their own exception.
    ExceptionSelfApproval = "exception_self_approval", 403;

    // --- tokens, OIDC, workloads
    TokenNotFound = "token_not_found", 404;
    /// A presented OIDC token does not verify; the detail says why.
    TokenInvalid = "token_invalid", 401;
    /// The token verified but names no known identity.
    IdentityUnmapped = "identity_unmapped", 403;
    /// An API caller bound to one identity submitted another's signature.
    CallerNotSigner = "caller_not_signer", 403;
    /// Workload certificates are not configured on this server.
    WorkloadsNotConfigured = "workloads_not_configured", 404;
    /// The policy set does not parse or validate.
    PolicyInvalid = "policy_invalid", 422;

    // --- web sign-in, sessions, invitations, mail
    /// The enrolment link is unknown, used or expired.
    InvitationInvalid = "invitation_invalid", 404;
    /// The person already has a passkey: an enrolment link is only for a
    /// first one (others are added from the account page; a lost one is
    /// revoked first).
    PasskeyExists = "passkey_exists", 409;
    /// The browser session is missing, expired or ended.
    SessionInvalid = "session_invalid", 401;
    /// A state-changing browser request lacked the session's CSRF token
    /// or came from another origin.
    CsrfFailed = "csrf_failed", 403;
    /// The OpenID provider's sign-in did not complete; the detail says why.
    OidcFailed = "oidc_failed", 400;
    /// Mail is not configured on this server (`[smtp]`).
    MailNotConfigured = "mail_not_configured", 409;

    // --- log
    // --- IAM/IGA integration
    /// The source system's event id was reported before with different content.
    ChangeConflict = "change_conflict", 409;
    /// No entitlement change with that id.
    ChangeNotFound = "change_not_found", 404;
    ControlExceptionNotFound = "control_exception_not_found", 404;
    /// The control exception is not in a state that allows this.
    ControlExceptionState = "control_exception_state", 409;
    /// The resolution was signed over an older revision of the exception.
    ControlExceptionStale = "control_exception_stale", 409;
    /// The signed resolution does not verify or does not match.
    ResolutionInvalid = "resolution_invalid", 422;
    WebhookNotFound = "webhook_not_found", 404;
    /// No SCIM resource with that id.
    ScimResourceNotFound = "scim_resource_not_found", 404;
    /// A SCIM userName or group name is already in use.
    ScimUniqueness = "scim_uniqueness", 409;
    /// `If-Match` names a version that is not the current one.
    PreconditionFailed = "precondition_failed", 412;
    DeliveryNotFound = "delivery_not_found", 404;

    // --- personal data
    /// A person's data can be erased only once their identity is terminated.
    ErasureNotAllowed = "erasure_not_allowed", 409;
    /// No legal hold with that id.
    HoldNotFound = "hold_not_found", 404;

    EntryNotFound = "entry_not_found", 404;
    TreeSizeOutOfRange = "tree_size_out_of_range", 400;
    CheckpointNotFound = "checkpoint_not_found", 404;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 9457 problem document, with Countersign's stable `code`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:countersign:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// A human-readable explanation specific to this occurrence.
    pub detail: String,
    /// The stable error code.
    pub code: ErrorCode,
    /// The log index of the refusal event, where the refusal was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

impl Problem {
    /// Build a problem document for a code and a detail message.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Problem {
            problem_type: format!("urn:countersign:problem:{}", code.as_str()),
            title: code.as_str().replace('_', " "),
            status: code.http_status(),
            detail: detail.into(),
            code,
            log_index: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_wire_form() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
        }
    }
}
