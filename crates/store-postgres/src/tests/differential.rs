//! One script of writes and reads, run on the SQLite backend (the
//! reference this backend ports) and on PostgreSQL: every answer, in
//! order, must be the same. Where the conformance suite states the
//! contract, this pins the details it leaves open: orders of listings,
//! case folding, upserts, what a purge or a scrub touches.

use countersign_domain::identity::Challenge;
use countersign_proto::api::{CreateRequest, IdentityFilter, RequestFilter};
use countersign_proto::governance::{ApiToken, Delegation, LegalHold, PolicyException};
use countersign_proto::iga::{
    ChangeFilter, ControlException, ControlFilter, ControlKind, ControlState, DeliveryAttempt,
    DeliveryFilter, DeliveryState, EntitlementChange,
};
use countersign_proto::model::{
    Credential, DocumentVersion, Identity, IdentityKind, IdentityStatus, Request, RequestState,
};
use countersign_proto::notify::{NotificationKind, NotificationState};
use countersign_proto::personal::{Opening, RetentionClass};
use countersign_store::{
    EntryTerms, InvitationRecord, Lease, MailRecord, OutboxEvent, ReadTx, ScimRecord,
    SessionRecord, Store, StoreError, StoredOpening, StoredReceipt, WebChallenge, WebhookRecord,
};
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use countersign_store::conformance::{append, at, delivery, endpoint};

use super::database;
use crate::PostgresStore;

fn rfc(seconds: i64) -> String {
    at(seconds).format(&Rfc3339).unwrap()
}

fn record<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// The answers of one run, as text.
#[derive(Default)]
struct Answers(Vec<String>);

impl Answers {
    fn note<T: std::fmt::Debug>(&mut self, what: &str, answer: countersign_store::Result<T>) {
        self.0.push(match answer {
            Ok(v) => format!("{what}: {v:?}"),
            // The messages are each database's own; the kind must agree.
            Err(e) => format!(
                "{what}: error {}",
                match e {
                    StoreError::Backend(_) => "backend",
                    StoreError::Corrupt(_) => "corrupt",
                    StoreError::Setup(_) => "setup",
                    StoreError::Conflict(_) => "conflict",
                }
            ),
        });
    }
}

fn person(handle: &str, email: Option<&str>, seconds: i64) -> Identity {
    countersign_store::conformance::person(handle, email, at(seconds))
}

fn document(name: &str, version: u32) -> DocumentVersion {
    DocumentVersion {
        document: name.to_string(),
        version,
        sha256: format!("{:0>64}", hex::encode(format!("{name}{version}"))),
        size: Some(4),
        media_type: Some("text/plain".into()),
        content_stored: true,
        registered_by: Some("ana".into()),
        registered_at: at(0),
        log_index: 0,
    }
}

fn request(
    id: &str,
    people: &[&Identity],
    approvers: &[&str],
    action: bool,
    expires_in: u64,
    seconds: i64,
) -> Request {
    let mut input = json!({
        "event_kind": "role_change",
        "purpose": "differential",
        "impact": "low",
        "documents": [{ "document": "memo", "version": 1 }],
        "requester": people[0].handle,
        "beneficiary": people[1].handle,
        "approvers": approvers,
        "expires_in_seconds": expires_in,
    });
    if action {
        input["action"] = json!({
            "system": "github",
            "subject": people[1].handle,
            "operation": "grant",
            "entitlement": "org/acme/team/eng",
        });
    }
    let input: CreateRequest = record(input);
    let lookup = |h: &str| people.iter().find(|p| p.handle == h).map(|p| (*p).clone());
    let facts = countersign_domain::request::RequestFacts {
        documents: vec![Some(document("memo", 1))],
        identity: &lookup,
    };
    countersign_domain::request::create_request(
        &input,
        id.to_string(),
        &facts,
        &countersign_domain::Limits::default(),
        0,
        at(seconds),
    )
    .unwrap()
}

fn credential(key_id: &str, identity: &str) -> Credential {
    record(json!({
        "key_id": key_id, "identity": identity, "algorithm": "ed25519",
        "public_key": format!("pk-{key_id}"), "assurance": "software",
        "label": format!("{identity} laptop"), "enrolled_at": rfc(0), "log_index": 1,
    }))
}

