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

/// A small but realistic database: a pending request (approvers bob,
/// erin, frank, carol), an approved one (bob and carol signed), erin's key
/// revoked, frank suspended.
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
    let s = TestServer::start();
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
    let pending = s.request(&request_body(
        "offer-letter",
        "alice",
        "dave",
        &["bob", "erin", "frank", "carol"],
    ));
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

    fn sign_pending(&self, actor: &str, key: &SigningKey) -> (u16, Value) {
        let r: Request = self.s.get(&format!("/v1/requests/{}", self.pending.id));
        self.s.submit(&sign(
            &statement(&r, actor, key, Decision::Approve, self.s.now()),
            key,
        ))
    }

    /// `log audit` fails and names `table` and `key`.
    fn audit_names(&self, table: &str, key: &str) {
        let out = std::process::Command::new(binary())
            .args(["log", "audit", "--data"])
            .arg(self.s.dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(1), "{text}");
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
    let size = f.s.tree_size();
    refused(&f.s, size, f.sign_pending("bob", &f.bob));
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
