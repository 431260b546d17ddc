//! Salted commitments to the personal fields of log entries
//! (`countersign_proto::personal` says which fields and why).
//!
//! [`seal_entry`] turns an entry into the bytes the log holds, each personal
//! value replaced by its commitment, and answers the openings to keep
//! apart; [`open_entry`] turns those bytes back into the entry, with each
//! commitment whose opening is given checked and replaced by its value, and
//! each one without an opening reported as erased.

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use countersign_proto::entry::LogEntry;
use countersign_proto::personal::{
    self, Opening, Subject, COMMITMENT_DOMAIN, COMMITMENT_PREFIX, ERASED, SALT_LEN,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The commitment to `value` under `salt`.
pub fn commit(salt: &[u8], value: &str) -> String {
    let mut h = Sha256::new();
    h.update(COMMITMENT_DOMAIN);
    h.update(salt);
    h.update(value.as_bytes());
    format!("{COMMITMENT_PREFIX}{}", hex::encode(h.finalize()))
}

/// Whether `opening` opens `commitment`.
pub fn opens(commitment: &str, opening: &Opening) -> bool {
    match B64.decode(opening.salt.as_bytes()) {
        Ok(salt) if salt.len() == SALT_LEN => commit(&salt, &opening.value) == commitment,
        _ => false,
    }
}

/// One personal value taken out of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub commitment: String,
    pub opening: Opening,
    /// The field, as `a.b`.
    pub path: String,
    /// The handle of the identity it is about or by, where the entry names one.
    pub subject: Option<String>,
}

/// The bytes the log holds for `entry`, and the values taken out of it.
/// `salt` is called once per personal value present.
pub fn seal_entry(
    entry: &LogEntry,
    mut salt: impl FnMut() -> [u8; SALT_LEN],
) -> Result<(Vec<u8>, Vec<Sealed>), serde_json::Error> {
    let mut json = serde_json::to_value(entry)?;
    let mut sealed = Vec::new();
    for f in personal::fields_of(entry.event.kind()) {
        let subject = match f.subject {
            Subject::At(path) => personal::at(&json, path)
                .and_then(Value::as_str)
                .map(str::to_string),
            Subject::None => None,
        };
        let Some(slot) = personal::at_mut(&mut json, f.path) else {
            continue;
        };
        let Value::String(value) = slot else {
            continue;
        };
        let s = salt();
        let commitment = commit(&s, value);
        let opening = Opening {
            salt: B64.encode(s),
            value: std::mem::take(value),
        };
        *slot = Value::String(commitment.clone());
        sealed.push(Sealed {
            commitment,
            opening,
            path: f.path.join("."),
            subject,
        });
    }
    Ok((serde_json::to_vec(&json)?, sealed))
}

/// A personal field whose value was not opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unopened {
    pub path: String,
    pub commitment: String,
    /// The handle of the identity the value was about or by, where the
    /// entry names one: only that person's erasure can erase it.
    pub subject: Option<String>,
}

/// An entry with its personal fields opened.
#[derive(Clone, Debug, PartialEq)]
pub struct Opened {
    /// The entry; an unopened field holds [`ERASED`].
    pub entry: LogEntry,
    pub erased: Vec<Unopened>,
}

