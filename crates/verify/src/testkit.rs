//! Real evidence bundles for tests (feature `testkit`): a ledger over
//! in-memory SQLite with the default policy set, people with enrolled keys,
//! and a high-impact request they sign. Shared by this crate's tests and by
//! `countersign-report`'s, which render what these bundles verify to.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_attest::keys::public_key_to_base64;
use countersign_domain::delegation::Grantor;
use countersign_domain::policy::Authentication;
use countersign_ledger::{Ledger, LedgerConfig, LedgerError, Receipted};
use countersign_proto::api::GrantDelegation;
use countersign_proto::api::{
    CreateIdentity, CreateRequest, DocumentRef, EnrollKey, SignatureReceipt,
};
use countersign_proto::evidence::EvidenceBundle;
use countersign_proto::governance::{Delegation, DelegationScope};
use countersign_proto::model::{
    ApprovalOrder, Assurance, Decision, EntitlementAction, EventKind, IdentityKind, Impact,
    Operation, Request,
};
use countersign_proto::statement::Statement;
use countersign_store_sqlite::SqliteStore;
use countersign_tlog::note::NoteSigner;
use ed25519_dalek::{Signer as _, SigningKey};
use rand_core::OsRng;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::Options;

/// The ledger's clock when a fixture opens it.
pub const NOW: OffsetDateTime = datetime!(2026-03-02 10:00 UTC);
/// The log's origin.
pub const ORIGIN: &str = "test.example/log";
/// The request's first document, stored with its bytes.
pub const OFFER: &[u8] = b"Offer letter for dana: senior engineer, start 2026-04-01.\n";
/// The request's second document.
pub const POLICY: &[u8] = b"Access policy v3: admins need two approvals.\n";

/// `minutes` after [`NOW`].
pub fn at(minutes: i64) -> OffsetDateTime {
    NOW + Duration::minutes(minutes)
}

/// A human identity with no roles.
pub fn create_identity(ledger: &Ledger, handle: &str, now: OffsetDateTime) {
    create_identity_as(ledger, handle, IdentityKind::Human, None, vec![], now);
}

pub fn create_identity_as(
    ledger: &Ledger,
    handle: &str,
    kind: IdentityKind,
    owner: Option<&str>,
    roles: Vec<String>,
    now: OffsetDateTime,
) {
    ledger
        .create_identity(
            &CreateIdentity {
                handle: handle.into(),
                kind,
                display_name: None,
                email: None,
                owner: owner.map(str::to_string),
                shared: false,
                groups: vec![],
                roles,
                manager: None,
            },
            now,
        )
        .unwrap();
}

/// A ledger over in-memory SQLite with the default policy set in force.
pub fn open_ledger() -> (Ledger, NoteSigner) {
    let signer = NoteSigner::new(ORIGIN, SigningKey::generate(&mut OsRng)).unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let policy = countersign_policy::PolicySet::defaults().unwrap();
    let ledger = Ledger::open(
        Arc::new(store),
        signer.clone(),
        LedgerConfig::default(),
        Arc::new(policy),
        NOW,
    )
    .unwrap();
    (ledger, signer)
}

/// Enrol a fresh software key (labelled "HANDLE's laptop") for `handle`.
pub fn enroll(ledger: &Ledger, handle: &str, now: OffsetDateTime) -> SigningKey {
    let key = SigningKey::generate(&mut OsRng);
    let public_key = public_key_to_base64(&key.verifying_key());
    let challenge = ledger.key_challenge(handle, now).unwrap().challenge;
    let proof = key.sign(&countersign_attest::pop_message(
        handle,
        &challenge,
        &public_key,
    ));
    ledger
        .enroll_key(
            handle,
            &EnrollKey {
                public_key,
                challenge,
                proof: B64.encode(proof.to_bytes()),
                assurance: Assurance::Software,
                label: Some(format!("{handle}'s laptop")),
                expires_at: None,
                vouch: None,
            },
            None,
            now,
        )
        .unwrap();
    key
}

/// An approval statement (a rejection carries a reason) by `actor` with `key`.
pub fn statement(
    request: &Request,
    actor: &str,
    key: &SigningKey,
    decision: Decision,
    now: OffsetDateTime,
) -> Statement {
    let reason = (decision == Decision::Reject).then(|| "not justified".to_string());
    countersign_attest::approval_statement(
        request,
        actor,
        decision,
        reason,
        countersign_attest::key_id(&key.verifying_key()),
        now,
    )
}

/// A session where `actor` has just authenticated at AAL2.
pub fn fresh_login(actor: &str, now: OffsetDateTime) -> Authentication {
    Authentication {
        identity: Some(actor.to_string()),
        aal: Some(2),
        auth_time: Some(now),
        method: Some("oidc:https://idp.test".into()),
    }
}

/// A bundle's JSON bytes.
pub fn json(bundle: &EvidenceBundle) -> Vec<u8> {
    serde_json::to_vec(bundle).unwrap()
}

