//! Hardening, tried as an attacker and a careless client would: no work
//! before authentication, rate limits and the refusal budget, row-scoped
//! reads, documents that cannot run, numbers past i64, the framework's own
//! refusals as problem documents, the egress policy, and the
//! authorisation matrix over every route.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use countersign_proto::governance::Role;
use countersign_proto::model::*;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::*;

/// Send raw bytes and read what comes back until the server closes or
/// `within` passes.
fn raw(s: &TestServer, bytes: &[u8], within: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut c = TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
    c.set_read_timeout(Some(within)).unwrap();
    c.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") && got.ends_with(b"}") {
                    break;
                }
            }
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn no_body_is_read_before_the_caller_is_known() {
    let s = TestServer::start();
    // Headers promise 20 MB and send none of it: the 401 comes at once,
    // because the server never waits for the body.
    let (answer, took) = raw(
        &s,
        b"PUT /v1/documents/x/content HTTP/1.1\r\nHost: t\r\nContent-Length: 20000000\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    // A token without the role: 403, also before the body.
    let auditor = s.token_for(None, &[Role::Auditor]);
    let (answer, took) = raw(
        &s,
        format!("POST /v1/identities HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {auditor}\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n").as_bytes(),
        Duration::from_secs(5),
    );
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn slow_and_idle_clients_are_cut_off() {
    let mut s = TestServer::start();
    s.stop();
    s.header_read_timeout = Duration::from_secs(1);
    s.boot();
    // Half a request line, then silence: closed after the header timeout.
    let started = Instant::now();
    let mut c = TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /v1/info HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = c.read(&mut buf).unwrap_or(0);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "kept open for {took:?}");
    let _ = n;
    // An idle connection that never sends anything is closed as well.
    let started = Instant::now();
    let mut idle = TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let n = idle.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn failed_authentication_is_rate_limited_with_retry_after() {
    let s = TestServer::start();
    let mut limited = None;
    for i in 0..60 {
        let resp = s
            .http
            .get(format!("{}/v1/requests", s.base))
            .bearer_auth(format!("cs_forged_{i}"))
            .send()
            .unwrap();
        if resp.status() == 429 {
            limited = Some((i, resp));
            break;
        }
        assert_eq!(resp.status(), 401);
    }
    let (after, resp) = limited.expect("forged tokens were never limited");
    assert!((15..=25).contains(&after), "limited after {after}");
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    let v: Value = resp.json().unwrap();
    assert_eq!(v["code"], "rate_limited");
    // The address is over its budget, but it is not locked out: a valid
    // token still gets in (others share addresses behind proxies), while
    // a new forged one is answered 429 at once.
    let (status, _) = s.call(Method::GET, "/v1/requests", None, true);
    assert_eq!(status, 200);
    let (status, v) = s.call_as(
        Method::GET,
        "/v1/requests",
        None,
        Some("cs_another_forgery"),
    );
    assert_eq!((status, v["code"].as_str()), (429, Some("rate_limited")));
    // Public routes are not affected.
    let (status, _) = s.call_as(Method::GET, "/v1/log/checkpoint", None, None);
    assert_eq!(status, 200);
}

#[test]
fn garbage_envelopes_cannot_flood_the_log() {
    let s = TestServer::start();
    s.human("mallory");
    let token = s.token_for(Some("mallory"), &[Role::Approver]);
    let start = s.tree_size();
    let garbage = json!({"payloadType": "application/vnd.in-toto+json", "payload": "bm90IGpzb24=",
        "signatures": [{"keyid": "nobody", "sig": "AAAA"}]});
    let mut recorded = 0;
    let mut limited = false;
    for _ in 0..40 {
        let (status, v) = s.call_as(Method::POST, "/v1/signatures", Some(&garbage), Some(&token));
        if status == 429 {
            limited = true;
            break;
        }
        assert_eq!(status, 422, "{v}");
        if v.get("log_index").is_some() {
            recorded += 1;
        } else {
            assert!(
                v["detail"].as_str().unwrap().contains("not recorded"),
                "{v}"
            );
        }
    }
    // 20 refusals recorded per hour per caller, then answered unrecorded,
    // then (past 30 refusals) 429.
    assert_eq!(recorded, 20);
    assert!(limited, "refused signatures were never rate limited");
    assert_eq!(s.tree_size(), start + 20);
}

#[test]
fn a_document_is_its_owners() {
    let s = TestServer::start();
    s.human("alice");
    s.human("eve");
    let alice = s.token_for(Some("alice"), &[Role::Requester]);
    let eve = s.token_for(Some("eve"), &[Role::Requester]);
    let put = |token: &str, name: &str, body: &[u8]| {
        s.http
            .put(format!("{}/v1/documents/{name}/content", s.base))
            .bearer_auth(token)
            .header("content-type", "text/html")
            .body(body.to_vec())
            .send()
            .unwrap()
    };
    assert_eq!(put(&alice, "contract", b"v1").status(), 201);
    let r = put(&eve, "contract", b"eve's version");
    assert_eq!(r.status(), 403);
    let v: Value = r.json().unwrap();
    assert!(
        v["detail"].as_str().unwrap().contains("belongs to alice"),
        "{v}"
    );
    assert_eq!(put(&alice, "contract", b"v2").status(), 201);
    // An administrator may add a version to anyone's document.
    let r = s
        .http
        .put(format!("{}/v1/documents/contract/content", s.base))
        .bearer_auth(TOKEN)
        .body(b"v3".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    // Eve does not even see the document.
    let (status, _) = s.call_as(Method::GET, "/v1/documents/contract", None, Some(&eve));
    assert_eq!(status, 404);
    // Served as a download that cannot run, whatever the uploader said.
    let r = s
        .http
        .get(format!(
            "{}/v1/documents/contract/versions/1/content",
            s.base
        ))
        .bearer_auth(&alice)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
}

#[test]
fn reads_are_confined_to_what_the_caller_is_a_party_to() {
    let s = TestServer::start();
    let (request, _) = s.onboarding(&["bob"]);
    s.human("eve");
    let eve = s.token_for(Some("eve"), &[Role::Approver, Role::Requester]);
    let bob = s.token_for(Some("bob"), &[Role::Approver]);
    let auditor = s.token_for(None, &[Role::Auditor]);
    let unbound = s.token_for(None, &[Role::Approver]);
    let id = &request.id;
    for path in [
        format!("/v1/requests/{id}"),
        format!("/v1/requests/{id}/evidence"),
        format!("/v1/requests/{id}/outlook"),
        "/v1/documents/offer-letter".to_string(),
        "/v1/documents/offer-letter/versions/1/content".to_string(),
    ] {
        let (status, v) = s.call_as(Method::GET, &path, None, Some(&eve));
        assert_eq!(status, 404, "{path}: {v}");
        let (status, v) = s.call_as(Method::GET, &path, None, Some(&bob));
        assert_eq!(status, 200, "{path}: {v}");
    }
    let list = |t: &str| {
        let (status, v) = s.call_as(Method::GET, "/v1/requests", None, Some(t));
        assert_eq!(status, 200, "{v}");
        v["requests"].as_array().unwrap().len()
    };
    assert_eq!(list(&eve), 0);
    assert_eq!(list(&unbound), 0);
    assert_eq!(list(&bob), 1);
    assert_eq!(list(&auditor), 1);
    let (_, docs) = s.call_as(Method::GET, "/v1/documents", None, Some(&eve));
    assert_eq!(docs, json!([]));
    // Delegations: only their principal and delegate see them.
    let d: Value = s.post(
        "/v1/delegations",
        &json!({"principal": "bob", "delegate": "alice", "scope": {"max_impact": "high"}, "reason": "holiday",
            "not_after": ts(s.now() + time::Duration::days(2))}),
    );
    let path = format!("/v1/delegations/{}", d["id"].as_str().unwrap());
    let (status, _) = s.call_as(Method::GET, &path, None, Some(&eve));
    assert_eq!(status, 404);
    let (status, _) = s.call_as(Method::GET, &path, None, Some(&bob));
    assert_eq!(status, 200);
    let (status, v) = s.call_as(Method::GET, "/v1/exceptions", None, Some(&eve));
    assert_eq!(
        (status, v["exceptions"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

fn ts(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[test]
fn the_log_entries_need_an_auditor_but_proofs_stay_public() {
    let s = TestServer::start();
    s.person("alice");
    for path in ["/v1/log/entries", "/v1/log/entries/1"] {
        let (status, v) = s.call_as(Method::GET, path, None, None);
        assert_eq!(
            (status, v["code"].as_str()),
            (401, Some("unauthenticated")),
            "{path}"
        );
        let approver = s.token_for(Some("alice"), &[Role::Approver]);
        let (status, _) = s.call_as(Method::GET, path, None, Some(&approver));
        assert_eq!(status, 403, "{path}");
        let auditor = s.token_for(None, &[Role::Auditor]);
        let (status, _) = s.call_as(Method::GET, path, None, Some(&auditor));
        assert_eq!(status, 200, "{path}");
    }
    for path in [
        "/v1/log/checkpoint",
        "/v1/log/key",
        "/v1/log/entries/1/receipt",
        "/v1/log/proof/inclusion?index=1",
        "/v1/log/proof/consistency?old=1",
    ] {
        let (status, v) = s.call_as(Method::GET, path, None, None);
        assert_eq!(status, 200, "{path}: {v}");
    }
}

#[test]
fn numbers_past_i64_are_not_found_not_server_errors() {
    let s = TestServer::start();
    for path in [
        "/v1/log/entries/9223372036854775808",
        "/v1/log/entries/18446744073709551615",
        "/v1/log/checkpoints/9223372036854775808",
        "/v1/log/entries?start=9223372036854775808",
        "/v1/log/entries/9223372036854775808/receipt",
        "/v1/log/proof/inclusion?index=9223372036854775808",
        "/v1/log/proof/consistency?old=1&new=18446744073709551615",
        "/v1/webhooks/deliveries/18446744073709551615",
        "/v1/log/entries/99999999999999999999999",
    ] {
        let (status, v) = s.call(Method::GET, path, None, true);
        // Not found or out of range; a page past the end is simply empty.
        if status == 200 {
            assert_eq!(v["entries"], json!([]), "{path}: {v}");
        } else {
            assert!((400..500).contains(&status), "{path}: {status} {v}");
            assert!(v["code"].is_string(), "{path}: {v}");
        }
    }
}

#[test]
fn oversized_bodies_are_problem_documents_and_scim_errors() {
    let s = TestServer::start();
    let big = vec![b'x'; 2 * 1024 * 1024];
    let r = s
        .http
        .post(format!("{}/v1/identities", s.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let v: Value = r.json().unwrap();
    assert_eq!(v["code"], "payload_too_large");
    let scim = s.token_for(None, &[Role::Scim]);
    let r = s
        .http
        .post(format!("{}/scim/v2/Users", s.base))
        .bearer_auth(&scim)
        .header("content-type", "application/scim+json")
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["content-type"], "application/scim+json");
    let v: Value = r.json().unwrap();
    assert_eq!(v["status"], "413", "{v}");
    // Unsupported SCIM operations are 501 (RFC 7644 §3.4.3).
    for path in ["/.search", "/Users/.search", "/Groups/.search", "/Bulk"] {
        let r = s
            .http
            .post(format!("{}/scim/v2{path}", s.base))
            .bearer_auth(&scim)
            .header("content-type", "application/scim+json")
            .body("{}")
            .send()
            .unwrap();
        assert_eq!(r.status(), 501, "{path}");
    }
}

#[test]
fn every_answer_carries_security_headers_and_secrets_are_not_cached() {
    let s = TestServer::start();
    for path in ["/v1/info", "/v1/nope", "/"] {
        let r = s.http.get(format!("{}{path}", s.base)).send().unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(h.contains_key("content-security-policy"), "{path}");
        assert!(h.contains_key("referrer-policy"), "{path}");
    }
    let r = s
        .http
        .post(format!("{}/v1/tokens", s.base))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "ci", "roles": ["integration"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[test]
fn webhooks_may_not_reach_the_servers_own_network() {
    let mut s = TestServer::start();
    s.stop();
    s.webhooks.egress = countersign_webhook::Egress::default();
    s.boot();
    for url in [
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/hook",
        "https://192.168.1.1/hook",
        "https://[fd00:ec2::254]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "http://hooks.example.com/hook",
    ] {
        let (status, v) = s.call(
            Method::POST,
            "/v1/webhooks",
            Some(&json!({"url": url})),
            true,
        );
        assert_eq!(
            (status, v["code"].as_str()),
            (422, Some("invalid_field")),
            "{url}: {v}"
        );
    }
    let (status, v) = s.call(
        Method::POST,
        "/v1/webhooks",
        Some(&json!({"url": "https://hooks.example.com/countersign"})),
        true,
    );
    assert_eq!(status, 201, "{v}");
}

#[test]
fn an_expired_request_is_refused_as_expired_and_not_before_its_deadline() {
    let mut s = TestServer::start();
    s.stop();
    s.sweep = Duration::from_millis(50);
    s.boot();
    let (_, keys) = s.onboarding(&["bob"]);
    // Land 0.1 s into a second, and make the deadline 0.7 s later: within
    // the same whole second, where comparing seconds would expire it early.
    let nanos = s.now().nanosecond();
    s.advance(time::Duration::nanoseconds(
        1_100_000_000 - i64::from(nanos),
    ));
    let mut body = request_body("offer-letter", "alice", "dave", &["bob"]);
    body.expires_in_seconds = None;
    body.expires_at = Some(s.now() + time::Duration::milliseconds(700));
    let r = s.request(&body);
    let closed_entries = |s: &TestServer| {
        let size = s.tree_size();
        (0..size)
            .filter(|i| {
                let e = s.entry(*i);
                e["type"] == "request.closed" && e["request"] == r.id.as_str()
            })
            .count()
    };
    s.advance(time::Duration::milliseconds(200));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(closed_entries(&s), 0, "expired before its deadline");
    s.advance(time::Duration::seconds(1));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(closed_entries(&s), 1);
    let st = statement(&r, "bob", &keys[0], Decision::Approve, s.now());
    let (status, v) = s.submit(&sign(&st, &keys[0]));
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("request_expired")),
        "{v}"
    );
}

/// Every route × every role, with expired, revoked and forged tokens and
/// none, against the one access table README renders.
#[test]
fn the_authorisation_matrix_holds_for_every_route() {
    let mut s = TestServer::start();
    // Hundreds of deliberate failures from one address: lift the limits.
    s.stop();
    s.auth_rate = countersign_server::limit::Rate {
        burst: 100_000,
        per_minute: 100_000,
    };
    s.refusal_rate = s.auth_rate;
    s.boot();
    s.human("alice");
    let roles = [
        Role::Admin,
        Role::Requester,
        Role::Approver,
        Role::Auditor,
        Role::Integration,
        Role::Scim,
        Role::Compliance,
    ];
    let tokens: Vec<(Role, String)> = roles
        .iter()
        .map(|r| (*r, s.token_for(None, &[*r])))
        .collect();
    let to_revoke: Value = s.post(
        "/v1/tokens",
        &json!({"name": "to revoke", "roles": ["admin"]}),
    );
    let revoked = to_revoke["secret"].as_str().unwrap().to_string();
    let revoked_id = to_revoke["token"]["id"].as_str().unwrap();
    let _: Value = s.post(&format!("/v1/tokens/{revoked_id}/revoke"), &json!({}));
    let expiring: Value = s.post(
        "/v1/tokens",
        &json!({"name": "short", "roles": ["admin"], "expires_in_seconds": 60}),
    );
    s.advance(time::Duration::seconds(120));
    let expired = expiring["secret"].as_str().unwrap().to_string();
    let table = countersign_server::access_table();
    assert!(table.len() > 70, "{}", table.len());
    let mut cells = 0;
    for route in &table {
        let path = route
            .path
            .replace("{handle}", "alice")
            .replace("{key_id}", "k")
            .replace("{name}", "d")
            .replace("{version}", "1")
            .replace("{id}", "x")
            .replace("{size}", "1")
            .replace("{index}", "1");
        let call = |bearer: Option<&str>| {
            let mut r = s
                .http
                .request(route.method.clone(), format!("{}{path}", s.base));
            if let Some(t) = bearer {
                r = r.bearer_auth(t);
            }
            // An empty JSON object: enough to pass the gate and be judged.
            if route.method != Method::GET {
                r = r.header("content-type", "application/json").body("{}");
            }
            let resp = r.send().unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().unwrap_or_default())
        };
        let public = matches!(route.access, countersign_server::auth::Access::Public);
        for (label, bearer) in [
            ("none", None),
            ("forged", Some("cs_forged")),
            ("revoked", Some(revoked.as_str())),
            ("expired", Some(expired.as_str())),
        ] {
            let (status, body) = call(bearer);
            cells += 1;
            if public {
                assert!(
                    status != 403,
                    "{} {path} with {label}: {status} {body}",
                    route.method
                );
            } else {
                assert_eq!(status, 401, "{} {path} with {label}: {body}", route.method);
            }
        }
        for (role, token) in &tokens {
            let (status, body) = call(Some(token));
            cells += 1;
            let allowed = match route.access {
                countersign_server::auth::Access::Public => true,
                countersign_server::auth::Access::Roles(r)
                | countersign_server::auth::Access::SelfOr(r) => r.contains(role),
            };
            // A 403 for a reason of the business (an inactive actor, a
            // policy) is not the gate's: the gate's is code `forbidden`.
            let gate_refused =
                status == 401 || (status == 403 && body.contains("\"code\":\"forbidden\""));
            if allowed {
                assert!(
                    !gate_refused,
                    "{} {path} as {}: {status} {body}",
                    route.method,
                    role.as_str()
                );
            } else {
                assert!(
                    status == 403 && body.contains("\"code\":\"forbidden\""),
                    "{} {path} as {}: {status} {body}",
                    route.method,
                    role.as_str()
                );
            }
        }
    }
    assert!(cells > 700, "{cells}");
    // README shows the same table.
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"),
    )
    .unwrap();
    let rendered = countersign_server::access_table_markdown();
    assert!(
        readme.contains(&rendered),
        "README's access table is out of date; paste:\n{rendered}"
    );
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The binary's first `serve`: the admin token goes to a 0600 file and
/// never to stderr; the database and its WAL are 0600; outbound events
/// name the log fixed at init.
#[test]
fn the_first_serve_keeps_secrets_out_of_logs_and_files_private() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(
        data.join("countersign.toml"),
        format!("{}poll_ms = 50\n", crate::webhooks::LOOPBACK_WEBHOOKS),
    )
    .unwrap();
    let stderr_path = dir.path().join("stderr.log");
    let port = crate::faults::free_port();
    let child = Command::new(binary())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let _server = crate::faults::Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::blocking::get(format!("{base}/v1/info")).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let token_file = data.join("admin-token");
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.starts_with("cs_admin_"), "{token}");
    assert_eq!(mode(&token_file), 0o600);
    let receiver = crate::webhooks::Receiver::start(crate::webhooks::Mode::Ok);
    let http = reqwest::blocking::Client::new();
    let post = |path: &str, body: Value| crate::faults::post_as(&http, &base, &token, path, body);
    post("/v1/webhooks", json!({"url": receiver.url}));
    post("/v1/identities", json!({"handle": "zoe", "kind": "human"}));
    post("/v1/identities/zoe/suspend", json!({}));
    let events = receiver.wait_for(1);
    assert_eq!(
        events[0].source,
        "urn:countersign:countersign.localhost/log"
    );
    for f in [
        "countersign.db",
        "countersign.db-wal",
        "countersign.db-shm",
        "log.key",
    ] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        !stderr.contains(&token),
        "the admin token reached stderr:\n{stderr}"
    );
    assert!(stderr.contains("admin-token"), "{stderr}");
}

/// `log audit` and `verify` keep their exit status when stdout is a
/// closed pipe, and `--json` errors are objects on stderr.
#[test]
fn exit_statuses_keep_their_meaning_on_a_closed_pipe() {
    use std::process::{Command, Stdio};
    let mut s = TestServer::start_sqlite();
    s.person("alice");
    s.stop();
    let clean = s.dir.path().join("clean.db");
    std::fs::copy(s.db_path(), &clean).unwrap();
    {
        let db = rusqlite::Connection::open(s.db_path()).unwrap();
        let changed = db
            .execute(
                "UPDATE log_entries SET data = CAST(replace(CAST(data AS TEXT), 'alice', 'mallo') AS BLOB) WHERE instr(CAST(data AS TEXT), 'alice') > 0",
                [],
            )
            .unwrap();
        assert!(changed > 0);
    }
    let run_closed = |args: &[&str]| {
        let mut child = Command::new(binary())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Close the reading end before the command writes anything.
        drop(child.stdout.take());
        child.wait().unwrap().code()
    };
    let data = s.dir.path().to_str().unwrap().to_string();
    assert_eq!(run_closed(&["log", "audit", "--data", &data]), Some(1));
    assert_eq!(
        run_closed(&["log", "audit", "--json", "--data", &data]),
        Some(1)
    );
    // A bundle that does not verify: also 1, whatever happened to stdout.
    let bad = s.dir.path().join("bad.json");
    std::fs::write(&bad, b"{\"not\": \"a bundle\"}").unwrap();
    assert_eq!(run_closed(&["verify", bad.to_str().unwrap()]), Some(1));
    // --json errors are objects on stderr with code and message (from a
    // server over the untampered database: it would not start on the other).
    std::fs::copy(&clean, s.db_path()).unwrap();
    s.boot();
    let out = Command::new(binary())
        .args([
            "--json", "--server", &s.base, "--token", TOKEN, "identity", "show", "nobody",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], "identity_not_found", "{err}");
    assert!(err["error"]["message"].is_string());
}

/// The new user's paper cuts: `--expires-in 1w`, `doc show --out` without
/// `--version`, and an empty `request list` saying so.
#[test]
fn the_cli_says_what_happened() {
    use std::process::Command;
    let s = TestServer::start();
    s.human("alice");
    s.human("dave");
    s.human("bob");
    s.document("offer-letter", b"Offer letter for Dave\n");
    let cli = |args: &[&str]| {
        Command::new(binary())
            .args(["--server", &s.base, "--token", TOKEN])
            .args(args)
            .output()
            .unwrap()
    };
    let out = cli(&["request", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no requests match"));
    let out = cli(&[
        "request",
        "create",
        "--event",
        "onboarding",
        "--purpose",
        "p",
        "--impact",
        "low",
        "--doc",
        "offer-letter",
        "--requester",
        "alice",
        "--beneficiary",
        "dave",
        "--approver",
        "bob",
        "--expires-in",
        "1w",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = s.dir.path().join("offer.txt");
    let out = cli(&[
        "doc",
        "show",
        "offer-letter",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"Offer letter for Dave\n");
}

/// Cut the log's tail from entry `from` on, as a database administrator
/// would: entries, the subtree hashes they complete, and the checkpoints
/// covering them, together, so the database stays consistent with itself.
fn cut_tail(s: &TestServer, from: u64) {
    let db = rusqlite::Connection::open(s.db_path()).unwrap();
    let cut = i64::try_from(from).unwrap();
    db.execute("DELETE FROM log_entries WHERE idx >= ?1", [cut])
        .unwrap();
    db.execute("DELETE FROM checkpoints WHERE size > ?1", [cut])
        .unwrap();
    db.execute(
        "DELETE FROM tree_hashes WHERE (idx + 1) * (1 << level) > ?1",
        [cut],
    )
    .unwrap();
}

fn copy_db(s: &TestServer, to: &std::path::Path) {
    std::fs::copy(s.db_path(), to).unwrap();
}

/// A database copied back to an older state, or with its tail cut, is
/// refused at start: the checkpoint kept beside it is newer. With the
/// kept checkpoint gone too (the operator controls both), the server
/// starts, but a client holding the newer checkpoint reports the fork
/// with both signed checkpoints.
#[test]
fn a_rolled_back_database_is_refused_and_a_client_catches_the_fork() {
    use std::process::Command;
    let mut s = TestServer::start_sqlite();
    s.person("alice");
    let state = s.dir.path().join("client-state");
    let cli = |s: &TestServer, args: &[&str]| {
        Command::new(binary())
            .args(["--server", &s.base, "--token", TOKEN, "--client-state"])
            .arg(&state)
            .args(args)
            .output()
            .unwrap()
    };
    let out = cli(&s, &["log", "checkpoint"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = s.tree_size();
    let older = s.dir.path().join("older.db");
    s.stop();
    copy_db(&s, &older);
    s.boot();
    s.person("bob");
    s.person("carol");
    let out = cli(&s, &["log", "checkpoint"]);
    assert!(out.status.success());
    let held_size = s.tree_size();
    // `log consistency OLD` starts from the client's own copy of OLD, and
    // says so when it holds none.
    let out = cli(&s, &["log", "consistency", &first.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("this client holds"));
    let out = cli(&s, &["log", "consistency", &(first + 1).to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no checkpoint"));
    s.stop();

    // Rolled back: refused at start.
    let newer = s.dir.path().join("newer.db");
    copy_db(&s, &newer);
    std::fs::copy(&older, s.db_path()).unwrap();
    let err = s.try_boot().expect_err("a rolled-back database was opened");
    assert!(
        err.contains("behind the checkpoint kept outside it"),
        "{err}"
    );

    // Its tail cut, entries, hashes and checkpoints together: refused too.
    std::fs::copy(&newer, s.db_path()).unwrap();
    cut_tail(&s, held_size - 1);
    let err = s
        .try_boot()
        .expect_err("a database with its tail cut was opened");
    assert!(err.contains("behind"), "{err}");

    // The operator rolls back the kept checkpoint as well and writes: the
    // server signs a second history, which the client catches.
    std::fs::copy(&older, s.db_path()).unwrap();
    std::fs::remove_file(s.dir.path().join("checkpoint")).unwrap();
    s.boot();
    s.person("mallory");
    s.person("trent");
    let out = cli(&s, &["--json", "log", "checkpoint"]);
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], "log_forked", "{err}");
    let held = err["error"]["held_checkpoint"].as_str().unwrap();
    let served = err["error"]["served_checkpoint"].as_str().unwrap();
    assert_ne!(held, served);
    // Both are signed by the log's key: the proof of the fork.
    let key = countersign_tlog::note::NoteVerifier::from_vkey(&s.log_key).unwrap();
    let held = countersign_tlog::checkpoint::Checkpoint::open(held, &key).unwrap();
    let served = countersign_tlog::checkpoint::Checkpoint::open(served, &key).unwrap();
    assert_eq!(held.size, held_size);
    assert!(served.size >= held.size, "{} {}", served.size, held.size);
    assert_ne!(held.root, served.root);
}

/// A database rolled back under the running server: it refuses to sign.
#[test]
fn a_live_rollback_is_refused_before_anything_is_signed() {
    let s = TestServer::start_sqlite();
    s.person("alice");
    s.person("bob");
    let size = s.tree_size();
    cut_tail(&s, size - 1);
    let (status, v) = s.call(
        Method::POST,
        "/v1/identities",
        Some(&json!({"handle": "carol", "kind": "human"})),
        true,
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (500, Some("integrity_failure")),
        "{v}"
    );
}

#[test]
fn metrics_count_requests_signatures_and_the_log_without_personal_labels() {
    let s = TestServer::start();
    let (r, keys) = s.onboarding(&["bob"]);
    let (st, _) = s.submit(&sign(
        &statement(&r, "bob", &keys[0], Decision::Approve, s.now()),
        &keys[0],
    ));
    assert_eq!(st, 201);
    // A refusal: carol has no key.
    let stranger = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let (st, _) = s.submit(&sign(
        &statement(&r, "bob", &stranger, Decision::Approve, s.now()),
        &stranger,
    ));
    assert_eq!(st, 422);
    let (st, _) = s.call(reqwest::Method::GET, "/v1/identities/nobody", None, true);
    assert_eq!(st, 404);
    let resp = s.http.get(format!("{}/metrics", s.base)).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = resp.text().unwrap();
    let has = |needle: &str| {
        assert!(text.contains(needle), "no {needle} in:\n{text}");
    };
    has(
        r#"countersign_http_requests_total{method="GET",route="/v1/identities/{handle}",status="404"} 1"#,
    );
    has(r#"countersign_signatures_total{outcome="accepted",code="none"} 1"#);
    has(r#"countersign_signatures_total{outcome="refused",code="credential_unknown"} 1"#);
    has(&format!("countersign_log_entries {}", s.tree_size()));
    has("countersign_http_request_duration_seconds_bucket");
    has("countersign_log_newest_entry_age_seconds");
    has("countersign_webhook_backlog 0");
    has("countersign_mail_backlog 0");
    assert!(text.ends_with("# EOF\n"));
    // Labels are templates and codes: no handle, no request id.
    assert!(!text.contains("nobody") && !text.contains(&r.id), "{text}");
}

#[test]
fn the_kept_checkpoint_is_replaced_whole_and_only_its_owner_reads_it() {
    use countersign_ledger::{CheckpointFile, CheckpointKeeper as _};
    let dir = tempfile::tempdir().unwrap();
    let f = CheckpointFile::new(dir.path().join("checkpoint"));
    assert_eq!(f.load().unwrap(), None);
    f.keep("one\n").unwrap();
    f.keep("two\n").unwrap();
    let again = CheckpointFile::new(dir.path().join("checkpoint"));
    assert_eq!(again.load().unwrap().as_deref(), Some("two\n"));
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("checkpoint")]);
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(f.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_full_queue_is_answered_503_at_once_and_drains_when_the_database_frees() {
    let mut s = TestServer::start_sqlite();
    s.stop();
    s.max_pending = 2;
    s.boot();
    // A long transaction from outside holds the database's write lock.
    let db = rusqlite::Connection::open(s.db_path()).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let writers: Vec<_> = ["waits-1", "waits-2"]
        .into_iter()
        .map(|h| {
            let (base, http) = (s.base.clone(), s.http.clone());
            std::thread::spawn(move || {
                http.post(format!("{base}/v1/identities"))
                    .bearer_auth(TOKEN)
                    .json(&json!({"handle": h, "kind": "human"}))
                    .send()
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let metrics = || {
        let resp = s.http.get(format!("{}/metrics", s.base)).send().unwrap();
        resp.text().unwrap()
    };
    // Both take their places in the queue and wait for the lock.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = metrics();
        if m.lines().any(|l| l == "countersign_pending_operations 2") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the two writes never queued:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The third is answered at once, and nothing of it is done.
    let started = Instant::now();
    let resp = s
        .http
        .post(format!("{}/v1/identities", s.base))
        .bearer_auth(TOKEN)
        .json(&json!({"handle": "turned-away", "kind": "human"}))
        .send()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the full queue was joined"
    );
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: Value = resp.json().unwrap();
    assert_eq!(body["code"], "server_busy", "{body}");
    // The database frees: the queued writes complete, the queue drains.
    db.execute_batch("COMMIT").unwrap();
    for w in writers {
        assert_eq!(w.join().unwrap(), 201);
    }
    let (status, _) = s.call(Method::GET, "/v1/identities/waits-2", None, true);
    assert_eq!(status, 200);
    let (status, _) = s.call(Method::GET, "/v1/identities/turned-away", None, true);
    assert_eq!(status, 404, "the refused request was carried out");
    let m = metrics();
    assert!(
        m.lines().any(|l| l == "countersign_pending_operations 0"),
        "{m}"
    );
    assert!(
        m.lines()
            .any(|l| l.starts_with("countersign_busy_refusals_total ")),
        "{m}"
    );
}

#[test]
fn no_decision_is_made_with_a_policy_set_other_than_the_one_the_log_activated() {
    let s = TestServer::start_sqlite();
    let (r, keys) = s.onboarding(&["bob"]);
    // The database now says another set is in force (another instance
    // activated one, or the administrator edited it): the server's own set
    // is not the recorded one, and it decides nothing with it.
    let db = rusqlite::Connection::open(s.db_path()).unwrap();
    let recorded: String = db
        .query_row("SELECT value FROM meta WHERE key = 'policy_set'", [], |r| {
            r.get(0)
        })
        .unwrap();
    db.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'policy_set'",
        [format!("sha256:{}", "0".repeat(64))],
    )
    .unwrap();
    let before = s.tree_size();
    let envelope = sign(
        &statement(&r, "bob", &keys[0], Decision::Approve, s.now()),
        &keys[0],
    );
    let (status, body) = s.submit(&envelope);
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["code"], "integrity_failure", "{body}");
    let (status, body) = s.call(
        Method::POST,
        "/v1/requests",
        Some(
            &serde_json::to_value(request_body("offer-letter", "alice", "dave", &["bob"])).unwrap(),
        ),
        true,
    );
    assert_eq!(
        status, 500,
        "a request was created under an unrecorded policy set: {body}"
    );
    assert_eq!(s.tree_size(), before, "something was logged");
    // With the recorded set back, the same signature is accepted.
    db.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'policy_set'",
        [recorded],
    )
    .unwrap();
    let (status, body) = s.submit(&envelope);
    assert_eq!(status, 201, "{body}");
}