fn session(id: &str, identity: &str, credential: Option<&str>, expires: i64) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        identity: identity.into(),
        csrf: format!("csrf-{id}"),
        method: "passkey".into(),
        credential: credential.map(str::to_string),
        aal: 2,
        auth_time: Some(at(0)),
        created_at: at(0),
        last_seen: at(0),
        expires_at: at(expires),
        viewed: vec!["abc".into()],
    }
}

fn invitation(id: &str, identity: &str, expires: i64) -> InvitationRecord {
    InvitationRecord {
        id: id.into(),
        token_sha256: format!("token-{id}"),
        identity: identity.into(),
        issued_by: "admin".into(),
        created_at: at(0),
        expires_at: at(expires),
        used_at: None,
        log_index: 2,
    }
}

fn mail(id: &str, identity: &str, state: NotificationState, due: i64) -> MailRecord {
    MailRecord {
        id: id.into(),
        message_id: format!("<{id}@countersign>"),
        identity: identity.into(),
        display_name: format!("{identity} person"),
        address: Some(format!("{identity}@example.com")),
        kind: NotificationKind::ApprovalNeeded,
        request: Some("req_1".into()),
        subject: "Please sign".into(),
        text: "text".into(),
        html: None,
        state,
        attempts: 0,
        next_attempt_at: at(due),
        created_at: at(0),
        sent_at: None,
        last_error: None,
    }
}

fn token(id: &str) -> ApiToken {
    record(json!({
        "id": id, "name": format!("{id} token"), "roles": ["admin"],
        "created_at": rfc(0), "expires_at": rfc(3600), "created_by": "bootstrap",
    }))
}

fn delegation(id: &str, principal: &str, delegate: &str) -> Delegation {
    record(json!({
        "id": id, "principal": principal, "delegate": delegate,
        "scope": { "max_impact": "high" }, "not_before": rfc(0), "not_after": rfc(3600),
        "reason": "holiday", "granted_by": principal, "granted_at": rfc(0), "log_index": 1,
    }))
}

fn exception(id: &str, request: &str, actor: &str) -> PolicyException {
    record(json!({
        "id": id, "request": request, "actor": actor, "justification": "urgent",
        "refusal_index": 2, "refused_by": ["p1"], "state": "requested",
        "requested_at": rfc(0), "log_index": 3,
    }))
}

fn hold(id: &str, log_index: u64) -> LegalHold {
    record(json!({
        "id": id, "identity": "ana", "reason": "case 7", "placed_by": "admin",
        "placed_at": rfc(0), "log_index": log_index,
    }))
}

fn change(id: &str, system: &str, subject: &str, source: &str, index: u64) -> EntitlementChange {
    record(json!({
        "id": id, "system": system, "subject": subject, "operation": "grant",
        "entitlement": "org/acme/team/eng", "changed_at": rfc(0), "changed_by": "ana",
        "source_event_id": source, "reported_at": rfc(1), "reported_by": "okta-sync",
        "log_index": index,
    }))
}

fn control(id: &str, kind: &str, key: &str, subject: &str) -> ControlException {
    record(json!({
        "id": id, "kind": kind, "severity": "high", "state": "open", "key": key,
        "summary": "found", "system": "github", "subject": subject, "evidence": {},
        "frameworks": [], "raised_at": rfc(0), "updated_at": rfc(0),
        "log_index": 7, "revision": 1,
    }))
}

fn webhook(id: &str, enabled: bool) -> WebhookRecord {
    let mut w = endpoint(id, &[]);
    w.endpoint.enabled = enabled;
    w
}

fn opening(commitment: &str, subject: &str, index: u64, request: Option<&str>) -> StoredOpening {
    StoredOpening {
        commitment: commitment.into(),
        opening: Some(Opening {
            salt: "c2FsdA==".into(),
            value: format!("{subject}@example.com"),
        }),
        log_index: index,
        path: "identity.email".into(),
        subject: Some(subject.into()),
        request: request.map(str::to_string),
        class: RetentionClass::Identity,
        at: at(0),
        erased_by: None,
    }
}

