//! The evidence bundle: everything an auditor needs to verify one request
//! offline, in one JSON file.
//!
//! Only the log entries, their inclusion proofs, the signed checkpoint and
//! the verifier key are trusted by the verifier; the `request` view is a
//! convenience that the verifier cross-checks against the entries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::Request;
use crate::personal::Opening;
use crate::Timestamp;

/// `format` of an evidence bundle.
pub const EVIDENCE_FORMAT: &str = "https://countersign.dev/evidence/v1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceBundle {
    pub format: String,
    #[serde(with = "crate::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub exported_at: Timestamp,
    /// The request as the server reports it at export time.
    pub request: Request,
    /// The log's verifier key, signed-note vkey form.
    pub log_key: String,
    /// The signed checkpoint every proof below is against.
    pub checkpoint: String,
    /// The relevant log entries, in index order.
    pub entries: Vec<EvidenceEntry>,
    /// The openings of the personal fields committed in those entries, by
    /// commitment (`crate::personal`). A commitment without an opening was
    /// erased, and the `personal.erased` entry that erased it is among the
    /// entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub openings: BTreeMap<String, Opening>,
}

/// A log entry with its inclusion proof.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceEntry {
    pub index: u64,
    /// The entry's exact bytes (UTF-8 JSON).
    pub entry: String,
    /// RFC 6962 inclusion proof against the bundle's checkpoint, base64 hashes.
    pub proof: Vec<String>,
}
