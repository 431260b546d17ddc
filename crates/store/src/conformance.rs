//! The conformance suite every backend runs (feature `testkit`).
//!
//! Each case states one part of the contract of [`Store`], [`ReadTx`] and
//! [`WriteTx`] that the ledger relies on, against a fresh store the
//! backend hands out. A backend runs them all with
//! [`conformance_tests!`](crate::conformance_tests):
//!
//! ```ignore
//! struct Sqlite;
//! impl countersign_store::conformance::Backend for Sqlite { … }
//! countersign_store::conformance_tests!(Sqlite);
//! ```
//!
//! The cases panic with a message naming what broke; they are tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Barrier};
use std::time::Duration;

use countersign_domain::identity::{self, Challenge};
use countersign_proto::api::{CreateIdentity, CreateRequest, IdentityFilter, RequestFilter};
use countersign_proto::iga::{DeliveryRecord, DeliveryState, WebhookEndpoint};
use countersign_proto::model::{
    DocumentVersion, Identity, IdentityKind, IdentityStatus, Request, RequestState,
};
use countersign_proto::personal::{Opening, RetentionClass};
use countersign_tlog::Hash;
use time::OffsetDateTime;

use crate::{
    EntryTerms, Hashes, Lease, OutboxEvent, SessionRecord, Store, StoreError, StoredOpening,
    StoredReceipt, WebChallenge, WebhookRecord, WebhookSecret, WriteTx,
};

/// What a backend gives the suite.
pub trait Backend: Sync {
    /// A new, empty, initialised store of its own (a fresh file, a fresh
    /// database), kept until the returned value is dropped.
    fn fresh(&self) -> Fresh;
}

/// Closes the store given and opens the same database again.
pub type Reopen = Box<dyn Fn(Arc<dyn Store>) -> Arc<dyn Store> + Send + Sync>;

/// One conformance case.
pub type Case = fn(&dyn Backend);

/// A fresh store and a way to open it again, as a restarted server would.
pub struct Fresh {
    pub store: Arc<dyn Store>,
    pub reopen: Reopen,
}

/// Every case, by name.
pub const CASES: &[(&str, Case)] = &[
    ("an_empty_store_has_no_log", an_empty_store_has_no_log),
    (
        "entries_and_hashes_read_back_as_written",
        entries_and_hashes_read_back_as_written,
    ),
    (
        "an_entry_goes_only_at_the_end_of_the_log",
        an_entry_goes_only_at_the_end_of_the_log,
    ),
    (
        "one_checkpoint_per_size_and_the_latest_is_the_largest",
        one_checkpoint_per_size_and_the_latest_is_the_largest,
    ),
    (
        "a_dropped_write_leaves_nothing_behind",
        a_dropped_write_leaves_nothing_behind,
    ),
    (
        "a_committed_write_survives_reopening",
        a_committed_write_survives_reopening,
    ),
    (
        "readers_see_a_write_whole_or_not_at_all",
        readers_see_a_write_whole_or_not_at_all,
    ),
    (
        "concurrent_writers_extend_the_log_without_gaps",
        concurrent_writers_extend_the_log_without_gaps,
    ),
    (
        "a_reader_does_not_wait_for_a_writer",
        a_reader_does_not_wait_for_a_writer,
    ),
    ("meta_values_are_replaced", meta_values_are_replaced),
    (
        "leases_are_replaced_and_deleted_to_the_millisecond",
        leases_are_replaced_and_deleted_to_the_millisecond,
    ),
    (
        "identities_are_found_by_handle_any_case_and_email",
        identities_are_found_by_handle_any_case_and_email,
    ),
    (
        "an_identity_keeps_its_history_in_order",
        an_identity_keeps_its_history_in_order,
    ),
    ("challenges_are_taken_once", challenges_are_taken_once),
    (
        "sessions_end_by_identity_and_by_credential",
        sessions_end_by_identity_and_by_credential,
    ),
    (
        "expired_operational_records_are_purged",
        expired_operational_records_are_purged,
    ),
    (
        "requests_are_found_by_party_state_and_expiry",
        requests_are_found_by_party_state_and_expiry,
    ),
    (
        "receipts_answer_resubmissions",
        receipts_answer_resubmissions,
    ),
    (
        "deliveries_get_ids_and_wait_behind_their_ordering_key",
        deliveries_get_ids_and_wait_behind_their_ordering_key,
    ),
    (
        "entry_terms_find_the_entries_about_a_request",
        entry_terms_find_the_entries_about_a_request,
    ),
    (
        "openings_are_erased_and_the_erasure_is_recorded",
        openings_are_erased_and_the_erasure_is_recorded,
    ),
    (
        "state_rows_show_what_was_stored",
        state_rows_show_what_was_stored,
    ),
];

/// Run every case against `backend`.
pub fn run_all(backend: &dyn Backend) {
    for (name, case) in CASES {
        eprintln!("conformance: {name}");
        case(backend);
    }
}

