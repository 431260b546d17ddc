//! Passkeys as signing credentials, through the real server: enrolment
//! through a single-use link, signatures whose WebAuthn challenge is the
//! statement's PAE digest, offline verification and its failures, replays,
//! earned assurance, vouched hardware keys and self-enrolment.

use countersign_proto::governance::Role;
use countersign_proto::model::*;
use countersign_webauthn::testkit::{TestAttestation, TestAttestationCa};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::*;

/// alice asks for dave's onboarding; `approver` is a person with a passkey
/// on `device` and an approver token bound to them.
fn setup(s: &TestServer, approver: &str, device: &mut Device) -> (Request, String) {
    s.human("alice");
    s.human("dave");
    s.human(approver);
    s.enrol_passkey(approver, device, TestAttestation::None);
    s.document("offer-letter", b"Offer letter for Dave\n");
    let r = s.request(&request_body("offer-letter", "alice", "dave", &[approver]));
    let token = s.token_for(Some(approver), &[Role::Approver]);
    (r, token)
}

fn bundle_of(s: &TestServer, request: &str) -> Vec<u8> {
    let (status, b) = s.call(
        Method::GET,
        &format!("/v1/requests/{request}/evidence"),
        None,
        true,
    );
    assert_eq!(status, 200);
    serde_json::to_vec(&b).unwrap()
}

fn verify(s: &TestServer, bundle: &[u8]) -> countersign_verify::Report {
    countersign_verify::verify_bundle(
        bundle,
        &countersign_verify::Options {
            pinned_log_key: Some(s.log_key.clone()),
            documents: vec![("offer".into(), b"Offer letter for Dave\n".to_vec())],
        },
    )
}

#[test]
fn a_passkey_enrolled_through_a_link_signs_a_statement_that_verifies_offline() {
    let s = TestServer::start();
    let mut bob = Device::synced();
    let (r, token) = setup(&s, "bob", &mut bob);
    let credential: Credential = s.get(&format!("/v1/keys/{}", bob.key_id()));
    assert_eq!(credential.kind, CredentialKind::Passkey);
    assert_eq!(credential.identity, "bob");
    // The enrolment is logged, with what the ceremony proved.
    let enrolled = s.entry(credential.log_index);
    assert_eq!(enrolled["type"], "credential.enrolled");
    assert_eq!(enrolled["credential"]["passkey"]["backup_eligible"], true);
    assert_eq!(
        enrolled["credential"]["passkey"]["attestation"]["format"],
        "none"
    );

    let (status, receipt) = s.passkey_approve(&r.id, &token, &mut bob);
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["request_state"], "approved");
    let entry: Value = s.entry(receipt["log_index"].as_u64().unwrap());
    let sig = &entry["envelope"]["signatures"][0];
    assert_eq!(sig["extension"]["kind"], statement_kind());
    // The statement names the server's nonce, and the WebAuthn challenge
    // was its PAE digest.
    let envelope: countersign_proto::statement::Envelope =
        serde_json::from_value(entry["envelope"].clone()).unwrap();
    let statement = countersign_attest::statement_of(&envelope).unwrap();
    assert!(statement.predicate.nonce.is_some());
    let ext: countersign_proto::statement::WebAuthnAssertion =
        serde_json::from_value(sig["extension"]["ext"].clone()).unwrap();
    let client_data: Value = serde_json::from_slice(&b64url(&ext.client_data_json)).unwrap();
    let payload = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &envelope.payload,
    )
    .unwrap();
    let digest = countersign_attest::passkey::signing_challenge(&envelope.payload_type, &payload);
    assert_eq!(
        b64url(client_data["challenge"].as_str().unwrap()),
        digest.to_vec()
    );
    assert_eq!(client_data["type"], "webauthn.get");
    // A synced passkey with user verification is AAL2, and its verification
    // is a fresh authentication.
    assert_eq!(entry["auth"]["aal"], 2);
    assert!(entry["auth"]["auth_time"].is_string());

    let report = verify(&s, &bundle_of(&s, &r.id));
    assert!(report.ok(), "{:#?}", report.failures().collect::<Vec<_>>());
    let assurance = report
        .checks
        .iter()
        .find(|c| c.name == "signature.assurance")
        .unwrap();
    assert!(
        assurance
            .detail
            .contains("a passkey (synced, user verified")
            && assurance.detail.contains("proves AAL2"),
        "{}",
        assurance.detail
    );
}