fn terms(
    kind: &str,
    request: Option<&str>,
    identity: Option<&str>,
    key: Option<&str>,
) -> EntryTerms {
    EntryTerms {
        kind: kind.into(),
        request: request.map(str::to_string),
        identity: identity.map(str::to_string),
        key_id: key.map(str::to_string),
    }
}

/// Every read, with arguments that find something, nothing, or an edge.
fn reads(a: &mut Answers, tx: &dyn ReadTx, deliveries: &[u64]) {
    a.note("meta", tx.meta("k"));
    a.note("meta missing", tx.meta("nothing"));
    a.note("identity", tx.identity("ana"));
    a.note("identity exact", tx.identity("ANA"));
    a.note("by email", tx.identities_by_email("SHARED@example.com"));
    a.note(
        "by email non-ascii",
        tx.identities_by_email("ëve@example.com"),
    );
    a.note(
        "by email ascii-folded",
        tx.identities_by_email("Ëve@EXAMPLE.com"),
    );
    a.note("by email new", tx.identities_by_email("new@example.com"));
    a.note("any case", tx.identity_any_case("CY"));
    a.note("any case non-ascii", tx.identity_any_case("ZOË"));
    a.note("any case ascii", tx.identity_any_case("zoë"));
    a.note("identities", tx.identities(&IdentityFilter::default()));
    a.note(
        "identities human",
        tx.identities(&IdentityFilter {
            kind: Some(IdentityKind::Human),
            ..IdentityFilter::default()
        }),
    );
    a.note(
        "identities suspended",
        tx.identities(&IdentityFilter {
            status: Some(IdentityStatus::Suspended),
            ..IdentityFilter::default()
        }),
    );
    a.note("history ana", tx.identity_history("ana"));
    a.note("history bo", tx.identity_history("bo"));
    a.note("credential", tx.credential("k1"));
    a.note("credentials of", tx.credentials_of("ana"));
    a.note("credentials", tx.credentials());
    a.note("challenge", tx.challenge("c1"));
    a.note("challenge cleared", tx.challenge("c0"));
    a.note("sign count", tx.sign_count("k1"));
    a.note("sign count none", tx.sign_count("k9"));
    a.note("web challenge", tx.web_challenge("w1"));
    a.note("web challenge old", tx.web_challenge("w0"));
    for s in ["s1", "s2", "s3"] {
        a.note(s, tx.session(s));
    }
    a.note("invitation", tx.invitation("token-i2"));
    a.note("invitations of", tx.invitations_of("ana"));
    a.note("mail", tx.mail("m1"));
    a.note("mails of", tx.mails_of("ana", 10));
    a.note("mails of, one", tx.mails_of("ana", 1));
    a.note("due mails", tx.due_mails(at(5), 10));
    a.note("due mails, one", tx.due_mails(at(5), 1));
    a.note("due mails early", tx.due_mails(at(4), 10));
    a.note("reminded", tx.reminded("req_1", "ana", 3600));
    a.note("not reminded", tx.reminded("req_1", "ana", 60));
    a.note("document", tx.document("memo"));
    a.note("document none", tx.document("none"));
    a.note("documents", tx.documents());
    a.note("blob", tx.blob(&document("memo", 1).sha256));
    a.note("blob none", tx.blob("none"));
    a.note("request", tx.request("req_1"));
    a.note("requests", tx.requests(&RequestFilter::default()));
    for (what, filter) in [
        (
            "approver cy",
            RequestFilter {
                approver: Some("cy".into()),
                ..RequestFilter::default()
            },
        ),
        (
            "approver bo",
            RequestFilter {
                approver: Some("bo".into()),
                ..RequestFilter::default()
            },
        ),
        (
            "pending",
            RequestFilter {
                state: Some(RequestState::Pending),
                ..RequestFilter::default()
            },
        ),
        (
            "requester, one",
            RequestFilter {
                requester: Some("ana".into()),
                limit: Some(1),
                ..RequestFilter::default()
            },
        ),
        (
            "beneficiary",
            RequestFilter {
                beneficiary: Some("bo".into()),
                ..RequestFilter::default()
            },
        ),
    ] {
        a.note(
            what,
            tx.requests(&filter)
                .map(|v| v.into_iter().map(|r| r.id).collect::<Vec<_>>()),
        );
    }
    a.note(
        "about action, subject",
        tx.requests_about_action("bo", "x", "y"),
    );
    a.note(
        "about action, entitlement",
        tx.requests_about_action("zed", "github", "org/acme/team/eng"),
    );
    a.note(
        "with action pending",
        tx.requests_with_action(RequestState::Pending),
    );
    a.note(
        "with action approved",
        tx.requests_with_action(RequestState::Approved),
    );
    a.note("expired pending", tx.expired_pending(at(60)));
    a.note("expired pending later", tx.expired_pending(at(100_000)));
    a.note("receipt", tx.receipt_for_envelope("d1"));
    a.note("receipt none", tx.receipt_for_envelope("d9"));
    a.note("token by hash", tx.token_by_hash("h1"));
    a.note("token", tx.token("t2"));
    a.note("tokens", tx.tokens());
    a.note("delegation", tx.delegation("d1"));
    a.note("delegations of", tx.delegations_of("ana"));
    a.note("delegations", tx.delegations());
    a.note("exception", tx.exception("e1"));
    a.note("exceptions", tx.exceptions(None));
    a.note("exceptions of", tx.exceptions(Some("req_1")));
    a.note("scim", tx.scim_resource("User", "u2"));
    a.note("scim users", tx.scim_resources("User"));
    a.note("scim groups", tx.scim_resources("Group"));
    a.note("scim user of", tx.scim_user_of("ana"));
    a.note("scim user of none", tx.scim_user_of("cy"));
    a.note("change", tx.change("ch1"));
    a.note("change by source", tx.change_by_source("okta", "s1"));
    a.note("changes", tx.changes(&ChangeFilter::default()));
    a.note(
        "changes github",
        tx.changes(&ChangeFilter {
            system: Some("github".into()),
            ..ChangeFilter::default()
        }),
    );
    a.note(
        "changes of request",
        tx.changes(&ChangeFilter {
            request: Some("req_1".into()),
            ..ChangeFilter::default()
        }),
    );
    a.note("control", tx.control_exception("x1"));
    a.note(
        "control by key",
        tx.control_exception_by_key(ControlKind::StaleApproval, "k-b"),
    );
    a.note("controls", tx.control_exceptions(&ControlFilter::default()));
    a.note(
        "controls open about bo",
        tx.control_exceptions(&ControlFilter {
            state: Some(ControlState::Open),
            subject: Some("bo".into()),
            ..ControlFilter::default()
        }),
    );
    a.note("webhook", tx.webhook("wh_1"));
    a.note("webhooks", tx.webhooks());
    for id in deliveries.iter().copied().chain([999, u64::MAX]) {
        a.note(&format!("delivery {id}"), tx.delivery(id));
        a.note(&format!("attempts {id}"), tx.delivery_attempts(id));
    }
    a.note("deliveries", tx.deliveries(&DeliveryFilter::default()));
    a.note(
        "deliveries of wh_2, pending, one",
        tx.deliveries(&DeliveryFilter {
            endpoint: Some("wh_2".into()),
            state: Some(DeliveryState::Pending),
            limit: Some(1),
        }),
    );
    a.note("due deliveries", tx.due_deliveries(at(1), 10));
    a.note("due deliveries, one", tx.due_deliveries(at(1), 1));
    a.note("due deliveries early", tx.due_deliveries(at(-1), 10));
    a.note("outbox", tx.outbox_event("evt_1"));
    a.note("outbox none", tx.outbox_event("evt_9"));
    a.note(
        "latest entry about",
        tx.latest_entry_about("signature.accepted", "req_1", "ana"),
    );
    a.note("tree size", tx.tree_size());
    a.note("entry", tx.entry(3));
    a.note("entry none", tx.entry(99));
    a.note("entries", tx.entries(1, 3));
    a.note("entries past the end", tx.entries(u64::MAX - 1, 10));
    a.note(
        "entries about",
        tx.entry_indexes_about("req_1", &["ana".into()], &["k1".into()]),
    );
    a.note(
        "entries about nothing",
        tx.entry_indexes_about("none", &[], &[]),
    );
    a.note("subtree", tx.subtree_hash(2, 0));
    a.note("subtree none", tx.subtree_hash(0, u64::MAX));
    a.note("latest checkpoint", tx.latest_checkpoint());
    a.note("checkpoint", tx.checkpoint(2));
    a.note("checkpoint none", tx.checkpoint(3));
    a.note("checkpoints", tx.checkpoints());
    a.note("opening", tx.opening("o1"));
    a.note("openings of", tx.openings_of("ana"));
    a.note("openings of none", tx.openings_of("zed"));
    a.note("hold", tx.hold("h1"));
    a.note("holds", tx.holds());
    a.note("lease", tx.lease("leader"));
    a.note("lease none", tx.lease("delivery:9"));
    a.note("state rows", tx.state_rows());
}