impl Opened {
    /// Whether the field at `path` (`a.b`) was not opened.
    pub fn is_erased(&self, path: &str) -> bool {
        self.erased.iter().any(|u| u.path == path)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("not a valid log entry: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("its personal field {path} holds a value in the clear, not a commitment")]
    Clear { path: String },
    #[error("the opening given for its personal field {path} does not match the commitment {commitment}")]
    Mismatch { path: String, commitment: String },
}

/// The first entry format that commits personal fields; older entries hold
/// them in the clear (they were written before commitments existed) and are
/// answered as they are.
pub const FIRST_COMMITTED_VERSION: u32 = 2;

/// Parse entry `bytes` and open its personal fields with `lookup`.
pub fn open_entry<'a>(
    bytes: &[u8],
    lookup: impl Fn(&str) -> Option<&'a Opening>,
) -> Result<Opened, OpenError> {
    let mut json: Value = serde_json::from_slice(bytes)?;
    let version = json.get("v").and_then(Value::as_u64).unwrap_or_default();
    let kind = json
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut erased = Vec::new();
    if version >= u64::from(FIRST_COMMITTED_VERSION) {
        for f in personal::fields_of(&kind) {
            let path = f.path.join(".");
            let subject = match f.subject {
                Subject::At(p) => personal::at(&json, p)
                    .and_then(Value::as_str)
                    .map(str::to_string),
                Subject::None => None,
            };
            let Some(slot) = personal::at_mut(&mut json, f.path) else {
                continue;
            };
            let commitment = match slot {
                Value::Null => continue,
                Value::String(s) if personal::is_commitment(s) => s.clone(),
                _ => return Err(OpenError::Clear { path }),
            };
            match lookup(&commitment) {
                Some(o) if opens(&commitment, o) => *slot = Value::String(o.value.clone()),
                Some(_) => return Err(OpenError::Mismatch { path, commitment }),
                None => {
                    *slot = Value::String(ERASED.to_string());
                    erased.push(Unopened {
                        path,
                        commitment,
                        subject,
                    });
                }
            }
        }
    }
    Ok(Opened {
        entry: serde_json::from_value(json)?,
        erased,
    })
}

/// The commitments in entry `bytes` (none in entries older than
/// [`FIRST_COMMITTED_VERSION`]).
pub fn commitments_in(bytes: &[u8]) -> Vec<String> {
    let Ok(json) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    let kind = json.get("type").and_then(Value::as_str).unwrap_or_default();
    if json.get("v").and_then(Value::as_u64).unwrap_or_default()
        < u64::from(FIRST_COMMITTED_VERSION)
    {
        return Vec::new();
    }
    personal::fields_of(kind)
        .filter_map(|f| personal::at(&json, f.path).and_then(Value::as_str))
        .filter(|s| personal::is_commitment(s))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_proto::entry::{Event, ENTRY_VERSION};
    use countersign_proto::model::{Identity, IdentityKind, IdentityStatus};
    use std::collections::BTreeMap;
    use time::macros::datetime;

    fn dora() -> LogEntry {
        let at = datetime!(2026-12-01 10:00 UTC);
        LogEntry {
            v: ENTRY_VERSION,
            at,
            after: Some(3),
            event: Event::IdentityCreated {
                identity: Identity {
                    id: "id-1".into(),
                    handle: "dora".into(),
                    kind: IdentityKind::Human,
                    display_name: "Dora Ng".into(),
                    email: Some("dora@example.com".into()),
                    owner: None,
                    shared: false,
                    status: IdentityStatus::Active,
                    groups: vec![],
                    roles: vec![],
                    manager: None,
                    orphaned: false,
                    scim_adoptable: false,
                    created_at: at,
                    updated_at: at,
                    revision: 1,
                },
            },
        }
    }

    fn counter() -> impl FnMut() -> [u8; SALT_LEN] {
        let mut n = 0u8;
        move || {
            n += 1;
            [n; SALT_LEN]
        }
    }

    #[test]
    fn sealed_bytes_hold_no_value_and_open_back_to_the_entry() {
        let (bytes, sealed) = seal_entry(&dora(), counter()).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("Dora Ng") && !text.contains("dora@example.com"));
        assert!(text.contains("\"handle\":\"dora\""));
        assert_eq!(sealed.len(), 2);
        assert_eq!(sealed[0].subject.as_deref(), Some("dora"));
        assert_eq!(sealed[0].path, "identity.display_name");
        let openings: BTreeMap<String, Opening> = sealed
            .iter()
            .map(|s| (s.commitment.clone(), s.opening.clone()))
            .collect();
        let opened = open_entry(&bytes, |c| openings.get(c)).unwrap();
        assert_eq!(opened.entry, dora());
        assert!(opened.erased.is_empty());
        assert_eq!(commitments_in(&bytes).len(), 2);
    }

    #[test]
    fn salts_hide_equal_values() {
        let (a, _) = seal_entry(&dora(), counter()).unwrap();
        let (b, _) = seal_entry(&dora(), || [9; SALT_LEN]).unwrap();
        assert_ne!(commitments_in(&a), commitments_in(&b));
    }

    #[test]
    fn a_missing_opening_is_erased_and_a_wrong_one_is_refused() {
        let (bytes, sealed) = seal_entry(&dora(), counter()).unwrap();
        let opened = open_entry(&bytes, |_| None).unwrap();
        assert!(opened.is_erased("identity.email"));
        let Event::IdentityCreated { identity } = &opened.entry.event else {
            panic!("kind changed")
        };
        assert_eq!(identity.display_name, ERASED);

        let mut forged = sealed[0].opening.clone();
        forged.value = "Someone Else".into();
        let err = open_entry(&bytes, |_| Some(&forged)).unwrap_err();
        assert!(matches!(err, OpenError::Mismatch { .. }), "{err}");
    }

    #[test]
    fn a_value_in_the_clear_is_refused_in_a_committed_entry_but_not_in_an_old_one() {
        let mut entry = dora();
        let clear = serde_json::to_vec(&entry).unwrap();
        assert!(matches!(
            open_entry(&clear, |_| None),
            Err(OpenError::Clear { .. })
        ));
        entry.v = 1;
        let old = serde_json::to_vec(&entry).unwrap();
        let opened = open_entry(&old, |_| None).unwrap();
        assert_eq!(opened.entry, entry);
    }
}
