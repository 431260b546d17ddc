//! `countersign log audit`: recompute the tree from the stored entries and
//! check it against every checkpoint ever issued.

use std::collections::{BTreeMap, BTreeSet};

use countersign_attest::commitment::{self, OpenError};
use countersign_proto::entry::Event;
use countersign_proto::personal::Opening;
use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::note::NoteVerifier;
use countersign_tlog::MemoryTree;

use countersign_store::{ReadTx, Result, Store};

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditProblem {
    /// The first log index the finding implicates, where one can be named.
    pub index: Option<u64>,
    pub detail: String,
}

/// What the audit found.
#[derive(Clone, Debug, Default)]
pub struct AuditReport {
    /// Entry rows read.
    pub entries_read: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints_checked: u64,
    /// Size of the latest checkpoint.
    pub signed_size: u64,
    pub problems: Vec<AuditProblem>,
}

impl AuditReport {
    pub(crate) fn problem(&mut self, index: Option<u64>, detail: String) {
        self.problems.push(AuditProblem { index, detail });
    }

    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The lowest index any finding implicates.
    pub fn first_bad_index(&self) -> Option<u64> {
        self.problems.iter().filter_map(|p| p.index).min()
    }
}

const PAGE: u64 = 4096;

fn problem(report: &mut AuditReport, index: Option<u64>, detail: String) {
    report.problems.push(AuditProblem { index, detail });
}

