//! Personal data: committing it out of log entries, opening it back,
//! retention, legal holds and erasure.
//!
//! Every entry is written through [`Ledger::append`], which seals it
//! (`countersign_attest::commitment::seal_entry`): the entry's personal
//! fields become salted commitments and their openings go to the store's
//! openings table, in the same transaction. Reading an entry back for
//! anything but its bytes goes through [`Ledger::opened_entry`].
//!
//! Erasing a terminated person deletes the openings of their values whose
//! retention has run out and that no legal hold covers, blanks those values
//! in the operational records that name them, and logs `personal.erased`
//! with the commitments erased, so a bundle can tell an erased value from
//! one withheld.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_attest::commitment::{self, Opened, Sealed};
use countersign_proto::entry::Event;
use countersign_proto::governance::{Erasure, LegalHold, PlaceHold};
use countersign_proto::model::{IdentityStatus, WireName as _};
use countersign_proto::personal::{self, Opening, RetentionClass, ERASED, SALT_LEN};
use countersign_proto::ErrorCode;
use rand_core::{OsRng, RngCore as _};
use time::OffsetDateTime;

use super::{new_id, Ledger, LedgerError, Result};
use crate::{EntryTerms, ReadTx, StoreError, StoredOpening, WriteTx};

/// How long personal values are kept, per retention class, counted from
/// the later of the entry's time and the person's termination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    pub identity: Duration,
    pub approval: Duration,
    pub control: Duration,
    pub operations: Duration,
}

const DAY: u64 = 86_400;

impl Default for Retention {
    /// Thirty days for who someone was; seven years (SOX, most audit
    /// regimes) for what they approved and what reconciliation found; one
    /// year for integration settings.
    fn default() -> Self {
        Retention {
            identity: Duration::from_secs(30 * DAY),
            approval: Duration::from_secs(2555 * DAY),
            control: Duration::from_secs(2555 * DAY),
            operations: Duration::from_secs(365 * DAY),
        }
    }
}

impl Retention {
    pub fn of(&self, class: RetentionClass) -> Duration {
        match class {
            RetentionClass::Identity => self.identity,
            RetentionClass::Approval => self.approval,
            RetentionClass::Control => self.control,
            RetentionClass::Operations => self.operations,
        }
    }
}

/// What a legal hold is placed on.
#[derive(Clone, Copy, Debug)]
pub enum HoldOn<'a> {
    Identity(&'a str),
    Request(&'a str),
}

fn salt() -> [u8; SALT_LEN] {
    let mut s = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut s);
    s
}

/// Seal an entry: the bytes for the log, and the openings to store.
pub(crate) fn seal(entry: &countersign_proto::entry::LogEntry) -> Result<(Vec<u8>, Vec<Sealed>)> {
    commitment::seal_entry(entry, salt)
        .map_err(|e| StoreError::Backend(format!("encoding log entry: {e}")).into())
}

/// Store the openings taken out of entry `index`.
pub(crate) fn keep_openings(
    tx: &mut dyn WriteTx,
    index: u64,
    kind: &str,
    terms: &EntryTerms,
    sealed: Vec<Sealed>,
    now: OffsetDateTime,
) -> Result<()> {
    for s in sealed {
        tx.put_opening(&StoredOpening {
            commitment: s.commitment,
            opening: Some(s.opening),
            log_index: index,
            path: s.path,
            subject: s.subject,
            request: terms.request.clone(),
            class: personal::class_of(kind),
            at: now,
            erased_by: None,
        })?;
    }
    Ok(())
}

/// The openings of the commitments in `bytes` that the store still holds.
pub(crate) fn openings_for(
    tx: &dyn ReadTx,
    bytes: &[u8],
) -> Result<BTreeMap<String, StoredOpening>> {
    let mut out = BTreeMap::new();
    for c in commitment::commitments_in(bytes) {
        if let Some(o) = tx.opening(&c)? {
            out.insert(c, o);
        }
    }
    Ok(out)
}

/// Entry `bytes` (at `index`) with its personal fields opened.
pub(crate) fn open(tx: &dyn ReadTx, index: u64, bytes: &[u8]) -> Result<Opened> {
    let stored = openings_for(tx, bytes)?;
    let openings: BTreeMap<&str, &Opening> = stored
        .iter()
        .filter_map(|(c, o)| o.opening.as_ref().map(|x| (c.as_str(), x)))
        .collect();
    commitment::open_entry(bytes, |c| openings.get(c).copied())
        .map_err(|e| LedgerError::Integrity(format!("entry {index}: {e}")))
}

