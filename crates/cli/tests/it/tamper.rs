//! The database administrator edits state tables under a running server:
//! each kind of edit is caught before the server acts on it, and by
//! `log audit`, which names the table and key.

use countersign_proto::model::*;
use countersign_proto::statement::Envelope;
use ed25519_dalek::SigningKey;
use reqwest::Method;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::harness::*;

/// A small but realistic database: a pending request (two of bob, erin,
/// frank and carol; frank taken off when suspended), an approved one (bob
/// and carol signed), erin's key revoked, frank suspended.
struct Fixture {
    s: TestServer,
    pending: Request,
    approved: Request,
    bob: SigningKey,
    carol: SigningKey,
    erin: SigningKey,
    frank: SigningKey,
    /// bob's accepted envelope on the approved request.
    bob_signed: Envelope,
}

fn fixture() -> Fixture {
    let s = TestServer::start_sqlite();
    let (approved, keys) = s.onboarding(&["bob", "carol"]);
    let (bob, carol) = (keys[0].clone(), keys[1].clone());
    let bob_signed = sign(
        &statement(&approved, "bob", &bob, Decision::Approve, s.now()),
        &bob,
    );
    assert_eq!(s.submit(&bob_signed).0, 201);
    let c = sign(
        &statement(&approved, "carol", &carol, Decision::Approve, s.now()),
        &carol,
    );
    assert_eq!(s.submit(&c).0, 201);
    s.human("erin");
    let erin = s.enroll("erin", None);
    s.human("frank");
    let frank = s.enroll("frank", None);
    let mut body = request_body(
        "offer-letter",
        "alice",
        "dave",
        &["bob", "erin", "frank", "carol"],
    );
    // Two of four: frank's suspension takes him off and leaves it pending.
    body.quorum = Some(2);
    let pending = s.request(&body);
    let kid = countersign_attest::key_id(&erin.verifying_key());
    let (st, _) = s.call(
        Method::POST,
        &format!("/v1/keys/{kid}/revoke"),
        Some(&json!({})),
        true,
    );
    assert_eq!(st, 200);
    let (st, _) = s.call(
        Method::POST,
        "/v1/identities/frank/suspend",
        Some(&json!({})),
        true,
    );
    assert_eq!(st, 200);
    let approved = s.get(&format!("/v1/requests/{}", approved.id));
    Fixture {
        s,
        pending,
        approved,
        bob,
        carol,
        erin,
        frank,
        bob_signed,
    }
}

impl Fixture {
    fn db(&self) -> Connection {
        let db = Connection::open(self.s.db_path()).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        db
    }

    /// `actor` signs the pending request as the server shows it (or, when
    /// the server refuses to show it, as it was created).
    fn sign_pending(&self, actor: &str, key: &SigningKey) -> (u16, Value) {
        let path = format!("/v1/requests/{}", self.pending.id);
        let r: Request = match self.s.call(Method::GET, &path, None, true) {
            (200, v) => serde_json::from_value(v).unwrap(),
            _ => self.pending.clone(),
        };
        self.s.submit(&sign(
            &statement(&r, actor, key, Decision::Approve, self.s.now()),
            key,
        ))
    }

    /// `log audit` fails and names `table` and `key`.
    fn audit_names(&self, table: &str, key: &str) {
        let (code, text) = log_audit(self.s.dir.path());
        assert_eq!(code, Some(1), "{text}");
        assert!(
            text.contains(&format!("table {table}, key {key}")),
            "audit did not name table {table}, key {key}:\n{text}"
        );
    }
}

/// The server refused to act: an integrity failure, and nothing written.
fn refused(s: &TestServer, size: u64, (status, body): (u16, Value)) {
    assert_eq!(body["code"], "integrity_failure", "{status} {body}");
    assert_eq!(
        s.tree_size(),
        size,
        "a refusal over forged state wrote to the log"
    );
}

