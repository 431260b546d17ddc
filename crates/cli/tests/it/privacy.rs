//! Personal data out of the log: commitments in entries, openings in
//! bundles, legal holds, retention and erasure, checked in the files.

use countersign_proto::api::{CreateIdentity, EntryPage};
use countersign_proto::evidence::EvidenceBundle;
use countersign_proto::governance::{Erasure, LegalHold, Role};
use countersign_proto::model::*;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::*;

const NAME: &str = "Dora Quintero-Vasquez";
const EMAIL: &str = "dora.quintero@example.com";
const PURPOSE: &str = "Payroll access while Dora covers the Lisbon office";
const REASON: &str = "Dora is leaving in March, the contract says so";

fn dora(s: &TestServer) -> Identity {
    s.post(
        "/v1/identities",
        &CreateIdentity {
            handle: "dora".into(),
            kind: IdentityKind::Human,
            display_name: Some(NAME.into()),
            email: Some(EMAIL.into()),
            owner: None,
            shared: false,
            groups: vec![],
            roles: vec![],
            manager: None,
        },
    )
}

/// Dora asks for access (purpose) and rejects another request (reason);
/// answers the two request ids.
fn dora_requests_and_rejects(s: &TestServer) -> (String, String) {
    dora(s);
    let (other, keys) = s.onboarding(&["bob"]);
    let dora_key = s.enroll("dora", None);
    // A request Dora asked for, that bob approves.
    let mut body = request_body("offer-letter", "dora", "dave", &["bob"]);
    body.purpose = PURPOSE.into();
    let asked = s.request(&body);
    let (st, _) = s.submit(&sign(
        &statement(&asked, "bob", &keys[0], Decision::Approve, s.now()),
        &keys[0],
    ));
    assert_eq!(st, 201);
    // A request Dora must approve, which she rejects with a reason.
    let mut body = request_body("offer-letter", "alice", "dave", &["dora"]);
    body.purpose = "Onboard Dave".into();
    let rejected = s.request(&body);
    let mut statement = statement(&rejected, "dora", &dora_key, Decision::Reject, s.now());
    statement.predicate.reason = Some(REASON.into());
    let (st, v) = s.submit(&sign(&statement, &dora_key));
    assert_eq!(st, 201, "{v}");
    let _ = other;
    (asked.id, rejected.id)
}

fn all_entries(s: &TestServer) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let page: EntryPage = s.get(&format!("/v1/log/entries?start={start}&limit=100"));
        if page.entries.is_empty() {
            return out;
        }
        start += page.entries.len() as u64;
        out.extend(page.entries.into_iter().map(|e| e.entry));
    }
}

fn bundle(s: &TestServer, id: &str) -> EvidenceBundle {
    s.get(&format!("/v1/requests/{id}/evidence"))
}

fn verify(s: &TestServer, b: &EvidenceBundle) -> countersign_verify::Report {
    countersign_verify::verify_bundle(
        &serde_json::to_vec(b).unwrap(),
        &countersign_verify::Options {
            pinned_log_key: Some(s.log_key.clone()),
            documents: vec![],
        },
    )
}

fn failed(report: &countersign_verify::Report) -> Vec<String> {
    report
        .failures()
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect()
}

/// Every byte the store keeps on disk: the database and its WAL.
fn files(s: &TestServer) -> Vec<u8> {
    let mut bytes = std::fs::read(s.db_path()).unwrap();
    let mut wal = s.db_path().into_os_string();
    wal.push("-wal");
    if let Ok(w) = std::fs::read(wal) {
        bytes.extend(w);
    }
    bytes
}