/// Entries `(index, bytes)` with their personal fields opened, every
/// entry read and every opening fetched in one store call each.
pub(crate) fn open_many(tx: &dyn ReadTx, indexes: &[u64]) -> Result<Vec<(u64, Opened)>> {
    let entries = tx.entries_at(indexes)?;
    let mut commitments = Vec::new();
    let mut present = Vec::with_capacity(indexes.len());
    for (&i, bytes) in indexes.iter().zip(entries) {
        let bytes = bytes.ok_or_else(|| LedgerError::Integrity(format!("entry {i} is missing")))?;
        commitments.extend(commitment::commitments_in(&bytes));
        present.push((i, bytes));
    }
    commitments.sort_unstable();
    commitments.dedup();
    let stored = tx.openings(&commitments)?;
    let openings: BTreeMap<&str, &Opening> = stored
        .iter()
        .filter_map(|o| o.opening.as_ref().map(|x| (o.commitment.as_str(), x)))
        .collect();
    present
        .into_iter()
        .map(|(i, bytes)| {
            commitment::open_entry(&bytes, |c| openings.get(c).copied())
                .map(|opened| (i, opened))
                .map_err(|e| LedgerError::Integrity(format!("entry {i}: {e}")))
        })
        .collect()
}

/// The openings the store still holds for the commitments in `bytes`.
pub fn entry_openings(tx: &dyn ReadTx, bytes: &[u8]) -> Result<BTreeMap<String, Opening>> {
    Ok(openings_for(tx, bytes)?
        .into_iter()
        .filter_map(|(c, o)| o.opening.map(|x| (c, x)))
        .collect())
}

/// The values an erased opening stands for in the records: the value, and
/// for a signed statement (a base64 envelope payload) the free text inside
/// it, which records copy out of it.
fn values_in(path: &str, value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    if path.ends_with("payload") {
        let statement = B64
            .decode(value.as_bytes())
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        if let Some(reason) = statement
            .as_ref()
            .and_then(|s| s.pointer("/predicate/reason"))
            .and_then(serde_json::Value::as_str)
        {
            out.push(reason.to_string());
        }
    }
    out
}

impl Ledger {
    /// Entry `index` with its personal fields opened (erased ones read
    /// [`ERASED`]).
    pub fn opened_entry(&self, tx: &dyn ReadTx, index: u64) -> Result<Opened> {
        let bytes = tx
            .entry(index)?
            .ok_or_else(|| LedgerError::Integrity(format!("entry {index} is missing")))?;
        open(tx, index, &bytes)
    }

    // ------------------------------------------------------------ legal holds

