//! TLS in the server: `countersign serve` with a `[tls]` certificate
//! (self-signed here, as the README's local setup makes), https for the
//! API and the web app, HSTS, `__Host-` secure cookies, and the optional
//! plain-HTTP listener that only redirects to https.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use countersign_webauthn::testkit::TestAttestation;
use serde_json::{json, Value};

use crate::faults::{free_port, init_data_dir, Server};
use crate::harness::*;

#[test]
fn the_server_speaks_tls_redirects_plain_http_and_sets_secure_host_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let token = init_data_dir(dir.path());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.path().join("tls.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
    let (port, plain) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("countersign.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[tls]\ncert_file = \"{0}/tls.pem\"\nkey_file = \"{0}/tls.key\"\nredirect_http = \"127.0.0.1:{plain}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let _server = Server(
        Command::new(binary())
            .args(["serve", "--data"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let origin = format!("https://localhost:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let info = loop {
        match http.get(format!("{origin}/v1/info")).send() {
            Ok(r) => break r,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("no https server: {e}"),
        }
    };
    assert_eq!(info.status(), 200);
    assert!(info.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
    // Plain http gets only a redirect to the same path on https.
    let r = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("http://127.0.0.1:{plain}/v1/signatures?x=1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("{origin}/v1/signatures?x=1")
    );

    // A passkey enrolled over https: the session cookie is `__Host-` and Secure.
    let auth = |r: reqwest::blocking::RequestBuilder| r.bearer_auth(&token);
    let created = auth(http.post(format!("{origin}/v1/identities")))
        .json(&json!({"handle": "bob", "kind": "human"}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let inv: Value = auth(http.post(format!("{origin}/v1/identities/bob/invitations")))
        .json(&json!({}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let url = inv["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{origin}/enrol/")), "{url}");
    let secret = url.rsplit('/').next().unwrap();
    let start: Value = http
        .post(format!("{origin}/enrol/{secret}/options"))
        .header("origin", &origin)
        .json(&json!({}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(start["options"]["rp"]["id"], "localhost");
    let mut d = Device::synced();
    let reg = d
        .authenticator
        .register(
            "localhost",
            &origin,
            &b64url(start["options"]["challenge"].as_str().unwrap()),
            &b64url(start["options"]["user"]["id"].as_str().unwrap()),
            TestAttestation::None,
        )
        .unwrap();
    let done = http
        .post(format!("{origin}/enrol/{secret}"))
        .header("origin", &origin)
        .json(&json!({"challenge": start["challenge"], "credential": reg}))
        .send()
        .unwrap();
    assert_eq!(done.status(), 200);
    let cookie = done.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-countersign="), "{cookie}");
    for attr in ["Path=/", "HttpOnly", "Secure", "SameSite=Lax"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
}
