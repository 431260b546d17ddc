//! What a signer signs: an in-toto Statement v1 whose predicate is a
//! Countersign approval, carried in a DSSE v1 envelope.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

use crate::model::{Decision, EntitlementAction};
use crate::Timestamp;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// DSSE `payloadType` for in-toto statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `predicateType` of a Countersign approval.
pub const APPROVAL_PREDICATE_TYPE: &str = "https://countersign.dev/approval/v1";

/// A DSSE v1 envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Envelope {
    /// Standard base64 of the serialized statement.
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of a DSSE envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnvelopeSignature {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    /// Standard base64 of the signature: over the PAE for a key; for a
    /// passkey, the WebAuthn assertion signature (see `extension`).
    pub sig: String,
    /// A DSSE v1.1 signature extension: what a verifier needs besides the
    /// key to check `sig`. Countersign uses it for WebAuthn assertions
    /// ([`WEBAUTHN_EXTENSION_KIND`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<SignatureExtension>,
}

/// A DSSE signature extension: a media type naming the format, and the
/// format's object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignatureExtension {
    pub kind: String,
    #[schema(value_type = Object)]
    pub ext: serde_json::Value,
}

/// `kind` of the signature extension that carries a WebAuthn assertion.
///
/// A passkey cannot sign the DSSE PAE directly: a WebAuthn authenticator
/// signs `authenticatorData || SHA-256(clientDataJSON)`. So the signer's
/// browser asks for an assertion whose challenge is SHA-256 of the PAE,
/// `sig` is that assertion's signature (ASN.1 DER ECDSA for ES256, 64 bytes
/// for EdDSA, PKCS#1 v1.5 for RS256), and `ext` is a [`WebAuthnAssertion`]
/// with what the verifier needs to rebuild the signed bytes. A verifier
/// checks the signature with the enrolled passkey's public key, that the
/// client data's `challenge` is base64url(SHA-256(PAE)), its `type` is
/// `webauthn.get` and its origin belongs to the relying party, that the
/// authenticator data's rpIdHash is SHA-256 of the relying party id, and
/// that the user-presence (and, where required, user-verification) flags
/// are set.
pub const WEBAUTHN_EXTENSION_KIND: &str =
    "application/vnd.countersign.webauthn-assertion;version=1";

/// The WebAuthn assertion behind a passkey signature (`ext` of a
/// [`WEBAUTHN_EXTENSION_KIND`] extension). Byte strings are base64url
/// without padding, as WebAuthn's JSON forms write them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebAuthnAssertion {
    /// The credential id the browser used.
    #[serde(rename = "credentialId")]
    pub credential_id: String,
    #[serde(rename = "authenticatorData")]
    pub authenticator_data: String,
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
}

/// An in-toto resource descriptor naming a document version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Subject {
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

/// An in-toto Statement v1 with a Countersign approval predicate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: ApprovalPredicate,
}

/// The approval predicate: who decided what about which request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPredicate {
    /// The request id.
    pub request: String,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Handle of the identity that signs.
    pub actor: String,
    /// Handle of the approver on whose behalf the actor signs, under a
    /// delegation; absent when the actor signs for themself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The request's entitlement action, echoed so the signer attests to it.
    #[serde(default)]
    pub action: Option<EntitlementAction>,
    #[serde(rename = "signedAt", with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub signed_at: Timestamp,
    /// Key id of the credential that signs.
    #[serde(rename = "keyId")]
    pub key_id: String,
    /// A single-use value the server issued for this signature, so the
    /// challenge a passkey signs is unpredictable (required for passkey
    /// signatures, absent from key signatures made offline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}
