//! The README's onboarding walkthrough over HTTP, and the API's contract.

use countersign_proto::api::*;
use countersign_proto::evidence::EvidenceBundle;
use countersign_proto::model::*;
use countersign_tlog::note::NoteVerifier;
use countersign_tlog::proof::TlogProof;
use reqwest::Method;
use serde_json::json;

use crate::harness::*;

#[test]
fn onboarding_from_identities_to_verified_evidence() {
    let s = TestServer::start();
    for h in ["alice", "bob", "carol", "dave"] {
        s.human(h);
    }
    let bob = s.enroll("bob", None);
    let carol = s.enroll("carol", None);
    let offer = b"Offer letter for Dave Doe, engineer.\n";
    let v1 = s.document("offer-letter", offer);
    assert_eq!(v1.version, 1);
    // The same content again is the same version and records nothing.
    let size = s.tree_size();
    assert_eq!(s.document("offer-letter", offer).version, 1);
    assert_eq!(s.tree_size(), size);

    let mut body = request_body("offer-letter", "alice", "dave", &["bob", "carol"]);
    body.order = ApprovalOrder::Sequential;
    let r = s.request(&body);
    assert_eq!(r.state, RequestState::Pending);
    assert_eq!(r.documents[0].sha256, v1.sha256);

    let env_bob = sign(
        &statement(&r, "bob", &bob, Decision::Approve, s.now()),
        &bob,
    );
    let (status, receipt) = s.submit(&env_bob);
    assert_eq!(status, 201, "{receipt}");
    let receipt: SignatureReceipt = serde_json::from_value(receipt).unwrap();
    assert_eq!(receipt.request_state, RequestState::Pending);

    // The receipt is a C2SP tlog-proof of the returned entry under the log key.
    let verifier = NoteVerifier::from_vkey(s.text("/v1/log/key").trim()).unwrap();
    let proof = TlogProof::parse(&receipt.receipt).unwrap();
    let cp = proof.verify(receipt.entry.as_bytes(), &verifier).unwrap();
    assert_eq!(proof.index, receipt.log_index);
    assert_eq!(cp.size, receipt.log_index + 1);

    // Re-submitting the same envelope answers the same receipt and writes nothing.
    let size = s.tree_size();
    let (status, again) = s.submit(&env_bob);
    assert_eq!(status, 200);
    let again: SignatureReceipt = serde_json::from_value(again).unwrap();
    assert_eq!(again.receipt, receipt.receipt);
    assert_eq!(s.tree_size(), size);

    let env_carol = sign(
        &statement(&r, "carol", &carol, Decision::Approve, s.now()),
        &carol,
    );
    let (status, done) = s.submit(&env_carol);
    assert_eq!(status, 201, "{done}");
    assert_eq!(done["request_state"], "approved");
    let shown: Request = s.get(&format!("/v1/requests/{}", r.id));
    assert_eq!(shown.state, RequestState::Approved);
    assert_eq!(shown.signatures.len(), 2);

    // Evidence verifies offline, pinned to the published key, with the document.
    let bundle: EvidenceBundle = s.get(&format!("/v1/requests/{}/evidence", r.id));
    let bytes = serde_json::to_vec(&bundle).unwrap();
    let report = countersign_verify::verify_bundle(
        &bytes,
        &countersign_verify::Options {
            pinned_log_key: Some(s.log_key.clone()),
            documents: vec![("offer.txt".into(), offer.to_vec())],
        },
    );
    assert!(report.ok(), "{:#?}", report.failures().collect::<Vec<_>>());
    // A different document does not verify.
    let report = countersign_verify::verify_bundle(
        &bytes,
        &countersign_verify::Options {
            pinned_log_key: None,
            documents: vec![("other".into(), b"changed".to_vec())],
        },
    );
    assert!(!report.ok());

    // Consistency between an early and the latest checkpoint.
    let p: ConsistencyProof = s.get("/v1/log/proof/consistency?old=3");
    let old =
        countersign_tlog::checkpoint::Checkpoint::open(&s.text("/v1/log/checkpoints/3"), &verifier)
            .unwrap();
    let new =
        countersign_tlog::checkpoint::Checkpoint::open(&s.text("/v1/log/checkpoint"), &verifier)
            .unwrap();
    assert_eq!(old.size, 3);
    check_consistency(&p, &old, &new);
}