fn script(store: &dyn Store) -> Vec<String> {
    let mut a = Answers::default();
    let cy = person("cy", Some("Shared@Example.com"), 0);
    let ana = person("ana", Some("shared@example.COM"), 1);
    let mut zoe = person("zoe", Some("Ëve@Example.com"), 2);
    zoe.handle = "Zoë".into();
    let bo = person("bo", None, 3);

    let mut tx = store.write().unwrap();
    tx.set_meta("k", "one").unwrap();
    tx.set_meta("k", "two").unwrap();
    for (i, p) in [&cy, &ana, &zoe].into_iter().enumerate() {
        tx.put_identity(p, None, i as u64).unwrap();
    }
    tx.put_identity(&bo, Some("created"), 3).unwrap();
    for (k, who) in [("k2", "ana"), ("k1", "ana"), ("k3", "bo")] {
        tx.put_credential(&credential(k, who)).unwrap();
    }
    let mut relabelled = credential("k2", "ana");
    relabelled.label = Some("renamed".into());
    tx.put_credential(&relabelled).unwrap();
    for (c, expires) in [("c0", -100_000), ("c1", 60)] {
        tx.put_challenge(&Challenge {
            challenge: c.into(),
            identity: "ana".into(),
            expires_at: at(expires),
        })
        .unwrap();
    }
    tx.set_sign_count("k1", 7).unwrap();
    tx.set_sign_count("k1", 9).unwrap();
    for (w, expires) in [("w1", 60), ("w0", -10)] {
        tx.put_web_challenge(&WebChallenge {
            id: w.into(),
            purpose: "signing".into(),
            identity: Some("ana".into()),
            data: json!({ "request": "req_1", "n": 1 }),
            expires_at: at(expires),
        })
        .unwrap();
    }
    tx.put_session(&session("s1", "ana", Some("k1"), 3600))
        .unwrap();
    tx.put_session(&session("s2", "ana", None, 10)).unwrap();
    tx.put_session(&session("s3", "bo", Some("k1"), 3600))
        .unwrap();
    tx.put_invitation(&invitation("i2", "ana", 100)).unwrap();
    tx.put_invitation(&invitation("i1", "ana", -700_000))
        .unwrap();
    tx.put_mail(&mail("m3", "ana", NotificationState::Pending, 5))
        .unwrap();
    tx.put_mail(&mail("m1", "ana", NotificationState::Pending, 5))
        .unwrap();
    tx.put_mail(&mail("m2", "bo", NotificationState::Sent, 0))
        .unwrap();
    tx.put_reminder("req_1", "ana", 3600).unwrap();
    tx.put_reminder("req_1", "ana", 3600).unwrap();
    tx.put_document_version(&document("memo", 1), Some(b"memo"))
        .unwrap();
    tx.put_document_version(&document("memo", 2), None).unwrap();
    tx.put_document_version(&document("alpha", 1), Some(b"alfa"))
        .unwrap();
    let req_1 = request("req_1", &[&ana, &bo, &cy], &["cy"], true, 60, 0);
    let req_2 = request("req_2", &[&ana, &cy, &bo], &["cy", "bo"], true, 3600, 1);
    let req_3 = request("req_3", &[&bo, &ana, &cy], &["cy"], false, 30, 2);
    for r in [&req_2, &req_1, &req_3] {
        tx.put_request(r).unwrap();
    }
    tx.put_token(&token("t2"), Some("h2")).unwrap();
    tx.put_token(&token("t1"), Some("h1")).unwrap();
    let mut revoked = token("t1");
    revoked.revoked_at = Some(at(5));
    tx.put_token(&revoked, None).unwrap();
    a.note("update a missing token", tx.put_token(&token("t9"), None));
    tx.put_delegation(&delegation("d2", "ana", "bo")).unwrap();
    tx.put_delegation(&delegation("d1", "cy", "ana")).unwrap();
    tx.put_exception(&exception("e2", "req_1", "cy")).unwrap();
    tx.put_exception(&exception("e1", "req_2", "cy")).unwrap();
    tx.put_receipt(
        "d1",
        &StoredReceipt {
            request: "req_1".into(),
            log_index: 4,
            receipt: "receipt\n".into(),
        },
    )
    .unwrap();
    for (rt, id, identity, version) in [
        ("User", "u2", Some("ana"), 1),
        ("Group", "g1", None, 1),
        ("User", "u1", Some("bo"), 1),
        ("User", "u2", Some("ana"), 2),
    ] {
        tx.put_scim_resource(&ScimRecord {
            resource_type: rt.into(),
            id: id.into(),
            identity: identity.map(str::to_string),
            version,
            resource: json!({ "id": id, "userName": identity, "name": { "givenName": "Ana" } }),
        })
        .unwrap();
    }
    tx.put_change(&change("ch2", "github", "bo", "s2", 9))
        .unwrap();
    let mut ch1 = change("ch1", "okta", "ana", "s1", 4);
    tx.put_change(&ch1).unwrap();
    ch1.request = Some("req_1".into());
    tx.put_change(&ch1).unwrap();
    tx.put_control_exception(&control("x2", "unapproved_change", "k-a", "bo"))
        .unwrap();
    tx.put_control_exception(&control("x1", "stale_approval", "k-b", "ana"))
        .unwrap();
    tx.put_webhook(&webhook("wh_2", true)).unwrap();
    tx.put_webhook(&webhook("wh_1", false)).unwrap();
    for (id, key) in [("evt_1", "req_1"), ("evt_2", "req_1"), ("evt_3", "req_2")] {
        tx.put_outbox_event(&OutboxEvent {
            id: id.into(),
            event_type: "dev.countersign.request.approved".into(),
            ordering_key: key.into(),
            body: format!("{{\"id\":\"{id}\",\"data\":{{\"purpose\":\"p\"}}}}"),
            created_at: at(0) + time::Duration::milliseconds(250),
        })
        .unwrap();
    }
    let mut ids = Vec::new();
    for (endpoint, event, key) in [
        ("wh_2", "evt_1", "req_1"),
        ("wh_2", "evt_2", "req_1"),
        ("wh_1", "evt_3", "req_2"),
        ("wh_2", "evt_3", "req_2"),
    ] {
        let id = tx.put_delivery(&delivery(endpoint, event, key)).unwrap();
        ids.push(id);
    }
    a.note("delivery ids", Ok(ids.clone()));
    for (attempt, status) in [(1, 500), (2, 502), (1, 503)] {
        tx.add_delivery_attempt(&DeliveryAttempt {
            delivery: ids[0],
            attempt,
            at: at(1),
            status: Some(status),
            error: None,
            elapsed_ms: 12,
        })
        .unwrap();
    }
    for (i, t) in [
        terms("log.created", None, None, None),
        terms("identity.created", None, Some("ana"), None),
        terms("credential.enrolled", None, Some("ana"), Some("k1")),
        terms("request.created", Some("req_1"), None, None),
        terms("signature.accepted", Some("req_1"), Some("ana"), Some("k1")),
        terms("delegation.granted", None, Some("ana"), None),
        terms("policy.activated", None, None, None),
        terms("signature.accepted", Some("req_1"), Some("ana"), Some("k1")),
        terms("identityx.other", None, Some("ana"), None),
    ]
    .iter()
    .enumerate()
    {
        append(&mut *tx, format!("entry {i}").as_bytes(), t);
    }
    tx.put_checkpoint(2, "note two\n").unwrap();
    tx.put_checkpoint(6, "note six\n").unwrap();
    tx.put_opening(&opening("o1", "ana", 2, None)).unwrap();
    tx.put_opening(&opening("o2", "ana", 1, Some("req_1")))
        .unwrap();
    tx.put_opening(&opening("o3", "bo", 3, None)).unwrap();
    for (id, index) in [("h2", 5), ("h1", 3), ("h3", 3)] {
        tx.put_hold(&hold(id, index)).unwrap();
    }
    let until = at(100) + time::Duration::milliseconds(250);
    for name in ["leader", "delivery:1"] {
        tx.put_lease(&Lease {
            name: name.into(),
            holder: "a".into(),
            until,
        })
        .unwrap();
    }
    reads(&mut a, &*tx, &ids);
    tx.commit().unwrap();
    reads(&mut a, &*store.read().unwrap(), &ids);

    let mut tx = store.write().unwrap();
    a.note("take c1", tx.take_challenge("c1"));
    a.note("take c1 again", tx.take_challenge("c1"));
    a.note("take w1", tx.take_web_challenge("w1"));
    a.note("take w1 again", tx.take_web_challenge("w1"));
    let mut ana2 = ana.clone();
    ana2.revision += 1;
    ana2.email = Some("New@Example.com".into());
    ana2.display_name = "Ana Person".into();
    tx.put_identity(&ana2, Some("renamed by ana person"), 8)
        .unwrap();
    let mut approved = req_1.clone();
    approved.state = RequestState::Approved;
    approved.approvers = vec!["bo".into()];
    tx.put_request(&approved).unwrap();
    let mut rerouted = req_2.clone();
    rerouted.approvers = vec!["bo".into()];
    tx.put_request(&rerouted).unwrap();
    let mut delivered = tx.delivery(ids[0]).unwrap().unwrap();
    delivered.state = DeliveryState::Delivered;
    delivered.next_attempt_at = None;
    a.note("update delivery", tx.put_delivery(&delivered));
    let mut missing = delivered.clone();
    missing.id = 999;
    a.note("update a missing delivery", tx.put_delivery(&missing));
    a.note("end sessions with k1", tx.delete_sessions_with("k1"));
    a.note("end sessions of ana", tx.delete_sessions_of("ana"));
    a.note("end a missing session", tx.delete_session("s9"));
    a.note("delete group", tx.delete_scim_resource("Group", "g1"));
    a.note("erase o1", tx.erase_opening("o1", 9));
    let mut released = hold("h1", 3);
    released.released_at = Some(at(50));
    tx.put_hold(&released).unwrap();
    tx.put_lease(&Lease {
        name: "leader".into(),
        holder: "b".into(),
        until: until + time::Duration::seconds(5),
    })
    .unwrap();
    tx.delete_lease("delivery:1").unwrap();
    tx.put_webhook(&webhook("wh_1", true)).unwrap();
    a.note("purge", tx.purge_expired(at(100)));
    a.note(
        "scrub",
        tx.scrub_person(
            "ana",
            &[
                "Ana Person".into(),
                "New@Example.com".into(),
                "ana laptop".into(),
                "holiday".into(),
            ],
            "[erased]",
        ),
    );
    reads(&mut a, &*tx, &ids);
    tx.commit().unwrap();
    reads(&mut a, &*store.read().unwrap(), &ids);
    a.0
}

#[test]
fn every_method_answers_as_the_sqlite_backend_does() {
    let Some(db) = database() else { return };
    let sqlite = script(&countersign_store_sqlite::SqliteStore::in_memory().unwrap());
    let postgres = script(&PostgresStore::open(&db.url).unwrap());
    for (i, (s, p)) in sqlite.iter().zip(&postgres).enumerate() {
        assert_eq!(s, p, "answer {i} differs (left SQLite, right PostgreSQL)");
    }
    assert_eq!(sqlite.len(), postgres.len());
}