/// One `#[test]` per conformance case, against the backend `$backend`
/// (an expression implementing [`Backend`]).
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@cases $backend;
            an_empty_store_has_no_log,
            entries_and_hashes_read_back_as_written,
            an_entry_goes_only_at_the_end_of_the_log,
            one_checkpoint_per_size_and_the_latest_is_the_largest,
            a_dropped_write_leaves_nothing_behind,
            a_committed_write_survives_reopening,
            readers_see_a_write_whole_or_not_at_all,
            concurrent_writers_extend_the_log_without_gaps,
            a_reader_does_not_wait_for_a_writer,
            meta_values_are_replaced,
            leases_are_replaced_and_deleted_to_the_millisecond,
            identities_are_found_by_handle_any_case_and_email,
            an_identity_keeps_its_history_in_order,
            challenges_are_taken_once,
            sessions_end_by_identity_and_by_credential,
            expired_operational_records_are_purged,
            requests_are_found_by_party_state_and_expiry,
            receipts_answer_resubmissions,
            deliveries_get_ids_and_wait_behind_their_ordering_key,
            entry_terms_find_the_entries_about_a_request,
            openings_are_erased_and_the_erasure_is_recorded,
            state_rows_show_what_was_stored,
        );
    };
    (@cases $backend:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::$case(&$backend);
            }
        )*
        #[test]
        fn every_conformance_case_is_run() {
            let listed: &[&str] = &[$(stringify!($case)),*];
            let all: Vec<&str> = $crate::conformance::CASES.iter().map(|(n, _)| *n).collect();
            assert_eq!(listed, all.as_slice(), "the macro and CASES disagree");
        }
    };
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// Fixtures, also for a backend's own tests.

/// RFC 6962 Merkle tree hash of the leaves, computed afresh.
pub fn root_of_leaves(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => countersign_tlog::empty_root(),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            countersign_tlog::node_hash(
                &root_of_leaves(&leaves[..k]),
                &root_of_leaves(&leaves[k..]),
            )
        }
    }
}

/// A fixed time `seconds` after a moment in 2027.
pub fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
}

/// Append `bytes` at the end of the log with the hashes it completes, as
/// the ledger does; answers its index.
pub fn try_append(tx: &mut dyn WriteTx, bytes: &[u8], terms: &EntryTerms) -> crate::Result<u64> {
    let index = tx.tree_size()?;
    let leaf = countersign_tlog::leaf_hash(bytes);
    let hashes = countersign_tlog::hashes_to_store(index, leaf, &Hashes(&*tx))
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    tx.append_entry(index, bytes, terms, &hashes)?;
    Ok(index)
}

/// [`try_append`], which must succeed.
pub fn append(tx: &mut dyn WriteTx, bytes: &[u8], terms: &EntryTerms) -> u64 {
    try_append(tx, bytes, terms).unwrap()
}

/// Search terms of kind `k` alone.
pub fn kind(k: &str) -> EntryTerms {
    EntryTerms {
        kind: k.to_string(),
        ..EntryTerms::default()
    }
}

/// A person `handle` (display name `<handle> person`) created at `now`.
pub fn person(handle: &str, email: Option<&str>, now: OffsetDateTime) -> Identity {
    let input = CreateIdentity {
        handle: handle.to_string(),
        kind: IdentityKind::Human,
        display_name: Some(format!("{handle} person")),
        email: email.map(str::to_string),
        owner: None,
        shared: false,
        groups: Vec::new(),
        roles: Vec::new(),
        manager: None,
    };
    identity::create_identity(&input, format!("idn_{handle}"), None, None, now).unwrap()
}

fn document(name: &str, now: OffsetDateTime) -> DocumentVersion {
    DocumentVersion {
        document: name.to_string(),
        version: 1,
        sha256: format!("{:0>64}", hex_of(name.as_bytes())),
        size: Some(name.len() as u64),
        media_type: Some("text/plain".into()),
        content_stored: true,
        registered_by: Some("ana".into()),
        registered_at: now,
        log_index: 0,
    }
}

/// A pending request from `requester` for `beneficiary`, to be signed by
/// `approvers`, expiring `expires_in` seconds after `now`.
fn request(
    id: &str,
    requester: &Identity,
    beneficiary: &Identity,
    approvers: &[&Identity],
    expires_in: u64,
    now: OffsetDateTime,
) -> Request {
    let input: CreateRequest = serde_json::from_value(serde_json::json!({
        "event_kind": "role_change",
        "purpose": "conformance",
        "impact": "low",
        "documents": [{ "document": "memo", "version": 1 }],
        "action": {
            "system": "github",
            "subject": beneficiary.handle,
            "operation": "grant",
            "entitlement": "org/acme/team/eng",
        },
        "requester": requester.handle,
        "beneficiary": beneficiary.handle,
        "approvers": approvers.iter().map(|a| a.handle.clone()).collect::<Vec<_>>(),
        "expires_in_seconds": expires_in,
    }))
    .unwrap();
    let people: Vec<Identity> = [requester, beneficiary]
        .into_iter()
        .chain(approvers.iter().copied())
        .cloned()
        .collect();
    let lookup = |h: &str| people.iter().find(|p| p.handle == h).cloned();
    let facts = countersign_domain::request::RequestFacts {
        documents: vec![Some(document("memo", now))],
        identity: &lookup,
    };
    countersign_domain::request::create_request(
        &input,
        id.to_string(),
        &facts,
        &countersign_domain::Limits::default(),
        0,
        now,
    )
    .unwrap()
}

