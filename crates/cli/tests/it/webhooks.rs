//! Signed outbound events against a real local HTTP receiver: Standard
//! Webhooks signatures verify (HMAC and Ed25519, across a rotation); a
//! receiver that fails and recovers gets every event once and in order; one
//! that never recovers ends in dead-letter and replay delivers; persistent
//! failure disables the endpoint; and killing the server between a state
//! change and its delivery loses nothing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use countersign_proto::iga::*;
use countersign_proto::model::*;
use countersign_webhook::{VerifyingSecret, WebhookHeaders};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::faults::{free_port, init_data_dir, post_as, seed_onboarding, spawn_server};
use crate::harness::*;

/// The `[webhooks]` settings a binary server needs to reach receivers on
/// loopback over http (the egress policy refuses both by default).
pub(crate) const LOOPBACK_WEBHOOKS: &str =
    "[webhooks]\nallow_http = true\nallow_private_destinations = true\n";

/// How the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Mode {
    Ok,
    /// 503 for the next `n` requests, then 200.
    FailNext(u32),
    /// 500 always.
    Down,
}

#[derive(Default)]
struct Inbox {
    mode: Option<Mode>,
    /// Requests answered with 2xx: (headers, body).
    accepted: Vec<(HeaderMap, Vec<u8>)>,
    hits: u32,
}

/// A webhook receiver on 127.0.0.1 in its own thread.
pub(crate) struct Receiver {
    pub(crate) url: String,
    inbox: Arc<Mutex<Inbox>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    pub(crate) fn start(mode: Mode) -> Self {
        Self::start_on(mode, 0)
    }

    fn start_on(mode: Mode, port: u16) -> Self {
        let inbox = Arc::new(Mutex::new(Inbox {
            mode: Some(mode),
            ..Inbox::default()
        }));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let state = inbox.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = axum::Router::new().fallback(
                    move |headers: HeaderMap, body: axum::body::Bytes| {
                        let state = state.clone();
                        async move {
                            let mut inbox = state.lock().unwrap();
                            inbox.hits += 1;
                            let status = match inbox.mode.unwrap_or(Mode::Ok) {
                                Mode::Ok => StatusCode::OK,
                                Mode::Down => StatusCode::INTERNAL_SERVER_ERROR,
                                Mode::FailNext(0) => StatusCode::OK,
                                Mode::FailNext(n) => {
                                    inbox.mode = Some(Mode::FailNext(n - 1));
                                    StatusCode::SERVICE_UNAVAILABLE
                                }
                            };
                            if status.is_success() {
                                inbox.accepted.push((headers, body.to_vec()));
                            }
                            status
                        }
                    },
                );
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        Receiver {
            url: format!("http://{addr}/hooks/countersign"),
            inbox,
            _stop: stop_tx,
        }
    }

    fn set(&self, mode: Mode) {
        self.inbox.lock().unwrap().mode = Some(mode);
    }

    /// The accepted events, parsed.
    pub(crate) fn events(&self) -> Vec<CloudEvent> {
        self.inbox
            .lock()
            .unwrap()
            .accepted
            .iter()
            .map(|(_, b)| serde_json::from_slice(b).unwrap())
            .collect()
    }

    /// Wait until `n` events were accepted (at most 20 s).
    pub(crate) fn wait_for(&self, n: usize) -> Vec<CloudEvent> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.events();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} events arrived: {got:#?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn subscribe(s: &TestServer, url: &str, events: &[&str]) -> WebhookSecrets {
    s.post("/v1/webhooks", &json!({"url": url, "events": events}))
}

/// Wait until `check` holds for the delivery list (at most 20 s).
fn wait_deliveries(
    s: &TestServer,
    query: &str,
    check: impl Fn(&[DeliveryRecord]) -> bool,
) -> Vec<DeliveryRecord> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let l: DeliveryList = s.get(&format!("/v1/webhooks/deliveries{query}"));
        if check(&l.deliveries) {
            return l.deliveries;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never got there: {:#?}",
            l.deliveries
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn verify_with(headers: &HeaderMap, body: &[u8], secret: &str) -> Result<(), String> {
    verify_at(headers, body, secret, wall_clock())
}

/// Verify as a receiver whose clock reads `now`.
fn verify_at(
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
    now: time::OffsetDateTime,
) -> Result<(), String> {
    let pairs = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap_or("")));
    let h = WebhookHeaders::from_pairs(pairs);
    let secret = VerifyingSecret::parse(secret).map_err(|e| e.to_string())?;
    countersign_webhook::verify(&h, body, now.unix_timestamp(), 300, &[secret])
        .map_err(|e| e.to_string())
}

