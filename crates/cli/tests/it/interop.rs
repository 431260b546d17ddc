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

/// Runs py_webauthn (interop/webauthn_verify.py) on `doc`; answers (success, output).
fn py_webauthn(doc: &serde_json::Value) -> (bool, String) {
    let tmp = tempfile::tempdir().unwrap();
    let input = write(tmp.path(), "doc.json", doc.to_string());
    let mut cmd = Command::new("python3");
    cmd.arg(interop_dir().join("webauthn_verify.py"))
        .stdin(std::fs::File::open(&input).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3: {e}; run `bash .ci/deps`"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.contains("No module named 'webauthn'"),
        "py_webauthn is missing: run `bash .ci/deps`"
    );
    (out.status.success(), text)
}

/// An independent WebAuthn implementation (Duo's py_webauthn) accepts the
/// passkey's registration and the assertion it made over a statement the
/// server issued, whose challenge is SHA-256 of the DSSE PAE, exactly as
/// our verifier does; and rejects what ours rejects.
#[test]
fn py_webauthn_verifies_passkey_registrations_and_statement_signatures() {
    use countersign_webauthn::testkit::{client_data_json, TestAttestation};
    let s = TestServer::start();
    for algorithm in [
        countersign_webauthn::CoseAlgorithm::Es256,
        countersign_webauthn::CoseAlgorithm::EdDsa,
    ] {
        let who = format!("signer-{}", algorithm.name().to_lowercase());
        s.human(&who);
        let mut d = Device {
            authenticator: countersign_webauthn::testkit::SoftAuthenticator::generate(
                algorithm,
                &mut rand_core::OsRng,
            )
            .unwrap(),
        };
        // The registration the server accepted, captured on its way.
        let token = s.invitation(&who);
        let resp = s.web(
            reqwest::Method::POST,
            &format!("/enrol/{token}/options"),
            Some(&serde_json::json!({})),
            None,
            None,
        );
        let start: serde_json::Value = resp.json().unwrap();
        let reg_challenge = start["options"]["challenge"].as_str().unwrap().to_string();
        let reg = d
            .authenticator
            .register(
                "localhost",
                &s.origin(),
                &b64url(&reg_challenge),
                &b64url(start["options"]["user"]["id"].as_str().unwrap()),
                TestAttestation::PackedSelf,
            )
            .unwrap();
        let resp = s.web(
            reqwest::Method::POST,
            &format!("/enrol/{token}"),
            Some(&serde_json::json!({"challenge": start["challenge"], "credential": reg})),
            None,
            None,
        );
        assert_eq!(resp.status(), 200);

        // A statement to sign, and its assertion, accepted by our server.
        s.human(&format!("{who}-requester"));
        s.human(&format!("{who}-hire"));
        s.document(&format!("{who}-doc"), b"contract text\n");
        let r = s.request(&request_body(
            &format!("{who}-doc"),
            &format!("{who}-requester"),
            &format!("{who}-hire"),
            &[&who],
        ));
        let bearer = s.token_for(Some(&who), &[countersign_proto::governance::Role::Approver]);
        let (_, c) =
            s.signing_challenge(&r.id, &bearer, &serde_json::json!({"decision": "approve"}));
        let challenge = c["challenge"].as_str().unwrap().to_string();
        let assertion = d
            .authenticator
            .assert("localhost", &s.origin(), &b64url(&challenge))
            .unwrap();
        let (status, receipt) = s.call_as(
            reqwest::Method::POST,
            &format!("/v1/requests/{}/passkey-signatures", r.id),
            Some(&serde_json::json!({"nonce": c["nonce"], "credential": assertion})),
            Some(&bearer),
        );
        assert_eq!(status, 201, "{receipt}");

        let doc = serde_json::json!({
            "rp_id": "localhost", "origin": s.origin(),
            "registration": reg, "registration_challenge": reg_challenge,
            "assertion": assertion, "assertion_challenge": challenge,
            "require_user_verification": true,
        });
        let (ok, out) = py_webauthn(&doc);
        assert!(
            ok,
            "py_webauthn rejected what Countersign accepted ({}): {out}",
            algorithm.name()
        );

        // From the log alone: the enrolled COSE key and the logged assertion.
        let entry: serde_json::Value = s.entry(receipt["log_index"].as_u64().unwrap());
        let sig = &entry["envelope"]["signatures"][0];
        let ext = &sig["extension"]["ext"];
        let cred: Credential = s.get(&format!("/v1/keys/{}", d.key_id()));
        let cose = B64.decode(&cred.public_key).unwrap();
        let logged = serde_json::json!({
            "id": ext["credentialId"], "rawId": ext["credentialId"], "type": "public-key",
            "response": {
                "clientDataJSON": ext["clientDataJSON"],
                "authenticatorData": ext["authenticatorData"],
                "signature": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(B64.decode(sig["sig"].as_str().unwrap()).unwrap()),
            },
            "clientExtensionResults": {},
        });
        let envelope: countersign_proto::statement::Envelope =
            serde_json::from_value(entry["envelope"].clone()).unwrap();
        let payload = B64.decode(&envelope.payload).unwrap();
        let pae_digest =
            countersign_attest::passkey::signing_challenge(&envelope.payload_type, &payload);
        let from_log = serde_json::json!({
            "rp_id": "localhost", "origin": s.origin(),
            "credential_public_key": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&cose),
            "credential_id": ext["credentialId"],
            "assertion": logged,
            "assertion_challenge": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pae_digest),
            "require_user_verification": true,
        });
        let (ok, out) = py_webauthn(&from_log);
        assert!(
            ok,
            "py_webauthn rejected the logged passkey signature: {out}"
        );

        // The assertion of another statement's challenge: both reject.
        let mut other = doc.clone();
        other["assertion_challenge"] =
            serde_json::json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([9u8; 32]));
        let (ok, out) = py_webauthn(&other);
        assert!(!ok && out.contains("challenge"), "{out}");
        // One byte of the client data changed: both reject.
        let mut bent = assertion.clone();
        let mut cd = client_data_json("webauthn.get", &b64url(&challenge), &s.origin());
        cd[2] ^= 0x20;
        bent.response.client_data_json = countersign_webauthn::Base64UrlBytes(cd);
        let mut tampered = doc.clone();
        tampered["assertion"] = serde_json::to_value(&bent).unwrap();
        let (ok, _) = py_webauthn(&tampered);
        assert!(!ok, "py_webauthn accepted changed client data");
        let rp = countersign_webauthn::RelyingParty::new("localhost", vec![s.origin()]).unwrap();
        let key = countersign_webauthn::CosePublicKey::from_cose(&cose).unwrap();
        assert!(countersign_webauthn::verify_assertion_response(
            &bent,
            &countersign_webauthn::AssertionCheck {
                challenge: &b64url(&challenge),
                relying_party: &rp,
                require_user_verification: true
            },
            d.authenticator.credential_id(),
            &key,
        )
        .is_err());
    }
}