#[test]
fn a_revived_key_does_not_sign() {
    let f = fixture();
    let kid = countersign_attest::key_id(&f.erin.verifying_key());
    f.db()
        .execute(
            "UPDATE credentials SET body = json_remove(body, '$.revoked_at', '$.revocation_reason') WHERE key_id = ?1",
            [&kid],
        )
        .unwrap();
    let size = f.s.tree_size();
    refused(&f.s, size, f.sign_pending("erin", &f.erin));
    f.audit_names("credentials", &kid);
}

#[test]
fn a_forged_key_does_not_sign() {
    let f = fixture();
    let mallory = SigningKey::generate(&mut rand_core::OsRng);
    let kid = countersign_attest::key_id(&mallory.verifying_key());
    let public = countersign_attest::keys::public_key_to_base64(&mallory.verifying_key());
    let bob_kid = countersign_attest::key_id(&f.bob.verifying_key());
    f.db()
        .execute(
            "INSERT INTO credentials (key_id, identity, body)
             SELECT ?1, identity, json_set(body, '$.key_id', ?1, '$.public_key', ?2) FROM credentials WHERE key_id = ?3",
            [&kid, &public, &bob_kid],
        )
        .unwrap();
    let size = f.s.tree_size();
    refused(&f.s, size, f.sign_pending("bob", &mallory));
    f.audit_names("credentials", &kid);
}

#[test]
fn an_edited_request_state_decides_nothing() {
    let f = fixture();
    let id = &f.pending.id;
    f.db()
        .execute(
            "UPDATE requests SET state = 'rejected', body = json_set(body, '$.state', 'rejected') WHERE id = ?1",
            [id],
        )
        .unwrap();
    let (st, v) =
        f.s.call(Method::GET, &format!("/v1/requests/{id}"), None, true);
    assert_eq!(
        v["code"], "integrity_failure",
        "the edited request was answered: {st} {v}"
    );
    let size = f.s.tree_size();
    let r = f.pending.clone();
    refused(
        &f.s,
        size,
        f.s.submit(&sign(
            &statement(&r, "bob", &f.bob, Decision::Approve, f.s.now()),
            &f.bob,
        )),
    );
    f.audit_names("requests", id);
}

#[test]
fn a_reactivated_identity_does_not_sign() {
    let f = fixture();
    f.db()
        .execute(
            "UPDATE identities SET status = 'active', body = json_set(body, '$.status', 'active') WHERE handle = 'frank'",
            [],
        )
        .unwrap();
    let size = f.s.tree_size();
    refused(&f.s, size, f.sign_pending("frank", &f.frank));
    f.audit_names("identities", "frank");
}

#[test]
fn an_edited_document_digest_or_content_is_not_served_or_signed() {
    let f = fixture();
    let forged = countersign_attest::keys::sha256_hex(b"Offer letter for Dave, salary doubled\n");
    let db = f.db();
    db.execute(
        "UPDATE document_versions SET sha256 = ?1, body = json_set(body, '$.sha256', ?1) WHERE name = 'offer-letter'",
        [&forged],
    )
    .unwrap();
    db.execute(
        "UPDATE requests SET body = json_set(body, '$.documents[0].sha256', ?1) WHERE id = ?2",
        [&forged, &f.pending.id],
    )
    .unwrap();
    db.execute(
        "INSERT INTO blobs (sha256, content) VALUES (?1, ?2)",
        rusqlite::params![forged, b"Offer letter for Dave, salary doubled\n".to_vec()],
    )
    .unwrap();
    let size = f.s.tree_size();
    let (st, v) = f.s.call(
        Method::GET,
        "/v1/documents/offer-letter/versions/1/content",
        None,
        true,
    );
    assert_eq!(v["code"], "integrity_failure", "{st} {v}");
    refused(&f.s, size, f.sign_pending("carol", &f.carol));
    f.audit_names("document_versions", "offer-letter v1");
    f.audit_names("requests", &f.pending.id);
}