/// The tables with a row holding `needle`, to say where a value was left.
fn where_is(s: &TestServer, needle: &str) -> Vec<String> {
    let db = rusqlite::Connection::open(s.db_path()).unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .filter(|t| {
            let cols: Vec<String> = db
                .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            cols.iter().any(|c| {
                db.query_row(
                    &format!("SELECT count(*) FROM {t} WHERE instr(CAST({c} AS BLOB), ?1) > 0"),
                    [needle.as_bytes()],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap()
                    > 0
            })
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn the_log_holds_commitments_and_bundles_open_them() {
    let s = TestServer::start();
    let (asked, rejected) = dora_requests_and_rejects(&s);
    let (st, v) = s.call(
        Method::POST,
        "/v1/webhooks",
        Some(&json!({"url": "https://hooks.example.com/T0KEN-in-the-url", "events": []})),
        true,
    );
    assert!(st < 300, "{v}");

    // No entry holds a personal value; the entries commit to them.
    let entries = all_entries(&s);
    assert_eq!(entries.len() as u64, s.tree_size());
    for e in &entries {
        for secret in [
            NAME,
            EMAIL,
            PURPOSE,
            REASON,
            "T0KEN-in-the-url",
            "dave (test)",
        ] {
            assert!(!e.contains(secret), "an entry holds {secret:?}: {e}");
        }
    }
    let created: Value = entries
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .find(|e| e["type"] == "identity.created" && e["identity"]["handle"] == "dora")
        .unwrap();
    assert_eq!(created["v"], 2);
    let c = created["identity"]["email"].as_str().unwrap();
    assert!(
        c.starts_with("commitment:sha256:") && c.len() == 18 + 64,
        "{c}"
    );

    // The API still answers the values, and the bundle carries openings.
    let who: Identity = s.get("/v1/identities/dora");
    assert_eq!(
        (who.display_name.as_str(), who.email.as_deref()),
        (NAME, Some(EMAIL))
    );
    let b = bundle(&s, &asked);
    assert!(b.openings.values().any(|o| o.value == PURPOSE));
    let report = verify(&s, &b);
    assert!(report.ok(), "{:?}", failed(&report));
    let b = bundle(&s, &rejected);
    let report = verify(&s, &b);
    assert!(report.ok(), "{:?}", failed(&report));

    // An opening altered in the bundle does not open its commitment.
    let mut forged = b.clone();
    let (_, o) = forged.openings.iter_mut().next().unwrap();
    o.value.push('!');
    let report = verify(&s, &forged);
    assert!(
        report.failures().any(|c| c.name == "entry.opening"),
        "{:?}",
        failed(&report)
    );
    // An opening left out, with no erasure recorded, is not an erasure.
    let mut withheld = b.clone();
    withheld.openings.clear();
    let report = verify(&s, &withheld);
    let f = failed(&report);
    assert!(
        f.iter().any(|c| c.contains("no entry records its erasure")),
        "{f:?}"
    );

    // Entries are for auditors; the checkpoint stays public.
    let (st, _) = s.call(Method::GET, "/v1/log/entries", None, false);
    assert_eq!(st, 401);
    let (st, _) = s.call(Method::GET, "/v1/log/checkpoint", None, false);
    assert_eq!(st, 200);
}

#[test]
fn erasure_waits_for_retention_and_holds_and_leaves_every_proof_valid() {
    let mut s = TestServer::start_sqlite();
    s.retention.identity = std::time::Duration::from_secs(86_400);
    s.retention.approval = std::time::Duration::from_secs(10 * 86_400);
    s.stop();
    s.boot();
    let (asked, rejected) = dora_requests_and_rejects(&s);
    let erase = |s: &TestServer| s.call(Method::POST, "/v1/identities/dora/erasure", None, true);

    // Not while she is active.
    let (st, v) = erase(&s);
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("erasure_not_allowed")),
        "{v}"
    );

    // A legal hold on the request she rejected.
    let (st, hold) = s.call(
        Method::POST,
        &format!("/v1/requests/{rejected}/holds"),
        Some(&json!({"reason": "Litigation hold, matter 2026-114"})),
        true,
    );
    assert_eq!(st, 201, "{hold}");
    let hold: LegalHold = serde_json::from_value(hold).unwrap();
    let (st, v) = s.call(
        Method::POST,
        &format!("/v1/requests/{rejected}/holds"),
        Some(&json!({"reason": ""})),
        true,
    );
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("invalid_field")),
        "{v}"
    );
    let (st, v) = s.call(
        Method::POST,
        "/v1/requests/req_nothing/holds",
        Some(&json!({"reason": "x"})),
        true,
    );
    assert_eq!(
        (st, v["code"].as_str()),
        (404, Some("request_not_found")),
        "{v}"
    );

    let (st, _) = s.call(
        Method::POST,
        "/v1/identities/dora/terminate",
        Some(&json!({"reason": "left"})),
        true,
    );
    assert_eq!(st, 200);

    // Within retention nothing goes, and nothing is logged.
    let size = s.tree_size();
    let (st, v) = erase(&s);
    assert_eq!(st, 200, "{v}");
    let e: Erasure = serde_json::from_value(v).unwrap();
    assert_eq!(e.erased, 0);
    assert!(e.kept > 0 && e.log_index.is_none(), "{e:?}");
    assert_eq!(s.tree_size(), size);

    // After the identity retention: her name and e-mail go; what she
    // approved is kept ten days, and the held request's values stay.
    s.advance(time::Duration::days(2));
    let (_, v) = erase(&s);
    let first: Erasure = serde_json::from_value(v).unwrap();
    assert!(first.erased > 0 && first.log_index.is_some(), "{first:?}");
    assert!(
        first
            .kept_because
            .iter()
            .any(|k| k.contains("approval values are kept 10 days")),
        "{first:?}"
    );
    let who: Identity = s.get("/v1/identities/dora");
    assert_eq!(who.display_name, "(erased)");
    assert!(!contains(&files(&s), EMAIL) && !contains(&files(&s), NAME));
    assert!(contains(&files(&s), PURPOSE), "still within retention");

    s.advance(time::Duration::days(10));
    let (_, v) = erase(&s);
    let second: Erasure = serde_json::from_value(v).unwrap();
    assert!(second.erased > 0, "{second:?}");
    assert!(
        second
            .kept_because
            .iter()
            .any(|k| k.contains(&format!("legal hold on request {rejected}"))),
        "{second:?}"
    );
    assert!(contains(&files(&s), REASON), "held");
    assert!(!contains(&files(&s), PURPOSE));

    let (st, _) = s.call(
        Method::POST,
        &format!("/v1/holds/{}/release", hold.id),
        None,
        true,
    );
    assert_eq!(st, 200);
    let (st, v) = s.call(
        Method::POST,
        &format!("/v1/holds/{}/release", hold.id),
        None,
        true,
    );
    assert_eq!((st, v["code"].as_str()), (409, Some("invalid_transition")));
    let (_, v) = erase(&s);
    let third: Erasure = serde_json::from_value(v).unwrap();
    assert!(third.erased > 0 && third.kept == 0, "{third:?}");

    // No personal value of hers is left in the database or its WAL.
    let bytes = files(&s);
    for secret in [NAME, EMAIL, PURPOSE, REASON] {
        assert!(
            !contains(&bytes, secret),
            "the files still hold {secret:?}, in tables {:?}",
            where_is(&s, secret)
        );
    }

    // Every bundle naming her verifies, showing the fields as erased.
    for id in [&asked, &rejected] {
        let b = bundle(&s, id);
        let report = verify(&s, &b);
        assert!(report.ok(), "{id}: {:?}", failed(&report));
        assert!(
            report.checks.iter().any(|c| c.name == "entry.erased"),
            "{id}"
        );
        assert!(
            report.warnings.iter().any(|w| w.contains("erased")),
            "{id}: {:?}",
            report.warnings
        );
    }
    let b = bundle(&s, &rejected);
    let report = verify(&s, &b);
    assert!(report
        .checks
        .iter()
        .any(|c| c.name == "signature.erased" && c.ok));

    // Each hold and erasure is logged, and the log still audits clean.
    let kinds: Vec<String> = all_entries(&s)
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "personal.erased").count(), 3);
    assert!(kinds.contains(&"hold.placed".into()) && kinds.contains(&"hold.released".into()));
    let (code, report) = log_audit(s.dir.path());
    assert_eq!(code, Some(0), "{report}");
}