/// A ledger with alice, bob, carol, dana, mallory and erin (who decides
/// policy exceptions); bob, carol and mallory have keys; and alice's
/// request for dana's admin grant, which bob and carol approve.
pub struct Fixture {
    pub ledger: Ledger,
    pub signer: NoteSigner,
    pub keys: HashMap<String, SigningKey>,
    pub request: Request,
}

impl Fixture {
    /// carol, on leave this week, lets mallory sign her privileged-access
    /// approvals for a day (granted at minute 5).
    pub fn carol_delegates_to_mallory(&self) -> Receipted<Delegation> {
        self.ledger
            .grant_delegation(
                &GrantDelegation {
                    principal: None,
                    delegate: "mallory".into(),
                    scope: DelegationScope {
                        event_kinds: vec![EventKind::PrivilegedAccess],
                        max_impact: Impact::High,
                        requests: vec![],
                    },
                    not_before: None,
                    not_after: None,
                    duration_seconds: Some(86_400),
                    reason: "carol is on leave this week".into(),
                },
                Grantor::Identity("carol"),
                &Authentication::default(),
                at(5),
            )
            .expect("carol's delegation to mallory")
    }

    /// alice requests; bob and carol approve (quorum 2, given order).
    pub fn new(order: ApprovalOrder, purpose: &str) -> Fixture {
        let (ledger, signer) = open_ledger();
        for h in ["alice", "bob", "carol", "dana", "mallory"] {
            create_identity(&ledger, h, at(1));
        }
        create_identity_as(
            &ledger,
            "erin",
            IdentityKind::Human,
            None,
            vec!["exception_approver".into()],
            at(1),
        );
        let mut keys = HashMap::new();
        for h in ["bob", "carol", "mallory"] {
            keys.insert(h.to_string(), enroll(&ledger, h, at(2)));
        }
        ledger
            .register_content(
                "offer",
                OFFER,
                Some("text/plain".into()),
                &Default::default(),
                at(3),
            )
            .unwrap();
        ledger
            .register_content("policy", POLICY, None, &Default::default(), at(3))
            .unwrap();
        let request = ledger
            .create_request(
                &CreateRequest {
                    event_kind: EventKind::PrivilegedAccess,
                    purpose: purpose.into(),
                    impact: Impact::High,
                    documents: vec![
                        DocumentRef {
                            document: "offer".into(),
                            version: None,
                        },
                        DocumentRef {
                            document: "policy".into(),
                            version: Some(1),
                        },
                    ],
                    action: Some(EntitlementAction {
                        system: "github".into(),
                        subject: "dana".into(),
                        operation: Operation::Grant,
                        entitlement: "org:acme/role:admin".into(),
                    }),
                    requester: "alice".into(),
                    beneficiary: "dana".into(),
                    approvers: vec!["bob".into(), "carol".into()],
                    order,
                    quorum: Some(2),
                    expires_at: None,
                    expires_in_seconds: Some(86_400),
                },
                &Authentication::default(),
                at(4),
            )
            .unwrap();
        Fixture {
            ledger,
            signer,
            keys,
            request,
        }
    }

    /// Sign as `actor` with `key_of`'s key, for `principal` if given,
    /// authenticated as `auth` says.
    pub fn sign_with(
        &self,
        actor: &str,
        key_of: &str,
        principal: Option<&str>,
        decision: Decision,
        auth: &Authentication,
        now: OffsetDateTime,
    ) -> Result<SignatureReceipt, LedgerError> {
        let key = &self.keys[key_of];
        let mut st = statement(&self.request, actor, key, decision, now);
        st.predicate.principal = principal.map(str::to_string);
        let envelope = countersign_attest::sign_statement(&st, key).unwrap();
        self.ledger
            .submit_signature(&envelope, auth, now)
            .map(|s| s.receipt)
    }

    /// `actor` approves with their own key, freshly signed in (the request
    /// is high impact: step-up).
    pub fn sign(&self, actor: &str, now: OffsetDateTime) -> SignatureReceipt {
        self.sign_with(
            actor,
            actor,
            None,
            Decision::Approve,
            &fresh_login(actor, now),
            now,
        )
        .unwrap()
    }

    /// A fully approved request: bob then carol.
    pub fn approved(purpose: &str) -> Fixture {
        let f = Fixture::new(ApprovalOrder::Parallel, purpose);
        f.sign("bob", at(10));
        f.sign("carol", at(11));
        f
    }

    pub fn export(&self, now: OffsetDateTime) -> EvidenceBundle {
        countersign_ledger::evidence::export(&self.ledger, &self.request.id, now).unwrap()
    }

    /// The log's verifier key.
    pub fn vkey(&self) -> String {
        self.signer.verifier().to_vkey()
    }

    /// Verification options with the log key pinned.
    pub fn pinned(&self) -> Options {
        Options {
            pinned_log_key: Some(self.vkey()),
            documents: vec![],
        }
    }
}