#[test]
fn identity_lifecycle_keeps_history_and_answers_past_states() {
    let s = TestServer::start();
    s.human("alice");
    let created = s.now();
    s.advance(time::Duration::minutes(10));
    let suspended: Identity = s.post(
        "/v1/identities/alice/suspend",
        &json!({"reason": "leave of absence"}),
    );
    assert_eq!(suspended.status, IdentityStatus::Suspended);
    s.advance(time::Duration::minutes(10));
    let _: Identity = s.post("/v1/identities/alice/reactivate", &json!({}));
    s.advance(time::Duration::minutes(10));
    let key = s.enroll("alice", None);
    let _: Identity = s.post(
        "/v1/identities/alice/terminate",
        &json!({"reason": "left the company"}),
    );

    let at = |t: time::OffsetDateTime| {
        let t = t
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let i: Identity = s.get(&format!("/v1/identities/alice?at={t}"));
        i.status
    };
    assert_eq!(
        at(created + time::Duration::minutes(5)),
        IdentityStatus::Active
    );
    assert_eq!(
        at(created + time::Duration::minutes(15)),
        IdentityStatus::Suspended
    );
    assert_eq!(
        at(created + time::Duration::minutes(25)),
        IdentityStatus::Active
    );
    assert_eq!(at(s.now()), IdentityStatus::Terminated);
    let (status, p) = s.call(
        Method::GET,
        "/v1/identities/alice?at=2000-01-01T00:00:00Z",
        None,
        true,
    );
    assert_eq!(
        (status, p["code"].as_str()),
        (404, Some("identity_not_found"))
    );

    let history: Vec<IdentityHistoryEntry> = s.get("/v1/identities/alice/history");
    assert_eq!(history.len(), 4);
    assert_eq!(history[1].reason.as_deref(), Some("leave of absence"));

    // Termination revoked the key and is final.
    let kid = countersign_attest::key_id(&key.verifying_key());
    let c: Credential = s.get(&format!("/v1/keys/{kid}"));
    assert!(c.revoked_at.is_some());
    let (status, p) = s.call(
        Method::POST,
        "/v1/identities/alice/reactivate",
        Some(&json!({})),
        true,
    );
    assert_eq!(
        (status, p["code"].as_str()),
        (409, Some("identity_terminated"))
    );

    // Non-human identities need an active human owner.
    let (status, p) = s.call(
        Method::POST,
        "/v1/identities",
        Some(&json!({"handle": "bot", "kind": "service"})),
        true,
    );
    assert_eq!((status, p["code"].as_str()), (422, Some("owner_required")));
    let (status, p) = s.call(
        Method::POST,
        "/v1/identities",
        Some(&json!({"handle": "bot", "kind": "service", "owner": "alice"})),
        true,
    );
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("owner_not_active_human"))
    );
    s.human("olga");
    let (status, _) = s.call(
        Method::POST,
        "/v1/identities",
        Some(&json!({"handle": "bot", "kind": "workload", "owner": "olga"})),
        true,
    );
    assert_eq!(status, 201);
    let (status, p) = s.call(
        Method::POST,
        "/v1/identities",
        Some(&json!({"handle": "olga", "kind": "human"})),
        true,
    );
    assert_eq!((status, p["code"].as_str()), (409, Some("handle_taken")));
}