// ------------------------------------------------------------------ the log

pub fn an_empty_store_has_no_log(b: &dyn Backend) {
    let f = b.fresh();
    let tx = f.store.read().unwrap();
    assert_eq!(tx.tree_size().unwrap(), 0);
    assert_eq!(tx.latest_checkpoint().unwrap(), None);
    assert!(tx.checkpoints().unwrap().is_empty());
    assert!(tx.entries(0, 10).unwrap().is_empty());
    assert_eq!(tx.entry(0).unwrap(), None);
    assert_eq!(tx.meta("anything").unwrap(), None);
    assert_eq!(tx.subtree_hash(0, 0).unwrap(), None);
}

pub fn entries_and_hashes_read_back_as_written(b: &dyn Backend) {
    let f = b.fresh();
    let leaves: Vec<Vec<u8>> = (0..7)
        .map(|i| format!("{{\"entry\":{i}}}").into_bytes())
        .collect();
    let mut tx = f.store.write().unwrap();
    for (i, l) in leaves.iter().enumerate() {
        assert_eq!(append(&mut *tx, l, &kind("x")), i as u64);
    }
    tx.commit().unwrap();
    let tx = f.store.read().unwrap();
    assert_eq!(tx.tree_size().unwrap(), 7);
    assert_eq!(tx.entry(3).unwrap().as_deref(), Some(leaves[3].as_slice()));
    assert_eq!(tx.entry(7).unwrap(), None);
    let got = tx.entries(2, 3).unwrap();
    assert_eq!(
        got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert_eq!(got[1].1, leaves[3]);
    assert_eq!(
        tx.entries(5, 100).unwrap().len(),
        2,
        "a range past the end stops at the end"
    );
    assert_eq!(tx.entries(u64::MAX - 1, 10).unwrap().len(), 0);
    // Many entries at once, in the order asked, with the missing ones.
    assert_eq!(
        tx.entries_at(&[3, 9, 0, 3, u64::MAX]).unwrap(),
        vec![
            Some(leaves[3].clone()),
            None,
            Some(leaves[0].clone()),
            Some(leaves[3].clone()),
            None
        ]
    );
    // The stored hashes give the same root as hashing the leaves afresh.
    let leaf_hashes: Vec<Hash> = leaves
        .iter()
        .map(|l| countersign_tlog::leaf_hash(l))
        .collect();
    let expected = root_of_leaves(&leaf_hashes);
    assert_eq!(
        countersign_tlog::tree_hash(7, &Hashes(&*tx)).unwrap(),
        expected
    );
    assert_eq!(tx.subtree_hash(0, 6).unwrap(), Some(leaf_hashes[6]));
    assert!(
        tx.subtree_hash(2, 0).unwrap().is_some(),
        "the complete subtree of 4 is stored"
    );
    assert_eq!(tx.subtree_hash(3, 0).unwrap(), None, "no subtree of 8 yet");
    // Many at once: in the order asked, missing ones `None`, repeats answered.
    let wanted = [(2, 0), (0, 6), (3, 0), (0, 6), (1, 2), (9, 9)];
    let one_by_one: Vec<Option<Hash>> = wanted
        .iter()
        .map(|&(l, i)| tx.subtree_hash(l, i).unwrap())
        .collect();
    assert_eq!(tx.subtree_hashes(&wanted).unwrap(), one_by_one);
    assert_eq!(tx.subtree_hashes(&[]).unwrap(), Vec::<Option<Hash>>::new());
}

pub fn an_entry_goes_only_at_the_end_of_the_log(b: &dyn Backend) {
    let f = b.fresh();
    let mut tx = f.store.write().unwrap();
    append(&mut *tx, b"zero", &kind("x"));
    let leaf = countersign_tlog::leaf_hash(b"gap");
    let gap = tx.append_entry(2, b"gap", &kind("x"), &[(0, 2, leaf)]);
    assert!(gap.is_err(), "an entry after a gap was stored");
    let again = tx.append_entry(0, b"again", &kind("x"), &[(0, 0, leaf)]);
    assert!(again.is_err(), "an index was written twice");
    drop(tx);
    assert_eq!(f.store.read().unwrap().tree_size().unwrap(), 0);
}

pub fn one_checkpoint_per_size_and_the_latest_is_the_largest(b: &dyn Backend) {
    let f = b.fresh();
    let mut tx = f.store.write().unwrap();
    tx.put_checkpoint(1, "note one\n").unwrap();
    tx.put_checkpoint(3, "note three\n").unwrap();
    tx.commit().unwrap();
    let tx = f.store.read().unwrap();
    assert_eq!(
        tx.latest_checkpoint().unwrap(),
        Some((3, "note three\n".into()))
    );
    assert_eq!(tx.checkpoint(1).unwrap().as_deref(), Some("note one\n"));
    assert_eq!(tx.checkpoint(2).unwrap(), None);
    assert_eq!(
        tx.checkpoints().unwrap(),
        vec![(1, "note one\n".into()), (3, "note three\n".into())]
    );
    drop(tx);
    let mut tx = f.store.write().unwrap();
    assert!(
        tx.put_checkpoint(3, "another note three\n").is_err(),
        "a second checkpoint for one size is a fork and must be refused"
    );
}

// ------------------------------------------------------------ transactions

pub fn a_dropped_write_leaves_nothing_behind(b: &dyn Backend) {
    let f = b.fresh();
    let now = at(0);
    let mut tx = f.store.write().unwrap();
    append(&mut *tx, b"lost", &kind("x"));
    tx.set_meta("k", "v").unwrap();
    tx.put_identity(&person("ana", None, now), None, 0).unwrap();
    tx.put_checkpoint(1, "note\n").unwrap();
    drop(tx);
    let tx = f.store.read().unwrap();
    assert_eq!(tx.tree_size().unwrap(), 0);
    assert_eq!(tx.meta("k").unwrap(), None);
    assert_eq!(tx.identity("ana").unwrap(), None);
    assert_eq!(tx.latest_checkpoint().unwrap(), None);
    drop(tx);
    // And the next writer starts from the committed state.
    let mut tx = f.store.write().unwrap();
    assert_eq!(append(&mut *tx, b"kept", &kind("x")), 0);
    tx.commit().unwrap();
}

pub fn a_committed_write_survives_reopening(b: &dyn Backend) {
    let f = b.fresh();
    let now = at(0);
    let mut tx = f.store.write().unwrap();
    append(&mut *tx, b"kept", &kind("x"));
    tx.put_checkpoint(1, "note\n").unwrap();
    tx.put_identity(&person("ana", Some("ana@example.com"), now), None, 0)
        .unwrap();
    tx.set_meta("k", "v").unwrap();
    tx.commit().unwrap();
    let store = (f.reopen)(f.store);
    let tx = store.read().unwrap();
    assert_eq!(tx.tree_size().unwrap(), 1);
    assert_eq!(tx.entry(0).unwrap().as_deref(), Some(b"kept".as_slice()));
    assert_eq!(tx.latest_checkpoint().unwrap(), Some((1, "note\n".into())));
    assert_eq!(
        tx.identity("ana").unwrap().unwrap().email.as_deref(),
        Some("ana@example.com")
    );
    assert_eq!(tx.meta("k").unwrap().as_deref(), Some("v"));
}

pub fn readers_see_a_write_whole_or_not_at_all(b: &dyn Backend) {
    let f = b.fresh();
    let store = f.store.clone();
    let started = Arc::new(Barrier::new(2));
    let writer = {
        let store = store.clone();
        let started = started.clone();
        std::thread::spawn(move || {
            let mut tx = store.write().unwrap();
            append(&mut *tx, b"one", &kind("x"));
            started.wait();
            std::thread::sleep(Duration::from_millis(100));
            append(&mut *tx, b"two", &kind("x"));
            tx.put_checkpoint(2, "note\n").unwrap();
            tx.commit().unwrap();
        })
    };
    started.wait();
    let seen = {
        let tx = store.read().unwrap();
        let size = tx.tree_size().unwrap();
        let checkpoint = tx.latest_checkpoint().unwrap().map(|(s, _)| s);
        (size, checkpoint)
    };
    writer.join().unwrap();
    assert!(
        seen == (0, None) || seen == (2, Some(2)),
        "a reader saw a write in progress: {seen:?}"
    );
    assert_eq!(store.read().unwrap().tree_size().unwrap(), 2);
}

pub fn concurrent_writers_extend_the_log_without_gaps(b: &dyn Backend) {
    let f = b.fresh();
    let writers = 4;
    let each = 10;
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let store = f.store.clone();
            std::thread::spawn(move || {
                for n in 0..each {
                    let bytes = format!("writer {w} entry {n}").into_bytes();
                    // A conflict means another writer moved the head first:
                    // the whole transaction runs again.
                    loop {
                        let result = (|| -> crate::Result<()> {
                            let mut tx = store.write()?;
                            let index = try_append(&mut *tx, &bytes, &kind("x"))?;
                            tx.put_checkpoint(index + 1, &format!("note {}\n", index + 1))?;
                            tx.commit()
                        })();
                        match result {
                            Ok(()) => break,
                            Err(e) if e.is_retryable() => continue,
                            Err(e) => panic!("writer {w}: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let tx = f.store.read().unwrap();
    assert_one_gap_free_log(&*tx, (writers * each) as u64);
}

/// The log holds `total` distinct entries at indexes 0 to `total - 1`,
/// one checkpoint per entry, and its stored hashes give the root of
/// those entries hashed afresh: what concurrent writers must leave.
pub fn assert_one_gap_free_log(tx: &dyn crate::ReadTx, total: u64) {
    assert_eq!(tx.tree_size().unwrap(), total);
    let entries = tx.entries(0, total + 5).unwrap();
    assert_eq!(entries.len() as u64, total);
    for (i, (index, _)) in entries.iter().enumerate() {
        assert_eq!(*index, i as u64, "a gap or a duplicate index");
    }
    let mut distinct: Vec<&Vec<u8>> = entries.iter().map(|(_, b)| b).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len() as u64, total, "an entry was overwritten");
    assert_eq!(tx.checkpoints().unwrap().len() as u64, total);
    let leaves: Vec<Hash> = entries
        .iter()
        .map(|(_, b)| countersign_tlog::leaf_hash(b))
        .collect();
    assert_eq!(
        countersign_tlog::tree_hash(total, &Hashes(tx)).unwrap(),
        root_of_leaves(&leaves)
    );
}

pub fn a_reader_does_not_wait_for_a_writer(b: &dyn Backend) {
    let f = b.fresh();
    let mut tx = f.store.write().unwrap();
    append(&mut *tx, b"first", &kind("x"));
    tx.commit().unwrap();
    let store = f.store.clone();
    let (holding, held) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let mut tx = store.write().unwrap();
        append(&mut *tx, b"second", &kind("x"));
        holding.send(()).unwrap();
        released.recv().unwrap();
        tx.commit().unwrap();
    });
    held.recv().unwrap();
    // The writer holds its transaction until the read is done: a read that
    // waited for it would never finish.
    let store = f.store.clone();
    let (answer, answered) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let tx = store.read().unwrap();
        answer.send(tx.tree_size().unwrap()).unwrap();
    });
    let seen = answered.recv_timeout(Duration::from_secs(10));
    release.send(()).unwrap();
    writer.join().unwrap();
    assert_eq!(
        seen,
        Ok(1),
        "a reader waited for the writer, or saw its uncommitted entry"
    );
    assert_eq!(f.store.read().unwrap().tree_size().unwrap(), 2);
}

// ------------------------------------------------------------------ records

pub fn meta_values_are_replaced(b: &dyn Backend) {
    let f = b.fresh();
    let mut tx = f.store.write().unwrap();
    tx.set_meta("k", "one").unwrap();
    tx.set_meta("k", "two").unwrap();
    tx.commit().unwrap();
    assert_eq!(
        f.store.read().unwrap().meta("k").unwrap().as_deref(),
        Some("two")
    );
}

pub fn leases_are_replaced_and_deleted_to_the_millisecond(b: &dyn Backend) {
    let f = b.fresh();
    let until = at(100) + time::Duration::milliseconds(250);
    let mut tx = f.store.write().unwrap();
    assert_eq!(tx.lease("leader").unwrap(), None);
    tx.put_lease(&Lease {
        name: "leader".into(),
        holder: "a".into(),
        until,
    })
    .unwrap();
    tx.put_lease(&Lease {
        name: "delivery:1".into(),
        holder: "a".into(),
        until,
    })
    .unwrap();
    tx.commit().unwrap();
    let mut tx = f.store.write().unwrap();
    let held = tx.lease("leader").unwrap().unwrap();
    assert_eq!((held.holder.as_str(), held.until), ("a", until));
    tx.put_lease(&Lease {
        name: "leader".into(),
        holder: "b".into(),
        until: until + time::Duration::seconds(5),
    })
    .unwrap();
    tx.delete_lease("delivery:1").unwrap();
    tx.commit().unwrap();
    let tx = f.store.read().unwrap();
    assert_eq!(tx.lease("leader").unwrap().unwrap().holder, "b");
    assert_eq!(
        tx.lease("delivery:1").unwrap(),
        None,
        "a deleted lease is gone"
    );
}

pub fn identities_are_found_by_handle_any_case_and_email(b: &dyn Backend) {
    let f = b.fresh();
    let now = at(0);
    let mut tx = f.store.write().unwrap();
    tx.put_identity(&person("ana", Some("Ana@Example.com"), now), None, 0)
        .unwrap();
    tx.put_identity(&person("bo", Some("ana@example.COM"), at(1)), None, 1)
        .unwrap();
    tx.put_identity(&person("cy", None, at(2)), None, 2)
        .unwrap();
    tx.commit().unwrap();
    let tx = f.store.read().unwrap();
    assert_eq!(tx.identity("ana").unwrap().unwrap().handle, "ana");
    assert_eq!(tx.identity("ANA").unwrap(), None, "handles are exact");
    assert_eq!(tx.identity_any_case("ANA").unwrap().unwrap().handle, "ana");
    let by_email: Vec<String> = tx
        .identities_by_email("ANA@example.com")
        .unwrap()
        .into_iter()
        .map(|i| i.handle)
        .collect();
    assert_eq!(
        by_email,
        vec!["ana", "bo"],
        "case-insensitive, oldest first"
    );
    assert_eq!(tx.identities(&IdentityFilter::default()).unwrap().len(), 3);
    let suspended = IdentityFilter {
        status: Some(IdentityStatus::Suspended),
        ..IdentityFilter::default()
    };
    assert!(tx.identities(&suspended).unwrap().is_empty());
}

pub fn an_identity_keeps_its_history_in_order(b: &dyn Backend) {
    let f = b.fresh();
    let first = person("ana", None, at(0));
    let mut second = first.clone();
    second.display_name = "Ana Renamed".into();
    second.revision += 1;
    second.updated_at = at(10);
    let mut tx = f.store.write().unwrap();
    tx.put_identity(&first, None, 0).unwrap();
    tx.put_identity(&second, Some("renamed"), 5).unwrap();
    tx.commit().unwrap();
    let tx = f.store.read().unwrap();
    assert_eq!(
        tx.identity("ana").unwrap().unwrap().display_name,
        "Ana Renamed"
    );
    let history = tx.identity_history("ana").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].identity.display_name, "ana person");
    assert_eq!(history[0].log_index, 0);
    assert_eq!(history[1].log_index, 5);
    assert_eq!(history[1].reason.as_deref(), Some("renamed"));
    assert!(tx.identity_history("nobody").unwrap().is_empty());
}

