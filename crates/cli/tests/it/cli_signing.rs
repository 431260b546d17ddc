//! The CLI as signers and auditors use it: `sign` says in plain words what
//! is being approved and checks every document before it signs; `verify`
//! and `evidence report` say prominently when the log key was not pinned;
//! `identity invite` hands out an enrolment link.

use std::process::{Command, Output};

use countersign_proto::model::*;
use serde_json::Value;

use crate::harness::*;

fn cli(s: &TestServer, dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(binary())
        .current_dir(dir)
        // The client's pinned keys and held checkpoints: this test's own.
        .env("COUNTERSIGN_STATE", dir.join("client-state"))
        .args(["--server", &s.base, "--token", TOKEN])
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// bob with a key file from `countersign keygen`, enrolled with the CLI.
fn bob_with_key_file(s: &TestServer, dir: &std::path::Path) {
    s.human("bob");
    let o = cli(s, dir, &["keygen", "--out", "bob.key"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(
        s,
        dir,
        &["key", "enroll", "--identity", "bob", "--key", "bob.key"],
    );
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn sign_says_what_is_approved_and_checks_every_document_before_signing() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    s.human("alice");
    s.human("dave");
    bob_with_key_file(&s, dir.path());
    s.document("offer-letter", b"Offer letter for Dave\n");
    let r = s.request(&request_body("offer-letter", "alice", "dave", &["bob"]));
    std::fs::write(dir.path().join("wrong.txt"), b"Offer letter for Eve\n").unwrap();
    let before = s.tree_size();
    // Another file than the one the request binds: not signed, nothing written.
    let o = cli(
        &s,
        dir.path(),
        &[
            "sign",
            &r.id,
            "--as",
            "bob",
            "--key",
            "bob.key",
            "--document",
            "wrong.txt",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("none of your --document files is offer-letter@v1"),
        "{}",
        text(&o)
    );
    assert_eq!(s.tree_size(), before);

    let o = cli(
        &s,
        dir.path(),
        &["sign", &r.id, "--as", "bob", "--key", "bob.key"],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for line in [
        "Onboard a new engineer",
        "onboarding, medium impact",
        "access change: grant dave \u{201c}org/acme/team/eng\u{201d} on github",
        "requested by alice for dave",
        "approvers: bob (waiting)",
        "fetched and checked",
        "policy: You can approve or reject this request with your key.",
        "bob signed",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let r: Request = s.get(&format!("/v1/requests/{}", r.id));
    assert_eq!(r.state, RequestState::Approved);
}

#[test]
fn a_document_registered_by_digest_only_needs_the_signers_own_copy() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    s.human("alice");
    s.human("dave");
    bob_with_key_file(&s, dir.path());
    let content = b"Contract v3\n";
    std::fs::write(dir.path().join("contract.txt"), content).unwrap();
    let digest = countersign_attest::keys::sha256_hex(content);
    let o = cli(
        &s,
        dir.path(),
        &["doc", "add", "contract", "--sha256", &digest],
    );
    assert!(o.status.success(), "{}", text(&o));
    let r = s.request(&request_body("contract", "alice", "dave", &["bob"]));
    let o = cli(
        &s,
        dir.path(),
        &["sign", &r.id, "--as", "bob", "--key", "bob.key"],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("registered by digest only"),
        "{}",
        text(&o)
    );
    let o = cli(
        &s,
        dir.path(),
        &[
            "sign",
            &r.id,
            "--as",
            "bob",
            "--key",
            "bob.key",
            "--document",
            "contract.txt",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("matches your copy contract.txt"),
        "{}",
        text(&o)
    );
}

#[test]
fn verify_and_the_certificate_say_when_the_log_key_was_not_pinned() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (r, keys) = s.onboarding(&["bob"]);
    let (status, _) = s.submit(&sign(
        &statement(&r, "bob", &keys[0], Decision::Approve, s.now()),
        &keys[0],
    ));
    assert_eq!(status, 201);
    let o = cli(
        &s,
        dir.path(),
        &["evidence", "export", &r.id, "--out", "b.json"],
    );
    assert!(o.status.success(), "{}", text(&o));

    // Unpinned: every check passes, but the exit status and the first line say it proves little.
    let o = cli(&s, dir.path(), &["verify", "b.json"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("WARNING: the log key was not pinned"),
        "{out}"
    );
    assert!(out.contains("CONSISTENT, NOT VERIFIED"), "{out}");
    // Pinned: verified, status 0.
    let o = cli(
        &s,
        dir.path(),
        &["verify", "b.json", "--log-key", &s.log_key],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("VERIFIED:"));
    let o = cli(&s, dir.path(), &["verify", "b.json", "--json"]);
    assert_eq!(o.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["log_key_pinned"].as_bool()),
        (Some(true), Some(false))
    );

    // The completion certificate, offline from the bundle alone.
    let o = cli(
        &s,
        dir.path(),
        &[
            "evidence",
            "report",
            "b.json",
            "--out",
            "report.html",
            "--log-key",
            &s.log_key,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains("Completion certificate") && html.contains("Verified:"),
        "{html}"
    );
    assert!(!html.contains("not pinned"));
    let o = cli(
        &s,
        dir.path(),
        &["evidence", "report", "b.json", "--out", "unpinned.html"],
    );
    assert_eq!(o.status.code(), Some(3));
    let html = std::fs::read_to_string(dir.path().join("unpinned.html")).unwrap();
    assert!(html.contains("not pinned"));

    // A tampered bundle: NOT VERIFIED, status 1, in both.
    let mut b: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("b.json")).unwrap()).unwrap();
    b["checkpoint"] = Value::String(b["checkpoint"].as_str().unwrap().replacen("\n", "x\n", 1));
    std::fs::write(dir.path().join("bad.json"), serde_json::to_vec(&b).unwrap()).unwrap();
    let o = cli(
        &s,
        dir.path(),
        &["verify", "bad.json", "--log-key", &s.log_key],
    );
    assert_eq!(o.status.code(), Some(1));
    let o = cli(
        &s,
        dir.path(),
        &[
            "evidence",
            "report",
            "bad.json",
            "--out",
            "bad.html",
            "--log-key",
            &s.log_key,
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(std::fs::read_to_string(dir.path().join("bad.html"))
        .unwrap()
        .contains("NOT VERIFIED"));
}

#[test]
fn identity_invite_hands_out_a_single_use_link() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    s.human("bob");
    let o = cli(
        &s,
        dir.path(),
        &["identity", "invite", "bob", "--expires-in", "2d"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let url = out.lines().next().unwrap();
    assert!(url.starts_with(&format!("{}/enrol/", s.origin())), "{out}");
    assert!(out.contains("works once"), "{out}");
    let o = cli(&s, dir.path(), &["identity", "invite", "bob", "--mail"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("mail is not configured"), "{}", text(&o));
    let o = cli(
        &s,
        dir.path(),
        &["identity", "invite", "bob", "--expires-in", "15d"],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("14 days"), "{}", text(&o));
}
