//! How records sit in rows, the same in every backend: JSON bodies,
//! signed 64-bit integer columns, lease times in milliseconds, the
//! columns of an opening, and what erasing a person blanks in the bodies.
//! The SQL around them is each backend's own.

use countersign_proto::personal::{Opening, RetentionClass};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::{Result, StoreError, StoredOpening};

/// A record as the JSON `body` column holds it.
pub fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("encoding record: {e}")))
}

/// A `body` column read back as the record `what` names.
pub fn from_json<T: DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what} record: {e}")))
}

/// A number to store in a signed 64-bit column.
pub fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| {
        StoreError::Backend(format!(
            "{v} does not fit in a signed 64-bit integer column"
        ))
    })
}

/// A key for a lookup: a number past the column's range names no row,
/// so it is clamped (to a value no row holds) rather than refused.
pub fn key_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored index or count, which is never negative.
pub fn to_u64(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative index {v}")))
}

/// A time as milliseconds since the epoch (leases, outbox ordering).
pub fn unix_millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub fn from_unix_millis(ms: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("time {ms}: {e}")))
}

/// The columns of an opening's row, as the backend read them.
pub struct OpeningRow {
    pub commitment: String,
    pub salt: Option<String>,
    pub value: Option<String>,
    pub log_index: i64,
    pub path: String,
    pub subject: Option<String>,
    pub request: Option<String>,
    pub class: String,
    /// Unix seconds.
    pub at: i64,
    pub erased_by: Option<i64>,
}

impl OpeningRow {
    pub fn into_stored(self) -> Result<StoredOpening> {
        let opening = match (self.salt, self.value) {
            (Some(salt), Some(value)) => Some(Opening { salt, value }),
            _ => None,
        };
        let class = RetentionClass::ALL
            .into_iter()
            .find(|c| c.name() == self.class)
            .ok_or_else(|| {
                StoreError::Corrupt(format!("opening with retention class {:?}", self.class))
            })?;
        Ok(StoredOpening {
            commitment: self.commitment,
            opening,
            log_index: to_u64(self.log_index)?,
            path: self.path,
            subject: self.subject,
            request: self.request,
            class,
            at: OffsetDateTime::from_unix_timestamp(self.at)
                .map_err(|e| StoreError::Corrupt(format!("opening time: {e}")))?,
            erased_by: self.erased_by.map(to_u64).transpose()?,
        })
    }
}

/// Tables whose JSON `body` may hold a person's values, with the column
/// that names the person where there is one (else the body is searched
/// for their handle).
pub const BODY_TABLES: &[(&str, Option<&str>)] = &[
    ("identities", Some("handle")),
    ("identity_history", Some("handle")),
    ("credentials", Some("identity")),
    ("requests", None),
    ("delegations", None),
    ("policy_exceptions", None),
    ("api_tokens", None),
    ("outbox", None),
    ("deliveries", None),
    ("delivery_attempts", None),
    ("control_exceptions", None),
    ("entitlement_changes", None),
];

/// The record fields that hold personal values (names, addresses, free
/// text, URLs). Only these are blanked: a value that happens to equal a
/// handle, a role or a state elsewhere in a record is left alone.
const PERSONAL_KEYS: &[&str] = &[
    "display_name",
    "email",
    "name",
    "label",
    "purpose",
    "reason",
    "justification",
    "decision_reason",
    "end_reason",
    "disabled_reason",
    "revocation_reason",
    "detail",
    "url",
    "payload",
];

/// Replace, in `v`, every string equal to one of `values` held by a
/// personal field (at any depth) by `replacement`; answers whether anything
/// changed.
pub fn scrub_personal(v: &mut Value, values: &[String], replacement: &str) -> bool {
    match v {
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |acc, i| scrub_personal(i, values, replacement) | acc),
        Value::Object(map) => map.iter_mut().fold(false, |acc, (k, i)| {
            let changed = match i {
                Value::String(s)
                    if PERSONAL_KEYS.contains(&k.as_str()) && values.iter().any(|x| x == s) =>
                {
                    *s = replacement.to_string();
                    true
                }
                _ => scrub_personal(i, values, replacement),
            };
            changed | acc
        }),
        _ => false,
    }
}