#[test]
fn bad_input_gets_problem_json_and_changes_nothing() {
    let s = TestServer::start();
    s.human("alice");
    let size = s.tree_size();
    type Case<'a> = (
        Method,
        &'a str,
        Option<serde_json::Value>,
        bool,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            Method::GET,
            "/v1/identities",
            None,
            false,
            401,
            "unauthenticated",
        ),
        (
            Method::POST,
            "/v1/identities",
            Some(json!({"handle": "x", "kind": "robot"})),
            true,
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            "/v1/identities",
            Some(json!({"handle": "has space", "kind": "human"})),
            true,
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            "/v1/identities",
            Some(json!({"handle": "x", "kind": "human", "extra": 1})),
            true,
            422,
            "invalid_field",
        ),
        (Method::GET, "/v1/nope", None, true, 404, "route_not_found"),
        (
            Method::DELETE,
            "/v1/identities",
            None,
            true,
            405,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/v1/identities/nobody",
            None,
            true,
            404,
            "identity_not_found",
        ),
        (
            Method::GET,
            "/v1/identities/alice?at=yesterday",
            None,
            true,
            400,
            "bad_request",
        ),
        (
            Method::GET,
            "/v1/requests/req_missing",
            None,
            true,
            404,
            "request_not_found",
        ),
        (
            Method::GET,
            "/v1/log/entries/99999",
            None,
            true,
            404,
            "entry_not_found",
        ),
        (
            Method::GET,
            "/v1/log/proof/inclusion?index=0&size=99999",
            None,
            false,
            400,
            "tree_size_out_of_range",
        ),
        (
            Method::GET,
            "/v1/log/proof/consistency?old=0",
            None,
            false,
            400,
            "tree_size_out_of_range",
        ),
        (
            Method::GET,
            "/v1/log/entries/-1",
            None,
            true,
            400,
            "bad_request",
        ),
        (
            Method::POST,
            "/v1/documents/doc/versions",
            Some(json!({"sha256": "abc"})),
            true,
            422,
            "invalid_field",
        ),
        (
            Method::POST,
            "/v1/requests",
            Some(
                json!({"event_kind": "onboarding", "purpose": "x", "impact": "low", "documents": [{"document": "nope"}], "requester": "alice", "beneficiary": "alice", "approvers": ["alice"]}),
            ),
            true,
            404,
            "document_not_found",
        ),
        (
            Method::POST,
            "/v1/signatures",
            Some(json!({"payload": 1})),
            true,
            422,
            "invalid_field",
        ),
    ];
    for (method, path, body, token, status, code) in cases {
        let resp = {
            let mut r = s.http.request(method.clone(), format!("{}{path}", s.base));
            if token {
                r = r.bearer_auth(TOKEN);
            }
            if let Some(b) = &body {
                r = r.json(b);
            }
            r.send().unwrap()
        };
        assert_eq!(resp.status().as_u16(), status, "{method} {path}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let p: serde_json::Value = resp.json().unwrap();
        assert_eq!(p["code"], code, "{method} {path}: {p}");
        assert_eq!(p["status"], status);
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // Malformed JSON and a wrong token.
    let r = s
        .http
        .post(format!("{}/v1/identities", s.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = s
        .http
        .get(format!("{}/v1/identities", s.base))
        .bearer_auth("wrong")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Oversized JSON body. The server answers before reading the whole body
    // and closes the connection, so this goes on a client of its own rather
    // than poisoning the shared client's keep-alive pool.
    let big = json!({"handle": "x".repeat(2 * 1024 * 1024), "kind": "human"});
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/identities", s.base))
        .bearer_auth(TOKEN)
        .json(&big)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let p: serde_json::Value = r.json().unwrap();
    assert_eq!(
        (status, p["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    assert_eq!(
        s.tree_size(),
        size,
        "refused input must not write to the log"
    );
}

#[test]
fn documents_version_on_change_and_serve_their_bytes() {
    let s = TestServer::start();
    let v1 = s.document("contract", b"v1 terms");
    let v2 = s.document("contract", b"v2 terms");
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_ne!(v1.sha256, v2.sha256);
    let bytes = s
        .http
        .get(format!(
            "{}/v1/documents/contract/versions/1/content",
            s.base
        ))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(&bytes[..], b"v1 terms");
    let digest = "ab".repeat(32);
    let v3: DocumentVersion = s.post(
        "/v1/documents/contract/versions",
        &json!({"sha256": digest}),
    );
    assert!(!v3.content_stored);
    let (status, p) = s.call(
        Method::GET,
        "/v1/documents/contract/versions/3/content",
        None,
        true,
    );
    assert_eq!(
        (status, p["code"].as_str()),
        (404, Some("content_not_stored"))
    );
    let doc: Document = s.get("/v1/documents/contract");
    assert_eq!(doc.versions.len(), 3);
}

#[test]
fn openapi_document_describes_the_api() {
    let s = TestServer::start();
    let doc: serde_json::Value = s.get("/v1/openapi.json");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/identities",
        "/v1/signatures",
        "/v1/requests/{id}/evidence",
        "/v1/log/proof/consistency",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}