fn statement_kind() -> &'static str {
    countersign_proto::statement::WEBAUTHN_EXTENSION_KIND
}

/// Replace the envelope of the bundle's signature entry with `tamper`'s
/// change, keeping the rest.
fn tampered_bundle(bundle: &[u8], index: u64, tamper: &dyn Fn(&mut Value)) -> Vec<u8> {
    let mut b: Value = serde_json::from_slice(bundle).unwrap();
    for e in b["entries"].as_array_mut().unwrap() {
        if e["index"] == index {
            let mut entry: Value = serde_json::from_str(e["entry"].as_str().unwrap()).unwrap();
            tamper(&mut entry["envelope"]["signatures"][0]);
            e["entry"] = Value::String(entry.to_string());
        }
    }
    serde_json::to_vec(&b).unwrap()
}

fn flip_b64url(v: &mut Value, at: usize) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let mut bytes = b64url(v.as_str().unwrap());
    let i = at.min(bytes.len() - 1);
    bytes[i] ^= 0x01;
    *v = Value::String(URL_SAFE_NO_PAD.encode(bytes));
}

#[test]
fn changing_one_byte_of_a_passkey_signature_fails_offline_verification() {
    let s = TestServer::start();
    let mut bob = Device::synced();
    let (r, token) = setup(&s, "bob", &mut bob);
    let (status, receipt) = s.passkey_approve(&r.id, &token, &mut bob);
    assert_eq!(status, 201);
    let index = receipt["log_index"].as_u64().unwrap();
    let bundle = bundle_of(&s, &r.id);
    assert!(verify(&s, &bundle).ok());
    type Tamper = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "clientDataJSON",
            Box::new(|sig: &mut Value| {
                flip_b64url(&mut sig["extension"]["ext"]["clientDataJSON"], 20)
            }),
        ),
        (
            "authenticatorData",
            Box::new(|sig: &mut Value| {
                flip_b64url(&mut sig["extension"]["ext"]["authenticatorData"], 33)
            }),
        ),
        (
            "signature",
            Box::new(|sig: &mut Value| {
                use base64::Engine as _;
                let std = base64::engine::general_purpose::STANDARD;
                let mut bytes = std.decode(sig["sig"].as_str().unwrap()).unwrap();
                let n = bytes.len();
                bytes[n - 3] ^= 0x01;
                sig["sig"] = Value::String(std.encode(bytes));
            }),
        ),
    ];
    let credential: Credential = s.get(&format!("/v1/keys/{}", bob.key_id()));
    let signed: Value = s.entry(receipt["log_index"].as_u64().unwrap());
    let original: countersign_proto::statement::Envelope =
        serde_json::from_value(signed["envelope"].clone()).unwrap();
    let offline = countersign_attest::passkey::Origins::RpIdScope;
    assert!(
        countersign_attest::verify_with_credential(&original, &credential, offline, false).is_ok()
    );
    for (what, tamper) in cases {
        // The bundle no longer verifies: the entry's bytes changed.
        let report = verify(&s, &tampered_bundle(&bundle, index, &tamper));
        assert!(!report.ok(), "a changed {what} still verifies");
        // And the passkey check itself refuses the changed envelope, with
        // the key enrolled in the log and no server.
        let mut e = serde_json::to_value(&original).unwrap();
        tamper(&mut e["signatures"][0]);
        let e: countersign_proto::statement::Envelope = serde_json::from_value(e).unwrap();
        let err = countersign_attest::verify_with_credential(&e, &credential, offline, false)
            .expect_err(what);
        assert!(
            err.to_string().contains(&credential.key_id),
            "{what}: {err}"
        );
    }
}