#[test]
fn holds_and_erasure_need_their_roles() {
    let s = TestServer::start();
    dora(&s);
    let auditor = s.token_for(None, &[Role::Auditor]);
    let (st, _) = s.call_as(Method::GET, "/v1/holds", None, Some(&auditor));
    assert_eq!(st, 200);
    let (st, _) = s.call_as(
        Method::POST,
        "/v1/identities/dora/holds",
        Some(&json!({"reason": "x"})),
        Some(&auditor),
    );
    assert_eq!(st, 403);
    let (st, _) = s.call_as(
        Method::POST,
        "/v1/identities/dora/erasure",
        None,
        Some(&auditor),
    );
    assert_eq!(st, 403);
    let (st, v) = s.call(Method::POST, "/v1/identities/nobody/erasure", None, true);
    assert_eq!((st, v["code"].as_str()), (404, Some("identity_not_found")));
    let (st, v) = s.call(Method::GET, "/v1/holds/hold_missing", None, true);
    assert_eq!((st, v["code"].as_str()), (404, Some("hold_not_found")));
}

#[test]
fn log_audit_catches_an_edited_or_deleted_opening() {
    let mut s = TestServer::start_sqlite();
    dora(&s);
    s.stop();
    let audit = |s: &TestServer| log_audit(s.dir.path());
    assert_eq!(audit(&s).0, Some(0));
    let db = rusqlite::Connection::open(s.db_path()).unwrap();
    let backup: (String, String) = db
        .query_row(
            "SELECT commitment, value FROM openings WHERE value = ?1",
            [EMAIL],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // Someone else's address put in place of Dora's.
    db.execute(
        "UPDATE openings SET value = 'mallory@example.com' WHERE commitment = ?1",
        [&backup.0],
    )
    .unwrap();
    let (code, out) = audit(&s);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("does not match the commitment"), "{out}");
    // An opening deleted without an erasure.
    db.execute("DELETE FROM openings WHERE commitment = ?1", [&backup.0])
        .unwrap();
    let (code, out) = audit(&s);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no personal.erased entry erased it"), "{out}");
}

