//! Tests against real bundles exported from a real ledger.

use std::collections::HashMap;

use countersign_domain::policy::Authentication;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_attest::keys::public_key_to_base64;
use countersign_ca::{CertificateAuthority, IssueRequest};
use countersign_domain::delegation::Grantor;
use countersign_ledger::LedgerError;
use countersign_proto::api::{
    CreateRequest, DecideException, DocumentRef, GrantDelegation, RequestException,
    SignatureReceipt,
};
use countersign_proto::entry::{Event, LogEntry};
use countersign_proto::evidence::EvidenceBundle;
use countersign_proto::governance::{DelegationScope, Effect, PolicyDecision};
use countersign_proto::model::{
    ApprovalOrder, CredentialKind, Decision, EventKind, IdentityKind, IdentityStatus, Impact,
    RequestState,
};
use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::note::NoteSigner;
use countersign_tlog::{inclusion_proof, leaf_hash, MemoryTree};
use ed25519_dalek::{Signer as _, SigningKey};
use rand_core::OsRng;
use time::{Duration, OffsetDateTime};

use crate::testkit::*;
use crate::{verify_bundle, verify_receipt, Check, Options, Report};

/// The request's purpose in these tests.
const PURPOSE: &str = "Grant dana admin on the acme org";

/// The digest of the default policy set, as decisions record it.
fn default_policy_set() -> String {
    countersign_policy::PolicySet::defaults().unwrap().digest()
}

impl Fixture {
    fn sign_as(
        &self,
        actor: &str,
        key_of: &str,
        decision: Decision,
        now: OffsetDateTime,
    ) -> Result<SignatureReceipt, LedgerError> {
        // The request is high impact: signers have just logged in (step-up).
        self.sign_with(actor, key_of, None, decision, &fresh_login(actor, now), now)
    }

    /// Rewrite the whole log through `edit`, rebuild the tree and re-sign
    /// the checkpoint with the real log key: what a log operator gone
    /// rogue could ship. Every proof in the bundle is valid afterwards.
    fn reseal(&self, bundle: &mut EvidenceBundle, edit: impl Fn(u64, &mut LogEntry)) {
        let tx = self.ledger.store().read().unwrap();
        let size = tx.tree_size().unwrap();
        let mut tree = MemoryTree::new();
        let mut all = Vec::new();
        for i in 0..size {
            let mut e = LogEntry::from_bytes(&tx.entry(i).unwrap().unwrap()).unwrap();
            edit(i, &mut e);
            let bytes = e.to_bytes().unwrap();
            tree.push(leaf_hash(&bytes));
            all.push(bytes);
        }
        bundle.checkpoint = Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: tree.root(),
            extensions: vec![],
        }
        .sign(&self.signer)
        .unwrap();
        for ee in &mut bundle.entries {
            ee.entry = String::from_utf8(all[ee.index as usize].clone()).unwrap();
            ee.proof = inclusion_proof(ee.index, size, &tree)
                .unwrap()
                .iter()
                .map(|h| B64.encode(h))
                .collect();
        }
    }
}

fn failures(report: &Report) -> Vec<&Check> {
    report.failures().collect()
}

/// The report fails, and some failing check has `name` and a detail
/// containing every one of `needles`.
#[track_caller]
fn assert_fails(report: &Report, name: &str, needles: &[&str]) {
    assert!(!report.ok(), "report passed: {report:#?}");
    let found = report
        .failures()
        .any(|c| c.name == name && needles.iter().all(|n| c.detail.contains(n)));
    assert!(
        found,
        "no failing {name} check mentioning {needles:?}; failures: {:#?}",
        failures(report)
    );
}

fn index_of(bundle: &EvidenceBundle, kind: &str, actor: Option<&str>) -> u64 {
    bundle
        .entries
        .iter()
        .find(|e| {
            let entry = LogEntry::from_bytes(e.entry.as_bytes()).unwrap();
            entry.event.kind() == kind
                && match (&entry.event, actor) {
                    (Event::SignatureAccepted { actor: a, .. }, Some(want)) => a == want,
                    (_, Some(_)) => false,
                    (_, None) => true,
                }
        })
        .unwrap()
        .index
}

#[test]
fn a_valid_two_approver_bundle_passes() {
    let f = Fixture::approved(PURPOSE);
    let bundle = f.export(at(20));
    assert_eq!(bundle.request.state, RequestState::Approved);
    let options = Options {
        pinned_log_key: Some(f.vkey()),
        documents: vec![
            ("offer.txt".into(), OFFER.to_vec()),
            ("policy.txt".into(), POLICY.to_vec()),
        ],
    };
    let report = verify_bundle(&json(&bundle), &options);
    assert!(report.ok(), "{:#?}", failures(&report));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.request.as_deref(), Some(bundle.request.id.as_str()));
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    for want in [
        "bundle.parse",
        "bundle.format",
        "log_key.parse",
        "log_key.pinned",
        "checkpoint.signature",
        "bundle.order",
        "entry.inclusion",
        "log.created",
        "request.created",
        "request.view",
        "document.registered",
        "signature.digest",
        "signature.statement",
        "signature.credential",
        "signature.credential_status",
        "signature.envelope",
        "signature.predicate",
        "signature.subject",
        "signature.action",
        "signature.identity",
        "signature.approver",
        "signature.pending",
        "signature.policy",
        "signature.state",
        "signature.recorded",
        "signature.listed",
        "request.state",
        "document.file",
    ] {
        assert!(names.contains(&want), "no {want} check in {names:?}");
    }
    let files: Vec<&Check> = report
        .checks
        .iter()
        .filter(|c| c.name == "document.file")
        .collect();
    assert_eq!(files.len(), 2);
    assert!(files[0].detail.contains("offer version 1") && files[0].detail.contains("bob, carol"));
    let states: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.name == "signature.state")
        .map(|c| c.detail.as_str())
        .collect();
    assert!(states[0].ends_with("gives pending"), "{states:?}");
    assert!(states[1].ends_with("gives approved"), "{states:?}");
    assert!(report
        .summary()
        .starts_with(&format!("{0} of {0} checks passed", report.checks.len())));

    // Without a pinned key it still passes, with a warning about the key.
    let report = verify_bundle(&json(&bundle), &Options::default());
    assert!(report.ok(), "{:#?}", failures(&report));
    assert_eq!(report.warnings.len(), 1);
    assert!(report.warnings[0].contains("taken from the bundle itself"));
    // The JSON form is what `--json` prints.
    let value = serde_json::to_value(&report).unwrap();
    assert!(value["checks"].as_array().unwrap().len() > 20);
}