#[test]
fn an_assertion_made_for_another_statement_is_refused_and_a_replay_is_refused() {
    let s = TestServer::start();
    let mut bob = Device::synced();
    let (r, token) = setup(&s, "bob", &mut bob);
    // Two statements issued; the assertion for the first goes with the second.
    let (_, first) = s.signing_challenge(&r.id, &token, &json!({"decision": "approve"}));
    let (_, second) = s.signing_challenge(
        &r.id,
        &token,
        &json!({"decision": "reject", "reason": "not this one"}),
    );
    let assertion = bob.answer(&s, &first["challenge"]);
    let before = s.tree_size();
    let (status, p) = s.call_as(
        Method::POST,
        &format!("/v1/requests/{}/passkey-signatures", r.id),
        Some(&json!({"nonce": second["nonce"], "credential": assertion})),
        Some(&token),
    );
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["code"], "signature_invalid");
    assert!(p["detail"].as_str().unwrap().contains("challenge"), "{p}");
    // The refusal is recorded, and uses up the second statement's nonce.
    assert_eq!(s.tree_size(), before + 1);
    let refused = s.entry(p["log_index"].as_u64().unwrap());
    assert_eq!(refused["type"], "signature.refused");
    let (status, p) = s.call_as(
        Method::POST,
        &format!("/v1/requests/{}/passkey-signatures", r.id),
        Some(&json!({"nonce": second["nonce"], "credential": assertion})),
        Some(&token),
    );
    assert_eq!((status, p["code"].as_str()), (422, Some("nonce_invalid")));

    // The right assertion is accepted once.
    let (status, receipt) = s.call_as(
        Method::POST,
        &format!("/v1/requests/{}/passkey-signatures", r.id),
        Some(&json!({"nonce": first["nonce"], "credential": assertion})),
        Some(&token),
    );
    assert_eq!(status, 201, "{receipt}");
    let entry: Value = s.entry(receipt["log_index"].as_u64().unwrap());
    // Replaying the accepted envelope is refused and writes nothing.
    let size = s.tree_size();
    let (status, p) = s.submit_as(
        &serde_json::from_value(entry["envelope"].clone()).unwrap(),
        &token,
    );
    assert_eq!(
        (status, p["code"].as_str()),
        (409, Some("assertion_replayed")),
        "{p}"
    );
    assert_eq!(s.tree_size(), size);
    // And its nonce is gone.
    let (status, p) = s.call_as(
        Method::POST,
        &format!("/v1/requests/{}/passkey-signatures", r.id),
        Some(&json!({"nonce": first["nonce"], "credential": assertion})),
        Some(&token),
    );
    assert_eq!((status, p["code"].as_str()), (422, Some("nonce_invalid")));
}

#[test]
fn assurance_is_earned_from_attestation_and_device_binding() {
    let ca = TestAttestationCa::new([7; 16]).unwrap();
    let mut s = TestServer::start();
    s.attestation_roots = ca.trust_anchors().unwrap();
    s.stop();
    s.boot();
    for h in ["sam", "tia", "uma", "vic"] {
        s.human(h);
    }
    // A synced passkey without attestation: AAL2, software, from the authenticator's flags.
    let mut synced = Device::synced();
    let (_, c) = s.enrol_passkey("sam", &mut synced, TestAttestation::None);
    assert_eq!(
        (c.assurance, c.assurance_basis),
        (Assurance::Software, AssuranceBasis::Authenticator)
    );
    assert_eq!(countersign_domain::policy::credential_aal(&c), 2);
    // A device-bound security key whose attestation chains to a trusted root: AAL3.
    let mut key = Device::security_key();
    key.authenticator.aaguid = [7; 16];
    let (_, c) = s.enrol_passkey("tia", &mut key, ca.attestation());
    assert_eq!(
        (c.assurance, c.assurance_basis),
        (Assurance::Hardware, AssuranceBasis::Attestation)
    );
    let p = c.passkey.clone().unwrap();
    assert!(p.attestation.trusted && p.device_bound());
    assert_eq!(
        p.attestation.root.as_deref(),
        Some(countersign_attest::keys::sha256_hex(&ca.root_der).as_str())
    );
    assert_eq!(countersign_domain::policy::credential_aal(&c), 3);
    // Attested and device-bound, but by a root nobody trusts: AAL2.
    let other = TestAttestationCa::new([7; 16]).unwrap();
    let mut untrusted = Device::security_key();
    untrusted.authenticator.aaguid = [7; 16];
    let (_, c) = s.enrol_passkey("uma", &mut untrusted, other.attestation());
    assert_eq!(c.assurance_basis, AssuranceBasis::Authenticator);
    assert!(!c.passkey.unwrap().attestation.trusted);
    assert_eq!(c.assurance, Assurance::Software);
    // Self attestation proves nothing about the device either.
    let mut selfie = Device::security_key();
    let (_, c) = s.enrol_passkey("vic", &mut selfie, TestAttestation::PackedSelf);
    assert_eq!(c.assurance, Assurance::Software);

    // The AAL3 passkey passes step-up by itself: a high-impact request,
    // signed long after any sign-in, with user verification.
    s.human("alice");
    s.human("dave");
    s.document("ops", b"prod access\n");
    let mut body = request_body("ops", "alice", "dave", &["tia"]);
    body.impact = Impact::High;
    let r = s.request(&body);
    let token = s.token_for(Some("tia"), &[Role::Approver]);
    let (status, receipt) = s.passkey_approve(&r.id, &token, &mut key);
    assert_eq!(status, 201, "{receipt}");
    let entry: Value = s.entry(receipt["log_index"].as_u64().unwrap());
    assert_eq!(entry["auth"]["aal"], 3);
    // Without user verification the same passkey proves possession only.
    key.authenticator.flags.user_verified = false;
    let mut body = request_body("ops", "alice", "dave", &["tia"]);
    body.impact = Impact::Low;
    let r = s.request(&body);
    let (status, receipt) = s.passkey_approve(&r.id, &token, &mut key);
    assert_eq!(status, 201, "{receipt}");
    let entry: Value = s.entry(receipt["log_index"].as_u64().unwrap());
    assert_eq!(entry["auth"]["aal"], 1);
}

