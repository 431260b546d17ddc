//! The store crate's conformance suite on a fresh PostgreSQL database per
//! case; every method held to the SQLite backend's answers
//! (`differential`); and what is particular to PostgreSQL: migrations,
//! several stores (processes) on one database, a writer that skipped the
//! lock, aborted transactions, connections the server closed, a store
//! dropped inside async code.
//!
//! Every test needs a server, named by `COUNTERSIGN_TEST_POSTGRES`. Where
//! it is unset, a test says so on stderr and passes, except under CI
//! (`CI` set), where an unset server fails every test: a check skipped in
//! CI is a defect.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use countersign_store::conformance::{assert_one_gap_free_log, kind, try_append, Backend, Fresh};
use countersign_store::{Store, StoreError, WriteTx};

use crate::schema::MIGRATIONS;
use crate::testkit::{server_for, TestDatabase};
use crate::PostgresStore;

/// The test server, or `None` (after saying so) when there is none to use.
fn server() -> Option<String> {
    server_for("the PostgreSQL backend's tests")
}

fn database() -> Option<TestDatabase> {
    server().map(|s| TestDatabase::create(&s))
}

struct Postgres {
    server: String,
}

impl Backend for Postgres {
    fn fresh(&self) -> Fresh {
        let db = TestDatabase::create(&self.server);
        let store = Arc::new(PostgresStore::open(&db.url).unwrap());
        Fresh {
            store,
            // The database lives as long as the closure, which the suite
            // drops after the store.
            reopen: Box::new(move |old| {
                drop(old);
                Arc::new(PostgresStore::open(&db.url).unwrap())
            }),
        }
    }
}

mod differential;

mod conformance {
    use super::{server, Postgres};

    // The backend expression is evaluated in each generated test: without
    // a server it returns from the test before the case runs. The macro's
    // own `every_conformance_case_is_run` keeps its list equal to CASES.
    countersign_store::conformance_tests!({
        match server() {
            Some(server) => Postgres { server },
            None => return,
        }
    });
}

fn open(db: &TestDatabase) -> PostgresStore {
    PostgresStore::open(&db.url).unwrap()
}

/// Append `bytes` (of kind `x`) at the end of the log with the hashes it completes.
fn append(tx: &mut dyn WriteTx, bytes: &[u8]) -> countersign_store::Result<u64> {
    try_append(tx, bytes, &kind("x"))
}

#[test]
fn the_begin_statement_takes_the_documented_lock() {
    assert!(
        crate::BEGIN_WRITE.ends_with(&format!("pg_advisory_xact_lock({})", crate::LOG_LOCK_KEY))
    );
}

#[test]
fn a_schema_newer_than_this_build_is_refused() {
    let Some(db) = database() else { return };
    drop(open(&db));
    let newer = i64::try_from(MIGRATIONS.len()).unwrap() + 1;
    db.connect()
        .execute(
            "INSERT INTO countersign_schema (version) VALUES ($1)",
            &[&newer],
        )
        .unwrap();
    match PostgresStore::open(&db.url).err() {
        Some(StoreError::Setup(m)) => assert!(m.contains("newer"), "{m}"),
        Some(e) => panic!("a newer schema was refused with the wrong error: {e}"),
        None => panic!("a database with a newer schema was opened"),
    }
}

