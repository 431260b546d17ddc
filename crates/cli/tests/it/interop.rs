//! Interoperability: receipts, checkpoints and envelopes verify with standard
//! third-party implementations, not only ours. Go's reference
//! `golang.org/x/mod/sumdb/{note,tlog}` checks the C2SP signed-note checkpoints
//! and RFC 6962 proofs (interop/go/verify.go); PyPI's `securesystemslib` checks
//! the DSSE envelopes (interop/dsse_verify.py). These tests fail, never skip,
//! when the tools are missing: run the install step in .ci/run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_proto::api::*;
use countersign_proto::model::*;

use crate::harness::*;

const INSTALL_HINT: &str = "run the install step of .ci/run \
    (apt-get install golang-go golang-golang-x-mod-dev; pip install securesystemslib==1.3.0)";
const GOPATH: &str = "/usr/share/gocode";

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

/// Runs `cmd` to completion within `limit`; answers (success, stdout + stderr).
fn run(cmd: &mut Command, limit: Duration) -> (bool, String) {
    let out_dir = tempfile::tempdir().unwrap();
    let (out, err) = (out_dir.path().join("stdout"), out_dir.path().join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}; {INSTALL_HINT}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(out).unwrap() + &std::fs::read_to_string(err).unwrap();
    (status.success(), text)
}

/// Builds interop/go/verify.go against the Debian-packaged x/mod in GOPATH mode.
fn build_go_verifier(dir: &Path) -> PathBuf {
    assert!(
        Path::new(GOPATH)
            .join("src/golang.org/x/mod/sumdb/note")
            .is_dir(),
        "golang.org/x/mod is not under {GOPATH}; {INSTALL_HINT}"
    );
    let bin = dir.join("verify-go");
    let (ok, out) = run(
        Command::new("go")
            .arg("build")
            .arg("-o")
            .arg(&bin)
            .arg(interop_dir().join("go/verify.go"))
            .env("GO111MODULE", "off")
            .env("GOPATH", GOPATH)
            .env("GOFLAGS", "")
            .env(
                "GOCACHE",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache"),
            ),
        Duration::from_secs(180),
    );
    assert!(
        ok,
        "go build of interop/go/verify.go failed: {out}\n{INSTALL_HINT}"
    );
    bin
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn go_reference_tlog_and_note_verify_receipts_and_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let go = build_go_verifier(tmp.path());
    let go_verify = |args: &[&Path]| run(Command::new(&go).args(args), Duration::from_secs(30));

    let s = TestServer::start();
    let (r, keys) = s.onboarding(&["bob"]);
    let bob = &keys[0];
    let (status, receipt) = s.submit(&sign(
        &statement(&r, "bob", bob, Decision::Approve, s.now()),
        bob,
    ));
    assert_eq!(status, 201, "{receipt}");
    let receipt: SignatureReceipt = serde_json::from_value(receipt).unwrap();
    assert!(receipt.log_index > 0, "want a non-trivial inclusion proof");

    let vkey = write(tmp.path(), "log.vkey", s.text("/v1/log/key"));
    let proof = write(tmp.path(), "receipt.txt", &receipt.receipt);
    let entry = write(tmp.path(), "entry.json", &receipt.entry);
    let (ok, out) = go_verify(&[&vkey, &proof, &entry]);
    assert!(ok, "x/mod/sumdb rejected a genuine receipt: {out}");

    // A changed entry, a changed proof hash, or another log's key: rejected.
    let mut tampered = receipt.entry.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] ^= 0x01;
    let bad_entry = write(tmp.path(), "entry-tampered.json", tampered);
    let (ok, out) = go_verify(&[&vkey, &proof, &bad_entry]);
    assert!(
        !ok && out.contains("inclusion"),
        "x/mod/sumdb accepted a tampered entry: {out}"
    );

    let other = TestServer::start();
    let other_vkey = write(tmp.path(), "other.vkey", other.text("/v1/log/key"));
    let (ok, out) = go_verify(&[&other_vkey, &proof, &entry]);
    assert!(
        !ok && out.contains("checkpoint signature"),
        "x/mod/sumdb accepted another log's key: {out}"
    );

    // Consistency between an early checkpoint and the latest one.
    let old = write(tmp.path(), "old.cp", s.text("/v1/log/checkpoints/2"));
    let new = write(tmp.path(), "new.cp", s.text("/v1/log/checkpoint"));
    let p: ConsistencyProof = s.get("/v1/log/proof/consistency?old=2");
    assert!(!p.hashes.is_empty());
    let hashes = write(tmp.path(), "consistency.txt", p.hashes.join("\n") + "\n");
    let consistency = Path::new("consistency");
    let (ok, out) = go_verify(&[consistency, &vkey, &old, &new, &hashes]);
    assert!(
        ok,
        "x/mod/sumdb rejected a genuine consistency proof: {out}"
    );
    let wrong = write(tmp.path(), "wrong.txt", p.hashes[1..].join("\n") + "\n");
    let (ok, out) = go_verify(&[consistency, &vkey, &old, &new, &wrong]);
    assert!(
        !ok && out.contains("consistency:"),
        "x/mod/sumdb accepted a truncated consistency proof: {out}"
    );
}

#[test]
fn securesystemslib_verifies_dsse_envelopes() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out) = run(
        Command::new("python3").args(["-c", "import securesystemslib.dsse"]),
        Duration::from_secs(30),
    );
    assert!(
        ok,
        "securesystemslib is not importable: {out}\n{INSTALL_HINT}"
    );
    let script = interop_dir().join("dsse_verify.py");

    let s = TestServer::start();
    let (r, keys) = s.onboarding(&["bob"]);
    let bob = &keys[0];
    let envelope = sign(&statement(&r, "bob", bob, Decision::Approve, s.now()), bob);
    let (status, body) = s.submit(&envelope);
    assert_eq!(status, 201, "{body}");

    let public = B64.encode(bob.verifying_key().as_bytes());
    let keyid = countersign_attest::key_id(&bob.verifying_key());
    let py_verify = |file: &Path| {
        run(
            Command::new("python3")
                .arg(&script)
                .arg(file)
                .arg(&public)
                .arg(&keyid),
            Duration::from_secs(30),
        )
    };
    let json = serde_json::to_value(&envelope).unwrap();
    let good = write(tmp.path(), "envelope.json", json.to_string());
    let (ok, out) = py_verify(&good);
    assert!(ok, "securesystemslib rejected a genuine envelope: {out}");

    // The payload changed after signing: rejected.
    let mut payload = B64.decode(envelope.payload.as_bytes()).unwrap();
    let text = String::from_utf8(payload.clone()).unwrap();
    assert!(text.contains("\"approve\""), "{text}");
    payload = text.replacen("\"approve\"", "\"reject\"", 1).into_bytes();
    let mut bad = json.clone();
    bad["payload"] = B64.encode(payload).into();
    let bad = write(tmp.path(), "envelope-tampered.json", bad.to_string());
    let (ok, out) = py_verify(&bad);
    assert!(
        !ok && out.contains("VerificationError"),
        "securesystemslib accepted a tampered payload: {out}"
    );

    // Another key under the same key id: rejected.
    let other = s.enroll("alice", None);
    let (ok, out) = run(
        Command::new("python3")
            .arg(&script)
            .arg(&good)
            .arg(B64.encode(other.verifying_key().as_bytes()))
            .arg(&keyid),
        Duration::from_secs(30),
    );
    assert!(
        !ok && out.contains("VerificationError"),
        "securesystemslib accepted the wrong key: {out}"
    );
}