pub fn challenges_are_taken_once(b: &dyn Backend) {
    let f = b.fresh();
    let mut tx = f.store.write().unwrap();
    tx.put_challenge(&Challenge {
        challenge: "c1".into(),
        identity: "ana".into(),
        expires_at: at(60),
    })
    .unwrap();
    tx.put_web_challenge(&WebChallenge {
        id: "w1".into(),
        purpose: "signing".into(),
        identity: Some("ana".into()),
        data: serde_json::json!({ "request": "req_1" }),
        expires_at: at(60),
    })
    .unwrap();
    tx.commit().unwrap();
    let mut tx = f.store.write().unwrap();
    assert_eq!(tx.challenge("c1").unwrap().unwrap().identity, "ana");
    assert!(tx.take_challenge("c1").unwrap());
    assert!(
        !tx.take_challenge("c1").unwrap(),
        "a challenge was taken twice"
    );
    let w = tx.take_web_challenge("w1").unwrap().unwrap();
    assert_eq!(w.data["request"], "req_1");
    assert_eq!(tx.take_web_challenge("w1").unwrap(), None);
    tx.commit().unwrap();
    assert_eq!(f.store.read().unwrap().web_challenge("w1").unwrap(), None);
}

fn session(
    id: &str,
    identity: &str,
    credential: Option<&str>,
    expires_at: OffsetDateTime,
) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        identity: identity.into(),
        csrf: format!("csrf-{id}"),
        method: "passkey".into(),
        credential: credential.map(str::to_string),
        aal: 2,
        auth_time: Some(at(0)),
        created_at: at(0),
        last_seen: at(0),
        expires_at,
        viewed: vec!["abc".into()],
    }
}

