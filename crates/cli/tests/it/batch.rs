//! Group commit: signatures arriving together are written in one durable
//! transaction under one checkpoint, and each is still judged alone.

use std::sync::Barrier;

use countersign_proto::model::Decision;
use serde_json::Value;

use crate::harness::*;

/// The checkpoint sizes the store holds, ascending.
fn checkpoint_sizes(s: &TestServer) -> Vec<u64> {
    let store = s.open_store();
    let tx = store.read().unwrap();
    tx.checkpoints()
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn a_bad_signature_inside_a_batch_is_refused_alone_and_named() {
    let s = TestServer::start();
    s.person("alice");
    s.person("dave");
    s.person("bob");
    let bob = s.enroll("bob", None);
    let stranger = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    s.document("contract", b"the contract");
    const N: usize = 24;
    const BAD: usize = N / 2;
    for attempt in 0..8 {
        let requests: Vec<_> = (0..N)
            .map(|_| s.request(&request_body("contract", "alice", "dave", &["bob"])))
            .collect();
        // Bob's statement for every request; one carries a signature by
        // another key under bob's key id.
        let envelopes: Vec<_> = requests
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let st = statement(r, "bob", &bob, Decision::Approve, s.now());
                let mut e = sign(&st, &bob);
                if i == BAD {
                    e.signatures[0].sig = sign(&st, &stranger).signatures[0].sig.clone();
                }
                e
            })
            .collect();
        let start = Barrier::new(N);
        let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
            let handles: Vec<_> = envelopes
                .iter()
                .map(|e| {
                    let start = &start;
                    let s = &s;
                    scope.spawn(move || {
                        start.wait();
                        s.submit(e)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, (status, body)) in answers.iter().enumerate() {
            if i == BAD {
                assert_eq!(*status, 422, "{body}");
                assert_eq!(body["code"], "signature_invalid", "{body}");
                let key_id = countersign_attest::key_id(&bob.verifying_key());
                assert!(
                    body["detail"].as_str().unwrap().contains(&key_id),
                    "the refusal names the key the signature failed for: {body}"
                );
            } else {
                assert_eq!(*status, 201, "submission {i}: {body}");
                assert_eq!(body["request_state"], "approved");
            }
        }
        // The refusal's entry, and whether accepted signatures share its
        // checkpoint: then they were one batch.
        let refused = answers[BAD].1["log_index"].as_u64().unwrap();
        let sizes = checkpoint_sizes(&s);
        let covering = *sizes.iter().find(|&&n| n > refused).unwrap();
        let before = sizes
            .iter()
            .rev()
            .find(|&&n| n <= refused)
            .copied()
            .unwrap_or(0);
        let together: Vec<u64> = answers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != BAD)
            .map(|(_, (_, b))| b["log_index"].as_u64().unwrap())
            .filter(|i| (before..covering).contains(i))
            .collect();
        if !together.is_empty() {
            eprintln!(
                "attempt {attempt}: the refusal at {refused} was written with {} accepted signatures under the checkpoint for {covering}",
                together.len()
            );
            // Every receipt of the batch verifies against that checkpoint.
            for (_, b) in answers.iter().filter(|(st, _)| *st == 201) {
                let receipt: countersign_proto::api::SignatureReceipt =
                    serde_json::from_value(b.clone()).unwrap();
                let verifier = countersign_tlog::note::NoteVerifier::from_vkey(&s.log_key).unwrap();
                countersign_tlog::proof::TlogProof::parse(&receipt.receipt)
                    .unwrap()
                    .verify(receipt.entry.as_bytes(), &verifier)
                    .unwrap();
            }
            let (code, report) = log_audit(s.dir.path());
            assert_eq!(code, Some(0), "{report}");
            return;
        }
    }
    panic!("in 8 rounds of {N} simultaneous submissions, none was written in one batch");
}
