//! Several `countersign serve` processes on one PostgreSQL database: one
//! log, whichever instance a client reaches, through the loss of one.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use countersign_ledger::Store as _;
use countersign_proto::api::SignatureReceipt;
use countersign_proto::iga::{DeliveryFilter, DeliveryState};
use countersign_proto::model::*;
use countersign_store_postgres::testkit::{server_for, TestDatabase};
use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::note::NoteVerifier;
use serde_json::json;

use crate::faults::{
    check_receipts, init_data_dir, post_as, seed_onboarding, spawn_server, Server,
};
use crate::harness::*;
use crate::webhooks::{Mode, Receiver, LOOPBACK_WEBHOOKS};

/// The PostgreSQL server to test on (`None` outside CI when none is named).
fn postgres() -> Option<String> {
    server_for("the tests of several instances on one database")
}

struct Instance {
    server: Option<Server>,
    base: String,
    pid: u32,
}

#[test]
fn three_instances_keep_one_log_through_losing_one() {
    let Some(pg) = postgres() else { return };
    let db = TestDatabase::create(&pg);
    let receiver = Receiver::start(Mode::Ok);
    let config = format!(
        "[database]\nurl = \"{}\"\n\n[server]\nsweep_seconds = 1\nlease_seconds = 3\n\n[iga]\nreconcile_every_seconds = 1\n\n{LOOPBACK_WEBHOOKS}poll_ms = 50\n",
        db.url
    );
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for d in &dirs {
        std::fs::write(d.path().join("countersign.toml"), &config).unwrap();
    }
    let token = init_data_dir(dirs[0].path());
    // The other instances get the log's key, the workload CA and the
    // policy set: what `init` refuses to make twice for one database.
    for d in &dirs[1..] {
        for f in ["log.key", "ca.key", "ca.pem"] {
            std::fs::copy(dirs[0].path().join(f), d.path().join(f)).unwrap();
        }
        let policy = d.path().join("policy");
        std::fs::create_dir_all(&policy).unwrap();
        for e in std::fs::read_dir(dirs[0].path().join("policy")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), policy.join(e.file_name())).unwrap();
        }
    }
    // A fresh data directory of its own cannot start a second log in it.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("countersign.toml"), &config).unwrap();
    let refused = Command::new(binary())
        .args(["init", "--data"])
        .arg(other.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("already holds the Countersign log"), "{said}");

    let mut instances: Vec<Instance> = dirs
        .iter()
        .map(|d| {
            let (server, base) = spawn_server(d.path());
            let pid = server.0.id();
            Instance {
                server: Some(server),
                base,
                pid,
            }
        })
        .collect();
    let http = reqwest::blocking::Client::new();
    let bob = seed_onboarding(&http, &instances[0].base, &token, "contract");
    post_as(
        &http,
        &instances[1].base,
        &token,
        "/v1/webhooks",
        json!({"url": receiver.url}),
    );
    // Requests are created through every instance.
    let requests: Vec<Request> = (0..90)
        .map(|i| {
            serde_json::from_value(post_as(
                &http,
                &instances[i % 3].base,
                &token,
                "/v1/requests",
                serde_json::to_value(request_body("contract", "alice", "dave", &["bob"])).unwrap(),
            ))
            .unwrap()
        })
        .collect();

    // Who leads, sampled from every live instance while the load runs.
    let bases: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(
        instances.iter().map(|i| Some(i.base.clone())).collect(),
    ));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (bases, stop) = (bases.clone(), stop.clone());
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            let mut leaders_seen = BTreeSet::new();
            let mut samples = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let live: Vec<(usize, String)> = bases
                    .lock()
                    .unwrap()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, b)| Some((i, b.clone()?)))
                    .collect();
                let mut leading = Vec::new();
                for (i, base) in live {
                    let Ok(r) = http.get(format!("{base}/metrics")).send() else {
                        continue;
                    };
                    let Ok(text) = r.text() else { continue };
                    if metric(&text, "countersign_leader") == Some(1.0) {
                        leading.push(i);
                    }
                }
                assert!(
                    leading.len() <= 1,
                    "instances {leading:?} all hold the leader lease at once"
                );
                leaders_seen.extend(leading);
                samples += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            (leaders_seen, samples)
        })
    };

    // Bob's signature for each request, made once: what a client that
    // lost its answer submits again.
    let envelopes: BTreeMap<String, countersign_proto::statement::Envelope> = requests
        .iter()
        .map(|r| {
            let env = sign(
                &statement(r, "bob", &bob, Decision::Approve, wall_clock()),
                &bob,
            );
            (r.id.clone(), env)
        })
        .collect();
    // Six clients, two per instance, sign; one instance is lost mid-load.
    let receipts: Arc<Mutex<Vec<SignatureReceipt>>> = Arc::default();
    let signed: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let clients: Vec<_> = requests
        .chunks(15)
        .enumerate()
        .map(|(c, chunk)| {
            let (chunk, base, receipts, signed, token) = (
                chunk
                    .iter()
                    .map(|r| (r.id.clone(), envelopes[&r.id].clone()))
                    .collect::<Vec<_>>(),
                instances[c % 3].base.clone(),
                receipts.clone(),
                signed.clone(),
                token.clone(),
            );
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                for (id, env) in chunk {
                    match http
                        .post(format!("{base}/v1/signatures"))
                        .bearer_auth(&token)
                        .json(&env)
                        .send()
                    {
                        Ok(resp) if resp.status().as_u16() == 201 => {
                            receipts.lock().unwrap().push(resp.json().unwrap());
                            signed.lock().unwrap().insert(id);
                        }
                        Ok(resp) => panic!("unexpected answer {}", resp.status()),
                        Err(_) => return, // its instance is gone
                    }
                }
            })
        })
        .collect();

    // The instance leading the scheduled tasks is the one lost, once a
    // third of the signatures are in. It is first stopped (SIGSTOP) and
    // killed (SIGKILL) only while it holds no delivery it has sent and
    // not yet recorded: one such would be sent again by the instance
    // that takes the delivery over (receivers drop that second copy by
    // its `webhook-id`, as Standard Webhooks has them do).
    let deadline = Instant::now() + Duration::from_secs(60);
    while receipts.lock().unwrap().len() < 30 {
        assert!(Instant::now() < deadline, "the load did not get going");
        std::thread::sleep(Duration::from_millis(5));
    }
    let leader = (0..3)
        .find(|&i| {
            let text = metrics_text(&http, &instances[i].base);
            metric(&text, "countersign_leader") == Some(1.0)
        })
        .expect("no instance leads the scheduled tasks");
    let mut pg_client = db.connect();
    let mut holding = |pid: u32| -> i64 {
        pg_client
            .query_one(
                "SELECT count(*) FROM leases WHERE name LIKE 'delivery:%' AND holder LIKE $1",
                &[&format!("pid{pid}-%")],
            )
            .unwrap()
            .get::<_, i64>(0)
    };
    let signal = |sig: &str, pid: u32| {
        assert!(Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success());
    };
    let lost = &mut instances[leader];
    let killed_after = loop {
        signal("-STOP", lost.pid);
        std::thread::sleep(Duration::from_millis(20));
        if holding(lost.pid) == 0 {
            let n = receipts.lock().unwrap().len();
            bases.lock().unwrap()[leader] = None;
            drop(lost.server.take()); // SIGKILL
            break n;
        }
        signal("-CONT", lost.pid);
        std::thread::sleep(Duration::from_millis(30));
    };
    for c in clients {
        c.join().unwrap();
    }
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    eprintln!(
        "instance {leader} (pid {}) lost after {killed_after} receipts; {} receipts in all",
        instances[leader].pid,
        receipts.lock().unwrap().len()
    );

    // What the lost instance's clients did not get signed is signed
    // through the others.
    let done = signed.lock().unwrap().clone();
    for (n, r) in requests
        .iter()
        .filter(|r| !done.contains(&r.id))
        .enumerate()
    {
        let base = &instances[survivors[n % 2]].base;
        let resp = http
            .post(format!("{base}/v1/signatures"))
            .bearer_auth(&token)
            .json(&envelopes[&r.id])
            .send()
            .unwrap();
        // A signature the lost instance committed but never answered is
        // replayed: its receipt, 200.
        assert!(resp.status().is_success(), "{}", resp.status());
        receipts.lock().unwrap().push(resp.json().unwrap());
    }
    let receipts = receipts.lock().unwrap().clone();
    assert_eq!(
        receipts
            .iter()
            .map(|r| r.request.clone())
            .collect::<BTreeSet<_>>()
            .len(),
        requests.len()
    );
    assert!(
        receipts
            .iter()
            .all(|r| r.request_state == RequestState::Approved),
        "every request ended approved"
    );

    // Every receipt any client got verifies, against either survivor.
    for &i in &survivors {
        check_receipts(&instances[i].base, &token, &receipts);
    }
    // One log: indexes unique and gap-free, and every checkpoint signed
    // by any instance consistent with every later one.
    let store = countersign_store_postgres::PostgresStore::open(&db.url).unwrap();
    let (checkpoints, size) = {
        let tx = store.read().unwrap();
        (tx.checkpoints().unwrap(), tx.tree_size().unwrap())
    };
    let verifier = NoteVerifier::from_vkey(
        http.get(format!("{}/v1/log/key", instances[survivors[0]].base))
            .send()
            .unwrap()
            .text()
            .unwrap()
            .trim(),
    )
    .unwrap();
    let mut indexes: Vec<u64> = receipts.iter().map(|r| r.log_index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(indexes.len(), requests.len(), "one entry per signature");
    assert!(indexes.iter().all(|&i| i < size));
    let opened: Vec<Checkpoint> = checkpoints
        .iter()
        .map(|(_, note)| Checkpoint::open(note, &verifier).unwrap())
        .collect();
    let latest = opened.last().unwrap().clone();
    assert_eq!(latest.size, size, "the latest checkpoint covers the log");
    for (old, new) in opened.iter().zip(opened.iter().skip(1)) {
        assert!(old.size < new.size);
        let p: countersign_proto::api::ConsistencyProof = http
            .get(format!(
                "{}/v1/log/proof/consistency?old={}&new={}",
                instances[survivors[1]].base, old.size, new.size
            ))
            .send()
            .unwrap()
            .json()
            .unwrap();
        check_consistency(&p, old, new);
    }
    eprintln!(
        "{} checkpoints, each consistent with the next, up to {size} entries",
        opened.len()
    );

    // Every webhook delivered, each exactly once.
    let deadline = Instant::now() + Duration::from_secs(60);
    let deliveries = loop {
        let all = store
            .read()
            .unwrap()
            .deliveries(&DeliveryFilter {
                limit: Some(10_000),
                ..DeliveryFilter::default()
            })
            .unwrap();
        if all.iter().all(|d| d.state == DeliveryState::Delivered) {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries still not delivered: {:?}",
            all.iter()
                .filter(|d| d.state != DeliveryState::Delivered)
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for e in receiver.events() {
        *got.entry(e.id).or_default() += 1;
    }
    let twice: Vec<_> = got.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let expected: BTreeSet<String> = deliveries.iter().map(|d| d.event_id.clone()).collect();
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), expected);
    let approved = receiver
        .events()
        .iter()
        .filter(|e| e.event_type.ends_with("request.approved"))
        .count();
    assert_eq!(approved, requests.len(), "one request.approved per request");

    // The scheduled tasks: never two leaders at once (the sampler), and
    // after the leader was lost a survivor took them over.
    let deadline = Instant::now() + Duration::from_secs(20);
    let successor = loop {
        let found = survivors.iter().copied().find(|&i| {
            let text = metrics_text(&http, &instances[i].base);
            metric(&text, "countersign_leader") == Some(1.0)
                && metric_sum(&text, "countersign_scheduled_runs_total") > 0.0
        });
        if let Some(i) = found {
            break i;
        }
        assert!(
            Instant::now() < deadline,
            "no survivor took the scheduled tasks over"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (leaders_seen, samples) = sampler.join().unwrap();
    eprintln!(
        "leaders seen in {samples} samples: {leaders_seen:?}; instance {successor} took over from {leader}"
    );
    assert!(samples > 5);

    for i in survivors {
        drop(instances[i].server.take());
    }
    let (code, report) = log_audit(dirs[0].path());
    assert_eq!(code, Some(0), "{report}");
}

/// `[database] url` for the data directory `dir`.
fn point_at(dir: &std::path::Path, db: &TestDatabase) {
    std::fs::write(
        dir.join("countersign.toml"),
        format!("[database]\nurl = \"{}\"\n", db.url),
    )
    .unwrap();
}

fn pg_tool(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_pg_dump_restores_checked_by_audit_and_against_the_kept_checkpoint() {
    let Some(pg) = postgres() else { return };
    let live = TestDatabase::create(&pg);
    let dir = tempfile::tempdir().unwrap();
    point_at(dir.path(), &live);
    let token = init_data_dir(dir.path());
    let (server, base) = spawn_server(dir.path());
    let http = reqwest::blocking::Client::new();
    let bob = seed_onboarding(&http, &base, &token, "contract");
    let older = dir.path().join("older.dump");
    let newer = dir.path().join("newer.dump");
    pg_tool(
        "pg_dump",
        &["-Fc", &live.url, "-f", older.to_str().unwrap()],
    );
    // Written after the older dump: a request and bob's signature.
    let r: Request = serde_json::from_value(post_as(
        &http,
        &base,
        &token,
        "/v1/requests",
        serde_json::to_value(request_body("contract", "alice", "dave", &["bob"])).unwrap(),
    ))
    .unwrap();
    let env = sign(
        &statement(&r, "bob", &bob, Decision::Approve, wall_clock()),
        &bob,
    );
    let signed = http
        .post(format!("{base}/v1/signatures"))
        .bearer_auth(&token)
        .json(&env)
        .send()
        .unwrap();
    assert_eq!(signed.status(), 201);
    let receipt: SignatureReceipt = signed.json().unwrap();
    pg_tool(
        "pg_dump",
        &["-Fc", &live.url, "-f", newer.to_str().unwrap()],
    );
    drop(server);

    // The older dump audits clean on its own, but the server refuses it:
    // it is behind the checkpoint this data directory kept.
    let stale = TestDatabase::create(&pg);
    pg_tool("pg_restore", &["-d", &stale.url, older.to_str().unwrap()]);
    point_at(dir.path(), &stale);
    let (code, report) = log_audit(dir.path());
    assert_eq!(code, Some(0), "{report}");
    let refused = crate::faults::serve_once(dir.path());
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("behind the checkpoint kept"), "{said}");

    // The newer dump restores, audits clean and serves the receipt
    // answered before the dump.
    let restored = TestDatabase::create(&pg);
    pg_tool(
        "pg_restore",
        &["-d", &restored.url, newer.to_str().unwrap()],
    );
    point_at(dir.path(), &restored);
    let (code, report) = log_audit(dir.path());
    assert_eq!(code, Some(0), "{report}");
    let (server, base) = spawn_server(dir.path());
    check_receipts(&base, &token, &[receipt]);
    drop(server);

    // A database administrator's edit of a log entry on PostgreSQL is
    // caught by the audit, and the server will not start on it.
    let mut db = restored.connect();
    let edited = db
        .execute(
            "UPDATE log_entries SET data = data || '\\x20'::bytea WHERE idx = 2",
            &[],
        )
        .unwrap();
    assert_eq!(edited, 1);
    drop(db);
    let (code, report) = log_audit(dir.path());
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("FAILED"), "{report}");
    let refused = crate::faults::serve_once(dir.path());
    assert!(!refused.status.success());
}
