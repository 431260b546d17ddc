//! Real faults: rows edited, deleted, reordered and inserted in the SQLite
//! file of a stopped server; the server killed with SIGKILL mid-submission.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use countersign_proto::api::{EntryView, SignatureReceipt};
use countersign_proto::evidence::EvidenceBundle;
use countersign_proto::model::*;
use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::note::NoteVerifier;
use countersign_tlog::proof::TlogProof;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::harness::*;

/// An approved two-signature request; answers the server, the request id and
/// the log indexes of bob's and carol's signatures.
fn approved() -> (TestServer, String, u64, u64) {
    let s = TestServer::start_sqlite();
    let (r, keys) = s.onboarding(&["bob", "carol"]);
    let (bob, carol) = (&keys[0], &keys[1]);
    let (_, b) = s.submit(&sign(
        &statement(&r, "bob", bob, Decision::Approve, s.now()),
        bob,
    ));
    let (_, c) = s.submit(&sign(
        &statement(&r, "carol", carol, Decision::Approve, s.now()),
        carol,
    ));
    let b = b["log_index"].as_u64().unwrap();
    let c = c["log_index"].as_u64().unwrap();
    (s, r.id, b, c)
}

fn audit(s: &TestServer) -> (i32, Value) {
    let out = Command::new(binary())
        .args(["log", "audit", "--json", "--data"])
        .arg(s.dir.path())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v)
}

fn verify(s: &TestServer, id: &str) -> countersign_verify::Report {
    let bundle: EvidenceBundle = s.get(&format!("/v1/requests/{id}/evidence"));
    let bytes = serde_json::to_vec(&bundle).unwrap();
    countersign_verify::verify_bundle(
        &bytes,
        &countersign_verify::Options {
            pinned_log_key: Some(s.log_key.clone()),
            documents: vec![],
        },
    )
}

/// After tampering with the running server's database: `log audit` must
/// fail naming `first_bad`; the server refuses to export evidence from it;
/// the bundle the database now yields (the one exported before, with the
/// entries as they now are) fails offline verification; and the server,
/// restarted, refuses to start. Answers that report for further checks.
fn caught(
    s: &mut TestServer,
    before: &EvidenceBundle,
    first_bad: u64,
) -> countersign_verify::Report {
    let (code, v) = audit(s);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["first_bad_index"], first_bad, "{v}");
    let (_, answer) = s.call(
        reqwest::Method::GET,
        &format!("/v1/requests/{}/evidence", before.request.id),
        None,
        true,
    );
    assert_eq!(answer["code"], "integrity_failure", "{answer}");
    let mut now = before.clone();
    {
        let db = Connection::open(s.db_path()).unwrap();
        now.entries.retain_mut(|e| {
            match db.query_row(
                "SELECT data FROM log_entries WHERE idx = ?1",
                [e.index as i64],
                |r| r.get::<_, Vec<u8>>(0),
            ) {
                Ok(data) => {
                    e.entry = String::from_utf8_lossy(&data).into_owned();
                    true
                }
                Err(_) => false,
            }
        });
    }
    let report = countersign_verify::verify_bundle(
        &serde_json::to_vec(&now).unwrap(),
        &countersign_verify::Options {
            pinned_log_key: Some(s.log_key.clone()),
            documents: vec![],
        },
    );
    assert!(!report.ok());
    s.stop();
    let refused = s.try_boot().unwrap_err();
    assert!(refused.contains("run `countersign log audit`"), "{refused}");
    report
}