pub fn sessions_end_by_identity_and_by_credential(b: &dyn Backend) {
    let f = b.fresh();
    let mut tx = f.store.write().unwrap();
    tx.put_session(&session("s1", "ana", Some("k1"), at(3600)))
        .unwrap();
    tx.put_session(&session("s2", "ana", Some("k2"), at(3600)))
        .unwrap();
    tx.put_session(&session("s3", "bo", Some("k1"), at(3600)))
        .unwrap();
    tx.put_session(&session("s4", "cy", None, at(3600)))
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(
        f.store.read().unwrap().session("s1").unwrap(),
        Some(session("s1", "ana", Some("k1"), at(3600))),
        "a session reads back as written"
    );
    let mut tx = f.store.write().unwrap();
    assert_eq!(tx.delete_sessions_with("k1").unwrap(), 2);
    assert_eq!(tx.delete_sessions_of("ana").unwrap(), 1);
    tx.delete_session("s4").unwrap();
    tx.commit().unwrap();
    let tx = f.store.read().unwrap();
    for s in ["s1", "s2", "s3", "s4"] {
        assert_eq!(tx.session(s).unwrap(), None, "{s} outlived its end");
    }
}

pub fn expired_operational_records_are_purged(b: &dyn Backend) {
    let f = b.fresh();
    let mut tx = f.store.write().unwrap();
    tx.put_session(&session("old", "ana", None, at(10)))
        .unwrap();
    tx.put_session(&session("live", "ana", None, at(1000)))
        .unwrap();
    tx.put_web_challenge(&WebChallenge {
        id: "w-old".into(),
        purpose: "sign_in".into(),
        identity: None,
        data: serde_json::json!({}),
        expires_at: at(10),
    })
    .unwrap();
    tx.commit().unwrap();
    let mut tx = f.store.write().unwrap();
    assert!(tx.purge_expired(at(100)).unwrap() >= 2);
    tx.commit().unwrap();
    let tx = f.store.read().unwrap();
    assert_eq!(tx.session("old").unwrap(), None);
    assert!(tx.session("live").unwrap().is_some());
    assert_eq!(tx.web_challenge("w-old").unwrap(), None);
}

