//! What the browser sends: `PublicKeyCredential.toJSON()` for a
//! registration (`RegistrationResponseJSON`, §5.1) and an authentication
//! (`AuthenticationResponseJSON`), every binary member as base64url.
//!
//! Members the specification marks as conveniences (`authenticatorData`,
//! `publicKey`, `publicKeyAlgorithm` of a registration) are read but never
//! trusted: verification uses the attestation object, which is what the
//! authenticator signed. Unknown members are ignored so that newer browsers
//! do not break older servers.

use serde::{Deserialize, Serialize};

use crate::Base64UrlBytes;

/// `RegistrationResponseJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponseJson {
    /// The credential id, base64url (the same bytes as `raw_id`).
    pub id: String,
    pub raw_id: Base64UrlBytes,
    /// Always `"public-key"`.
    #[serde(rename = "type")]
    pub credential_type: String,
    pub response: AttestationResponseJson,
    /// `"platform"` or `"cross-platform"`, when the browser says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<String>,
    #[serde(default)]
    pub client_extension_results: serde_json::Map<String, serde_json::Value>,
}

/// `AuthenticatorAttestationResponseJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponseJson {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: Base64UrlBytes,
    pub attestation_object: Base64UrlBytes,
    /// A copy of the authenticator data inside `attestation_object`; ignored
    /// by verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_data: Option<Base64UrlBytes>,
    /// `getTransports()`: how the browser reached the authenticator.
    #[serde(default)]
    pub transports: Vec<String>,
    /// The credential key as a DER SubjectPublicKeyInfo; ignored by
    /// verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Base64UrlBytes>,
    /// The credential's COSE algorithm; ignored by verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_algorithm: Option<i64>,
}

/// `AuthenticationResponseJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponseJson {
    pub id: String,
    pub raw_id: Base64UrlBytes,
    #[serde(rename = "type")]
    pub credential_type: String,
    pub response: AssertionResponseJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<String>,
    #[serde(default)]
    pub client_extension_results: serde_json::Map<String, serde_json::Value>,
}

/// `AuthenticatorAssertionResponseJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponseJson {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: Base64UrlBytes,
    pub authenticator_data: Base64UrlBytes,
    pub signature: Base64UrlBytes,
    /// The user handle (`user.id` at registration); discoverable
    /// credentials always return it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_handle: Option<Base64UrlBytes>,
}