#[test]
fn a_sequential_pending_bundle_with_a_refusal_passes() {
    let f = Fixture::new(ApprovalOrder::Sequential, PURPOSE);
    // carol may not sign before bob: refused, and recorded.
    let refused = f
        .sign_as("carol", "carol", Decision::Approve, at(9))
        .unwrap_err();
    assert!(matches!(
        refused,
        LedgerError::Refused {
            log_index: Some(_),
            ..
        }
    ));
    f.sign("bob", at(10));
    let bundle = f.export(at(12));
    assert_eq!(bundle.request.state, RequestState::Pending);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert!(report.ok(), "{:#?}", failures(&report));
    let refusal = report
        .checks
        .iter()
        .find(|c| c.name == "signature.refused")
        .unwrap();
    assert!(refusal.ok);
    assert!(
        refusal.detail.contains("out_of_order") && refusal.detail.contains("carol"),
        "{}",
        refusal.detail
    );
    assert!(report
        .checks
        .iter()
        .any(|c| c.name == "signature.order" && c.ok));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[test]
fn an_expired_pending_request_may_show_as_expired() {
    let f = Fixture::new(ApprovalOrder::Parallel, PURPOSE);
    f.sign("bob", at(10));
    let bundle = f.export(at(3 * 24 * 60));
    assert_eq!(bundle.request.state, RequestState::Expired);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert!(report.ok(), "{:#?}", failures(&report));

    // But "expired" before the expiry is a forgery.
    let mut early = f.export(at(20));
    early.request.state = RequestState::Expired;
    let report = verify_bundle(&json(&early), &f.pinned());
    assert_fails(
        &report,
        "request.state",
        &["says the request is expired", "make it pending"],
    );
}

#[test]
fn later_suspension_and_revocation_do_not_undo_earlier_signatures() {
    let f = Fixture::approved(PURPOSE);
    let bob_key = countersign_attest::key_id(&f.keys["bob"].verifying_key());
    f.ledger
        .revoke_key(&bob_key, Some("laptop lost".into()), at(30))
        .unwrap();
    f.ledger
        .change_status("carol", IdentityStatus::Terminated, None, at(31))
        .unwrap();
    let bundle = f.export(at(40));
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert!(report.ok(), "{:#?}", failures(&report));
}

#[test]
fn a_modified_entry_byte_fails_inclusion() {
    let f = Fixture::approved(PURPOSE);
    let mut bundle = f.export(at(20));
    let n = index_of(&bundle, "signature.accepted", Some("carol"));
    let e = bundle.entries.iter_mut().find(|e| e.index == n).unwrap();
    e.entry = e.entry.replacen("\"carol\"", "\"carox\"", 1);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "entry.inclusion",
        &[&format!("entry {n} (signature.accepted) is not included")],
    );
    // The tampered entry is not trusted, so carol's signature is unproven.
    assert_fails(
        &report,
        "signature.recorded",
        &[&format!(
            "signature by carol recorded at log index {n} is not in the bundle"
        )],
    );
}

#[test]
fn a_reordered_bundle_fails() {
    let f = Fixture::approved(PURPOSE);
    let mut bundle = f.export(at(20));
    bundle.entries.swap(2, 3);
    let (a, b) = (bundle.entries[3].index, bundle.entries[2].index);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "bundle.order",
        &[&format!("index {a} follows index {b}")],
    );

    // Swapping the bytes (not the whole entries) breaks both proofs.
    let mut bundle = f.export(at(20));
    let tmp = bundle.entries[2].entry.clone();
    bundle.entries[2].entry = bundle.entries[3].entry.clone();
    bundle.entries[3].entry = tmp;
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(&report, "entry.inclusion", &[&format!("entry {b} (")]);
    assert_fails(&report, "entry.inclusion", &[&format!("entry {a} (")]);
}

#[test]
fn a_removed_entry_fails() {
    let f = Fixture::approved(PURPOSE);
    let mut bundle = f.export(at(20));
    let n = index_of(&bundle, "signature.accepted", Some("bob"));
    bundle.entries.retain(|e| e.index != n);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.recorded",
        &[&format!(
            "signature by bob recorded at log index {n} is not in the bundle"
        )],
    );

    // Without carol's enrolment, her signature has no credential.
    let mut bundle = f.export(at(20));
    let carol_key = countersign_attest::key_id(&f.keys["carol"].verifying_key());
    let enrolment = bundle
        .entries
        .iter()
        .find(|e| e.entry.contains("credential.enrolled") && e.entry.contains(&carol_key))
        .unwrap()
        .index;
    bundle.entries.retain(|e| e.index != enrolment);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.credential",
        &[
            "signature by carol",
            &carol_key,
            "no credential.enrolled entry",
        ],
    );
    assert_fails(&report, "signature.envelope", &["signature by carol"]);
}