pub fn requests_are_found_by_party_state_and_expiry(b: &dyn Backend) {
    let f = b.fresh();
    let now = at(0);
    let (ana, bo, cy, di) = (
        person("ana", None, now),
        person("bo", None, now),
        person("cy", None, now),
        person("di", None, now),
    );
    let soon = request("req_1", &ana, &bo, &[&cy], 60, now);
    let later = request("req_2", &ana, &di, &[&cy, &di], 3600, at(1));
    let mut tx = f.store.write().unwrap();
    for p in [&ana, &bo, &cy, &di] {
        tx.put_identity(p, None, 0).unwrap();
    }
    tx.put_document_version(&document("memo", now), Some(b"memo"))
        .unwrap();
    tx.put_request(&soon).unwrap();
    tx.put_request(&later).unwrap();
    tx.commit().unwrap();
    let tx = f.store.read().unwrap();
    assert_eq!(tx.request("req_1").unwrap().as_ref(), Some(&soon));
    assert_eq!(
        tx.blob(&document("memo", now).sha256).unwrap().as_deref(),
        Some(b"memo".as_slice())
    );
    let by_approver = |who: &str| {
        tx.requests(&RequestFilter {
            approver: Some(who.into()),
            ..RequestFilter::default()
        })
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect::<Vec<_>>()
    };
    let mut cy_signs = by_approver("cy");
    cy_signs.sort();
    assert_eq!(cy_signs, vec!["req_1", "req_2"]);
    assert_eq!(by_approver("di"), vec!["req_2"]);
    assert!(by_approver("ana").is_empty());
    assert_eq!(tx.expired_pending(at(59)).unwrap(), Vec::<String>::new());
    assert_eq!(
        tx.expired_pending(at(60)).unwrap(),
        vec!["req_1".to_string()]
    );
    let with_action: Vec<String> = tx
        .requests_with_action(RequestState::Pending)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(with_action, vec!["req_1", "req_2"], "oldest first");
    let about: Vec<String> = tx
        .requests_about_action("di", "github", "org/acme/team/eng")
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        about,
        vec!["req_1", "req_2"],
        "by subject, or by system and entitlement"
    );
    assert!(tx
        .requests_about_action("zed", "gitlab", "none")
        .unwrap()
        .is_empty());
}

