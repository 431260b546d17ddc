//! One test per signing refusal: the error code, and that nothing but the
//! refusal event was written.

use countersign_proto::model::*;
use countersign_proto::statement::{Envelope, Statement};
use ed25519_dalek::SigningKey;
use serde_json::json;

use crate::harness::*;

struct World {
    s: TestServer,
    bob: SigningKey,
    carol: SigningKey,
    eve: SigningKey,
    request: Request,
}

/// alice asks for dave's onboarding; bob and carol approve; eve is a bystander.
fn world() -> World {
    let s = TestServer::start();
    let (request, keys) = s.onboarding(&["bob", "carol"]);
    let [bob, carol] = <[SigningKey; 2]>::try_from(keys).unwrap();
    s.human("eve");
    let eve = s.enroll("eve", None);
    World {
        s,
        bob,
        carol,
        eve,
        request,
    }
}

impl World {
    fn statement(&self, actor: &str, key: &SigningKey) -> Statement {
        statement(&self.request, actor, key, Decision::Approve, self.s.now())
    }

    /// Submit and assert the refusal: status, code, exactly one new log
    /// entry (the refusal, naming the code) and an unchanged request.
    fn refused(&self, envelope: &Envelope, status: u16, code: &str) {
        self.refused_on(envelope, &self.request.id, status, code)
    }

    fn refused_on(&self, envelope: &Envelope, request_id: &str, status: u16, code: &str) {
        let before = self.s.tree_size();
        let request_before: serde_json::Value = self.s.get(&format!("/v1/requests/{request_id}"));
        let (got, problem) = self.s.submit(envelope);
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(got, status, "{problem}");
        assert_eq!(problem["log_index"].as_u64(), Some(before), "{problem}");
        assert_eq!(
            self.s.tree_size(),
            before + 1,
            "exactly one entry (the refusal) is written"
        );
        let entry = self.s.entry(before);
        assert_eq!(entry["type"], "signature.refused");
        assert_eq!(entry["code"], code);
        let request_after: serde_json::Value = self.s.get(&format!("/v1/requests/{request_id}"));
        assert_eq!(
            request_before, request_after,
            "a refusal changes nothing else"
        );
    }
}

#[test]
fn refuses_an_envelope_that_is_not_an_approval_statement() {
    let w = world();
    let mut env = sign(&w.statement("bob", &w.bob), &w.bob);
    env.payload_type = "text/plain".into();
    w.refused(&env, 422, "statement_invalid");
}

#[test]
fn refuses_a_signature_that_does_not_verify() {
    let w = world();
    // Eve signs a statement naming bob's key.
    let mut st = w.statement("bob", &w.bob);
    st.predicate.key_id = countersign_attest::key_id(&w.bob.verifying_key());
    let mut env = sign(&st, &w.eve);
    env.signatures[0].keyid = st.predicate.key_id.clone();
    w.refused(&env, 422, "signature_invalid");
}

#[test]
fn refuses_an_unknown_credential() {
    let w = world();
    let stranger = SigningKey::generate(&mut rand_core::OsRng);
    let env = sign(&w.statement("bob", &stranger), &stranger);
    w.refused(&env, 422, "credential_unknown");
}

#[test]
fn refuses_a_revoked_credential() {
    let w = world();
    let second = w.s.enroll("bob", None);
    let kid = countersign_attest::key_id(&second.verifying_key());
    let _: Credential = w.s.post(
        &format!("/v1/keys/{kid}/revoke"),
        &json!({"reason": "laptop lost"}),
    );
    let env = sign(&w.statement("bob", &second), &second);
    w.refused(&env, 422, "credential_revoked");
}

#[test]
fn refuses_an_expired_credential() {
    let w = world();
    let short =
        w.s.enroll("bob", Some(w.s.now() + time::Duration::minutes(1)));
    w.s.advance(time::Duration::minutes(2));
    let env = sign(&w.statement("bob", &short), &short);
    w.refused(&env, 422, "credential_expired");
}

#[test]
fn refuses_a_key_used_for_another_actor() {
    let w = world();
    let env = sign(&w.statement("bob", &w.carol), &w.carol);
    w.refused(&env, 422, "actor_mismatch");
}