#[test]
fn a_hardware_label_on_a_file_key_is_refused_unless_an_administrator_vouches() {
    let s = TestServer::start();
    s.human("bob");
    let bob = s.token_for(Some("bob"), &[Role::Approver]);
    let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let enrol = |bearer: &str, assurance: &str, vouch: Option<&str>| {
        let public_key = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            key.verifying_key().as_bytes(),
        );
        let (_, ch) = s.call_as(
            Method::POST,
            "/v1/identities/bob/key-challenges",
            Some(&json!({})),
            Some(bearer),
        );
        let challenge = ch["challenge"].as_str().unwrap().to_string();
        let proof = ed25519_dalek::Signer::sign(
            &key,
            &countersign_attest::pop_message("bob", &challenge, &public_key),
        );
        let mut body = json!({
            "public_key": public_key, "challenge": challenge,
            "proof": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, proof.to_bytes()),
            "assurance": assurance,
        });
        if let Some(v) = vouch {
            body["vouch"] = json!(v);
        }
        s.call_as(
            Method::POST,
            "/v1/identities/bob/keys",
            Some(&body),
            Some(bearer),
        )
    };
    let size = s.tree_size();
    // Bob declares his own file key hardware: refused, nothing written.
    let (status, p) = enrol(&bob, "hardware", None);
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("assurance_not_earned")),
        "{p}"
    );
    // Bob vouching for himself: only administrators vouch.
    let (status, p) = enrol(&bob, "hardware", Some("trust me"));
    assert_eq!(
        (status, p["code"].as_str()),
        (403, Some("forbidden")),
        "{p}"
    );
    // An administrator without a reason: still not earned.
    let (status, p) = enrol(TOKEN, "hardware", None);
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("assurance_not_earned"))
    );
    assert_eq!(s.tree_size(), size);
    // An administrator who vouches: enrolled as hardware, with who and why logged.
    let (status, c) = enrol(
        TOKEN,
        "hardware",
        Some("YubiKey 5 PIV slot 9c, key generated on the token, inspected in person"),
    );
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["assurance_basis"], "vouched");
    let logged = s.entry(c["log_index"].as_u64().unwrap());
    assert_eq!(logged["credential"]["vouch"]["by"], "bootstrap");
    assert!(logged["credential"]["vouch"]["reason"]
        .as_str()
        .unwrap()
        .contains("YubiKey"));
}