fn entry_data(db: &Connection, idx: u64) -> Vec<u8> {
    db.query_row(
        "SELECT data FROM log_entries WHERE idx = ?1",
        [idx as i64],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn an_untouched_log_audits_clean_and_its_evidence_verifies() {
    let (mut s, id, _, _) = approved();
    assert!(verify(&s, &id).ok());
    s.stop();
    let (code, v) = audit(&s);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["entries"], v["signed_size"]);
}

#[test]
fn an_edited_entry_is_caught_by_audit_and_by_offline_verify() {
    let (mut s, id, bob, _) = approved();
    let before: EvidenceBundle = s.get(&format!("/v1/requests/{id}/evidence"));
    {
        let db = Connection::open(s.db_path()).unwrap();
        let data = String::from_utf8(entry_data(&db, bob))
            .unwrap()
            .replace("\"decision\":\"approve\"", "\"decision\":\"reject\"");
        db.execute(
            "UPDATE log_entries SET data = ?1 WHERE idx = ?2",
            rusqlite::params![data.as_bytes(), bob as i64],
        )
        .unwrap();
    }
    let report = caught(&mut s, &before, bob);
    assert!(
        report
            .failures()
            .any(|c| c.detail.contains(&format!("entry {bob}"))),
        "{:#?}",
        report.checks
    );
}

#[test]
fn a_deleted_entry_is_caught_by_audit_and_by_offline_verify() {
    let (mut s, id, bob, _) = approved();
    let before: EvidenceBundle = s.get(&format!("/v1/requests/{id}/evidence"));
    Connection::open(s.db_path())
        .unwrap()
        .execute("DELETE FROM log_entries WHERE idx = ?1", [bob as i64])
        .unwrap();
    let report = caught(&mut s, &before, bob);
    assert!(
        report
            .failures()
            .any(|c| c.detail.contains(&bob.to_string())),
        "{:#?}",
        report.checks
    );
}

#[test]
fn reordered_entries_are_caught_by_audit_and_by_offline_verify() {
    let (mut s, id, bob, carol) = approved();
    let before: EvidenceBundle = s.get(&format!("/v1/requests/{id}/evidence"));
    {
        let db = Connection::open(s.db_path()).unwrap();
        let (b, c) = (entry_data(&db, bob), entry_data(&db, carol));
        db.execute(
            "UPDATE log_entries SET data = ?1 WHERE idx = ?2",
            rusqlite::params![c, bob as i64],
        )
        .unwrap();
        db.execute(
            "UPDATE log_entries SET data = ?1 WHERE idx = ?2",
            rusqlite::params![b, carol as i64],
        )
        .unwrap();
    }
    caught(&mut s, &before, bob.min(carol));
}

#[test]
fn an_inserted_entry_is_caught_and_the_server_refuses_to_sign_over_it() {
    let (mut s, _, _, _) = approved();
    s.stop();
    let size = {
        let db = Connection::open(s.db_path()).unwrap();
        let size: i64 = db
            .query_row("SELECT MAX(idx) + 1 FROM log_entries", [], |r| r.get(0))
            .unwrap();
        db.execute(
            "INSERT INTO log_entries (idx, data, kind) VALUES (?1, ?2, 'identity.created')",
            rusqlite::params![size, br#"{"v":1,"at":"2026-01-01T00:00:00Z","type":"log.created","origin":"x","verifier_key":"y"}"#.to_vec()],
        )
        .unwrap();
        size as u64
    };
    let (code, v) = audit(&s);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["first_bad_index"], size, "{v}");
    // The ledger will not open over a log that disagrees with its checkpoint.
    let store =
        std::sync::Arc::new(countersign_store_sqlite::SqliteStore::open(&s.db_path()).unwrap());
    let signer = countersign_tlog::note::NoteSigner::from_skey(
        std::fs::read_to_string(s.dir.path().join("log.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let opened = countersign_ledger::Ledger::open(
        store,
        signer,
        countersign_ledger::LedgerConfig::default(),
        std::sync::Arc::new(countersign_policy::PolicySet::defaults().unwrap()),
        s.now(),
    );
    assert!(matches!(
        opened,
        Err(countersign_ledger::LedgerError::Integrity(_))
    ));
}

/// Kills the child on drop so a failing test leaves no server behind.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `countersign init` a data directory; answers the admin token.
pub(crate) fn init_data_dir(dir: &std::path::Path) -> String {
    let init = Command::new(binary())
        .args(["init", "--json", "--data"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(init.status.success());
    serde_json::from_slice::<Value>(&init.stdout).unwrap()["admin_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// POST `body` to a server started from the binary, asserting success.
pub(crate) fn post_as(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Value,
) -> Value {
    let r = http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().unwrap()
}

/// Over a binary server's API: alice, dave and bob (with an enrolled key)
/// and the document `doc`; answers bob's key.
pub(crate) fn seed_onboarding(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    doc: &str,
) -> ed25519_dalek::SigningKey {
    let post = |path: &str, body: Value| post_as(http, base, token, path, body);
    for h in ["alice", "bob", "dave"] {
        post("/v1/identities", json!({"handle": h, "kind": "human"}));
    }
    let bob = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let pk = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        bob.verifying_key().as_bytes(),
    );
    let ch = post("/v1/identities/bob/key-challenges", json!({}));
    let ch = ch["challenge"].as_str().unwrap().to_string();
    let proof =
        ed25519_dalek::Signer::sign(&bob, &countersign_attest::pop_message("bob", &ch, &pk));
    post(
        "/v1/identities/bob/keys",
        json!({"public_key": pk, "challenge": ch, "assurance": "software",
        "proof": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, proof.to_bytes())}),
    );
    let uploaded = http
        .put(format!("{base}/v1/documents/{doc}/content"))
        .bearer_auth(token)
        .body(format!("{doc} text"))
        .send()
        .unwrap();
    assert!(uploaded.status().is_success());
    bob
}

/// Every receipt verifies with the log's key, its entry is stored as it was
/// acknowledged, and its checkpoint is a prefix of the latest one.
pub(crate) fn check_receipts(base: &str, token: &str, receipts: &[SignatureReceipt]) {
    let verifier = NoteVerifier::from_vkey(
        reqwest::blocking::get(format!("{base}/v1/log/key"))
            .unwrap()
            .text()
            .unwrap()
            .trim(),
    )
    .unwrap();
    let latest = Checkpoint::open(
        &reqwest::blocking::get(format!("{base}/v1/log/checkpoint"))
            .unwrap()
            .text()
            .unwrap(),
        &verifier,
    )
    .unwrap();
    let http = reqwest::blocking::Client::new();
    for r in receipts {
        let old = TlogProof::parse(&r.receipt)
            .unwrap()
            .verify(r.entry.as_bytes(), &verifier)
            .unwrap();
        let stored: EntryView = http
            .get(format!("{base}/v1/log/entries/{}", r.log_index))
            .bearer_auth(token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            stored.entry, r.entry,
            "entry {} changed after the crash",
            r.log_index
        );
        let p: countersign_proto::api::ConsistencyProof = reqwest::blocking::get(format!(
            "{base}/v1/log/proof/consistency?old={}&new={}",
            old.size, latest.size
        ))
        .unwrap()
        .json()
        .unwrap();
        check_consistency(&p, &old, &latest);
    }
}

/// How many signature batches the server at `base` wrote, and how many
/// signatures they held (its `/metrics`).
fn batch_sizes(base: &str) -> (u64, u64) {
    let text = metrics_text(&reqwest::blocking::Client::new(), base);
    let value = |name: &str| metric(&text, name).unwrap_or(0.0) as u64;
    (
        value("countersign_signature_batch_size_count"),
        value("countersign_signature_batch_size_sum"),
    )
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn spawn_server(dir: &std::path::Path) -> (Server, String) {
    let port = free_port();
    let child = Command::new(binary())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&base);
    (server, base)
}

/// Wait (at most 20 s) until the server at `base` answers.
fn wait_until_up(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::blocking::get(format!("{base}/healthz")).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `countersign serve` on `dir` that is expected to stop at once: its output.
pub(crate) fn serve_once(dir: &std::path::Path) -> std::process::Output {
    Command::new(binary())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data",
        ])
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn receipts_survive_sigkill_and_later_checkpoints_stay_consistent() {
    // The short campaign runs in CI; `COUNTERSIGN_FAULT_CYCLES=50 cargo
    // test -p countersign --test it -- faults::receipts` is the long one.
    let cycles: usize = std::env::var("COUNTERSIGN_FAULT_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let token = init_data_dir(dir.path());
    let (mut server, mut base) = spawn_server(dir.path());
    let http = reqwest::blocking::Client::new();
    let bob = seed_onboarding(&http, &base, &token, "contract");
    let mut all: Vec<SignatureReceipt> = Vec::new();
    let (mut batches_seen, mut batched_seen) = (0, 0);
    for cycle in 0..cycles {
        let post = |path: &str, body: Value| post_as(&http, &base, &token, path, body);
        let requests: Vec<Request> = (0..80)
            .map(|_| {
                serde_json::from_value(post(
                    "/v1/requests",
                    serde_json::to_value(request_body("contract", "alice", "dave", &["bob"]))
                        .unwrap(),
                ))
                .unwrap()
            })
            .collect();
        // Sixteen clients submit signatures, so they are written in
        // batches; the server is killed mid-stream, mid-batch.
        let receipts: Arc<Mutex<Vec<SignatureReceipt>>> = Arc::default();
        let threads: Vec<_> = requests
            .chunks(5)
            .map(|chunk| {
                let (chunk, base, key, receipts, token) = (
                    chunk.to_vec(),
                    base.clone(),
                    bob.clone(),
                    receipts.clone(),
                    token.clone(),
                );
                std::thread::spawn(move || {
                    let http = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(10))
                        .build()
                        .unwrap();
                    for r in chunk {
                        let env = sign(
                            &statement(&r, "bob", &key, Decision::Approve, wall_clock()),
                            &key,
                        );
                        match http
                            .post(format!("{base}/v1/signatures"))
                            .bearer_auth(&token)
                            .json(&env)
                            .send()
                        {
                            Ok(resp) if resp.status().as_u16() == 201 => {
                                receipts.lock().unwrap().push(resp.json().unwrap())
                            }
                            Ok(resp) => panic!("unexpected answer {}", resp.status()),
                            Err(_) => return, // the server is gone
                        }
                    }
                })
            })
            .collect();
        // Kill after a varying number of acknowledged writes.
        let wanted = 4 + (cycle * 7) % 20;
        let deadline = Instant::now() + Duration::from_secs(60);
        while receipts.lock().unwrap().len() < wanted && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        let (batches, batched) = batch_sizes(&base);
        batches_seen += batches;
        batched_seen += batched;
        drop(server); // SIGKILL
        for t in threads {
            t.join().unwrap();
        }
        let got = receipts.lock().unwrap().clone();
        assert!(
            got.len() >= wanted,
            "cycle {cycle}: only {} receipts before the kill",
            got.len()
        );
        all.extend(got);

        // Restart: every receipt acknowledged in any cycle still verifies,
        // its entry is unchanged, and its checkpoint is a prefix of the new one.
        (server, base) = spawn_server(dir.path());
        check_receipts(&base, &token, &all);
    }
    drop(server);
    eprintln!(
        "{cycles} SIGKILL cycles, {} acknowledged receipts, none lost; {batched_seen} signatures in {batches_seen} batches before the kills",
        all.len()
    );
    assert!(
        batched_seen > batches_seen,
        "no batch held more than one signature ({batched_seen} in {batches_seen}): the kills did not fall on batches"
    );
    let audit = Command::new(binary())
        .args(["log", "audit", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stdout)
    );
}

#[test]
fn a_second_server_on_the_same_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    init_data_dir(dir.path());
    let (_first, base) = spawn_server(dir.path());
    let second = serve_once(dir.path());
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("another `countersign serve` is already running"),
        "{err}"
    );
    // The first is untouched.
    assert!(reqwest::blocking::get(format!("{base}/readyz"))
        .unwrap()
        .status()
        .is_success());
}

#[test]
fn the_server_logs_one_json_line_per_request_without_colour_or_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let token = init_data_dir(dir.path());
    let port = free_port();
    let log = dir.path().join("stderr.log");
    let child = Command::new(binary())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir.path())
        .env_remove("COUNTERSIGN_LOG")
        .env_remove("COUNTERSIGN_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&base);
    let http = reqwest::blocking::Client::new();
    let shown = http
        .get(format!("{base}/v1/identities/nobody"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(shown.status(), 404);
    let forged = http
        .get(format!("{base}/v1/identities?kind=human"))
        .bearer_auth("not-a-token")
        .send()
        .unwrap();
    assert_eq!(forged.status(), 401);
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log file:\n{text}"
    );
    assert!(
        !text.contains(&token) && !text.contains("not-a-token"),
        "{text}"
    );
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["target"] == "countersign::request")
        .collect();
    let find = |route: &str, status: u64| {
        lines
            .iter()
            .find(|v| v["route"] == route && v["status"] == status)
            .unwrap_or_else(|| panic!("no request line for {route} {status}:\n{text}"))
            .clone()
    };
    let shown = find("/v1/identities/{handle}", 404);
    assert_eq!(shown["method"], "GET");
    assert_eq!(shown["caller"], "bootstrap");
    assert!(shown["latency_ms"].as_f64().unwrap() >= 0.0);
    let forged = find("/v1/identities", 401);
    assert_eq!(forged["caller"], "-");
}

#[test]
fn a_lost_admin_token_is_recovered_locally_logged_and_the_old_one_stops_working() {
    let dir = tempfile::tempdir().unwrap();
    let old = init_data_dir(dir.path());
    let recover = || {
        Command::new(binary())
            .args(["token", "recover", "--json", "--data"])
            .arg(dir.path())
            .env("USER", "ops-oncall")
            .output()
            .unwrap()
    };
    // Not while a server runs: it holds the old token's hash.
    let (server, _) = spawn_server(dir.path());
    let refused = recover();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("needs the server stopped"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    drop(server);
    let out = recover();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file: Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = std::path::PathBuf::from(file["admin_token_file"].as_str().unwrap());
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let new = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert_ne!(new, old);
    let (_server, base) = spawn_server(dir.path());
    let http = reqwest::blocking::Client::new();
    let status = |t: &str| {
        http.get(format!("{base}/v1/tokens"))
            .bearer_auth(t)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status(&old), 401);
    assert_eq!(status(&new), 200);
    // The log says who did it.
    let page: Value = http
        .get(format!("{base}/v1/log/entries?start=0&limit=1000"))
        .bearer_auth(&new)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let recovered = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry"].as_str().unwrap().contains("\"token.recovered\""))
        .expect("a token.recovered entry");
    let opened = recovered["openings"]
        .as_object()
        .unwrap()
        .values()
        .any(|o| o["value"] == "local account ops-oncall");
    assert!(opened, "{recovered}");
}

/// The systemd unit in the repository starts a server that becomes ready:
/// its ExecStart and Environment, with the binary, data directory and port
/// of this test put in.
#[test]
fn the_systemd_unit_starts_a_ready_server() {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/countersign.service"),
    )
    .unwrap();
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("the unit has no {key}"))
            .to_string()
    };
    let exec = value("ExecStart");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/countersign"));
    let args: Vec<String> = words.map(str::to_string).collect();
    let environment = value("Environment");
    let (var, data) = environment.split_once('=').unwrap();
    assert_eq!((var, data), ("COUNTERSIGN_DATA", "/var/lib/countersign"));
    assert!(unit.contains(&format!(
        "StateDirectory={}",
        data.trim_start_matches("/var/lib/")
    )));

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("countersign");
    let port = free_port();
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            if a.starts_with("127.0.0.1:") {
                format!("127.0.0.1:{port}")
            } else {
                a.clone()
            }
        })
        .collect();
    let child = Command::new(binary())
        .args(&args)
        .env(var, &data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Server(child);
    // A probe reaches the server by its address and is not redirected to
    // the web app's public host.
    let probe = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = probe.get(format!("http://127.0.0.1:{port}/readyz")).send() {
            assert_eq!(r.status(), 200);
            for path in ["/healthz", "/metrics"] {
                let r = probe
                    .get(format!("http://127.0.0.1:{port}{path}"))
                    .send()
                    .unwrap();
                assert_eq!(r.status(), 200, "{path}");
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the unit's server did not become ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(data.join("admin-token").exists());
}

#[test]
fn a_backup_taken_while_serving_restores_and_a_stale_or_tampered_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = init_data_dir(&data);
    let (server, base) = spawn_server(&data);
    let http = reqwest::blocking::Client::new();
    post_as(
        &http,
        &base,
        &token,
        "/v1/identities",
        json!({"handle": "ann", "kind": "human"}),
    );
    let run = |args: &[&str]| Command::new(binary()).args(args).output().unwrap();
    let backup = dir.path().join("backup");
    let out = run(&[
        "backup",
        backup.to_str().unwrap(),
        "--json",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = serde_json::from_slice::<Value>(&out.stdout).unwrap()["tree_size"]
        .as_u64()
        .unwrap();
    // The server goes on after the copy was taken.
    post_as(
        &http,
        &base,
        &token,
        "/v1/identities",
        json!({"handle": "ben", "kind": "human"}),
    );
    drop(server);

    // Behind what this server acknowledged: refused.
    let stale = run(&[
        "restore",
        backup.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&stale.stderr).contains("would lose entries"),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );

    // Into a new machine's data directory: restored, and it serves.
    let fresh = dir.path().join("fresh");
    let out = run(&[
        "restore",
        backup.to_str().unwrap(),
        "--data",
        fresh.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_restored, base) = spawn_server(&fresh);
    let get = |path: &str| {
        http.get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .unwrap()
    };
    assert_eq!(get("/v1/identities/ann").status(), 200);
    assert_eq!(get("/v1/identities/ben").status(), 404);
    let info: Value = get("/v1/info").json().unwrap();
    assert_eq!(info["tree_size"].as_u64(), Some(size));

    // A tampered backup is refused.
    Connection::open(backup.join("countersign.db"))
        .unwrap()
        .execute(
            "UPDATE identities SET status = 'terminated', body = json_set(body, '$.status', 'terminated')",
            [],
        )
        .unwrap();
    let other = dir.path().join("other");
    let out = run(&[
        "restore",
        backup.to_str().unwrap(),
        "--data",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not audit clean"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_database_from_a_newer_release_is_refused_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    init_data_dir(dir.path());
    let db = dir.path().join("countersign.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let before = std::fs::read(&db).unwrap();
    let out = serve_once(dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer than this build knows"), "{err}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the newer database was changed"
    );
}
