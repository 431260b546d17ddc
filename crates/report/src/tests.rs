//! Certificates of real bundles, exported from a real ledger over in-memory
//! SQLite by `countersign-verify`'s test kit.

use countersign_domain::policy::Authentication;
use countersign_proto::api::{DecideException, RequestException};
use countersign_proto::entry::{Event, LogEntry};
use countersign_proto::evidence::EvidenceBundle;
use countersign_proto::model::{ApprovalOrder, Decision, RequestState};
use countersign_tlog::note::NoteSigner;
use countersign_tlog::proof::TlogProof;
use countersign_verify::testkit::*;
use countersign_verify::{verify_bundle, Options, Report};
use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use sha2::{Digest as _, Sha256};

use crate::{render, verify_and_render, Error, RenderOptions, Style, CERTIFICATE_CSS};

const NOT_PINNED: &str = "The log key was not pinned: this bundle vouched for its own key";

/// A sequential request with the governance a real one meets: bob is
/// refused (a stale sign-in), gets a break-glass exception from erin
/// and signs under it; carol is away, and mallory signs for her under
/// a delegation.
fn governed() -> (Fixture, String, String) {
    let f = Fixture::new(
        ApprovalOrder::Sequential,
        "Grant dana admin on the acme GitHub organisation",
    );
    let dlg = f.carol_delegates_to_mallory().value.id;
    let stale = Authentication::default();
    f.sign_with("bob", "bob", None, Decision::Approve, &stale, at(9))
        .unwrap_err();
    let exception = f
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
        .unwrap()
        .value
        .id;
    f.ledger
        .decide_exception(
            &exception,
            "erin",
            true,
            &DecideException::default(),
            &stale,
            at(11),
        )
        .unwrap();
    f.sign_with("bob", "bob", None, Decision::Approve, &stale, at(12))
        .unwrap();
    f.sign_with(
        "mallory",
        "mallory",
        Some("carol"),
        Decision::Approve,
        &fresh_login("mallory", at(13)),
        at(13),
    )
    .unwrap();
    (f, dlg, exception)
}

/// Verify and render with the page's stylesheet inline.
fn certificate(bytes: &[u8], verify: &Options) -> (Report, String) {
    verify_and_render(
        bytes,
        verify,
        &RenderOptions {
            verified_at: Some(at(30)),
            ..RenderOptions::default()
        },
    )
    .unwrap()
}

/// Keep a rendered page to look at: `COUNTERSIGN_CERTIFICATE_DIR=/tmp cargo
/// test -p countersign-report` writes `/tmp/certificate.html` and others.
fn save(name: &str, html: &str) {
    if let Some(dir) = std::env::var_os("COUNTERSIGN_CERTIFICATE_DIR") {
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{name}.html")),
            html,
        )
        .unwrap();
    }
}

fn accepted_indexes(bundle: &EvidenceBundle) -> Vec<u64> {
    bundle
        .entries
        .iter()
        .filter(|e| {
            LogEntry::from_bytes(e.entry.as_bytes())
                .unwrap()
                .event
                .kind()
                == "signature.accepted"
        })
        .map(|e| e.index)
        .collect()
}

/// The page references nothing outside itself, and runs no script.
#[track_caller]
fn self_contained(html: &str) {
    let lower = html.to_lowercase();
    for bad in [
        "<script", "src=", "@import", "url(", "<img", "<iframe", " style=",
    ] {
        assert!(!lower.contains(bad), "the page contains {bad:?}");
    }
    for (pos, _) in lower.match_indices("href=\"") {
        let rest = &lower[pos + 6..];
        assert!(
            rest.starts_with('#'),
            "external link at {:?}",
            &rest[..40.min(rest.len())]
        );
    }
}