    /// Place a legal hold on an identity or a request.
    pub fn place_hold(
        &self,
        on: HoldOn<'_>,
        input: &PlaceHold,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<LegalHold> {
        countersign_domain::check_text("reason", &input.reason, 1, 2000)?;
        let mut tx = self.begin(now)?;
        let (identity, request) = match on {
            HoldOn::Identity(h) => (Some(Self::load_identity(&*tx, h)?.handle), None),
            HoldOn::Request(r) => {
                let r = tx.request(r)?.ok_or_else(|| {
                    LedgerError::refused(
                        ErrorCode::RequestNotFound,
                        format!("request {r:?} does not exist"),
                    )
                })?;
                (None, Some(r.id))
            }
        };
        let mut hold = LegalHold {
            id: new_id("hold"),
            identity,
            request,
            reason: input.reason.clone(),
            placed_by: by.to_string(),
            placed_at: now,
            released_at: None,
            released_by: None,
            log_index: tx.tree_size()?,
        };
        tx.put_hold(&hold)?;
        hold.log_index = tx.commit_event(Event::HoldPlaced { hold: hold.clone() })?;
        Ok(hold)
    }

    /// Release a legal hold.
    pub fn release_hold(&self, id: &str, by: &str, now: OffsetDateTime) -> Result<LegalHold> {
        let mut tx = self.begin(now)?;
        let mut hold = tx.hold(id)?.ok_or_else(|| {
            LedgerError::refused(ErrorCode::HoldNotFound, format!("no legal hold {id:?}"))
        })?;
        if hold.released_at.is_some() {
            return Err(LedgerError::refused(
                ErrorCode::InvalidTransition,
                format!("legal hold {id} is already released"),
            ));
        }
        hold.released_at = Some(now);
        hold.released_by = Some(by.to_string());
        tx.put_hold(&hold)?;
        tx.commit_event(Event::HoldReleased {
            hold: hold.id.clone(),
            by: by.to_string(),
        })?;
        Ok(hold)
    }

    pub fn holds(&self) -> Result<Vec<LegalHold>> {
        Ok(self.store.read()?.holds()?)
    }

    pub fn hold(&self, id: &str) -> Result<LegalHold> {
        self.store.read()?.hold(id)?.ok_or_else(|| {
            LedgerError::refused(ErrorCode::HoldNotFound, format!("no legal hold {id:?}"))
        })
    }

    // ---------------------------------------------------------------- erasure

    /// Erase a terminated person's personal values whose retention has run
    /// out and that no legal hold covers. Every proof stays valid: only
    /// openings go, never entries or hashes.
    pub fn erase(&self, handle: &str, by: &str, now: OffsetDateTime) -> Result<Erasure> {
        let mut tx = self.begin(now)?;
        let identity = Self::load_identity(&*tx, handle)?;
        if identity.status != IdentityStatus::Terminated {
            return Err(LedgerError::refused(
                ErrorCode::ErasureNotAllowed,
                format!(
                    "{} is {}; only a terminated identity's personal data can be erased",
                    identity.handle,
                    identity.status.name()
                ),
            ));
        }
        // Nothing is erased on the word of an edited identity row.
        self.check_backed(&*tx, &[&identity], None, None, &[])?;
        let handle = identity.handle.clone();
        let terminated_at = identity.updated_at;
        let holds: Vec<LegalHold> = tx
            .holds()?
            .into_iter()
            .filter(|h| h.released_at.is_none())
            .collect();
        let held_identity = holds
            .iter()
            .find(|h| h.identity.as_deref() == Some(handle.as_str()));
        let held_requests: BTreeSet<&str> =
            holds.iter().filter_map(|h| h.request.as_deref()).collect();

        let mut erase = Vec::new();
        let mut kept: Vec<StoredOpening> = Vec::new();
        let mut because: BTreeSet<String> = BTreeSet::new();
        for o in tx.openings_of(&handle)? {
            if o.opening.is_none() {
                continue;
            }
            if let Some(h) = held_identity {
                because.insert(format!("legal hold {} on {handle}", h.id));
                kept.push(o);
                continue;
            }
            if let Some(r) = o.request.as_deref().filter(|r| held_requests.contains(r)) {
                because.insert(format!("legal hold on request {r}"));
                kept.push(o);
                continue;
            }
            let keep_for = self.config.retention.of(o.class);
            let from = o.at.max(terminated_at);
            // A retention too long to add is kept for ever.
            let until = time::Duration::try_from(keep_for)
                .ok()
                .and_then(|d| from.checked_add(d));
            if until.is_none_or(|u| now < u) {
                because.insert(match until {
                    Some(u) => format!(
                        "{} values are kept {} days (until {})",
                        o.class.name(),
                        keep_for.as_secs() / DAY,
                        u.date()
                    ),
                    None => format!("{} values are kept indefinitely", o.class.name()),
                });
                kept.push(o);
                continue;
            }
            erase.push(o);
        }
        let legacy = tx
            .entry_indexes_about("", std::slice::from_ref(&handle), &[])?
            .into_iter()
            .filter(|i| {
                tx.entry(*i).ok().flatten().is_some_and(|b| {
                    let v = serde_json::from_slice::<serde_json::Value>(&b).ok();
                    let kind = v
                        .as_ref()
                        .and_then(|v| v.get("type"))
                        .and_then(serde_json::Value::as_str);
                    // The log-wide entries every query brings name nobody.
                    !matches!(kind, Some("ca.created" | "policy.activated"))
                        && v.as_ref()
                            .and_then(|v| v.get("v").and_then(serde_json::Value::as_u64))
                            .is_some_and(|v| v < u64::from(commitment::FIRST_COMMITTED_VERSION))
                })
            })
            .count();
        if legacy > 0 {
            because.insert(format!(
                "{legacy} log entries written before personal fields were committed (entry format 1) hold values in the clear and cannot change"
            ));
        }
        let mut result = Erasure {
            identity: handle.clone(),
            erased: erase.len() as u64,
            kept: kept.len() as u64,
            kept_because: because.into_iter().collect(),
            log_index: None,
        };
        if erase.is_empty() {
            return Ok(result);
        }
        // A value still kept elsewhere is not blanked in the records.
        let keep_values: BTreeSet<&str> = kept
            .iter()
            .filter_map(|o| o.opening.as_ref().map(|x| x.value.as_str()))
            .collect();
        let values: Vec<String> = erase
            .iter()
            .filter_map(|o| {
                o.opening
                    .as_ref()
                    .map(|x| (o.path.as_str(), x.value.as_str()))
            })
            .flat_map(|(path, v)| values_in(path, v))
            .filter(|v| !keep_values.contains(v.as_str()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let commitments: Vec<String> = erase.iter().map(|o| o.commitment.clone()).collect();
        let index = tx.log(Event::PersonalErased {
            identity: handle.clone(),
            by: by.to_string(),
            commitments: commitments.clone(),
            kept: result.kept,
        })?;
        for c in &commitments {
            tx.erase_opening(c, index)?;
        }
        tx.scrub_person(&handle, &values, ERASED)?;
        tx.commit()?;
        self.store.compact()?;
        result.log_index = Some(index);
        Ok(result)
    }
}