/// Erasing someone whose name is their handle (the default) blanks their
/// name, not every mention of them: other people's requests still name
/// them, the log still audits clean and the server still starts.
#[test]
fn erasing_a_person_named_by_their_handle_touches_nothing_else() {
    let mut s = TestServer::start();
    s.retention.identity = std::time::Duration::ZERO;
    s.retention.approval = std::time::Duration::ZERO;
    s.stop();
    s.boot();
    let (r, keys) = s.onboarding(&["erin", "bob"]);
    // A vouched key too: the audit rebuilds its assurance from the log.
    let kid = countersign_attest::key_id(&keys[1].verifying_key());
    let (st, v) = s.call(
        Method::POST,
        &format!("/v1/keys/{kid}/vouch"),
        Some(&json!({"reason": "YubiKey 5 seen in person, serial 1234"})),
        true,
    );
    assert_eq!(st, 200, "{v}");
    let mut st = statement(&r, "erin", &keys[0], Decision::Reject, s.now());
    st.predicate.reason = Some("approve".into());
    assert_eq!(s.submit(&sign(&st, &keys[0])).0, 201);
    let (code, _) = s.call(
        Method::POST,
        "/v1/identities/erin/terminate",
        Some(&json!({"reason": "left"})),
        true,
    );
    assert_eq!(code, 200);
    let (code, v) = s.call(Method::POST, "/v1/identities/erin/erasure", None, true);
    assert_eq!(code, 200, "{v}");
    let e: Erasure = serde_json::from_value(v).unwrap();
    assert!(e.erased > 0 && e.kept == 0, "{e:?}");
    let after: Request = s.get(&format!("/v1/requests/{}", r.id));
    assert_eq!(after.approvers, vec!["erin".to_string(), "bob".to_string()]);
    assert_eq!(after.signatures[0].actor, "erin");
    assert_eq!(after.signatures[0].decision, Decision::Reject);
    assert_eq!(after.state, RequestState::Rejected);
    let who: Identity = s.get("/v1/identities/erin");
    assert_eq!(
        (who.handle.as_str(), who.display_name.as_str()),
        ("erin", "(erased)")
    );
    s.stop();
    s.boot();
    let (code, report) = log_audit(s.dir.path());
    assert_eq!(code, Some(0), "{report}");
    let report = verify(&s, &bundle(&s, &r.id));
    assert!(report.ok(), "{:?}", failed(&report));
}