#[test]
fn an_approved_pinned_bundle_is_certified() {
    let f = Fixture::approved("Grant dana admin on the acme org");
    let bundle = f.export(at(20));
    let bytes = json(&bundle);
    let (report, html) = certificate(&bytes, &f.pinned());
    assert!(report.ok(), "{:#?}", report.failures().collect::<Vec<_>>());

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("<h1>Completion certificate</h1>"));
    assert!(html.contains(&bundle.request.id));
    assert!(html.contains("Grant dana admin on the acme org"));
    assert!(html.contains("privileged access"));
    assert!(html.contains("high impact"));
    assert!(html.contains(&format!("Verified: {} checks passed", report.checks.len())));
    assert!(!html.contains("NOT VERIFIED"));
    assert!(!html.contains(NOT_PINNED));
    assert!(!html.contains("not pinned"));
    // The outcome, from the log.
    assert!(html.contains(">approved</span>"), "no outcome");
    assert!(html.contains("Verified at <time datetime=\"2026-03-02T10:30:00Z\">"));

    // What was approved: the action as a sentence, the parties.
    assert!(html.contains("grant dana \u{201c}org:acme/role:admin\u{201d} on github"));
    assert!(html.contains("<th scope=\"row\" data-label=\"Approver\">bob</th>"));
    assert!(html.contains("<th scope=\"row\" data-label=\"Approver\">carol</th>"));
    assert!(html.contains("Approvers. Needs all 2 approvers, in any order.</caption>"));

    // Documents by full digest, with size and media type.
    let offer = hex::encode(Sha256::digest(OFFER));
    let policy = hex::encode(Sha256::digest(POLICY));
    assert!(html.contains(&offer) && html.contains(&policy));
    assert!(html.contains("text/plain"));
    assert!(html.contains(&format!("{} bytes", OFFER.len())));

    // Each signature: signer, decision, identity, credential, AAL, policy.
    assert!(html.contains("bob approved</h3>"));
    assert!(html.contains("carol approved</h3>"));
    assert!(html.contains("enrolled signing key, Ed25519"));
    assert!(html.contains("bob&#39;s laptop"));
    assert!(html.contains("declared: whoever enrolled the key chose the label"));
    assert!(html.contains("AAL2"));
    assert!(html.contains(
        "the signing key and a sign-in with the identity provider https://idp.test (credential:key+oidc:https://idp.test)"
    ));
    assert!(html.contains("allowed, by policy"));
    assert!(html.contains(&countersign_policy::PolicySet::defaults().unwrap().digest()));

    // Receipts: a C2SP tlog-proof per signature that verifies offline.
    for n in accepted_indexes(&bundle) {
        let start = html
            .find(&format!("c2sp.org/tlog-proof@v1\nindex {n}\n"))
            .unwrap_or_else(|| panic!("no receipt for entry {n}"));
        let end = start + html[start..].find("</pre>").unwrap();
        let receipt = &html[start..end];
        let proof = TlogProof::parse(receipt).unwrap();
        let entry = &bundle.entries.iter().find(|e| e.index == n).unwrap().entry;
        proof
            .verify(entry.as_bytes(), &f.signer.verifier())
            .unwrap();
    }

    // The checkpoint and every check, in words, passed.
    assert!(html.contains(&bundle.checkpoint.lines().next().unwrap().to_string()));
    assert!(html.contains("The transparency log&#39;s signature on the checkpoint is valid"));
    assert_eq!(html.matches("✓</span> passed").count(), report.checks.len());
    assert!(!html.contains("FAILED"));
    assert!(html.contains("countersign verify BUNDLE --log-key KEY"));
    assert!(html.contains(&hex::encode(Sha256::digest(&bytes))));
    self_contained(&html);
    assert!(html.contains("<style>"));
    assert!(html.contains("@media print"));
}

#[test]
fn an_unpinned_key_is_called_out_at_the_top() {
    let f = Fixture::approved("Grant dana admin on the acme org");
    let bytes = json(&f.export(at(20)));
    let (report, html) = certificate(&bytes, &Options::default());
    assert!(report.ok());
    let warning = html.find(NOT_PINNED).expect("no pinned-key warning");
    // Prominent: right after the verdict, before anything about the request.
    assert!(warning < html.find("id=\"approved\"").unwrap());
    save("unpinned", &html);
    assert!(html.contains("compare the log key with the one your organisation publishes"));
    assert!(html.contains(&f.signer.verifier().to_vkey()));

    // Claiming a pin the report does not show still warns.
    let claimed = render(
        &bytes,
        &report,
        &RenderOptions {
            log_key_pinned: true,
            ..RenderOptions::default()
        },
    )
    .unwrap();
    assert!(claimed.contains(NOT_PINNED));

    // A pinned key that is not the bundle's says so.
    let other = NoteSigner::new(ORIGIN, SigningKey::generate(&mut OsRng))
        .unwrap()
        .verifier()
        .to_vkey();
    let (report, html) = certificate(
        &bytes,
        &Options {
            pinned_log_key: Some(other),
            documents: vec![],
        },
    );
    assert!(!report.ok());
    assert!(html.contains("The log key is not the one you supplied"));
    assert!(html.contains("NOT VERIFIED"));
}

