//! Signing with a passkey, and what policy will ask of a signer: the
//! bodies of the signing-challenge and outlook calls, and enrolment
//! invitations.
//!
//! A passkey signature is an ordinary signed approval statement whose
//! DSSE signature is a WebAuthn assertion (see
//! [`crate::statement::WEBAUTHN_EXTENSION_KIND`]). The server issues the
//! statement, with a single-use nonce in it, so the challenge the passkey
//! signs is unpredictable; the browser asks the authenticator for an
//! assertion over SHA-256 of the statement's DSSE pre-authentication
//! encoding.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::Decision;
use crate::statement::Statement;
use crate::Timestamp;

/// Body of `POST /v1/requests/{id}/signing-challenges`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningChallengeRequest {
    pub decision: Decision,
    /// Required for a rejection.
    #[serde(default)]
    pub reason: Option<String>,
    /// Sign for this approver under a delegation they granted the caller.
    #[serde(default)]
    pub on_behalf_of: Option<String>,
}

/// A statement to sign with a passkey, and the WebAuthn challenge for it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SigningChallenge {
    /// The single-use nonce inside the statement.
    pub nonce: String,
    /// The statement, as the payload encodes it.
    pub statement: Statement,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Standard base64 of the exact payload bytes that will be signed.
    pub payload: String,
    /// base64url of SHA-256 of the DSSE PAE of the payload: the WebAuthn
    /// challenge. Recompute it before asking the authenticator.
    pub challenge: String,
    /// `required` when policy needs step-up for this signature (the
    /// passkey's user verification then counts as a fresh authentication),
    /// otherwise `preferred`.
    pub user_verification: String,
    /// WebAuthn `PublicKeyCredentialRequestOptionsJSON` for
    /// `navigator.credentials.get`, listing the signer's passkeys.
    #[schema(value_type = Object)]
    pub request_options: serde_json::Value,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// Body of `POST /v1/requests/{id}/passkey-signatures`: the browser's
/// answer to a [`SigningChallenge`].
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignature {
    pub nonce: String,
    /// `PublicKeyCredential.toJSON()` of the assertion.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// What the policy in force would decide if the caller signed a request,
/// asked before they try. Computed by the same engine that decides the
/// signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SigningOutlook {
    pub request: String,
    /// The identity that would sign.
    pub actor: String,
    /// One entry per approver slot the actor could fill: their own, and
    /// each approver who delegated to them for this request.
    pub slots: Vec<OutlookSlot>,
}

/// The outlook for one approver slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OutlookSlot {
    /// The approver whose slot this is.
    pub approver: String,
    /// The delegation the actor would sign under, when not their own slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<String>,
    /// `ready` (the policy allows it as things stand), `step_up` (allowed
    /// with a fresh verification or a hardware credential), `exception`
    /// (refused, but a break-glass exception could allow it), `refused`,
    /// `waiting` (a sequential request needs earlier approvers first),
    /// `signed` (this slot is filled), `closed` (the request is not pending),
    /// `no_credential` (the actor has nothing to sign with).
    pub status: String,
    /// In plain words, what the signer must do or why they cannot.
    pub summary: String,
    /// The reasons of the policies that refuse without step-up (empty when ready).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Ids of those policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Approvers who must sign before this slot (sequential requests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_for: Vec<String>,
    /// The digest of the policy set that answered.
    pub policy_set: String,
}

/// Body of `POST /v1/identities/{handle}/invitations`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// Lifetime of the link (default 72 hours, at most 14 days).
    #[serde(default)]
    pub expires_in_seconds: Option<u64>,
    /// Also e-mail the link to the identity (needs `[smtp]` and an address).
    #[serde(default)]
    pub send_mail: bool,
}

/// A single-use enrolment link for an identity's first passkey. The
/// `url` is the only copy of the secret: the server keeps its hash.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    pub id: String,
    pub identity: String,
    pub url: String,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// Whether a mail with the link was queued.
    pub mailed: bool,
    /// The log entry that recorded the issue.
    pub log_index: u64,
}