#[test]
fn a_modified_checkpoint_fails() {
    let f = Fixture::approved(PURPOSE);
    let mut bundle = f.export(at(20));
    let size = bundle.entries.last().unwrap().index + 1;
    bundle.checkpoint =
        bundle
            .checkpoint
            .replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "checkpoint.signature",
        &["does not verify", "invalid signature"],
    );
    assert!(report.warnings.iter().any(|w| w.contains("skipped")));
    assert!(!report.checks.iter().any(|c| c.name == "entry.inclusion"));
}

#[test]
fn a_wrong_pinned_key_fails() {
    let f = Fixture::approved(PURPOSE);
    let bundle = f.export(at(20));
    let other = NoteSigner::new(ORIGIN, SigningKey::generate(&mut OsRng))
        .unwrap()
        .verifier()
        .to_vkey();
    let options = Options {
        pinned_log_key: Some(other.clone()),
        documents: vec![],
    };
    let report = verify_bundle(&json(&bundle), &options);
    assert_fails(
        &report,
        "log_key.pinned",
        &[&f.vkey(), &format!("is not the pinned key {other}")],
    );
    assert_fails(&report, "checkpoint.signature", &["does not verify"]);

    // A pinned key that is not a key at all.
    let options = Options {
        pinned_log_key: Some("not a key".into()),
        documents: vec![],
    };
    let report = verify_bundle(&json(&bundle), &options);
    assert_fails(
        &report,
        "log_key.pinned",
        &["is not a signed-note verifier key"],
    );
}

#[test]
fn a_forged_request_view_fails() {
    let f = Fixture::approved(PURPOSE);
    let good = f.export(at(20));

    let mut bundle = good.clone();
    bundle.request.purpose = "Grant dana read-only access".into();
    bundle.request.quorum = 1;
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "request.view",
        &["differs from the request.created entry", "purpose, quorum"],
    );

    // An extra signature that the log never accepted.
    let mut bundle = good.clone();
    let mut extra = bundle.request.signatures[0].clone();
    extra.actor = "mallory".into();
    extra.log_index = 17;
    bundle.request.signatures.push(extra);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.recorded",
        &["signature by mallory recorded at log index 17 is not in the bundle"],
    );

    // A listed signature whose fields were altered.
    let mut bundle = good.clone();
    bundle.request.signatures[0].decision = Decision::Reject;
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.recorded",
        &["signature by bob", "differs from the entry in: decision"],
    );

    // A missing signature: the view hides carol's approval.
    let mut bundle = good.clone();
    let carol = bundle.request.signatures.pop().unwrap();
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.listed",
        &[&format!(
            "signature by carol accepted at entry {} is missing",
            carol.log_index
        )],
    );

    // A state the log does not support.
    let mut bundle = good;
    bundle.request.state = RequestState::Rejected;
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "request.state",
        &["says the request is rejected", "make it approved"],
    );
}

#[test]
fn a_document_file_that_does_not_match_fails() {
    let f = Fixture::approved(PURPOSE);
    let bundle = f.export(at(20));
    let forged = b"Offer letter for dana: principal engineer, start 2026-04-01.\n".to_vec();
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&forged));
    let options = Options {
        pinned_log_key: Some(f.vkey()),
        documents: vec![
            ("offer.txt".into(), OFFER.to_vec()),
            ("offer-v2.txt".into(), forged),
        ],
    };
    let report = verify_bundle(&json(&bundle), &options);
    assert_eq!(failures(&report).len(), 1, "{:#?}", failures(&report));
    assert_fails(
        &report,
        "document.file",
        &["offer-v2.txt", &digest, "matches no document signed"],
    );
}

#[test]
fn a_document_of_an_unsigned_request_is_not_covered() {
    let f = Fixture::new(ApprovalOrder::Parallel, PURPOSE);
    let bundle = f.export(at(20));
    let options = Options {
        pinned_log_key: Some(f.vkey()),
        documents: vec![("offer.txt".into(), OFFER.to_vec())],
    };
    let report = verify_bundle(&json(&bundle), &options);
    assert_fails(
        &report,
        "document.file",
        &["offer.txt", "offer version 1", "no accepted signature"],
    );
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("no accepted signature")));
}