fn approve(s: &TestServer, r: &Request, actor: &str, key: &ed25519_dalek::SigningKey) {
    let (status, v) = s.submit(&sign(
        &statement(r, actor, key, Decision::Approve, s.now()),
        key,
    ));
    assert_eq!(status, 201, "{v}");
}

#[test]
fn an_approval_is_a_signed_cloudevent_a_provisioner_can_verify() {
    let rx = Receiver::start(Mode::Ok);
    let s = TestServer::start();
    let hook = subscribe(
        &s,
        &rx.url,
        &["request.approved", "dev.countersign.request.rejected"],
    );
    assert!(hook.secret.starts_with("whsec_") && hook.public_key.starts_with("whpk_"));
    assert_eq!(
        hook.endpoint.events,
        vec![
            "dev.countersign.request.approved",
            "dev.countersign.request.rejected"
        ]
    );
    let (r, keys) = s.onboarding(&["bob"]);
    approve(&s, &r, "bob", &keys[0]);

    let ev = rx.wait_for(1).remove(0);
    assert_eq!(ev.specversion, "1.0");
    assert_eq!(ev.event_type, "dev.countersign.request.approved");
    assert_eq!(ev.subject.as_deref(), Some(r.id.as_str()));
    assert_eq!(ev.datacontenttype, "application/json");
    let (headers, body) = rx.inbox.lock().unwrap().accepted[0].clone();
    assert_eq!(
        headers["content-type"],
        "application/cloudevents+json; charset=utf-8"
    );
    assert_eq!(headers["webhook-id"], ev.id.as_str());
    // Both signature schemes verify, each with its own secret; a wrong
    // secret or a changed body does not.
    verify_with(&headers, &body, &hook.secret).unwrap();
    verify_with(&headers, &body, &hook.public_key).unwrap();
    let other = countersign_webhook::SigningSecret::generate_hmac(&mut rand_core::OsRng);
    assert!(verify_with(&headers, &body, &other.to_string()).is_err());
    let mut changed = body.clone();
    changed[10] ^= 1;
    assert!(verify_with(&headers, &changed, &hook.secret).is_err());

    // The event carries the signed action, the statement digest and the
    // receipt; all of it checks out offline.
    let data = &ev.data;
    assert_eq!(data["action"]["subject"], "dave");
    assert_eq!(data["action"]["entitlement"], "org/acme/team/eng");
    let sig: SignedApproval = serde_json::from_value(data["signatures"][0].clone()).unwrap();
    assert_eq!(sig.actor, "bob");
    let payload = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &sig.envelope.payload,
    )
    .unwrap();
    assert_eq!(sig.statement_sha256, hex::encode(Sha256::digest(&payload)));
    let st = countersign_attest::verify_envelope(&sig.envelope, &keys[0].verifying_key()).unwrap();
    assert_eq!(st.predicate.action, r.action);
    let verifier = countersign_tlog::note::NoteVerifier::from_vkey(&s.log_key).unwrap();
    let entry: EntryViewBytes = entry_bytes(&s, sig.log_index);
    countersign_tlog::proof::TlogProof::parse(&sig.receipt)
        .unwrap()
        .verify(&entry.0, &verifier)
        .unwrap();
    assert_eq!(data["log"]["verifier_key"], s.log_key.as_str());

    // Not subscribed: a rejection of another request is delivered, an
    // unrelated type is not. Unknown types are refused at subscription.
    let (status, v) = s.call(
        Method::POST,
        "/v1/webhooks",
        Some(&json!({"url": rx.url, "events": ["request.exploded"]})),
        true,
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (422, Some("invalid_field")),
        "{v}"
    );
    let (status, v) = s.call(
        Method::POST,
        "/v1/webhooks",
        Some(&json!({"url": "ftp://x"})),
        true,
    );
    assert_eq!(status, 422, "{v}");
}

struct EntryViewBytes(Vec<u8>);

fn entry_bytes(s: &TestServer, index: u64) -> EntryViewBytes {
    let e: countersign_proto::api::EntryView = s.get(&format!("/v1/log/entries/{index}"));
    EntryViewBytes(e.entry.into_bytes())
}

