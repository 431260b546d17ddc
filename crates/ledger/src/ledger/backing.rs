//! The rows a decision rests on are checked against the log before the
//! decision is made: the entries about them are replayed (`crate::replay`)
//! and each row must be what they say. A row edited, revived or added
//! behind the log's back stops the decision with an integrity error.

use countersign_proto::governance::Delegation;
use countersign_proto::model::{Credential, Identity, Request};
use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::proof::TlogProof;

use super::{personal, Ledger, LedgerError, Result};
use crate::audit::AuditReport;
use crate::replay::Replay;
use crate::{ReadTx, StateRows, StoredReceipt};

fn body<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| LedgerError::Integrity(format!("encoding a record to check it: {e}")))
}

impl Ledger {
    /// Check `identities`, `credential` and `request` against the entries
    /// about them.
    pub(crate) fn check_backed(
        &self,
        tx: &dyn ReadTx,
        identities: &[&Identity],
        credential: Option<&Credential>,
        request: Option<&Request>,
        delegations: &[Delegation],
    ) -> Result<()> {
        let mut handles: Vec<String> = identities.iter().map(|i| i.handle.clone()).collect();
        let mut keys = Vec::new();
        if let Some(c) = credential {
            handles.push(c.identity.clone());
            keys.push(c.key_id.clone());
        }
        let id = request.map_or("", |r| r.id.as_str());
        let mut replay = Replay::default();
        let about = tx.entry_indexes_about(id, &handles, &keys)?;
        for (i, opened) in personal::open_many(tx, &about)? {
            replay.apply(i, &opened.entry);
        }
        let mut rows = StateRows::default();
        for i in identities {
            rows.identities.push((
                i.handle.clone(),
                i.kind.as_str().to_string(),
                i.status.as_str().to_string(),
                body(i)?,
            ));
        }
        if let Some(c) = credential {
            rows.credentials
                .push((c.key_id.clone(), c.identity.clone(), body(c)?));
        }
        if let Some(r) = request {
            use countersign_proto::model::WireName as _;
            rows.requests.push((
                r.id.clone(),
                r.state.name().to_string(),
                r.requester.clone(),
                r.beneficiary.clone(),
                body(r)?,
            ));
            rows.request_approvers = r
                .approvers
                .iter()
                .map(|a| (r.id.clone(), a.clone()))
                .collect();
        }
        for d in delegations {
            rows.delegations.push((
                d.id.clone(),
                d.principal.clone(),
                d.delegate.clone(),
                body(d)?,
            ));
        }
        let mut report = AuditReport::default();
        replay.compare_rows(&rows, &mut report);
        match report.problems.first() {
            None => Ok(()),
            Some(p) => Err(LedgerError::Integrity(format!(
                "refusing to act on state the log does not back: {}{}; run `countersign log audit`",
                p.detail,
                match report.problems.len() {
                    1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                }
            ))),
        }
    }

    /// Check a document version against the entry that registered it.
    pub(crate) fn check_document_backed(
        &self,
        tx: &dyn ReadTx,
        v: &countersign_proto::model::DocumentVersion,
    ) -> Result<()> {
        let registered = match tx.entry(v.log_index)? {
            Some(bytes) => match personal::open(tx, v.log_index, &bytes)?.entry.event {
                countersign_proto::entry::Event::DocumentRegistered { version } => Some(version),
                _ => None,
            },
            None => None,
        };
        match registered {
            Some(r) if r.document == v.document && r.version == v.version && r.sha256 == v.sha256 => {
                Ok(())
            }
            _ => Err(LedgerError::Integrity(format!(
                "refusing to act on state the log does not back: table document_versions, key {} v{}: its digest {} is not the one entry {} registered; run `countersign log audit`",
                v.document, v.version, v.sha256, v.log_index
            ))),
        }
    }

    /// Check a stored receipt before answering it: it proves the entry
    /// that accepted this envelope into a checkpoint the log signed.
    pub(crate) fn check_receipt(
        &self,
        tx: &dyn ReadTx,
        digest: &str,
        stored: &StoredReceipt,
    ) -> Result<()> {
        let fail = |why: String| {
            LedgerError::Integrity(format!(
                "refusing to answer a stored receipt the log does not back: table receipts, key {digest}: {why} (log index {}); run `countersign log audit`",
                stored.log_index
            ))
        };
        let bytes = tx
            .entry(stored.log_index)?
            .ok_or_else(|| fail("its entry is missing".into()))?;
        let entry = personal::open(tx, stored.log_index, &bytes)?.entry;
        match &entry.event {
            countersign_proto::entry::Event::SignatureAccepted {
                envelope_sha256,
                request,
                ..
            } if *envelope_sha256 == digest && *request == stored.request => {}
            _ => return Err(fail("its entry did not accept this envelope".into())),
        }
        let proof = TlogProof::parse(&stored.receipt).map_err(|e| fail(e.to_string()))?;
        let cp = Checkpoint::open(&proof.checkpoint, self.verifier())
            .map_err(|e| fail(format!("its checkpoint does not verify: {e}")))?;
        if proof.index != stored.log_index {
            return Err(fail(format!("it proves entry {}", proof.index)));
        }
        countersign_tlog::verify_inclusion(
            proof.index,
            cp.size,
            &countersign_tlog::leaf_hash(&bytes),
            &proof.hashes,
            &cp.root,
        )
        .map_err(|e| fail(format!("its inclusion proof fails: {e}")))?;
        if tx.checkpoint(cp.size)?.as_deref() != Some(proof.checkpoint.as_str()) {
            return Err(fail(format!(
                "the checkpoint for size {} it was answered with is missing from table checkpoints",
                cp.size
            )));
        }
        Ok(())
    }
}