#[test]
fn keys_labelled_hardware_before_migrate_as_declared_and_can_be_vouched_for_later() {
    let mut s = TestServer::start_sqlite();
    s.human("bob");
    let key = s.enroll("bob", None);
    let kid = countersign_attest::key_id(&key.verifying_key());
    s.stop();
    // Make the database look like one from before assurance was earned:
    // the key labelled hardware, with no basis, at schema version 3.
    {
        let db = rusqlite::Connection::open(s.db_path()).unwrap();
        db.execute_batch(&format!(
            "UPDATE credentials SET body = json_remove(json_set(body, '$.assurance', 'hardware'), '$.assurance_basis') WHERE key_id = '{kid}';
             DROP TABLE sign_counts; DROP TABLE web_challenges; DROP TABLE sessions;
             DROP TABLE invitations; DROP TABLE mails; DROP TABLE reminders;
             PRAGMA user_version = 3;"
        ))
        .unwrap();
    }
    s.boot();
    let c: Credential = s.get(&format!("/v1/keys/{kid}"));
    assert_eq!(
        (c.assurance, c.assurance_basis),
        (Assurance::Hardware, AssuranceBasis::Declared)
    );
    assert_eq!(
        countersign_domain::policy::credential_aal(&c),
        1,
        "a declared label earns nothing"
    );
    // An administrator vouches for it afterwards: a logged vouching.
    let v: Credential = s.post(
        &format!("/v1/keys/{kid}/vouch"),
        &json!({"reason": "key held in the HSM, checked against its serial"}),
    );
    assert_eq!(v.assurance_basis, AssuranceBasis::Vouched);
    assert_eq!(countersign_domain::policy::credential_aal(&v), 3);
    let size = s.tree_size();
    let logged = s.entry(size - 1);
    assert_eq!(logged["type"], "credential.vouched");
    assert_eq!(logged["vouch"]["by"], "bootstrap");
    // Nobody else vouches.
    let bob = s.token_for(Some("bob"), &[Role::Approver]);
    let (status, _) = s.call_as(
        Method::POST,
        &format!("/v1/keys/{kid}/vouch"),
        Some(&json!({"reason": "me"})),
        Some(&bob),
    );
    assert_eq!(status, 403);
}