pub fn receipts_answer_resubmissions(b: &dyn Backend) {
    let f = b.fresh();
    let receipt = StoredReceipt {
        request: "req_1".into(),
        log_index: 4,
        receipt: "c2sp.org/tlog-proof@v1\n…".into(),
    };
    let mut tx = f.store.write().unwrap();
    tx.put_receipt("digest-1", &receipt).unwrap();
    tx.commit().unwrap();
    let tx = f.store.read().unwrap();
    assert_eq!(tx.receipt_for_envelope("digest-1").unwrap(), Some(receipt));
    assert_eq!(tx.receipt_for_envelope("digest-2").unwrap(), None);
}

/// An enabled webhook endpoint subscribed to `events` (all if none).
pub fn endpoint(id: &str, events: &[&str]) -> WebhookRecord {
    WebhookRecord {
        endpoint: WebhookEndpoint {
            id: id.into(),
            url: format!("https://hooks.example.com/{id}"),
            events: events.iter().map(|e| e.to_string()).collect(),
            enabled: true,
            disabled_reason: None,
            public_keys: vec!["whpk_x".into()],
            secrets: 1,
            consecutive_failures: 0,
            created_at: at(0),
            log_index: 0,
        },
        secrets: vec![WebhookSecret {
            hmac: "whsec_x".into(),
            signing_key: "whsk_x".into(),
            public_key: "whpk_x".into(),
            created_at: at(0),
            retire_at: None,
        }],
    }
}