#[test]
fn after_a_rotation_both_the_old_and_the_new_secret_verify() {
    let rx = Receiver::start(Mode::Ok);
    let s = TestServer::start();
    let hook = subscribe(&s, &rx.url, &[]);
    let rotated: WebhookSecrets = s.post(
        &format!("/v1/webhooks/{}/rotate", hook.endpoint.id),
        &json!({"overlap_seconds": 3600}),
    );
    assert_eq!(rotated.endpoint.secrets, 2);
    assert_ne!(rotated.secret, hook.secret);
    let (r, keys) = s.onboarding(&["bob"]);
    approve(&s, &r, "bob", &keys[0]);
    rx.wait_for(1);
    let (headers, body) = rx.inbox.lock().unwrap().accepted[0].clone();
    let sigs = headers["webhook-signature"].to_str().unwrap().to_string();
    assert_eq!(sigs.matches("v1,").count(), 2, "{sigs}");
    assert_eq!(sigs.matches("v1a,").count(), 2, "{sigs}");
    for secret in [
        &hook.secret,
        &rotated.secret,
        &hook.public_key,
        &rotated.public_key,
    ] {
        verify_with(&headers, &body, secret).unwrap();
    }
    // After the overlap, only the new secret signs.
    s.advance(time::Duration::hours(2));
    let r2 = s.request(&request_body("offer-letter", "alice", "dave", &["bob"]));
    approve(&s, &r2, "bob", &keys[0]);
    rx.wait_for(2);
    let (headers, body) = rx.inbox.lock().unwrap().accepted[1].clone();
    verify_at(&headers, &body, &rotated.secret, s.now()).unwrap();
    assert!(verify_at(&headers, &body, &hook.secret, s.now()).is_err());
}