#[test]
fn a_credential_enrolled_for_a_different_identity_fails() {
    let f = Fixture::approved(PURPOSE);
    let mut bundle = f.export(at(20));
    let bob_key = countersign_attest::key_id(&f.keys["bob"].verifying_key());
    let key = bob_key.clone();
    f.reseal(&mut bundle, move |_, e| {
        if let Event::CredentialEnrolled { credential } = &mut e.event {
            if credential.key_id == key {
                credential.identity = "mallory".into();
            }
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.credential",
        &[
            "signature by bob",
            &format!("key {bob_key} is enrolled for mallory"),
            "not for the signer bob",
        ],
    );
    // Everything else about the resealed log still checks out.
    assert_eq!(failures(&report).len(), 1, "{:#?}", failures(&report));
}

#[test]
fn a_rogue_log_is_caught_by_the_replay() {
    let f = Fixture::approved(PURPOSE);
    let good = f.export(at(20));
    let bob_at = index_of(&good, "signature.accepted", Some("bob"));

    // The first approval claims to have approved the request on its own.
    let mut bundle = good.clone();
    f.reseal(&mut bundle, move |i, e| {
        if let Event::SignatureAccepted { request_state, .. } = &mut e.event {
            if i == bob_at {
                *request_state = RequestState::Approved;
            }
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.state",
        &[
            &format!("entry {bob_at} (signature by bob)"),
            "gives pending, but the entry records approved",
        ],
    );

    // bob was suspended when he signed.
    let mut bundle = good.clone();
    f.reseal(&mut bundle, |_, e| {
        if let Event::IdentityCreated { identity } = &mut e.event {
            if identity.handle == "bob" {
                identity.status = IdentityStatus::Suspended;
            }
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.identity",
        &["signature by bob", "bob was suspended when signing"],
    );

    // The recorded envelope digest is not the envelope's.
    let mut bundle = good.clone();
    f.reseal(&mut bundle, move |i, e| {
        if let Event::SignatureAccepted {
            envelope_sha256, ..
        } = &mut e.event
        {
            if i == bob_at {
                *envelope_sha256 = "00".repeat(32);
            }
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.digest",
        &[
            &format!("entry {bob_at}"),
            &format!("entry records {}", "00".repeat(32)),
        ],
    );

    // The request as created had only one approver, so bob is an intruder.
    let mut bundle = good;
    f.reseal(&mut bundle, |_, e| {
        if let Event::RequestCreated { request, .. } = &mut e.event {
            request.approvers = vec!["carol".into()];
            request.quorum = 1;
        }
    });
    bundle.request.approvers = vec!["carol".into()];
    bundle.request.quorum = 1;
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(&report, "signature.approver", &["bob is not an approver"]);
}

#[test]
fn garbage_input_is_a_failed_report_not_a_panic() {
    let f = Fixture::approved(PURPOSE);
    let good = json(&f.export(at(20)));
    let text = String::from_utf8(good.clone()).unwrap();
    let huge_index = {
        let first = f.export(at(20)).entries[1].index;
        text.replacen(
            &format!("\"index\":{first},"),
            "\"index\":18446744073709551615,",
            1,
        )
    };
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"not json".to_vec(),
        b"{}".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        vec![0xff, 0xfe, 0x00],
        good[..good.len() / 2].to_vec(),
        text.replacen("\"quorum\":2", "\"quorum\":1e400", 1)
            .into_bytes(),
        text.replacen("\"quorum\":2", "\"quorum\":99999999999999999999999999", 1)
            .into_bytes(),
        text.replacen("\"index\":0", "\"index\":-1", 1).into_bytes(),
        huge_index.into_bytes(),
        "[".repeat(100_000).into_bytes(),
        format!("{{\"format\":{}}}", "[".repeat(10_000)).into_bytes(),
    ];
    for input in &inputs {
        let report = verify_bundle(input, &f.pinned());
        assert!(
            !report.ok(),
            "accepted {:?}",
            String::from_utf8_lossy(&input[..input.len().min(80)])
        );
        assert!(!report.checks.is_empty());
    }

    // Flip bytes all over a valid bundle: never a panic.
    let step = (good.len() / 400).max(1);
    for pos in (0..good.len()).step_by(step) {
        for flip in [0x01u8, 0x20] {
            let mut bad = good.clone();
            bad[pos] ^= flip;
            let report = verify_bundle(&bad, &f.pinned());
            assert!(!report.checks.is_empty());
        }
    }
}

#[test]
fn receipts_verify_offline() {
    let f = Fixture::new(ApprovalOrder::Parallel, PURPOSE);
    let receipt = f.sign("bob", at(10));
    let cp = verify_receipt(&receipt.receipt, receipt.entry.as_bytes(), &f.vkey()).unwrap();
    assert_eq!(cp.origin, ORIGIN);
    assert!(cp.size > receipt.log_index);

    let tampered = receipt.entry.replacen("\"bob\"", "\"bod\"", 1);
    let err = verify_receipt(&receipt.receipt, tampered.as_bytes(), &f.vkey()).unwrap_err();
    assert!(
        err.contains(&format!("index {}", receipt.log_index)),
        "{err}"
    );

    let other = NoteSigner::new(ORIGIN, SigningKey::generate(&mut OsRng))
        .unwrap()
        .verifier()
        .to_vkey();
    assert!(verify_receipt(&receipt.receipt, receipt.entry.as_bytes(), &other).is_err());
    assert!(verify_receipt("garbage", receipt.entry.as_bytes(), &f.vkey()).is_err());
    assert!(verify_receipt(&receipt.receipt, receipt.entry.as_bytes(), "garbage").is_err());
}

// ---------------------------------------------------------------- governance

/// The check named `name` whose detail mentions `needle`, which must pass.
#[track_caller]
fn passing<'r>(report: &'r Report, name: &str, needle: &str) -> &'r Check {
    let check = report
        .checks
        .iter()
        .find(|c| c.name == name && c.detail.contains(needle))
        .unwrap_or_else(|| {
            panic!(
                "no {name} check mentioning {needle:?}: {:#?}",
                report.checks
            )
        });
    assert!(check.ok, "{check:#?}");
    check
}

fn decision_of(e: &mut LogEntry) -> Option<&mut PolicyDecision> {
    match &mut e.event {
        Event::SignatureAccepted { policy, .. } => policy.as_mut(),
        _ => None,
    }
}

#[test]
fn a_signature_shows_the_policy_that_allowed_it() {
    let f = Fixture::approved(PURPOSE);
    let bundle = f.export(at(20));
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert!(report.ok(), "{:#?}", failures(&report));
    let set = default_policy_set();
    let activated = index_of(&bundle, "policy.activated", None);
    let policies: Vec<&Check> = report
        .checks
        .iter()
        .filter(|c| c.name == "signature.policy")
        .collect();
    assert_eq!(policies.len(), 2, "{policies:#?}");
    for c in policies {
        assert!(c.ok, "{c:#?}");
        for needle in [
            "allowed by approvers-may-sign",
            &format!("under policy set {set}"),
            &format!("policy.activated entry {activated};"),
            "AAL2, authenticated 2026-03-02T10:1",
        ] {
            assert!(c.detail.contains(needle), "{needle:?} not in {}", c.detail);
        }
    }
    // The request's own creation names its policy decision too.
    passing(
        &report,
        "request.created",
        "allowed by active-identities-may-request",
    );
}

#[test]
fn a_policy_set_other_than_the_one_in_force_fails() {
    let f = Fixture::approved(PURPOSE);
    let good = f.export(at(20));
    let bob_at = index_of(&good, "signature.accepted", Some("bob"));
    let set = default_policy_set();
    let forged = format!("sha256:{}", "ab".repeat(32));

    // Editing the entry's bytes alone breaks its inclusion, so the verifier
    // stops trusting it (and checks nothing else about it) ...
    let mut bundle = good.clone();
    let e = bundle
        .entries
        .iter_mut()
        .find(|e| e.index == bob_at)
        .unwrap();
    e.entry = e.entry.replacen(&set, &forged, 1);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(&report, "entry.inclusion", &[&format!("entry {bob_at} ")]);
    assert!(!report
        .checks
        .iter()
        .any(|c| c.name == "signature.policy" && c.detail.contains(&forged)));

    // ... so a rogue log that re-signs its checkpoint is what can ship it:
    // every proof verifies and only the decision's policy set is wrong.
    let mut bundle = good.clone();
    let fake = forged.clone();
    f.reseal(&mut bundle, move |i, e| {
        if i == bob_at {
            decision_of(e).unwrap().policy_set = fake.clone();
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.policy",
        &[
            &format!("entry {bob_at} (signature by bob)"),
            &format!("allowed under policy set {forged}"),
            &format!("the set in force was {set}"),
        ],
    );
    assert_eq!(failures(&report).len(), 1, "{:#?}", failures(&report));

    // A deny decision, or a decision about another action, is no allowance.
    let mut bundle = good.clone();
    f.reseal(&mut bundle, move |i, e| {
        if i == bob_at {
            decision_of(e).unwrap().effect = Effect::Deny;
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(&report, "signature.policy", &["records a deny decision"]);

    // Without the policy.activated entry, the decision's set is unanchored.
    let mut bundle = good.clone();
    let activated = index_of(&bundle, "policy.activated", None);
    bundle.entries.retain(|e| e.index != activated);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.policy",
        &["no policy.activated entry before index"],
    );

    // A signature with no decision at all fails when a set was in force ...
    let mut bundle = good.clone();
    f.reseal(&mut bundle, |_, e| {
        if let Event::SignatureAccepted { policy, .. } = &mut e.event {
            *policy = None;
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.policy",
        &["records no policy decision", &set],
    );

    // ... and is only a warning in a log from before policies.
    bundle.entries.retain(|e| e.index != activated);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert!(report.ok(), "{:#?}", failures(&report));
    assert!(!report.checks.iter().any(|c| c.name == "signature.policy"));
    assert_eq!(
        report
            .warnings
            .iter()
            .filter(|w| w.contains("records no policy decision"))
            .count(),
        2,
        "{:?}",
        report.warnings
    );
}

#[test]
fn a_policy_refusal_shows_the_refusing_policy() {
    let f = Fixture::new(ApprovalOrder::Parallel, PURPOSE);
    // A high-impact signature without a recent login: step-up refuses it.
    let refused = f
        .sign_with(
            "bob",
            "bob",
            None,
            Decision::Approve,
            &Authentication::default(),
            at(9),
        )
        .unwrap_err();
    assert!(
        matches!(refused, LedgerError::Refused { .. }),
        "{refused:?}"
    );
    let bundle = f.export(at(12));
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert!(report.ok(), "{:#?}", failures(&report));
    passing(
        &report,
        "signature.refused",
        &format!(
            "refused by policy step-up-high-impact under {}",
            default_policy_set()
        ),
    );
}

#[test]
fn a_delegated_signature_needs_its_delegation() {
    let f = Fixture::new(ApprovalOrder::Sequential, PURPOSE);
    let granted = f.carol_delegates_to_mallory();
    let dlg = granted.value.id.clone();
    // bob signs first, then mallory for carol (sequential: bob, carol).
    f.sign("bob", at(10));
    f.sign_with(
        "mallory",
        "mallory",
        Some("carol"),
        Decision::Approve,
        &fresh_login("mallory", at(11)),
        at(11),
    )
    .unwrap();
    let good = f.export(at(20));
    assert_eq!(good.request.state, RequestState::Approved);
    let report = verify_bundle(&json(&good), &f.pinned());
    assert!(report.ok(), "{:#?}", failures(&report));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let for_carol = index_of_nth(&good, "signature.accepted", 1);
    let who = format!("entry {for_carol} (signature by mallory)");
    passing(
        &report,
        "signature.delegation",
        &format!(
            "{who}: mallory signed for carol under delegation {dlg} granted by carol (entry {})",
            granted.log_index
        ),
    );
    passing(
        &report,
        "signature.approver",
        "carol (signed for by mallory) is approver 2 of 2",
    );
    passing(
        &report,
        "signature.identity",
        "the principal carol was active",
    );
    passing(
        &report,
        "signature.order",
        "every approver listed before carol had signed",
    );
    passing(&report, "signature.state", &format!("{who}: replaying"));

    // Without the grant, the signature for carol is unexplained.
    let mut bundle = good.clone();
    bundle.entries.retain(|e| e.index != granted.log_index);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.delegation",
        &[
            &who,
            &format!("no delegation.granted entry for delegation {dlg} before index {for_carol}"),
        ],
    );

    // An entry that forgets the principal: the statement still signs for
    // carol, and mallory is no approver.
    let mut bundle = good.clone();
    f.reseal(&mut bundle, move |i, e| {
        if let Event::SignatureAccepted {
            principal,
            delegation,
            ..
        } = &mut e.event
        {
            if i == for_carol {
                *principal = None;
                *delegation = None;
            }
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.delegation",
        &[
            &who,
            "the statement signs for carol, but the entry records no principal",
        ],
    );
    assert_fails(
        &report,
        "signature.approver",
        &["mallory is not an approver"],
    );

    // The principal signed for was suspended at the time.
    let mut bundle = good.clone();
    f.reseal(&mut bundle, |_, e| {
        if let Event::IdentityCreated { identity } = &mut e.event {
            if identity.handle == "carol" {
                identity.status = IdentityStatus::Suspended;
            }
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.identity",
        &[&who, "the principal carol was suspended when signing"],
    );

    // A grant whose scope does not cover the request.
    let mut bundle = good;
    f.reseal(&mut bundle, |_, e| {
        if let Event::DelegationGranted { delegation, .. } = &mut e.event {
            delegation.scope.event_kinds = vec![EventKind::Payment];
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.delegation",
        &[&who, "does not cover privileged_access requests"],
    );
}

/// A delegate who is no approver fills the principal's slot, and only
/// counting that slot makes the replay agree with the log.
#[test]
fn a_delegate_who_is_not_an_approver_fills_the_principals_slot() {
    let f = Fixture::new(ApprovalOrder::Parallel, PURPOSE);
    let granted = f
        .ledger
        .grant_delegation(
            &GrantDelegation {
                principal: None,
                delegate: "mallory".into(),
                scope: DelegationScope {
                    event_kinds: vec![],
                    max_impact: Impact::Critical,
                    requests: vec![f.request.id.clone()],
                },
                not_before: None,
                not_after: Some(at(60)),
                duration_seconds: None,
                reason: "carol is travelling".into(),
            },
            Grantor::Identity("carol"),
            &Authentication::default(),
            at(5),
        )
        .unwrap();
    f.sign_with(
        "mallory",
        "mallory",
        Some("carol"),
        Decision::Approve,
        &fresh_login("mallory", at(10)),
        at(10),
    )
    .unwrap();
    f.sign("bob", at(11));
    let good = f.export(at(20));
    assert_eq!(good.request.state, RequestState::Approved);
    let report = verify_bundle(&json(&good), &f.pinned());
    assert!(report.ok(), "{:#?}", failures(&report));
    passing(
        &report,
        "signature.delegation",
        &format!(
            "mallory signed for carol under delegation {} granted by carol",
            granted.value.id
        ),
    );
    passing(
        &report,
        "signature.approver",
        "carol (signed for by mallory) is approver 2 of 2",
    );
    passing(
        &report,
        "signature.identity",
        "mallory was active when signing",
    );
    passing(&report, "signature.state", "2 signatures) gives approved");

    // The delegation ran out before the signature.
    let mut bundle = good;
    f.reseal(&mut bundle, |_, e| {
        if let Event::DelegationGranted { delegation, .. } = &mut e.event {
            delegation.not_after = at(9);
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.delegation",
        &[
            "signature by mallory",
            "does not cover this signature at 2026-03-02T10:10:00Z",
        ],
    );
}

fn index_of_nth(bundle: &EvidenceBundle, kind: &str, n: usize) -> u64 {
    bundle
        .entries
        .iter()
        .filter(|e| {
            LogEntry::from_bytes(e.entry.as_bytes())
                .unwrap()
                .event
                .kind()
                == kind
        })
        .nth(n)
        .unwrap()
        .index
}

#[test]
fn a_break_glass_signature_needs_an_approved_single_use_exception() {
    let f = Fixture::new(ApprovalOrder::Parallel, PURPOSE);
    let stale = Authentication::default();
    f.sign_with("bob", "bob", None, Decision::Approve, &stale, at(9))
        .unwrap_err();
    let asked = f
        .ledger
        .request_exception(
            &RequestException {
                request: f.request.id.clone(),
                actor: None,
                justification: "production outage; the IdP is down for step-up".into(),
            },
            "bob",
            at(10),
        )
        .unwrap();
    let id = asked.value.id.clone();
    let decided = f
        .ledger
        .decide_exception(
            &id,
            "erin",
            true,
            &DecideException::default(),
            &stale,
            at(11),
        )
        .unwrap();
    f.sign_with("bob", "bob", None, Decision::Approve, &stale, at(12))
        .unwrap();
    f.sign("carol", at(13));
    let good = f.export(at(20));
    let report = verify_bundle(&json(&good), &f.pinned());
    assert!(report.ok(), "{:#?}", failures(&report));
    let bob_at = index_of(&good, "signature.accepted", Some("bob"));
    passing(
        &report,
        "signature.exception",
        &format!(
            "entry {bob_at} (signature by bob): used exception {id}, approved by erin at entry {}",
            decided.log_index
        ),
    );
    passing(
        &report,
        "exception.requested",
        &format!("entry {}: bob asked for exception {id}", asked.log_index),
    );
    passing(
        &report,
        "exception.decided",
        &format!(
            "entry {}: exception {id} for bob was approved by erin",
            decided.log_index
        ),
    );

    // Without the decision in the bundle, the exception is unproven.
    let mut bundle = good.clone();
    bundle.entries.retain(|e| e.index != decided.log_index);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.exception",
        &[&format!("no exception.decided entry for exception {id}")],
    );

    // An exception approved by the signer themself.
    let mut bundle = good.clone();
    f.reseal(&mut bundle, |_, e| {
        if let Event::ExceptionDecided { exception, .. } = &mut e.event {
            exception.decided_by = Some("bob".into());
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(&report, "signature.exception", &["was approved by bob"]);

    // An exception used twice: carol's entry claims bob's exception too.
    let carol_at = index_of(&good, "signature.accepted", Some("carol"));
    let mut bundle = good.clone();
    let reused = id.clone();
    f.reseal(&mut bundle, move |i, e| {
        if let Event::SignatureAccepted { exception, .. } = &mut e.event {
            if i == carol_at {
                *exception = Some(reused.clone());
            }
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.exception",
        &[
            &format!("entry {bob_at} (signature by bob)"),
            &format!("exception {id} is single-use but entry {carol_at} used it too"),
        ],
    );
    assert_fails(
        &report,
        "signature.exception",
        &[
            &format!("entry {carol_at} (signature by carol)"),
            "is for bob",
        ],
    );

    // An exception that had expired when it was used.
    let mut bundle = good;
    f.reseal(&mut bundle, |_, e| {
        if let Event::ExceptionDecided { exception, .. } = &mut e.event {
            exception.expires_at = Some(at(11));
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.exception",
        &["expired at 2026-03-02T10:11:00Z, before the signature"],
    );
}

/// A ledger with a workload CA, a workload approver `ci-release` and its
/// certified key, and a code-release request it has signed.
struct Workload {
    f: Fixture,
    key: SigningKey,
}

const OIDC_ISSUER: &str = "https://ci.example";

fn issue_with<'c>(
    ca: &'c CertificateAuthority,
    handle: &str,
) -> impl Fn(&[u8; 32], OffsetDateTime, OffsetDateTime) -> Result<String, String> + 'c {
    let handle = handle.to_string();
    move |key, not_before, not_after| {
        ca.issue(&IssueRequest {
            identity: &handle,
            public_key: key,
            not_before,
            not_after,
            oidc_issuer: OIDC_ISSUER,
        })
        .map(|c| c.pem)
        .map_err(|e| e.to_string())
    }
}

impl Workload {
    fn new(ca: &CertificateAuthority) -> Workload {
        let (ledger, signer) = open_ledger();
        create_identity(&ledger, "alice", at(1));
        create_identity(&ledger, "dana", at(1));
        create_identity_as(
            &ledger,
            "ci-release",
            IdentityKind::Workload,
            Some("alice"),
            vec![],
            at(1),
        );
        ledger
            .publish_ca(ca.certificate_pem(), &ca.fingerprint(), at(2))
            .unwrap();
        let key = SigningKey::generate(&mut OsRng);
        let public_key = public_key_to_base64(&key.verifying_key());
        let token_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"a CI job token"));
        let proof = key.sign(&countersign_attest::keys::workload_pop_message(
            &token_sha256,
            &countersign_attest::key_id(&key.verifying_key()),
        ));
        ledger
            .certify_workload(
                "ci-release",
                OIDC_ISSUER,
                "repo:acme/app:ref:refs/tags/v1.2.0",
                &token_sha256,
                &public_key,
                &B64.encode(proof.to_bytes()),
                &issue_with(ca, "ci-release"),
                at(5),
            )
            .unwrap();
        ledger
            .register_content("release", OFFER, None, &Default::default(), at(5))
            .unwrap();
        let request = ledger
            .create_request(
                &CreateRequest {
                    event_kind: EventKind::CodeRelease,
                    purpose: "Release acme/app v1.2.0".into(),
                    impact: Impact::Medium,
                    documents: vec![DocumentRef {
                        document: "release".into(),
                        version: None,
                    }],
                    action: None,
                    requester: "alice".into(),
                    beneficiary: "dana".into(),
                    approvers: vec!["ci-release".into()],
                    order: ApprovalOrder::Parallel,
                    quorum: Some(1),
                    expires_at: None,
                    expires_in_seconds: Some(3_600),
                },
                &Authentication::default(),
                at(6),
            )
            .unwrap();
        let mut keys = HashMap::new();
        keys.insert("ci-release".to_string(), key.clone());
        let f = Fixture {
            ledger,
            signer,
            keys,
            request,
        };
        f.sign_with(
            "ci-release",
            "ci-release",
            None,
            Decision::Approve,
            &Authentication::default(),
            at(8),
        )
        .unwrap();
        Workload { f, key }
    }
}

#[test]
fn a_workload_certificate_signature_chains_to_the_logged_ca() {
    let (ca, _) =
        CertificateAuthority::generate("Countersign workload CA", NOW, Duration::days(30)).unwrap();
    let w = Workload::new(&ca);
    let f = &w.f;
    let good = f.export(at(9));
    assert_eq!(good.request.state, RequestState::Approved);
    let report = verify_bundle(&json(&good), &f.pinned());
    assert!(report.ok(), "{:#?}", failures(&report));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let ca_at = index_of(&good, "ca.created", None);
    let cert = passing(&report, "signature.certificate", "was issued to ci-release");
    for needle in [
        format!("by CA {} (ca.created entry {ca_at})", ca.fingerprint()),
        "valid 2026-03-02T10:05:00Z to 2026-03-02T10:15:00Z".to_string(),
        "was valid at 2026-03-02T10:08:00Z".to_string(),
        format!("on the word of {OIDC_ISSUER}"),
    ] {
        assert!(
            cert.detail.contains(&needle),
            "{needle:?} not in {}",
            cert.detail
        );
    }
    passing(
        &report,
        "signature.credential",
        "was certified for ci-release by entry",
    );
    passing(
        &report,
        "signature.policy",
        "allowed by non-human-approvers-may-sign",
    );

    // The same key certified by another CA: the chain no longer holds.
    let (rogue, _) = CertificateAuthority::generate("Rogue CA", NOW, Duration::days(30)).unwrap();
    let forged =
        issue_with(&rogue, "ci-release")(w.key.verifying_key().as_bytes(), at(5), at(15)).unwrap();
    let mut bundle = good.clone();
    let pem = forged.clone();
    f.reseal(&mut bundle, move |_, e| {
        if let Event::CredentialCertified { credential, .. } = &mut e.event {
            credential.certificate = Some(pem.clone());
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.certificate",
        &[
            "does not verify",
            "wrong CA: not issued by CA",
            &ca.fingerprint(),
        ],
    );
    assert_eq!(failures(&report).len(), 1, "{:#?}", failures(&report));

    // A certificate for the right key but another identity.
    let other =
        issue_with(&ca, "ci-other")(w.key.verifying_key().as_bytes(), at(5), at(15)).unwrap();
    let mut bundle = good.clone();
    f.reseal(&mut bundle, move |_, e| {
        if let Event::CredentialCertified { credential, .. } = &mut e.event {
            credential.certificate = Some(other.clone());
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.certificate",
        &["names identity ci-other, which differs from the signer ci-release"],
    );

    // A certificate that had expired when the signature was logged.
    let expired =
        issue_with(&ca, "ci-release")(w.key.verifying_key().as_bytes(), at(5), at(7)).unwrap();
    let mut bundle = good.clone();
    f.reseal(&mut bundle, move |_, e| {
        if let Event::CredentialCertified { credential, .. } = &mut e.event {
            credential.certificate = Some(expired.clone());
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.certificate",
        &["the leaf certificate expired at 2026-03-02T10:07:00Z, before the signature at 2026-03-02T10:08:00Z"],
    );

    // A certificate for another key (the right CA, the right identity).
    let stranger = SigningKey::generate(&mut OsRng);
    let other_key =
        issue_with(&ca, "ci-release")(stranger.verifying_key().as_bytes(), at(5), at(15)).unwrap();
    let mut bundle = good.clone();
    f.reseal(&mut bundle, move |_, e| {
        if let Event::CredentialCertified { credential, .. } = &mut e.event {
            credential.certificate = Some(other_key.clone());
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.certificate",
        &[
            &public_key_to_base64(&stranger.verifying_key()),
            "which differs from the credential's key",
        ],
    );

    // A ca.created entry whose fingerprint is not its certificate's.
    let mut bundle = good.clone();
    f.reseal(&mut bundle, |_, e| {
        if let Event::CaCreated { fingerprint, .. } = &mut e.event {
            *fingerprint = "00".repeat(32);
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.certificate",
        &[
            "the entry's fingerprint is not its certificate's",
            &ca.fingerprint(),
        ],
    );

    // Calling the certified credential a plain key does not skip the chain.
    let mut bundle = good.clone();
    let pem = forged.clone();
    f.reseal(&mut bundle, move |_, e| {
        if let Event::CredentialCertified { credential, .. } = &mut e.event {
            credential.kind = CredentialKind::Key;
            credential.certificate = Some(pem.clone());
        }
    });
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(&report, "signature.certificate", &["wrong CA"]);

    // Without the ca.created entry there is nothing to chain to.
    let mut bundle = good;
    bundle.entries.retain(|e| e.index != ca_at);
    let report = verify_bundle(&json(&bundle), &f.pinned());
    assert_fails(
        &report,
        "signature.certificate",
        &["no ca.created entry before index"],
    );
}

/// carol signed, was terminated and erased past retention: the bundle
/// verifies with her fields shown as erased; without the entry that
/// terminated her, the same erasure is not accepted.
#[test]
fn an_erased_signer_verifies_only_when_the_bundle_proves_the_erasure() {
    let f = Fixture::approved(PURPOSE);
    f.ledger
        .change_status(
            "carol",
            IdentityStatus::Terminated,
            Some("left".into()),
            at(30),
        )
        .unwrap();
    let erased = f
        .ledger
        .erase("carol", "admin", at(30) + Duration::days(2556))
        .unwrap();
    assert!(
        erased.erased > 0 && erased.log_index.is_some(),
        "{erased:?}"
    );
    let bundle = f.export(at(30) + Duration::days(2557));
    let options = Options {
        pinned_log_key: Some(f.vkey()),
        documents: vec![],
    };
    let report = verify_bundle(&json(&bundle), &options);
    assert!(report.ok(), "{:#?}", failures(&report));
    assert!(report.checks.iter().any(|c| c.name == "signature.erased"));
    assert!(report.warnings.iter().any(|w| w.contains("erased")));

    // The termination left out: the erasure proves nothing.
    let mut cut = bundle.clone();
    cut.entries.retain(|e| {
        !matches!(
            LogEntry::from_bytes(e.entry.as_bytes()).map(|x| x.event),
            Ok(Event::IdentityStatusChanged { .. })
        )
    });
    let report = verify_bundle(&json(&cut), &options);
    assert_fails(
        &report,
        "entry.opening",
        &["proves no termination of carol"],
    );
}