#[test]
fn hostile_strings_are_escaped() {
    let f = Fixture::approved("<script>alert(1)</script>");
    let bytes = json(&f.export(at(20)));
    let (report, html) = certificate(&bytes, &f.pinned());
    assert!(report.ok());
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(!html.contains("<script"));
    self_contained(&html);
}

#[test]
fn a_tampered_bundle_is_not_verified() {
    let f = Fixture::approved("Grant dana admin on the acme org");
    let mut bundle = f.export(at(20));
    let n = accepted_indexes(&bundle)[1];
    let e = bundle.entries.iter_mut().find(|e| e.index == n).unwrap();
    e.entry = e.entry.replacen("\"carol\"", "\"carox\"", 1);
    let (report, html) = certificate(&json(&bundle), &f.pinned());
    assert!(!report.ok());
    let failed = report.failures().count();
    assert!(html.contains(&format!(
        "NOT VERIFIED: {failed} of {} checks failed",
        report.checks.len()
    )));
    // The failed checks come first, in the verdict box, with their detail.
    let verdict = html.find("id=\"verdict-heading\"").unwrap();
    let first_failure = html.find("<strong>FAILED</strong>").unwrap();
    assert!(verdict < first_failure && first_failure < html.find("id=\"approved\"").unwrap());
    assert!(html.contains(&format!("entry {n} (signature.accepted) is not included")));
    assert!(html.contains("The log entry is included in the signed checkpoint"));
    // The forged entry is left out: carol's signature is not shown, and the
    // request, by its proven entries, is still pending.
    assert!(html.contains(&format!(
        "Log entry {n} is not proven to be in the transparency log, so this page leaves it out."
    )));
    assert!(!html.contains("carox"));
    assert!(!html.contains("carol approved</h3>"));
    assert!(html.contains(">pending</span>"));
    assert!(html.contains(
        "The bundle&#39;s summary gives the request&#39;s state as approved, but its log entries make it pending."
    ));
    self_contained(&html);
    save("tampered", &html);
}

#[test]
fn input_that_is_not_a_bundle_renders_a_page() {
    let inputs: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        Vec::new(),
        b"{}".to_vec(),
        vec![0xff, 0xfe, 0x00],
        "[".repeat(10_000).into_bytes(),
    ];
    for input in &inputs {
        let (report, html) = certificate(input, &Options::default());
        assert!(!report.ok());
        assert!(html.contains("<h1>Completion certificate</h1>"));
        assert!(html.contains("This file is not a readable evidence bundle"));
        assert!(html.contains("NOT VERIFIED: 1 of 1 checks failed"));
        assert!(html.contains("bundle.parse"));
        assert!(html.contains("The file is a readable evidence bundle"));
        assert!(html.contains(&hex::encode(Sha256::digest(input))));
        self_contained(&html);
    }
    let (_, html) = certificate(b"not json", &Options::default());
    save("unreadable", &html);
    // A report without any check (not one the verifier makes) still renders.
    let html = render(b"x", &Report::default(), &RenderOptions::default()).unwrap();
    assert!(html.contains("NOT VERIFIED: no check could be run"));
}

#[test]
fn flipped_bytes_never_panic() {
    let f = Fixture::approved("Grant dana admin on the acme org");
    let good = json(&f.export(at(20)));
    let step = (good.len() / 150).max(1);
    for pos in (0..good.len()).step_by(step) {
        let mut bad = good.clone();
        bad[pos] ^= 0x01;
        let (_, html) = certificate(&bad, &f.pinned());
        assert!(html.contains("Completion certificate"));
    }
}

