//! Exporting the evidence bundle for one request.
//!
//! The exporter is deliberately naive: it ships what the store holds,
//! with proofs from the stored hashes, and does not judge it. Judging is the
//! offline verifier's job, so that tampering with the database shows up as
//! a failed verification rather than being papered over at export.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_proto::evidence::{EvidenceBundle, EvidenceEntry, EVIDENCE_FORMAT};
use countersign_proto::ErrorCode;
use time::OffsetDateTime;

use crate::{Hashes, Ledger, LedgerError};

/// Build the evidence bundle for `request_id` against the latest checkpoint.
pub fn export(
    ledger: &Ledger,
    request_id: &str,
    now: OffsetDateTime,
) -> Result<EvidenceBundle, LedgerError> {
    let tx = ledger.store().read()?;
    let mut request = tx.request(request_id)?.ok_or_else(|| {
        LedgerError::refused(
            ErrorCode::RequestNotFound,
            format!("request {request_id:?} does not exist"),
        )
    })?;
    request.state = countersign_domain::request::effective_state(&request, now);
    let (size, checkpoint) = tx
        .latest_checkpoint()?
        .ok_or_else(|| LedgerError::Integrity("no checkpoint".into()))?;

    let mut identities: BTreeSet<String> = countersign_domain::request::parties(&request)
        .into_iter()
        .collect();
    // Delegates sign for approvers: their identity and delegation entries
    // belong in the bundle too.
    identities.extend(request.signatures.iter().map(|s| s.actor.clone()));
    let key_ids: BTreeSet<String> = request
        .signatures
        .iter()
        .map(|s| s.key_id.clone())
        .collect();
    let identities: Vec<String> = identities.into_iter().collect();
    let key_ids: Vec<String> = key_ids.into_iter().collect();

    let mut indexes: BTreeSet<u64> = tx
        .entry_indexes_about(request_id, &identities, &key_ids)?
        .into_iter()
        .collect();
    indexes.insert(0);
    indexes.insert(request.log_index);
    for d in &request.documents {
        if let Some(doc) = tx.document(&d.document)? {
            if let Some(v) = doc.versions.iter().find(|v| v.version == d.version) {
                indexes.insert(v.log_index);
            }
        }
    }
    for s in &request.signatures {
        indexes.insert(s.log_index);
    }

    // The openings of the entries' personal fields; an erased one brings
    // the entry that erased it instead.
    let mut openings = BTreeMap::new();
    let mut erasures = BTreeSet::new();
    for index in indexes.iter().filter(|i| **i < size) {
        let Some(bytes) = tx.entry(*index)? else {
            continue;
        };
        for (c, o) in crate::ledger::openings_for(&*tx, &bytes)? {
            match (o.opening, o.erased_by) {
                (Some(x), _) => {
                    openings.insert(c, x);
                }
                (None, Some(by)) => {
                    erasures.insert(by);
                }
                (None, None) => {}
            }
        }
    }
    indexes.extend(erasures);

    let mut entries = Vec::new();
    for index in indexes.into_iter().filter(|i| *i < size) {
        let Some(bytes) = tx.entry(index)? else {
            continue;
        };
        let proof = countersign_tlog::inclusion_proof(index, size, &Hashes(&*tx))?;
        entries.push(EvidenceEntry {
            index,
            entry: String::from_utf8_lossy(&bytes).into_owned(),
            proof: proof.iter().map(|h| B64.encode(h)).collect(),
        });
    }
    Ok(EvidenceBundle {
        format: EVIDENCE_FORMAT.to_string(),
        exported_at: now,
        request,
        log_key: ledger.verifier().to_vkey(),
        checkpoint,
        entries,
        openings,
    })
}
