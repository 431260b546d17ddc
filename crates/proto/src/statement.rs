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
    /// Standard base64 of the signature over the PAE.
    pub sig: String,
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
}
