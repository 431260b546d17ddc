//! Ceremony options for the browser, in the JSON forms of §5.1.8/§5.1.9:
//! `PublicKeyCredentialCreationOptionsJSON` and
//! `PublicKeyCredentialRequestOptionsJSON`. The page passes them to
//! `PublicKeyCredential.parseCreationOptionsFromJSON()` /
//! `parseRequestOptionsFromJSON()` and then to `navigator.credentials`.
//!
//! The relying party picks the challenge: random bytes for a registration
//! or sign-in, a statement digest for a signing assertion. This module only
//! serializes what it is given.

use serde::{Deserialize, Serialize};

use crate::cose::CoseAlgorithm;
use crate::Base64UrlBytes;

/// `PublicKeyCredentialRpEntity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpEntity {
    pub id: String,
    pub name: String,
}

/// `PublicKeyCredentialUserEntityJSON`. `id` is the user handle: opaque
/// bytes (at most 64) that must not be personal data, since authenticators
/// show it to anyone holding the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntity {
    pub id: Base64UrlBytes,
    pub name: String,
    pub display_name: String,
}

/// `PublicKeyCredentialParameters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialParameter {
    /// Always `"public-key"`.
    #[serde(rename = "type")]
    pub credential_type: String,
    pub alg: i64,
}

impl CredentialParameter {
    pub fn new(algorithm: CoseAlgorithm) -> Self {
        CredentialParameter {
            credential_type: "public-key".into(),
            alg: algorithm.id(),
        }
    }
}

/// `PublicKeyCredentialDescriptorJSON`: a credential to exclude (creation)
/// or allow (request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialDescriptor {
    #[serde(rename = "type")]
    pub credential_type: String,
    pub id: Base64UrlBytes,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transports: Vec<String>,
}

impl CredentialDescriptor {
    pub fn new(id: Vec<u8>, transports: Vec<String>) -> Self {
        CredentialDescriptor {
            credential_type: "public-key".into(),
            id: Base64UrlBytes(id),
            transports,
        }
    }
}

/// `UserVerificationRequirement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserVerification {
    Required,
    Preferred,
    Discouraged,
}

/// `ResidentKeyRequirement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResidentKey {
    Required,
    Preferred,
    Discouraged,
}

/// `AttestationConveyancePreference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttestationConveyance {
    None,
    Indirect,
    /// Ask for the authenticator's attestation statement as it made it.
    Direct,
    Enterprise,
}

/// `AuthenticatorSelectionCriteria`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorSelection {
    /// `"platform"` or `"cross-platform"`; absent lets the user choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<String>,
    pub resident_key: ResidentKey,
    /// The Level 1 spelling of `resident_key: required`, for older browsers.
    pub require_resident_key: bool,
    pub user_verification: UserVerification,
}

/// `PublicKeyCredentialCreationOptionsJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationOptions {
    pub rp: RpEntity,
    pub user: UserEntity,
    pub challenge: Base64UrlBytes,
    pub pub_key_cred_params: Vec<CredentialParameter>,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    #[serde(default)]
    pub exclude_credentials: Vec<CredentialDescriptor>,
    pub authenticator_selection: AuthenticatorSelection,
    /// `"security-key"`, `"client-device"`, `"hybrid"`, in preference order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    pub attestation: AttestationConveyance,
}

impl CreationOptions {
    /// Options for a discoverable credential (a passkey): EdDSA, ES256 and
    /// RS256 offered in that order, `residentKey: required` (and
    /// `requireResidentKey: true`), the given user verification and
    /// attestation preference, no timeout, nothing excluded.
    pub fn passkey(
        rp: RpEntity,
        user: UserEntity,
        challenge: Vec<u8>,
        user_verification: UserVerification,
        attestation: AttestationConveyance,
    ) -> Self {
        CreationOptions {
            rp,
            user,
            challenge: Base64UrlBytes(challenge),
            pub_key_cred_params: CoseAlgorithm::ALL
                .into_iter()
                .map(CredentialParameter::new)
                .collect(),
            timeout: None,
            exclude_credentials: Vec::new(),
            authenticator_selection: AuthenticatorSelection {
                authenticator_attachment: None,
                resident_key: ResidentKey::Required,
                require_resident_key: true,
                user_verification,
            },
            hints: Vec::new(),
            attestation,
        }
    }
}

/// `PublicKeyCredentialRequestOptionsJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptions {
    pub challenge: Base64UrlBytes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    pub rp_id: String,
    /// Empty for a discoverable sign-in (the authenticator offers its
    /// passkeys for the RP ID); the user's credentials otherwise.
    #[serde(default)]
    pub allow_credentials: Vec<CredentialDescriptor>,
    pub user_verification: UserVerification,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

impl RequestOptions {
    pub fn new(
        rp_id: impl Into<String>,
        challenge: Vec<u8>,
        allow_credentials: Vec<CredentialDescriptor>,
        user_verification: UserVerification,
    ) -> Self {
        RequestOptions {
            challenge: Base64UrlBytes(challenge),
            timeout: None,
            rp_id: rp_id.into(),
            allow_credentials,
            user_verification,
            hints: Vec::new(),
        }
    }
}