#[test]
fn delegation_exception_and_refusal_are_shown() {
    let (f, dlg, exception) = governed();
    let bundle = f.export(at(20));
    let bytes = json(&bundle);
    let (report, html) = certificate(&bytes, &f.pinned());
    assert!(report.ok(), "{:#?}", report.failures().collect::<Vec<_>>());
    assert_eq!(accepted_indexes(&bundle).len(), 2);

    // mallory signed for carol, under the delegation carol granted.
    assert!(html.contains("mallory approved on behalf of carol</h3>"));
    assert!(html.contains(&dlg));
    assert!(html.contains("mallory sign on behalf of carol"));
    assert!(html.contains("carol is on leave this week"));
    assert!(html.contains("privileged access, up to high impact"));
    assert!(html.contains("signed on their behalf by mallory"));

    // bob's refusal, his exception and erin's approval of it.
    assert!(html.contains("Signing attempt refused"));
    assert!(html.contains("The break-glass exception</caption>"));
    assert!(html.contains(&exception));
    assert!(html.contains("production outage; the IdP is down for step-up"));
    assert!(html.contains("approved by erin"));
    assert!(html.contains("Policy exception requested"));

    // Everything is still in the right group of checks.
    for n in accepted_indexes(&bundle) {
        assert!(html.contains(&format!("(log entry {n}) <span class=\"count\">")));
    }
    assert!(html.contains("Refusals and exceptions <span class=\"count\">"));

    save("certificate", &html);
}

#[test]
fn a_linked_stylesheet_has_no_inline_style() {
    let f = Fixture::approved("Grant dana admin on the acme org");
    let bytes = json(&f.export(at(20)));
    let report = verify_bundle(&bytes, &f.pinned());
    let html = render(
        &bytes,
        &report,
        &RenderOptions {
            style: Style::Linked("/assets/certificate.css?v=1&x=\"y\""),
            log_key_pinned: true,
            title: Some("Acme Corp"),
            verified_at: None,
        },
    )
    .unwrap();
    assert!(html.contains(
        "<link rel=\"stylesheet\" href=\"/assets/certificate.css?v=1&#38;x=&#34;y&#34;\">"
    ));
    assert!(!html.contains("<style"));
    assert!(!html.contains(" style="));
    assert!(html.contains("<p class=\"eyebrow\">Acme Corp</p>"));
    assert!(html.contains("<title>Acme Corp: completion certificate for request"));
    assert!(!html.contains("Verified at"));
    assert!(CERTIFICATE_CSS.contains("@media print"));
}

#[test]
fn a_report_about_another_bundle_is_refused() {
    let a = Fixture::approved("first");
    let b = Fixture::approved("second");
    let a_bytes = json(&a.export(at(20)));
    let b_report = verify_bundle(&json(&b.export(at(20))), &b.pinned());
    let err = render(&a_bytes, &b_report, &RenderOptions::default()).unwrap_err();
    assert!(matches!(err, Error::ReportMismatch { .. }), "{err}");
    let err = render(b"junk", &b_report, &RenderOptions::default()).unwrap_err();
    assert!(matches!(err, Error::ReportMismatch { bundle: None, .. }));
    let junk_report = verify_bundle(b"junk", &Options::default());
    let err = render(&a_bytes, &junk_report, &RenderOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::ReportMismatch { report: None, .. }),
        "{err}"
    );
}

#[test]
fn a_rejected_pending_and_closed_requests_read_right() {
    // carol rejects: the request is rejected.
    let f = Fixture::new(ApprovalOrder::Parallel, "Rejected one");
    f.sign_with(
        "carol",
        "carol",
        None,
        Decision::Reject,
        &fresh_login("carol", at(10)),
        at(10),
    )
    .unwrap();
    let (_, html) = certificate(&json(&f.export(at(20))), &f.pinned());
    assert!(html.contains(">rejected</span>"));
    assert!(html.contains("carol rejected</h3>"));
    assert!(html.contains("not justified"));

    // Nobody signed and it ran out.
    let f = Fixture::new(ApprovalOrder::Parallel, "Expired one");
    let (report, html) = certificate(&json(&f.export(at(3 * 24 * 60))), &f.pinned());
    assert!(report.ok(), "{:#?}", report.failures().collect::<Vec<_>>());
    assert!(html.contains(">expired</span>"));
    assert!(html.contains("no decision was recorded before it expired"));
    assert!(html.contains("The log holds no accepted signature for this request."));

    // Still pending at export.
    let f = Fixture::new(ApprovalOrder::Parallel, "Pending one");
    f.sign("bob", at(10));
    let (_, html) = certificate(&json(&f.export(at(20))), &f.pinned());
    assert!(html.contains(">pending</span>"));
    assert!(html.contains("did not sign"));
}