/// Audit the log in `store` against checkpoints signed by `verifier`.
/// `progress` is called with (entries read so far, total).
pub fn audit(
    store: &dyn Store,
    verifier: &NoteVerifier,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<AuditReport> {
    let tx = store.read()?;
    let stored_size = tx.tree_size()?;
    let mut report = AuditReport::default();
    let mut tree = MemoryTree::new();

    // Recompute leaf hashes from entry bytes, in index order, stopping the
    // tree at the first gap: everything after a missing entry is unprovable.
    let mut next = 0u64;
    let mut broken = false;
    let mut openings = Openings::default();
    let mut replay = crate::replay::Replay::default();
    // Checkpoint sizes the entries name, with the first entry naming each.
    let mut named: BTreeMap<u64, u64> = BTreeMap::new();
    loop {
        let page = tx.entries(next, PAGE)?;
        let Some(&(last, _)) = page.last() else { break };
        for (index, bytes) in &page {
            report.entries_read += 1;
            if broken {
                continue;
            }
            if *index != tree.size() {
                problem(
                    &mut report,
                    Some(tree.size()),
                    format!(
                        "entry {} is missing (the next stored entry is {index})",
                        tree.size()
                    ),
                );
                broken = true;
                continue;
            }
            if let Some(entry) = openings.check(&*tx, *index, bytes, &mut report)? {
                if let Some(after) = entry.after.filter(|s| *s > 0) {
                    named.entry(after).or_insert(*index);
                }
                replay.apply(*index, &entry);
            }
            let leaf = countersign_tlog::leaf_hash(bytes);
            let stored_leaf = tx.subtree_hash(0, *index)?;
            // Interior hashes are rebuilt from the stored leaves: an edited
            // entry is its own finding below, not one per subtree over it.
            replay.leaf(*index, stored_leaf.unwrap_or(leaf));
            match stored_leaf {
                Some(h) if h == leaf => {}
                Some(_) => problem(
                    &mut report,
                    Some(*index),
                    format!(
                        "entry {index} does not match the leaf hash stored when it was appended"
                    ),
                ),
                None => problem(
                    &mut report,
                    Some(*index),
                    format!("no leaf hash is stored for entry {index}"),
                ),
            }
            tree.push(leaf);
        }
        progress(report.entries_read, stored_size);
        next = last.saturating_add(1);
    }

    openings.finish(&mut report);

    let checkpoints = tx.checkpoints()?;
    let mut last_good = 0u64;
    for (size, note) in &checkpoints {
        report.checkpoints_checked += 1;
        let cp = match Checkpoint::open(note, verifier) {
            Ok(cp) => cp,
            Err(e) => {
                problem(
                    &mut report,
                    None,
                    format!("checkpoint for size {size} does not verify: {e}"),
                );
                continue;
            }
        };
        if cp.size != *size {
            problem(
                &mut report,
                None,
                format!(
                    "checkpoint stored for size {size} is signed for size {}",
                    cp.size
                ),
            );
            continue;
        }
        if cp.size > tree.size() {
            problem(&mut report, Some(tree.size()), format!(
                "checkpoint for size {} covers entries that are not stored (only {} contiguous entries)",
                cp.size,
                tree.size()
            ));
            continue;
        }
        let root = countersign_tlog::tree_hash(cp.size, &tree)
            .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
        if root != cp.root {
            problem(&mut report, Some(last_good), format!(
                "recomputed tree at size {} does not match its signed checkpoint; the first altered entry is at or after index {last_good}",
                cp.size
            ));
        } else {
            last_good = last_good.max(cp.size);
        }
    }
    report.signed_size = checkpoints.iter().map(|(s, _)| *s).max().unwrap_or(0);
    if checkpoints.is_empty() && stored_size > 0 {
        problem(
            &mut report,
            Some(0),
            "the log has entries but no checkpoint".into(),
        );
    }
    // Every checkpoint an entry names was signed, so it must be stored.
    let sizes: BTreeSet<u64> = checkpoints.iter().map(|(s, _)| *s).collect();
    for (size, index) in &named {
        if !sizes.contains(size) && *size <= tree.size() {
            problem(
                &mut report,
                Some(size.saturating_sub(1)),
                format!(
                    "table checkpoints, key {size}: missing, though entry {index} follows the checkpoint signed at that size (deleted?)"
                ),
            );
        }
    }

    // The state tables, lookup columns and tree hashes, rebuilt from the
    // log, against the stored ones.
    if !broken {
        let rows = tx.state_rows()?;
        replay.compare(&rows, &checkpoints, verifier, &mut report);
    }
    let signed = report.signed_size;
    if tree.size() > signed && !broken {
        problem(
            &mut report,
            Some(signed),
            format!(
                "entries {signed}..{} are not covered by any signed checkpoint (inserted rows?)",
                tree.size() - 1
            ),
        );
    }
    Ok(report)
}

/// The personal fields of the entries read: every commitment opens with
/// its stored opening, or was erased by a `personal.erased` entry that
/// names it.
#[derive(Default)]
struct Openings {
    /// (commitment, entry, the erasure the store says erased it)
    erased: Vec<(String, u64, Option<u64>)>,
    /// What each `personal.erased` entry erased.
    erasures: BTreeMap<u64, BTreeSet<String>>,
}

impl Openings {
    fn check(
        &mut self,
        tx: &dyn ReadTx,
        index: u64,
        bytes: &[u8],
        report: &mut AuditReport,
    ) -> Result<Option<countersign_proto::entry::LogEntry>> {
        let stored = crate::ledger::openings_for(tx, bytes).map_err(|e| match e {
            crate::LedgerError::Store(s) => s,
            other => crate::StoreError::Corrupt(other.to_string()),
        })?;
        let given: BTreeMap<&str, &Opening> = stored
            .iter()
            .filter_map(|(c, o)| o.opening.as_ref().map(|x| (c.as_str(), x)))
            .collect();
        match commitment::open_entry(bytes, |c| given.get(c).copied()) {
            Err(OpenError::Parse(e)) => problem(
                report,
                Some(index),
                format!("entry {index} is not a valid log entry: {e}"),
            ),
            Err(e) => problem(
                report,
                Some(index),
                format!("entry {index}: {e} (table openings)"),
            ),
            Ok(opened) => {
                let entry = opened.entry.clone();
                if let Event::PersonalErased { commitments, .. } = &opened.entry.event {
                    self.erasures
                        .insert(index, commitments.iter().cloned().collect());
                }
                for u in opened.erased {
                    let by = stored.get(&u.commitment).and_then(|o| o.erased_by);
                    self.erased.push((u.commitment, index, by));
                }
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    fn finish(&self, report: &mut AuditReport) {
        for (c, index, by) in &self.erased {
            let recorded = by.is_some_and(|b| {
                b > *index && self.erasures.get(&b).is_some_and(|cs| cs.contains(c))
            });
            if !recorded {
                problem(
                    report,
                    Some(*index),
                    format!(
                        "entry {index}: the opening of {c} is missing from table openings and no personal.erased entry erased it"
                    ),
                );
            }
        }
    }
}
