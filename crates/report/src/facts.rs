//! What the bundle holds, read without trusting anything: the log entries
//! parsed from their exact bytes, the checkpoint note split into its text and
//! signature lines, and the view kept apart for cross-reference only.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_attest::commitment::open_entry;
use countersign_proto::entry::Event;
use countersign_proto::evidence::EvidenceBundle;
use countersign_proto::model::Request;
use countersign_proto::statement::Statement;
use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::proof::TlogProof;
use countersign_tlog::Hash;
use time::OffsetDateTime;

/// One log entry of the bundle, parsed from its bytes.
pub(crate) struct Logged {
    pub index: u64,
    pub at: OffsetDateTime,
    pub event: Event,
    /// The inclusion proof, base64 hashes as shipped.
    pub proof: Vec<String>,
}

/// The signed checkpoint, split (not verified: the report says whether its
/// signature holds).
pub(crate) struct CheckpointNote {
    /// The signature lines, verbatim.
    pub signatures: Vec<String>,
    /// The body, when it parses as a checkpoint.
    pub body: Option<Checkpoint>,
}

pub(crate) struct Bundle {
    pub request_id: String,
    pub format: String,
    pub exported_at: OffsetDateTime,
    pub log_key: String,
    /// The signed checkpoint, verbatim.
    pub checkpoint: String,
    pub note: CheckpointNote,
    /// Parsed entries, in index order.
    pub entries: Vec<Logged>,
    /// Indexes of entries whose bytes are not a log entry.
    pub unreadable: Vec<u64>,
    /// The server's convenience view: for cross-reference only.
    pub view: Request,
}

impl Bundle {
    /// `None` when the bytes are not an evidence bundle.
    pub fn read(json: &[u8]) -> Option<Bundle> {
        let bundle: EvidenceBundle = serde_json::from_slice(json).ok()?;
        let mut entries = Vec::with_capacity(bundle.entries.len());
        let mut unreadable = Vec::new();
        for ee in bundle.entries {
            // Personal fields are opened from the bundle's openings (an
            // erased one reads as erased); the verifier has judged them.
            match open_entry(ee.entry.as_bytes(), |c| bundle.openings.get(c)) {
                Ok(o) => entries.push(Logged {
                    index: ee.index,
                    at: o.entry.at,
                    event: o.entry.event,
                    proof: ee.proof,
                }),
                Err(_) => unreadable.push(ee.index),
            }
        }
        // The verifier fails a misordered bundle; the certificate still reads
        // the entries in log order, as they happened.
        entries.sort_by_key(|e| e.index);
        Some(Bundle {
            request_id: bundle.request.id.clone(),
            format: bundle.format,
            exported_at: bundle.exported_at,
            note: split_note(&bundle.checkpoint),
            log_key: bundle.log_key,
            checkpoint: bundle.checkpoint,
            entries,
            unreadable,
            view: bundle.request,
        })
    }

    /// The entries before index `n`, in index order.
    pub fn before(&self, n: u64) -> std::slice::Iter<'_, Logged> {
        let end = self.entries.partition_point(|e| e.index < n);
        self.entries.get(..end).unwrap_or_default().iter()
    }

    /// The C2SP tlog-proof of entry `e` in the bundle's checkpoint.
    pub fn receipt(&self, e: &Logged) -> Result<String, String> {
        let mut hashes: Vec<Hash> = Vec::with_capacity(e.proof.len());
        for (k, h) in e.proof.iter().enumerate() {
            hashes.push(
                countersign_tlog::hash_from_base64(h)
                    .map_err(|why| format!("inclusion proof hash {k} {why}"))?,
            );
        }
        Ok(TlogProof {
            index: e.index,
            extra: None,
            hashes,
            checkpoint: self.checkpoint.clone(),
        }
        .encode())
    }
}

fn split_note(signed: &str) -> CheckpointNote {
    let (text, block) = match signed.rfind("\n\n") {
        Some(at) => (
            signed.get(..at + 1).unwrap_or(signed),
            signed.get(at + 2..).unwrap_or(""),
        ),
        None => (signed, ""),
    };
    CheckpointNote {
        signatures: block
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        body: Checkpoint::parse_body(text).ok(),
    }
}

/// The approval statement inside an envelope, when it decodes.
pub(crate) fn statement(envelope: &countersign_proto::statement::Envelope) -> Option<Statement> {
    let payload = B64.decode(envelope.payload.as_bytes()).ok()?;
    serde_json::from_slice(&payload).ok()
}

/// The base64 root hash, and its hex form.
pub(crate) fn root_forms(root: &Hash) -> (String, String) {
    (B64.encode(root), hex::encode(root))
}