#[test]
fn edited_document_bytes_are_not_served() {
    let f = fixture();
    let digest = &f.pending.documents[0].sha256;
    f.db()
        .execute(
            "UPDATE blobs SET content = ?1 WHERE sha256 = ?2",
            rusqlite::params![b"Offer letter for Mallory\n".to_vec(), digest],
        )
        .unwrap();
    let (st, v) = f.s.call(
        Method::GET,
        "/v1/documents/offer-letter/versions/1/content",
        None,
        true,
    );
    assert_eq!(v["code"], "integrity_failure", "{st} {v}");
    f.audit_names("blobs", digest);
}

#[test]
fn an_edited_receipt_or_a_deleted_checkpoint_is_not_answered() {
    let f = fixture();
    let digest = countersign_attest::envelope_digest(&f.bob_signed).unwrap();
    let db = f.db();
    // carol's receipt put in place of bob's.
    db.execute(
        "UPDATE receipts SET receipt = (SELECT receipt FROM receipts WHERE envelope_sha256 != ?1 ORDER BY log_index DESC LIMIT 1) WHERE envelope_sha256 = ?1",
        [&digest],
    )
    .unwrap();
    let (_, v) = f.s.submit(&f.bob_signed);
    assert_eq!(v["code"], "integrity_failure", "{v}");
    f.audit_names("receipts", &digest);

    // A fresh fixture: the checkpoint bob's receipt was answered with, deleted.
    let f = fixture();
    let log_index = f
        .approved
        .signatures
        .iter()
        .find(|s| s.actor == "bob")
        .unwrap()
        .log_index;
    let size = log_index + 1;
    f.db()
        .execute("DELETE FROM checkpoints WHERE size = ?1", [size as i64])
        .unwrap();
    let (_, v) = f.s.submit(&f.bob_signed);
    assert_eq!(v["code"], "integrity_failure", "{v}");
    let digest = countersign_attest::envelope_digest(&f.bob_signed).unwrap();
    f.audit_names("receipts", &digest);
}

#[test]
fn an_edited_lookup_column_is_caught() {
    let f = fixture();
    // The pending request's creation entry no longer says which request it is.
    let index = f.pending.log_index;
    f.db()
        .execute(
            "UPDATE log_entries SET request = NULL WHERE idx = ?1",
            [index as i64],
        )
        .unwrap();
    let size = f.s.tree_size();
    refused(&f.s, size, f.sign_pending("bob", &f.bob));
    f.audit_names("log_entries", &index.to_string());
}

#[test]
fn an_edited_interior_hash_stops_every_write_and_every_proof_through_it() {
    // A hash on the root's path: the next checkpoint would not extend the
    // last one, so nothing is signed.
    let f = fixture();
    let size = f.s.tree_size();
    let level = 63 - size.leading_zeros();
    f.db()
        .execute(
            "UPDATE tree_hashes SET hash = zeroblob(32) WHERE level = ?1 AND idx = 0",
            [level],
        )
        .unwrap();
    let (st, v) = f.s.call(
        Method::POST,
        "/v1/identities",
        Some(&json!({"handle": "gus", "kind": "human"})),
        true,
    );
    assert_eq!(v["code"], "integrity_failure", "{st} {v}");
    assert_eq!(f.s.tree_size(), size);
    f.audit_names("tree_hashes", &format!("level {level} index 0"));

    // A hash off the root's path, inside the proofs of entries 4 to 7.
    let f = fixture();
    f.db()
        .execute(
            "UPDATE tree_hashes SET hash = zeroblob(32) WHERE level = 2 AND idx = 0",
            [],
        )
        .unwrap();
    let (st, v) =
        f.s.call(Method::GET, "/v1/log/entries/5/receipt", None, false);
    assert_eq!(v["code"], "integrity_failure", "{st} {v}");
    let (st, v) =
        f.s.call(Method::GET, "/v1/log/proof/inclusion?index=6", None, false);
    assert_eq!(v["code"], "integrity_failure", "{st} {v}");
    f.audit_names("tree_hashes", "level 2 index 0");
}