#[test]
fn refuses_a_suspended_actor() {
    let w = world();
    let _: Identity = w.s.post(
        "/v1/identities/carol/suspend",
        &json!({"reason": "investigation"}),
    );
    // Suspension voids the pending requests carol had to sign; a request
    // naming her afterwards still meets the policy's refusal.
    let voided: Request = w.s.get(&format!("/v1/requests/{}", w.request.id));
    assert_eq!(voided.state, RequestState::Voided);
    let r = w.s.request(&request_body(
        "offer-letter",
        "alice",
        "dave",
        &["bob", "carol"],
    ));
    let st = statement(&r, "carol", &w.carol, Decision::Approve, w.s.now());
    let env = sign(&st, &w.carol);
    w.refused_on(&env, &r.id, 403, "policy_denied");
    let entry = w.s.entry(w.s.tree_size() - 1);
    assert_eq!(entry["policy"]["effect"], "deny");
    assert_eq!(entry["policy"]["policies"], json!(["inactive-cannot-sign"]));
}

#[test]
fn refuses_a_statement_signed_far_from_the_server_clock() {
    let w = world();
    let mut st = w.statement("bob", &w.bob);
    st.predicate.signed_at -= time::Duration::hours(1);
    w.refused(&sign(&st, &w.bob), 422, "clock_skew");
}

#[test]
fn refuses_a_request_that_is_not_pending() {
    let w = world();
    let _: Request = w.s.post(
        &format!("/v1/requests/{}/withdraw", w.request.id),
        &json!({"reason": "hired elsewhere"}),
    );
    let env = sign(&w.statement("bob", &w.bob), &w.bob);
    w.refused(&env, 409, "request_not_pending");
}

#[test]
fn refuses_an_expired_request() {
    let w = world();
    let mut body = request_body("offer-letter", "alice", "dave", &["bob"]);
    body.expires_in_seconds = Some(60);
    let short = w.s.request(&body);
    w.s.advance(time::Duration::minutes(2));
    let env = sign(
        &statement(&short, "bob", &w.bob, Decision::Approve, w.s.now()),
        &w.bob,
    );
    w.refused_on(&env, &short.id, 409, "request_expired");
}

#[test]
fn refuses_a_statement_over_other_document_bytes() {
    let w = world();
    let mut st = w.statement("bob", &w.bob);
    st.subject[0]
        .digest
        .insert("sha256".into(), "00".repeat(32));
    w.refused(&sign(&st, &w.bob), 422, "digest_mismatch");
}

#[test]
fn refuses_a_statement_echoing_another_action() {
    let w = world();
    let mut st = w.statement("bob", &w.bob);
    if let Some(a) = st.predicate.action.as_mut() {
        a.entitlement = "org/acme/team/admins".into();
    }
    w.refused(&sign(&st, &w.bob), 422, "action_mismatch");
}

#[test]
fn refuses_a_signer_who_is_not_an_approver() {
    let w = world();
    let env = sign(&w.statement("eve", &w.eve), &w.eve);
    w.refused(&env, 403, "policy_denied");
    let entry = w.s.entry(w.s.tree_size() - 1);
    assert_eq!(entry["policy"]["effect"], "deny");
    assert_eq!(
        entry["policy"]["policies"],
        json!([]),
        "Cedar's default deny: nothing permits eve"
    );
}

#[test]
fn refuses_a_second_signature_by_the_same_approver() {
    let w = world();
    let (status, _) = w.s.submit(&sign(&w.statement("bob", &w.bob), &w.bob));
    assert_eq!(status, 201);
    w.s.advance(time::Duration::seconds(1));
    let env = sign(&w.statement("bob", &w.bob), &w.bob);
    w.refused(&env, 409, "already_signed");
}

#[test]
fn refuses_signing_out_of_order() {
    let w = world();
    let mut body = request_body("offer-letter", "alice", "dave", &["bob", "carol"]);
    body.order = ApprovalOrder::Sequential;
    let seq = w.s.request(&body);
    let env = sign(
        &statement(&seq, "carol", &w.carol, Decision::Approve, w.s.now()),
        &w.carol,
    );
    w.refused_on(&env, &seq.id, 409, "out_of_order");
}

#[test]
fn a_rejection_below_quorum_rejects_the_request() {
    let w = world();
    let mut body = request_body("offer-letter", "alice", "dave", &["bob", "carol", "eve"]);
    body.quorum = Some(2);
    let r = w.s.request(&body);
    let (status, v) = w.s.submit(&sign(
        &statement(&r, "bob", &w.bob, Decision::Reject, w.s.now()),
        &w.bob,
    ));
    assert_eq!(
        (status, v["request_state"].as_str()),
        (201, Some("pending"))
    );
    let (status, v) = w.s.submit(&sign(
        &statement(&r, "eve", &w.eve, Decision::Reject, w.s.now()),
        &w.eve,
    ));
    assert_eq!(
        (status, v["request_state"].as_str()),
        (201, Some("rejected"))
    );
}