#[test]
fn a_receiver_that_fails_then_recovers_gets_every_event_once_and_in_order() {
    let rx = Receiver::start(Mode::FailNext(6));
    let mut s = TestServer::start();
    // Enough attempts that six failures cannot dead-letter anything.
    s.stop();
    s.webhooks.retry.max_attempts = 10;
    s.boot();
    s.tick();
    subscribe(&s, &rx.url, &[]);
    s.human("erin");
    s.human("gina");
    // Three events about one control exception, in this order.
    let intake: ChangeIntake = s.post(
        "/v1/entitlement-changes",
        &ReportChange {
            system: "github".into(),
            subject: "erin".into(),
            operation: Operation::Grant,
            entitlement: "org/acme/admins".into(),
            changed_at: s.now(),
            changed_by: "admin".into(),
            source_event_id: "e-1".into(),
        },
    );
    let cx = intake.exceptions[0].clone();
    let _: ControlException = s.post(
        &format!("/v1/control-exceptions/{cx}/assign"),
        &json!({"assignee": "gina"}),
    );
    let _: ControlException = s.post(
        &format!("/v1/control-exceptions/{cx}/acknowledge"),
        &json!({}),
    );
    // And an approval, about another request.
    let (r, keys) = s.onboarding(&["bob"]);
    approve(&s, &r, "bob", &keys[0]);

    let events = rx.wait_for(4);
    std::thread::sleep(Duration::from_millis(300));
    let events_after = rx.events();
    assert_eq!(
        events_after.len(),
        4,
        "each event is accepted exactly once: {events_after:#?}"
    );
    let about_cx: Vec<String> = events
        .iter()
        .filter(|e| e.subject.as_deref() == Some(cx.as_str()))
        .map(|e| e.data["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(about_cx, vec!["raised", "assigned", "acknowledged"]);
    assert!(events
        .iter()
        .any(|e| e.event_type == "dev.countersign.request.approved"));
    assert!(
        rx.inbox.lock().unwrap().hits >= 10,
        "the receiver failed 6 times first"
    );
    // The delivery log shows the retries.
    let done = wait_deliveries(&s, "?state=delivered", |d| d.len() == 4);
    let retried = done.iter().filter(|d| d.attempts > 1).count();
    assert!(retried >= 1, "{done:#?}");
    let log: DeliveryLog = s.get(&format!(
        "/v1/webhooks/deliveries/{}",
        done.last().unwrap().id
    ));
    assert_eq!(log.attempts.len() as u32, log.delivery.attempts);
    let first = &log.attempts[0];
    if log.attempts.len() > 1 {
        assert_eq!(first.status, Some(503));
    }
}

#[test]
fn a_receiver_that_never_recovers_ends_in_dead_letter_and_replay_delivers() {
    let rx = Receiver::start(Mode::Down);
    let s = TestServer::start();
    s.tick();
    let hook = subscribe(&s, &rx.url, &[]);
    let (r, keys) = s.onboarding(&["bob"]);
    approve(&s, &r, "bob", &keys[0]);
    let dead = wait_deliveries(&s, "?state=dead", |d| d.len() == 1);
    assert_eq!(dead[0].attempts, 4);
    assert_eq!(dead[0].last_status, Some(500));
    let log: DeliveryLog = s.get(&format!("/v1/webhooks/deliveries/{}", dead[0].id));
    assert_eq!(log.attempts.len(), 4);
    assert!(log.attempts.iter().all(|a| a.status == Some(500)));
    assert!(rx.events().is_empty());

    rx.set(Mode::Ok);
    let replayed: Replayed = s.post(
        "/v1/webhooks/deliveries/replay",
        &json!({"endpoint": hook.endpoint.id}),
    );
    assert_eq!(replayed.replayed, vec![dead[0].id]);
    let got = rx.wait_for(1);
    assert_eq!(got[0].subject.as_deref(), Some(r.id.as_str()));
    wait_deliveries(&s, "?state=delivered", |d| d.len() == 1);
    let (status, v) = s.call(
        Method::POST,
        "/v1/webhooks/deliveries/replay",
        Some(&json!({"deliveries": [999999]})),
        true,
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("delivery_not_found"))
    );
}

#[test]
fn an_endpoint_that_keeps_failing_is_disabled_and_catches_up_when_enabled() {
    let rx = Receiver::start(Mode::Down);
    let mut s = TestServer::start();
    s.stop();
    s.webhooks.disable_after = 3;
    s.webhooks.retry.max_attempts = 20;
    s.boot();
    s.tick();
    let hook = subscribe(&s, &rx.url, &[]);
    let (r, keys) = s.onboarding(&["bob"]);
    approve(&s, &r, "bob", &keys[0]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let endpoint = loop {
        let e: WebhookEndpoint = s.get(&format!("/v1/webhooks/{}", hook.endpoint.id));
        if !e.enabled {
            break e;
        }
        assert!(Instant::now() < deadline, "never disabled: {e:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(endpoint.disabled_reason.unwrap().contains("3 consecutive"));
    // Logged as a webhook change.
    let entry = s.entry(s.tree_size() - 1);
    assert_eq!(
        (entry["type"].as_str(), entry["action"].as_str()),
        (Some("webhook.changed"), Some("disabled"))
    );
    // While disabled nothing is attempted; the delivery waits.
    let hits = rx.inbox.lock().unwrap().hits;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.inbox.lock().unwrap().hits, hits);
    rx.set(Mode::Ok);
    let _: WebhookEndpoint = s.post_patch(
        &format!("/v1/webhooks/{}", hook.endpoint.id),
        &json!({"enabled": true}),
    );
    assert_eq!(rx.wait_for(1)[0].subject.as_deref(), Some(r.id.as_str()));
}

#[test]
fn killing_the_server_between_a_state_change_and_its_delivery_loses_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let token = init_data_dir(dir.path());
    // First run: the sender polls once at start, then not for a minute, so
    // nothing created afterwards can have been sent when the kill comes.
    let config = dir.path().join("countersign.toml");
    std::fs::write(&config, format!("{LOOPBACK_WEBHOOKS}poll_ms = 60000\n")).unwrap();
    let (server, base) = spawn_server(dir.path());
    let http = reqwest::blocking::Client::new();
    let post = |path: &str, body: Value| post_as(&http, &base, &token, path, body);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let hook = post("/v1/webhooks", json!({"url": url}));
    let secret = hook["secret"].as_str().unwrap().to_string();
    let bob = seed_onboarding(&http, &base, &token, "offer-letter");
    let r: Request = serde_json::from_value(post(
        "/v1/requests",
        serde_json::to_value(request_body("offer-letter", "alice", "dave", &["bob"])).unwrap(),
    ))
    .unwrap();
    let env = sign(
        &statement(&r, "bob", &bob, Decision::Approve, wall_clock()),
        &bob,
    );
    let receipt = post("/v1/signatures", serde_json::to_value(&env).unwrap());
    assert_eq!(receipt["request_state"], "approved");

    // The approval is acknowledged; kill the server before it sends.
    drop(server);

    // Restart with a fast sender and a receiver that is now listening.
    std::fs::write(&config, format!("{LOOPBACK_WEBHOOKS}poll_ms = 50\n")).unwrap();
    let rx = Receiver::start_on(Mode::Ok, port);
    let (_server, _base) = spawn_server(dir.path());
    let got = rx.wait_for(1);
    assert_eq!(got[0].event_type, "dev.countersign.request.approved");
    assert_eq!(got[0].subject.as_deref(), Some(r.id.as_str()));
    let (headers, body) = rx.inbox.lock().unwrap().accepted[0].clone();
    verify_with(&headers, &body, &secret).unwrap();
}