/// A pending delivery of `event` to `endpoint`, ordered by `key`.
pub fn delivery(endpoint: &str, event: &str, key: &str) -> DeliveryRecord {
    DeliveryRecord {
        id: 0,
        endpoint: endpoint.into(),
        event_id: event.into(),
        event_type: "dev.countersign.request.approved".into(),
        ordering_key: key.into(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt_at: Some(at(0)),
        last_status: None,
        last_error: None,
        created_at: at(0),
        updated_at: at(0),
    }
}

pub fn deliveries_get_ids_and_wait_behind_their_ordering_key(b: &dyn Backend) {
    let f = b.fresh();
    let mut tx = f.store.write().unwrap();
    tx.put_webhook(&endpoint("wh_1", &[])).unwrap();
    for (id, key) in [("evt_1", "req_1"), ("evt_2", "req_1"), ("evt_3", "req_2")] {
        tx.put_outbox_event(&OutboxEvent {
            id: id.into(),
            event_type: "dev.countersign.request.approved".into(),
            ordering_key: key.into(),
            body: format!("{{\"id\":\"{id}\"}}"),
            created_at: at(0),
        })
        .unwrap();
    }
    let first = tx
        .put_delivery(&delivery("wh_1", "evt_1", "req_1"))
        .unwrap();
    let second = tx
        .put_delivery(&delivery("wh_1", "evt_2", "req_1"))
        .unwrap();
    let third = tx
        .put_delivery(&delivery("wh_1", "evt_3", "req_2"))
        .unwrap();
    assert!(
        first < second && second < third,
        "delivery ids grow: {first} {second} {third}"
    );
    tx.commit().unwrap();

    let due = |now| -> Vec<u64> {
        f.store
            .read()
            .unwrap()
            .due_deliveries(now, 10)
            .unwrap()
            .into_iter()
            .map(|d| d.delivery.id)
            .collect()
    };
    assert_eq!(due(at(1)), vec![first, third], "evt_2 waits behind evt_1");
    let one = f
        .store
        .read()
        .unwrap()
        .due_deliveries(at(1), 10)
        .unwrap()
        .remove(0);
    assert_eq!(one.url, "https://hooks.example.com/wh_1");
    assert_eq!(one.body, "{\"id\":\"evt_1\"}");
    assert_eq!(one.secrets.len(), 1);

    let mut tx = f.store.write().unwrap();
    let mut done = tx.delivery(first).unwrap().unwrap();
    done.state = DeliveryState::Delivered;
    done.attempts = 1;
    done.next_attempt_at = None;
    assert_eq!(
        tx.put_delivery(&done).unwrap(),
        first,
        "an update keeps the id"
    );
    tx.commit().unwrap();
    assert_eq!(due(at(1)), vec![second, third]);
    assert_eq!(
        due(at(-1)),
        Vec::<u64>::new(),
        "nothing is due before its time"
    );
}

pub fn entry_terms_find_the_entries_about_a_request(b: &dyn Backend) {
    let f = b.fresh();
    let terms =
        |k: &str, request: Option<&str>, identity: Option<&str>, key: Option<&str>| EntryTerms {
            kind: k.into(),
            request: request.map(str::to_string),
            identity: identity.map(str::to_string),
            key_id: key.map(str::to_string),
        };
    let mut tx = f.store.write().unwrap();
    append(&mut *tx, b"0", &terms("log.created", None, None, None));
    append(
        &mut *tx,
        b"1",
        &terms("identity.created", None, Some("ana"), None),
    );
    append(
        &mut *tx,
        b"2",
        &terms("credential.enrolled", None, Some("ana"), Some("k1")),
    );
    append(
        &mut *tx,
        b"3",
        &terms("request.created", Some("req_1"), None, None),
    );
    append(
        &mut *tx,
        b"4",
        &terms("signature.accepted", Some("req_1"), Some("ana"), Some("k1")),
    );
    append(
        &mut *tx,
        b"5",
        &terms("request.created", Some("req_2"), None, None),
    );
    append(&mut *tx, b"6", &terms("policy.activated", None, None, None));
    append(
        &mut *tx,
        b"7",
        &terms("signature.accepted", Some("req_1"), Some("ana"), Some("k1")),
    );
    tx.commit().unwrap();
    let tx = f.store.read().unwrap();
    let about = tx
        .entry_indexes_about("req_1", &["ana".to_string()], &["k1".to_string()])
        .unwrap();
    assert_eq!(about, vec![1, 2, 3, 4, 6, 7]);
    assert_eq!(
        tx.latest_entry_about("signature.accepted", "req_1", "ana")
            .unwrap(),
        Some((7, b"7".to_vec()))
    );
    assert_eq!(
        tx.latest_entry_about("signature.accepted", "req_2", "ana")
            .unwrap(),
        None
    );
}

pub fn openings_are_erased_and_the_erasure_is_recorded(b: &dyn Backend) {
    let f = b.fresh();
    let opening = StoredOpening {
        commitment: "commitment:sha256:aa".into(),
        opening: Some(Opening {
            salt: "c2FsdA==".into(),
            value: "ana@example.com".into(),
        }),
        log_index: 1,
        path: "identity.email".into(),
        subject: Some("ana".into()),
        request: None,
        class: RetentionClass::Identity,
        at: at(0),
        erased_by: None,
    };
    let mut tx = f.store.write().unwrap();
    tx.put_opening(&opening).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        f.store
            .read()
            .unwrap()
            .opening(&opening.commitment)
            .unwrap(),
        Some(opening.clone())
    );
    let mut tx = f.store.write().unwrap();
    tx.erase_opening(&opening.commitment, 9).unwrap();
    tx.commit().unwrap();
    let tx = f.store.read().unwrap();
    let erased = tx.opening(&opening.commitment).unwrap().unwrap();
    assert_eq!(erased.opening, None, "the salt and value are gone");
    assert_eq!(erased.erased_by, Some(9));
    assert_eq!(tx.openings_of("ana").unwrap().len(), 1);
    assert!(tx.openings_of("bo").unwrap().is_empty());
    // Many at once: those held, whatever else is asked.
    let many = tx
        .openings(&["commitment:sha256:none".into(), opening.commitment.clone()])
        .unwrap();
    assert_eq!(many, vec![erased]);
    assert!(tx.openings(&[]).unwrap().is_empty());
}

pub fn state_rows_show_what_was_stored(b: &dyn Backend) {
    let f = b.fresh();
    let now = at(0);
    let ana = person("ana", None, now);
    let mut tx = f.store.write().unwrap();
    append(
        &mut *tx,
        b"0",
        &EntryTerms {
            kind: "identity.created".into(),
            identity: Some("ana".into()),
            ..EntryTerms::default()
        },
    );
    tx.put_identity(&ana, None, 0).unwrap();
    tx.put_receipt(
        "d1",
        &StoredReceipt {
            request: "req_1".into(),
            log_index: 0,
            receipt: "r".into(),
        },
    )
    .unwrap();
    tx.commit().unwrap();
    let rows = f.store.read().unwrap().state_rows().unwrap();
    assert_eq!(rows.identities.len(), 1);
    assert_eq!(rows.identities[0].0, "ana");
    assert_eq!(rows.identities[0].2, "active");
    let body: Identity = serde_json::from_str(&rows.identities[0].3).unwrap();
    assert_eq!(body, ana);
    assert_eq!(rows.receipts.len(), 1);
    assert_eq!(rows.entry_terms.len(), 1);
    assert_eq!(rows.entry_terms[0].1.identity.as_deref(), Some("ana"));
    assert_eq!(rows.tree_hashes.len(), 1);
}