#[test]
fn reopening_a_migrated_database_applies_nothing_twice() {
    let Some(db) = database() else { return };
    let first = open(&db);
    let mut tx = first.write().unwrap();
    tx.set_meta("k", "v").unwrap();
    append(&mut *tx, b"zero").unwrap();
    tx.commit().unwrap();
    // A second process opening while the first runs, then a restart.
    let second = open(&db);
    drop(first);
    drop(second);
    let third = open(&db);
    let mut conn = crate::Conn::connect(&third.config).unwrap();
    assert_eq!(crate::schema::migrate(&mut conn).unwrap(), 0);
    let versions: Vec<i64> = db
        .connect()
        .query(
            "SELECT version FROM countersign_schema ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<i64> = (1..=i64::try_from(MIGRATIONS.len()).unwrap()).collect();
    assert_eq!(versions, expected);
    let tx = third.read().unwrap();
    assert_eq!(tx.meta("k").unwrap().as_deref(), Some("v"));
    assert_eq!(tx.tree_size().unwrap(), 1);
}

#[test]
fn stores_of_several_processes_extend_one_log_without_gaps() {
    let Some(db) = database() else { return };
    // Two stores on one database are what two processes are: their own
    // writer connections and mutexes, only the advisory lock in common.
    let stores = [Arc::new(open(&db)), Arc::new(open(&db))];
    let retries = Arc::new(AtomicUsize::new(0));
    let (writers, each) = (4, 12);
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let store = stores[w % 2].clone();
            let retries = retries.clone();
            std::thread::spawn(move || {
                for n in 0..each {
                    let bytes = format!("writer {w} entry {n}").into_bytes();
                    loop {
                        let result = (|| -> countersign_store::Result<()> {
                            let mut tx = store.write()?;
                            let index = append(&mut *tx, &bytes)?;
                            tx.put_checkpoint(index + 1, &format!("note {}\n", index + 1))?;
                            tx.commit()
                        })();
                        match result {
                            Ok(()) => break,
                            Err(e) if e.is_retryable() => {
                                retries.fetch_add(1, Ordering::Relaxed);
                            }
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
    let reader = open(&db);
    assert_one_gap_free_log(&*reader.read().unwrap(), (writers * each) as u64);
    // Each writer saw the head the last one left: none had to retry.
    assert_eq!(retries.load(Ordering::Relaxed), 0, "a writer lost a race");
}

#[test]
fn a_transaction_with_a_failed_statement_does_not_commit() {
    let Some(db) = database() else { return };
    let store = open(&db);
    let mut tx = store.write().unwrap();
    tx.put_checkpoint(1, "one\n").unwrap();
    tx.commit().unwrap();
    let mut tx = store.write().unwrap();
    tx.set_meta("k", "lost").unwrap();
    let fork = tx.put_checkpoint(1, "another one\n");
    assert!(
        matches!(fork, Err(StoreError::Backend(_))),
        "a second checkpoint for a size: {fork:?}"
    );
    assert!(tx.commit().is_err(), "an aborted transaction committed");
    assert_eq!(store.read().unwrap().meta("k").unwrap(), None);
    // The writer's connection is usable again.
    let mut tx = store.write().unwrap();
    tx.set_meta("k", "kept").unwrap();
    tx.commit().unwrap();
    assert_eq!(
        store.read().unwrap().meta("k").unwrap().as_deref(),
        Some("kept")
    );
}

#[test]
fn connections_the_server_closed_are_replaced() {
    let Some(db) = database() else { return };
    let store = open(&db);
    let mut tx = store.write().unwrap();
    append(&mut *tx, b"zero").unwrap();
    tx.commit().unwrap();
    assert_eq!(store.read().unwrap().tree_size().unwrap(), 1);
    // What a server restart does to every connection of the store.
    let killed: Vec<bool> = db
        .connect()
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(killed.len() >= 2, "the writer and a reader were connected");
    std::thread::sleep(Duration::from_millis(200));
    let mut tx = store.write().unwrap();
    assert_eq!(append(&mut *tx, b"one").unwrap(), 1);
    tx.commit().unwrap();
    assert_eq!(store.read().unwrap().tree_size().unwrap(), 2);
}

#[test]
fn records_holding_a_nul_read_back_and_are_found() {
    let Some(db) = database() else { return };
    let store = open(&db);
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let input = countersign_proto::api::CreateIdentity {
        handle: "ana".into(),
        kind: countersign_proto::model::IdentityKind::Human,
        display_name: Some("Ana".into()),
        email: Some("Ana@Example.com".into()),
        owner: None,
        shared: false,
        groups: Vec::new(),
        roles: Vec::new(),
        manager: None,
    };
    let mut ana =
        countersign_domain::identity::create_identity(&input, "idn_ana".into(), None, None, now)
            .unwrap();
    // serde_json writes a NUL as \u0000, which PostgreSQL's JSON types
    // refuse: no query may depend on parsing a body.
    ana.display_name = "A\u{0}na".into();
    let mut tx = store.write().unwrap();
    tx.put_identity(&ana, None, 0).unwrap();
    tx.commit().unwrap();
    let tx = store.read().unwrap();
    assert_eq!(tx.identity("ana").unwrap().as_ref(), Some(&ana));
    assert_eq!(
        tx.identities_by_email("ana@EXAMPLE.com").unwrap(),
        vec![ana.clone()]
    );
    assert_eq!(tx.identity_any_case("ANA").unwrap(), Some(ana));
}

#[test]
fn a_store_opens_and_drops_inside_async_code() {
    let Some(db) = database() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Arc::new(open(&db));
        // Reads and writes go through a blocking thread, as the ledger's.
        let s = store.clone();
        let seen = tokio::task::spawn_blocking(move || {
            let mut tx = s.write().unwrap();
            tx.set_meta("k", "v").unwrap();
            tx.commit().unwrap();
            s.read().unwrap().meta("k").unwrap()
        })
        .await
        .unwrap();
        assert_eq!(seen.as_deref(), Some("v"));
        // The last reference goes on the async thread, as at the end of
        // the server's main.
        drop(store);
    });
}

#[test]
fn an_entry_another_writer_slipped_in_is_a_conflict() {
    let Some(db) = database() else { return };
    let store = Arc::new(open(&db));
    // A writer that does not take the log's lock holds entry 0, uncommitted.
    let mut rogue = db.connect();
    let leaf = countersign_tlog::leaf_hash(b"rogue");
    rogue.batch_execute("BEGIN").unwrap();
    rogue
        .execute(
            "INSERT INTO log_entries (idx, data, kind) VALUES (0, 'rogue', 'x')",
            &[],
        )
        .unwrap();
    rogue
        .execute(
            "INSERT INTO tree_hashes (level, idx, hash) VALUES (0, 0, $1)",
            &[&leaf.as_slice()],
        )
        .unwrap();
    let s = store.clone();
    let writer = std::thread::spawn(move || -> countersign_store::Result<()> {
        let mut tx = s.write()?;
        // The store sees an empty log and waits on the rogue's row.
        append(&mut *tx, b"zero")?;
        tx.commit()
    });
    std::thread::sleep(Duration::from_millis(300));
    rogue.batch_execute("COMMIT").unwrap();
    match writer.join().unwrap() {
        Err(e) => assert!(e.is_retryable(), "not a conflict: {e}"),
        Ok(()) => panic!("two entries at index 0 committed"),
    }
    // Run again, the write goes after the new head.
    let mut tx = store.write().unwrap();
    assert_eq!(append(&mut *tx, b"one").unwrap(), 1);
    tx.commit().unwrap();
}