// ------------------------------------------------------- the random campaign

/// A small deterministic generator, so a failing cycle can be replayed
/// with its seed (`COUNTERSIGN_TAMPER_SEED`).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// The kinds of single tampering the campaign makes.
const CLASSES: &[&str] = &[
    "entry bytes",
    "entry deleted",
    "entries swapped",
    "tree hash",
    "checkpoint edited",
    "checkpoint deleted",
    "identity row",
    "credential row",
    "request row",
    "request approver row",
    "document version row",
    "document bytes",
    "receipt row",
    "token row",
    "lookup column",
    "opening",
    "forged row",
    "rollback (tail cut)",
    "rollback (older copy)",
];

fn rows_of(db: &Connection, sql: &str) -> Vec<i64> {
    db.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Change one top-level field of the JSON body of row `rowid` in `table`.
fn edit_body(db: &Connection, rng: &mut Rng, table: &str, rowid: i64) -> bool {
    let body: String = db
        .query_row(
            &format!("SELECT body FROM {table} WHERE rowid = ?1"),
            [rowid],
            |r| r.get(0),
        )
        .unwrap();
    let mut v: Value = serde_json::from_str(&body).unwrap();
    let Some(map) = v.as_object_mut() else {
        return false;
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    let key = &keys[rng.below(keys.len() as u64) as usize];
    let changed = match &map[key] {
        Value::String(s) => Value::String(format!("{s}x")),
        Value::Number(n) => json!(n.as_u64().unwrap_or(0).wrapping_add(1)),
        Value::Bool(b) => Value::Bool(!b),
        Value::Null => Value::String("forged".into()),
        Value::Array(a) if a.is_empty() => json!(["forged"]),
        Value::Array(a) => Value::Array(a[1..].to_vec()),
        Value::Object(_) => Value::Null,
    };
    map.insert(key.clone(), changed);
    db.execute(
        &format!("UPDATE {table} SET body = ?1 WHERE rowid = ?2"),
        rusqlite::params![v.to_string(), rowid],
    )
    .unwrap();
    true
}

/// Make one tampering of `class` in the database; answers false when the
/// database holds nothing of that kind to tamper with.
fn tamper(db: &Connection, rng: &mut Rng, class: &str) -> bool {
    let pick = |rng: &mut Rng, sql: &str| {
        let rows = rows_of(db, sql);
        (!rows.is_empty()).then(|| rows[rng.below(rows.len() as u64) as usize])
    };
    let size: i64 = db
        .query_row("SELECT count(*) FROM log_entries", [], |r| r.get(0))
        .unwrap();
    match class {
        "entry bytes" => {
            let idx = rng.below(size as u64) as i64;
            let mut data: Vec<u8> = db
                .query_row("SELECT data FROM log_entries WHERE idx = ?1", [idx], |r| {
                    r.get(0)
                })
                .unwrap();
            let at = rng.below(data.len() as u64) as usize;
            data[at] = if data[at] == b'0' { b'1' } else { b'0' };
            db.execute(
                "UPDATE log_entries SET data = ?1 WHERE idx = ?2",
                rusqlite::params![data, idx],
            )
            .unwrap();
        }
        "entry deleted" => {
            let idx = 1 + rng.below(size as u64 - 2) as i64;
            db.execute("DELETE FROM log_entries WHERE idx = ?1", [idx])
                .unwrap();
        }
        "entries swapped" => {
            let a = rng.below(size as u64) as i64;
            let b = (a + 1 + rng.below(size as u64 - 1) as i64) % size;
            db.execute_batch(&format!(
                "UPDATE log_entries SET idx = -1 WHERE idx = {a};
                 UPDATE log_entries SET idx = {a} WHERE idx = {b};
                 UPDATE log_entries SET idx = {b} WHERE idx = -1;"
            ))
            .unwrap();
        }
        "tree hash" => {
            let (level, idx): (i64, i64) = db
                .query_row(
                    &format!(
                        "SELECT level, idx FROM tree_hashes ORDER BY level, idx LIMIT 1 OFFSET {}",
                        rng.below(
                            db.query_row("SELECT count(*) FROM tree_hashes", [], |r| r
                                .get::<_, i64>(0))
                                .unwrap() as u64
                        )
                    ),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            db.execute(
                "UPDATE tree_hashes SET hash = randomblob(32) WHERE level = ?1 AND idx = ?2",
                [level, idx],
            )
            .unwrap();
        }
        "checkpoint edited" => {
            let Some(s) = pick(rng, "SELECT size FROM checkpoints") else {
                return false;
            };
            db.execute(
                "UPDATE checkpoints SET note = replace(note, 'countersign', 'countersigm') WHERE size = ?1",
                [s],
            )
            .unwrap();
        }
        "checkpoint deleted" => {
            // A middle one: the latest is covered by the kept checkpoint.
            let Some(s) = pick(
                rng,
                "SELECT size FROM checkpoints WHERE size < (SELECT max(size) FROM checkpoints)",
            ) else {
                return false;
            };
            db.execute("DELETE FROM checkpoints WHERE size = ?1", [s])
                .unwrap();
        }
        "identity row"
        | "credential row"
        | "request row"
        | "document version row"
        | "token row" => {
            let table = match class {
                "identity row" => "identities",
                "credential row" => "credentials",
                "request row" => "requests",
                "document version row" => "document_versions",
                _ => "api_tokens",
            };
            let Some(r) = pick(rng, &format!("SELECT rowid FROM {table}")) else {
                return false;
            };
            if rng.below(4) == 0 {
                db.execute(&format!("DELETE FROM {table} WHERE rowid = ?1"), [r])
                    .unwrap();
            } else {
                return edit_body(db, rng, table, r);
            }
        }
        "request approver row" => {
            let Some(r) = pick(rng, "SELECT rowid FROM request_approvers") else {
                return false;
            };
            if rng.below(2) == 0 {
                db.execute("DELETE FROM request_approvers WHERE rowid = ?1", [r])
                    .unwrap();
            } else {
                db.execute(
                    "UPDATE request_approvers SET approver = 'mallory' WHERE rowid = ?1",
                    [r],
                )
                .unwrap();
            }
        }
        "document bytes" => {
            let Some(r) = pick(rng, "SELECT rowid FROM blobs") else {
                return false;
            };
            db.execute(
                "UPDATE blobs SET content = CAST(content || 'x' AS BLOB) WHERE rowid = ?1",
                [r],
            )
            .unwrap();
        }
        "receipt row" => {
            let Some(r) = pick(rng, "SELECT rowid FROM receipts") else {
                return false;
            };
            match rng.below(3) {
                0 => db.execute(
                    "UPDATE receipts SET log_index = log_index + 1 WHERE rowid = ?1",
                    [r],
                ),
                1 => {
                    let text: String = db
                        .query_row("SELECT receipt FROM receipts WHERE rowid = ?1", [r], |r| {
                            r.get(0)
                        })
                        .unwrap();
                    let mut bytes = text.into_bytes();
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
                    db.execute(
                        "UPDATE receipts SET receipt = ?1 WHERE rowid = ?2",
                        rusqlite::params![String::from_utf8_lossy(&bytes), r],
                    )
                }
                _ => db.execute(
                    "UPDATE receipts SET request = 'req_forged' WHERE rowid = ?1",
                    [r],
                ),
            }
            .unwrap();
        }
        "lookup column" => {
            let idx = rng.below(size as u64) as i64;
            let column = ["kind", "request", "identity", "key_id"][rng.below(4) as usize];
            let sql = if column == "kind" {
                "UPDATE log_entries SET kind = CASE WHEN kind = 'identity.created' THEN 'request.created' ELSE 'identity.created' END WHERE idx = ?1".to_string()
            } else {
                format!(
                    "UPDATE log_entries SET {column} = CASE WHEN {column} IS NULL THEN 'forged' ELSE NULL END WHERE idx = ?1"
                )
            };
            db.execute(&sql, [idx]).unwrap();
        }
        "opening" => {
            let Some(r) = pick(rng, "SELECT rowid FROM openings WHERE value IS NOT NULL") else {
                return false;
            };
            if rng.below(2) == 0 {
                db.execute(
                    "UPDATE openings SET value = value || 'x' WHERE rowid = ?1",
                    [r],
                )
                .unwrap();
            } else {
                db.execute("DELETE FROM openings WHERE rowid = ?1", [r])
                    .unwrap();
            }
        }
        "forged row" => match rng.below(3) {
            0 => {
                db.execute(
                    "INSERT INTO credentials (key_id, identity, body) SELECT 'forged' || key_id, identity, json_set(body, '$.key_id', 'forged' || key_id) FROM credentials LIMIT 1",
                    [],
                )
                .unwrap();
            }
            1 => {
                db.execute(
                    "INSERT INTO identities (handle, kind, status, body) SELECT 'mallory', kind, status, json_set(body, '$.handle', 'mallory') FROM identities LIMIT 1",
                    [],
                )
                .unwrap();
            }
            _ => {
                db.execute(
                    "INSERT INTO requests (id, state, event_kind, requester, beneficiary, created_at, expires_at, body)
                     SELECT 'req_forged', state, event_kind, requester, beneficiary, created_at, expires_at, json_set(body, '$.id', 'req_forged') FROM requests LIMIT 1",
                    [],
                )
                .unwrap();
            }
        },
        "rollback (tail cut)" => {
            let keep = 1 + rng.below(size as u64 - 1) as i64;
            db.execute_batch(&format!(
                "DELETE FROM log_entries WHERE idx >= {keep};
                 DELETE FROM tree_hashes WHERE ((idx + 1) << level) > {keep};
                 DELETE FROM checkpoints WHERE size > {keep};"
            ))
            .unwrap();
        }
        other => panic!("no class {other}"),
    }
    true
}

/// How a tampering was caught, if it was.
fn caught_by(dir: &std::path::Path, log_key: &str, kept_by_client: &str) -> Option<&'static str> {
    let store = std::sync::Arc::new(
        countersign_store_sqlite::SqliteStore::open(&dir.join("countersign.db")).ok()?,
    );
    let verifier = countersign_tlog::note::NoteVerifier::from_vkey(log_key).unwrap();
    match countersign_ledger::audit::audit(&*store, &verifier, &mut |_, _| {}) {
        Ok(r) if r.ok() => {}
        _ => return Some("log audit"),
    }
    let skey = std::fs::read_to_string(dir.join("log.key")).unwrap();
    let signer = countersign_tlog::note::NoteSigner::from_skey(skey.trim()).unwrap();
    let policy =
        std::sync::Arc::new(countersign_policy::PolicySet::load_dir(&dir.join("policy")).unwrap());
    let keeper: std::sync::Arc<dyn countersign_ledger::CheckpointKeeper> = std::sync::Arc::new(
        countersign_ledger::CheckpointFile::new(dir.join("checkpoint")),
    );
    if countersign_ledger::Ledger::open_kept(
        store.clone(),
        signer,
        Default::default(),
        policy,
        Some(keeper),
        wall_clock(),
    )
    .is_err()
    {
        return Some("the server at start");
    }
    // A client that kept the newest checkpoint it saw.
    let kept = countersign_tlog::checkpoint::Checkpoint::open(kept_by_client, &verifier).unwrap();
    let latest = {
        use countersign_ledger::Store as _;
        let tx = store.read().unwrap();
        tx.latest_checkpoint().unwrap().map(|(s, _)| s).unwrap_or(0)
    };
    if latest < kept.size {
        return Some("a client's kept checkpoint");
    }
    None
}

#[test]
fn random_tamperings_are_each_caught() {
    let cycles: usize = std::env::var("COUNTERSIGN_TAMPER_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CLASSES.len() * 4);
    let seed: u64 = std::env::var("COUNTERSIGN_TAMPER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_c0de);
    let mut f = fixture();
    // An older copy of the database, then one more signature.
    f.s.stop();
    let older = tempfile::tempdir().unwrap();
    std::fs::copy(f.s.db_path(), older.path().join("countersign.db")).unwrap();
    f.s.boot();
    let (st, v) = f.sign_pending("bob", &f.bob);
    assert_eq!(st, 201, "{v}");
    // A client that saw the latest checkpoint keeps it.
    let client_kept = f.s.text("/v1/log/checkpoint");
    f.s.stop();
    let snapshot = f.s.dir.path().to_path_buf();
    let mut rng = Rng(seed | 1);
    let mut tally: std::collections::BTreeMap<
        &str,
        (u32, u32, std::collections::BTreeMap<&str, u32>),
    > = Default::default();
    let mut missed = Vec::new();
    for cycle in 0..cycles {
        let class = CLASSES[cycle % CLASSES.len()];
        let scratch = tempfile::tempdir().unwrap();
        for name in ["countersign.db", "log.key", "checkpoint"] {
            std::fs::copy(snapshot.join(name), scratch.path().join(name)).unwrap();
        }
        let policy = scratch.path().join("policy");
        std::fs::create_dir(&policy).unwrap();
        for e in std::fs::read_dir(snapshot.join("policy")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), policy.join(e.file_name())).unwrap();
        }
        if class == "rollback (older copy)" {
            std::fs::copy(
                older.path().join("countersign.db"),
                scratch.path().join("countersign.db"),
            )
            .unwrap();
        } else {
            let db = Connection::open(scratch.path().join("countersign.db")).unwrap();
            if !tamper(&db, &mut rng, class) {
                continue;
            }
        }
        let t = tally.entry(class).or_default();
        t.0 += 1;
        match caught_by(scratch.path(), &f.s.log_key, &client_kept) {
            Some(by) => {
                t.1 += 1;
                *t.2.entry(by).or_default() += 1;
            }
            None => missed.push(format!("cycle {cycle}: {class}")),
        }
    }
    let mut total = (0, 0);
    println!("| class | tampered | caught | by |\n| --- | --- | --- | --- |");
    for (class, (n, c, by)) in &tally {
        total.0 += n;
        total.1 += c;
        let by: Vec<String> = by.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("| {class} | {n} | {c} | {} |", by.join(", "));
    }
    println!(
        "{} random tamperings (seed {seed}), {} caught",
        total.0, total.1
    );
    assert!(
        total.0 as usize >= cycles * 9 / 10,
        "too few tamperings made: {}",
        total.0
    );
    assert!(missed.is_empty(), "not caught: {missed:?}");
}

#[test]
fn readiness_fails_when_the_log_does_not_match_its_checkpoints() {
    let f = fixture();
    let (st, body) = f.s.call(Method::GET, "/healthz", None, false);
    assert_eq!((st, body), (200, Value::String("ok\n".into())));
    let (st, v) = f.s.call(Method::GET, "/readyz", None, false);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["ready"], true);
    assert_eq!(v["tree_size"], f.s.tree_size());
    f.db()
        .execute(
            "DELETE FROM checkpoints WHERE size = (SELECT max(size) FROM checkpoints)",
            [],
        )
        .unwrap();
    let (st, v) = f.s.call(Method::GET, "/readyz", None, false);
    assert_eq!(st, 503, "{v}");
    assert_eq!(v["ready"], false);
    // Still alive: a process to look at, not one to restart in a loop.
    assert_eq!(f.s.call(Method::GET, "/healthz", None, false).0, 200);
}