#[test]
fn approvers_enrol_their_own_keys_but_not_someone_elses() {
    let s = TestServer::start();
    s.human("bob");
    s.human("carol");
    let bob = s.token_for(Some("bob"), &[Role::Approver]);
    let (status, _) = s.call_as(
        Method::POST,
        "/v1/identities/bob/key-challenges",
        Some(&json!({})),
        Some(&bob),
    );
    assert_eq!(status, 201);
    let (status, p) = s.call_as(
        Method::POST,
        "/v1/identities/carol/key-challenges",
        Some(&json!({})),
        Some(&bob),
    );
    assert_eq!((status, p["code"].as_str()), (403, Some("forbidden")));
    // A passkey added from the signed-in account, no administrator involved.
    let mut phone = Device::synced();
    let (session, _) = s.enrol_passkey("bob", &mut phone, TestAttestation::None);
    let csrf = s.csrf(&session);
    let mut laptop = Device::synced();
    let resp = s.web(
        Method::POST,
        "/account/passkeys/options",
        Some(&json!({})),
        Some(&session),
        Some(&csrf),
    );
    assert_eq!(resp.status(), 200);
    let start: Value = resp.json().unwrap();
    // The passkey already registered is excluded.
    assert_eq!(
        start["options"]["excludeCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let reg = laptop
        .authenticator
        .register(
            "localhost",
            &s.origin(),
            &b64url(start["options"]["challenge"].as_str().unwrap()),
            &b64url(start["options"]["user"]["id"].as_str().unwrap()),
            TestAttestation::None,
        )
        .unwrap();
    let resp = s.web(
        Method::POST,
        "/account/passkeys",
        Some(&json!({"challenge": start["challenge"], "credential": reg})),
        Some(&session),
        Some(&csrf),
    );
    assert_eq!(resp.status(), 200);
    let keys: Vec<Credential> = s.get("/v1/identities/bob/keys");
    assert_eq!(
        keys.iter()
            .filter(|k| k.kind == CredentialKind::Passkey)
            .count(),
        2
    );
    // The same call with a forged CSRF token changes nothing.
    let resp = s.web(
        Method::POST,
        "/account/passkeys/options",
        Some(&json!({})),
        Some(&session),
        Some("forged"),
    );
    assert_eq!(resp.status(), 403);
}

#[test]
fn sessions_end_when_their_passkey_is_revoked_and_a_cloned_authenticator_is_refused() {
    let s = TestServer::start();
    s.human("bob");
    let mut key = Device::security_key();
    let (session, c) = s.enrol_passkey("bob", &mut key, TestAttestation::None);
    let open = |cookie: &str| {
        s.web(Method::GET, "/inbox", None, Some(cookie), None)
            .status()
    };
    assert_eq!(open(&session), 200);
    // A sign-in with the passkey: a second session.
    let sign_in = |device: &mut Device| {
        let resp = s.web(
            Method::POST,
            "/sign-in/passkey/options",
            Some(&json!({})),
            None,
            None,
        );
        let start: Value = resp.json().unwrap();
        let a = device
            .authenticator
            .assert(
                "localhost",
                &s.origin(),
                &b64url(start["options"]["challenge"].as_str().unwrap()),
            )
            .unwrap();
        s.web(
            Method::POST,
            "/sign-in/passkey",
            Some(&json!({"challenge": start["challenge"], "credential": a})),
            None,
            None,
        )
    };
    let resp = sign_in(&mut key);
    assert_eq!(resp.status(), 200);
    let second = TestServer::session_of(&resp).unwrap();
    assert_eq!(open(&second), 200);
    // A copy of the authenticator whose counter is behind: refused.
    let mut clone = Device {
        authenticator: key.authenticator.clone(),
    };
    clone.authenticator.sign_count = 0;
    let resp = sign_in(&mut clone);
    assert_eq!(resp.status(), 422);
    let p: Value = resp.json().unwrap();
    assert_eq!(p["code"], "authenticator_cloned");
    // Revoking the passkey ends the sessions it started.
    let _: Credential = s.post(
        &format!("/v1/keys/{}/revoke", c.key_id),
        &json!({"reason": "lost"}),
    );
    assert_eq!(open(&second), 303);
    assert_eq!(open(&session), 303);
    let resp = sign_in(&mut key);
    assert_eq!(resp.status(), 422);
}

#[test]
fn an_enrolment_link_works_once_in_time_and_only_for_an_active_person() {
    let s = TestServer::start();
    s.human("bob");
    let mut d = Device::synced();
    let token = s.invitation("bob");
    // Issued by an administrator, logged without its secret.
    let logged = s.entry(s.tree_size() - 1);
    assert_eq!(logged["type"], "invitation.issued");
    assert!(!logged.to_string().contains(&token));
    let page = s.web(Method::GET, &format!("/enrol/{token}"), None, None, None);
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    s.enrol_with(&token, &mut d, TestAttestation::None);
    // Used once, the link is dead.
    let used = s.web(Method::GET, &format!("/enrol/{token}"), None, None, None);
    assert_eq!(used.status(), 404);
    assert!(used.text().unwrap().contains("already used"));
    let again = s.web(
        Method::POST,
        &format!("/enrol/{token}/options"),
        Some(&json!({})),
        None,
        None,
    );
    assert_eq!(again.status(), 404);
    // A link is for a first passkey only: one that leaked or was sent
    // twice cannot add a stranger's passkey to an enrolled account.
    let (status, p) = s.call(
        Method::POST,
        "/v1/identities/bob/invitations",
        Some(&json!({})),
        true,
    );
    assert_eq!((status, p["code"].as_str()), (409, Some("passkey_exists")));
    // A newer link replaces an older one, and enrolling through either
    // uses up both.
    s.human("dave");
    let first = s.invitation("dave");
    let second = s.invitation("dave");
    let replaced = s.web(Method::GET, &format!("/enrol/{first}"), None, None, None);
    assert_eq!(replaced.status(), 404);
    assert!(replaced.text().unwrap().contains("newer link replaced it"));
    let (_, lost) = s.enrol_with(&second, &mut Device::synced(), TestAttestation::None);
    // Once the lost passkey is revoked, a new link lets its owner back in.
    let _: Credential = s.post(
        &format!("/v1/keys/{}/revoke", lost.key_id),
        &json!({"reason": "lost phone"}),
    );
    let recovery = s.invitation("dave");
    s.enrol_with(&recovery, &mut Device::synced(), TestAttestation::None);
    // Links expire.
    s.human("erin");
    let later = s.invitation("erin");
    s.advance(time::Duration::hours(73));
    let gone = s.web(
        Method::POST,
        &format!("/enrol/{later}/options"),
        Some(&json!({})),
        None,
        None,
    );
    assert_eq!(gone.status(), 404);
    let p: Value = gone.json().unwrap();
    assert_eq!(p["code"], "invitation_invalid");
    // Not for a suspended identity, not for non-humans, not without a real identity.
    s.human("carol");
    let c = s.invitation("carol");
    let _: Identity = s.post("/v1/identities/carol/suspend", &json!({}));
    let refused = s.web(
        Method::POST,
        &format!("/enrol/{c}/options"),
        Some(&json!({})),
        None,
        None,
    );
    assert_eq!(refused.status(), 404);
    let (status, _) = s.call(
        Method::POST,
        "/v1/identities/carol/invitations",
        Some(&json!({})),
        true,
    );
    assert_eq!(status, 403);
    let (status, p) = s.call(
        Method::POST,
        "/v1/identities/nobody/invitations",
        Some(&json!({})),
        true,
    );
    assert_eq!(
        (status, p["code"].as_str()),
        (404, Some("identity_not_found"))
    );
    // Mail needs a mail server.
    let (status, p) = s.call(
        Method::POST,
        "/v1/identities/erin/invitations",
        Some(&json!({"send_mail": true})),
        true,
    );
    assert_eq!(
        (status, p["code"].as_str()),
        (409, Some("mail_not_configured"))
    );
}

#[test]
fn the_outlook_says_before_signing_what_the_policy_will_ask() {
    let s = TestServer::start();
    for h in ["alice", "dave", "bob", "carol", "nokey"] {
        s.human(h);
    }
    s.enroll("bob", None);
    s.enroll("alice", None);
    s.document("doc", b"text\n");
    let outlook = |r: &str, who: &str| {
        let t = s.token_for(Some(who), &[Role::Approver]);
        let (status, o) = s.call_as(
            Method::GET,
            &format!("/v1/requests/{r}/outlook"),
            None,
            Some(&t),
        );
        assert_eq!(status, 200, "{o}");
        o["slots"].as_array().unwrap().clone()
    };
    let mut body = request_body("doc", "alice", "dave", &["bob", "carol", "nokey"]);
    body.order = ApprovalOrder::Sequential;
    let r = s.request(&body);
    assert_eq!(outlook(&r.id, "bob")[0]["status"], "ready");
    let carol = outlook(&r.id, "carol");
    assert_eq!(carol[0]["status"], "waiting");
    assert_eq!(carol[0]["waiting_for"], json!(["bob"]));
    // Nothing to sign with.
    let body = request_body("doc", "alice", "dave", &["nokey"]);
    let r2 = s.request(&body);
    assert_eq!(outlook(&r2.id, "nokey")[0]["status"], "no_credential");
    // High impact with a key file and no fresh sign-in: step-up, in words.
    let mut body = request_body("doc", "alice", "dave", &["bob"]);
    body.impact = Impact::High;
    let r3 = s.request(&body);
    let b = outlook(&r3.id, "bob");
    assert_eq!(b[0]["status"], "step_up");
    assert!(
        b[0]["summary"]
            .as_str()
            .unwrap()
            .contains("a sign-in from the last 5 minutes or a hardware passkey"),
        "{}",
        b[0]
    );
    // Not a party: the request is not even found.
    let t = s.token_for(Some("carol"), &[Role::Approver]);
    let (status, o) = s.call_as(
        Method::GET,
        &format!("/v1/requests/{}/outlook", r3.id),
        None,
        Some(&t),
    );
    assert_eq!(
        (status, o["code"].as_str()),
        (404, Some("request_not_found")),
        "{o}"
    );
}

#[test]
fn after_sign_in_the_browser_goes_only_to_a_path_on_this_site() {
    let s = TestServer::start();
    s.human("bob");
    let (session, _) = s.enrol_passkey("bob", &mut Device::synced(), TestAttestation::None);
    let next = |raw: &str| {
        let r = s.web(
            Method::GET,
            &format!("/sign-in?next={raw}"),
            None,
            Some(&session),
            None,
        );
        assert_eq!(r.status(), 303, "{raw}");
        r.headers()["location"].to_str().unwrap().to_string()
    };
    assert_eq!(next("/requests/r1%3Ftab%3D1"), "/requests/r1?tab=1");
    // Browsers drop tabs and newlines and read a backslash as a slash:
    // each of these would leave the site.
    for raw in [
        "//evil.example/",
        "/%09/evil.example/",
        "/%0a/evil.example/",
        "/%5Cevil.example/",
        "https://evil.example/",
        "/%20/evil.example/",
    ] {
        assert_eq!(next(raw), "/", "{raw}");
    }
}

/// Post the web app's new-request form as a browser would (multipart).
fn post_request_form(s: &TestServer, session: &str, fields: &[(&str, &str)], file: &[u8]) -> u16 {
    let boundary = "cs-test-boundary-7f3a";
    let mut body = Vec::new();
    let csrf = s.csrf(session);
    for (k, v) in [("csrf", csrf.as_str())].iter().chain(fields) {
        body.extend_from_slice(
            format!("--{boundary}\r\ncontent-disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"document\"; filename=\"offer.txt\"\r\ncontent-type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    s.browser(Method::POST, "/requests/new", Some(session))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn a_refused_new_request_form_leaves_nothing_behind_and_a_created_one_names_its_upload() {
    let s = TestServer::start();
    for h in ["alice", "dave", "pat"] {
        s.human(h);
    }
    let (alice, _) = s.enrol_passkey("alice", &mut Device::synced(), TestAttestation::None);
    let form = |event: &str, approvers: &str| {
        vec![
            ("purpose", "Onboard Dave"),
            ("event", event),
            ("impact", "low"),
            ("document_name", "offer-dave"),
            ("beneficiary", "dave"),
            ("approvers", approvers),
            ("expires_days", "7"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect::<Vec<_>>()
    };
    let post = |f: Vec<(&str, String)>| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post_request_form(&s, &alice, &f, b"Offer letter for Dave\n")
    };
    let before = s.tree_size();
    // A field the form does not offer, and an approver who does not exist.
    assert_eq!(post(form("bogus", "pat")), 422);
    assert_eq!(post(form("onboarding", "nobody-by-this-name")), 422);
    assert_eq!(s.tree_size(), before, "a refused form writes nothing");
    let (status, _) = s.call(Method::GET, "/v1/documents/offer-dave", None, true);
    assert_eq!(status, 404, "and registers no document");
    // Accepted, the request names the exact version this form uploaded.
    assert_eq!(post(form("onboarding", "pat")), 303);
    let (_, doc) = s.call(Method::GET, "/v1/documents/offer-dave", None, true);
    assert_eq!(doc["versions"].as_array().unwrap().len(), 1, "{doc}");
    let list: Value = s.get("/v1/requests");
    let r = &list["requests"][0];
    assert_eq!(r["documents"][0]["version"], 1, "{r}");
    assert_eq!(r["documents"][0]["document"], "offer-dave");
}

#[test]
fn the_web_app_tells_a_stranger_nothing_and_answers_its_script_in_json() {
    let s = TestServer::start();
    let mut d = Device::synced();
    let (r, pat_token) = setup(&s, "pat", &mut d);
    s.human("bob");
    let (status, delegation) = s.call_as(
        Method::POST,
        "/v1/delegations",
        Some(&json!({"delegate": "bob", "scope": {"event_kinds": [], "max_impact": "critical", "requests": []}, "duration_seconds": 3600, "reason": "on leave"})),
        Some(&pat_token),
    );
    assert_eq!(status, 201, "{delegation}");
    s.human("mallory");
    let (mallory, _) = s.enrol_passkey("mallory", &mut Device::synced(), TestAttestation::None);
    let csrf = s.csrf(&mallory);
    let form = |path: &str, fields: &[(&str, &str)]| {
        let r = s
            .browser(Method::POST, path, Some(&mallory))
            .form(fields)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.text().unwrap())
    };
    // Someone else's request and delegation answer exactly as ones that
    // do not exist.
    let before = s.tree_size();
    let withdraw = |id: &str| form(&format!("/requests/{id}/withdraw"), &[("csrf", &csrf)]);
    let (theirs, page) = withdraw(&r.id);
    let (none, _) = withdraw("req_00000000000000000000000000000000");
    assert_eq!((theirs, none), (404, 404));
    assert!(page.contains("request_not_found"), "{page}");
    let end = |id: &str| form(&format!("/delegations/{id}/end"), &[("csrf", &csrf)]);
    let (theirs, page) = end(delegation["id"].as_str().unwrap());
    let (none, _) = end("dlg_00000000000000000000000000000000");
    assert_eq!((theirs, none), (404, 404));
    assert!(page.contains("delegation_not_found"), "{page}");
    assert_eq!(s.tree_size(), before, "nothing was written");
    // A form in the wrong encoding is told so on a page.
    let resp = s.web(
        Method::POST,
        "/sign-out",
        Some(&json!({})),
        Some(&mallory),
        None,
    );
    assert_eq!(resp.status(), 400);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    // The signing script, called from another site, reads a problem
    // document it can show.
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/requests/{}/sign/challenge", s.base, r.id))
        .header("host", format!("localhost:{}", s.port))
        .header("origin", "https://evil.example")
        .header("cookie", format!("countersign={mallory}"))
        .json(&json!({"decision": "approve"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let p: Value = resp.json().unwrap();
    assert_eq!(p["code"], "csrf_failed");
}
