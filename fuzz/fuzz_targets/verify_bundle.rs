//! Evidence bundles as an auditor receives them: `verify_bundle`, the whole
//! offline verifier (checkpoint, inclusion proofs, log entries, DSSE
//! statements, keys, delegations, policy decisions, quorum replay).
//!
//! Input: a bundle's JSON bytes (the corpus is seeded with real bundles
//! from `countersign_verify::testkit`).
//!
//! Invariants: it never panics (documented); a report that passes parsed as
//! an `EvidenceBundle` and names that bundle's request; verifying is
//! deterministic (the same bytes give the same checks and warnings); with
//! the bundle's own log key pinned, a bundle that passed still passes.
#![no_main]

use countersign_proto::evidence::EvidenceBundle;
use countersign_verify::{verify_bundle, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = Options {
        pinned_log_key: None,
        documents: vec![(
            "offer".to_owned(),
            b"Offer letter for dana: senior engineer, start 2026-04-01.\n".to_vec(),
        )],
    };
    let report = verify_bundle(data, &options);
    let again = verify_bundle(data, &options);
    assert_eq!(report.checks, again.checks);
    assert_eq!(report.warnings, again.warnings);
    assert_eq!(report.request, again.request);
    let _ = report.summary();
    if report.ok() {
        let bundle: EvidenceBundle =
            serde_json::from_slice(data).expect("a bundle that verifies parses");
        assert_eq!(report.request.as_deref(), Some(bundle.request.id.as_str()));
        let pinned = verify_bundle(
            data,
            &Options {
                pinned_log_key: Some(bundle.log_key.clone()),
                ..options
            },
        );
        assert!(pinned.ok(), "{:?}", pinned.failures().collect::<Vec<_>>());
    }
});