#[test]
fn a_view_that_disagrees_with_the_log_is_shown_as_such() {
    let f = Fixture::approved("Grant dana admin on the acme org");
    let mut bundle = f.export(at(20));
    bundle.request.state = RequestState::Rejected;
    bundle.request.purpose = "Something harmless".into();
    let (report, html) = certificate(&json(&bundle), &f.pinned());
    assert!(!report.ok());
    // The page says what the log says, and flags the summary.
    assert!(html.contains("Grant dana admin on the acme org"));
    assert!(!html.contains("Something harmless"));
    assert!(html.contains(
        "The bundle&#39;s summary gives the request&#39;s state as rejected, but its log entries make it approved."
    ));
}

#[test]
fn the_certificate_reads_only_log_entries() {
    // With the request.created entry gone, nothing about the request shows,
    // although the view still describes it.
    let f = Fixture::approved("Grant dana admin on the acme org");
    let mut bundle = f.export(at(20));
    bundle.entries.retain(|e| {
        !matches!(
            LogEntry::from_bytes(e.entry.as_bytes()).unwrap().event,
            Event::RequestCreated { .. }
        )
    });
    let (report, html) = certificate(&json(&bundle), &f.pinned());
    assert!(!report.ok());
    assert!(html.contains("The request is not in the log"));
    assert!(!html.contains("Grant dana admin on the acme org"));
    assert!(!html.contains("id=\"approved\""));
}

#[test]
fn passkeys_and_workload_certificates_are_described() {
    // The presentation of credentials the fixture cannot make: bob's key
    // recorded as a synced passkey without trusted attestation, carol's as a
    // workload certificate. Rendered with a report that proved nothing, so
    // every entry is shown (and the page says none of it is proven).
    let f = Fixture::approved("Grant dana admin on the acme org");
    let mut bundle = f.export(at(20));
    for ee in &mut bundle.entries {
        let mut v: serde_json::Value = serde_json::from_str(&ee.entry).unwrap();
        if v["type"] != "credential.enrolled" {
            continue;
        }
        let c = &mut v["credential"];
        match c["identity"].as_str() {
            Some("bob") => {
                c["kind"] = "passkey".into();
                c["assurance"] = "hardware".into();
                c["assurance_basis"] = "authenticator".into();
                c["passkey"] = serde_json::json!({
                    "credential_id": "q1w2e3",
                    "rp_id": "countersign.test",
                    "aaguid": "00000000000000000000000000000000",
                    "user_verified": true,
                    "backup_eligible": true,
                    "backup_state": true,
                    "attestation": {"format": "none", "kind": "none", "trusted": false}
                });
            }
            Some("carol") => {
                c["kind"] = "certificate".into();
                c["assurance_basis"] = "issued".into();
            }
            _ => continue,
        }
        ee.entry = serde_json::to_string(&v).unwrap();
    }
    let report = Report {
        request: Some(bundle.request.id.clone()),
        checks: vec![],
        warnings: vec![],
    };
    let html = render(&json(&bundle), &report, &RenderOptions::default()).unwrap();
    assert!(html.contains("None of the bundle&#39;s log entries is proven"));
    assert!(html.contains("passkey (WebAuthn), Ed25519"));
    assert!(html.contains("synced: the private key may be copied to the owner&#39;s other devices"));
    assert!(html.contains("format none, none attestation, not trusted"));
    assert!(html.contains("authenticator: no trusted attestation"));
    assert!(html.contains("short-lived workload certificate, Ed25519"));
    assert!(html.contains("issued: Countersign&#39;s workload CA issued it"));
    assert!(html.contains("NOT VERIFIED: no check could be run"));
}
