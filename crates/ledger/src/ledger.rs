//! The ledger: the single writer that turns domain decisions into stored
//! state, log entries and signed checkpoints, atomically.

mod backing;
pub(crate) mod batch;
mod governance;
pub mod lease;
mod lifecycle;
mod notify;
mod outbox;
mod passkey_signing;
mod personal;
mod reconcile;
mod scim;
mod scope;
mod web;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_domain::exception as exceptions;
use countersign_domain::identity::{self, Challenge};
use countersign_domain::lifecycle::PendingApprovals;
use countersign_domain::policy::{Authentication, PolicyEngine, PolicyResource};
use countersign_domain::request::{self as rules, RequestFacts};
use countersign_domain::signing::{self, SigningFacts, SigningRefusal};
use countersign_domain::{Limits, Refusal};
use countersign_proto::api::{
    CreateIdentity, CreateRequest, EnrollKey, KeyChallenge, RegisterDigest, SignatureReceipt,
    UpdateIdentity,
};
use countersign_proto::entry::{Event, LogEntry, ENTRY_VERSION};
use countersign_proto::governance::{AuthContext, PolicyAction, PolicyDecision};
use countersign_proto::model::{
    Credential, DocumentVersion, Identity, IdentityHistoryEntry, IdentityStatus, Request,
    RequestState,
};
use countersign_proto::statement::Envelope;
use countersign_proto::ErrorCode;
use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::note::{NoteSigner, NoteVerifier};
use countersign_tlog::proof::TlogProof;
pub use governance::CertificateIssuer;
use governance::{caller_auth, policy_refusal};
pub use notify::{MailOutcome, MailRules};
use outbox::Outbound;
pub use outbox::{AttemptOutcome, DeliveryRules, OutboundKind, EVENT_TYPES};
pub use passkey_signing::{challenge_b64url, IssuedStatement};
pub(crate) use personal::openings_for;
pub use personal::{entry_openings, HoldOn, Retention};
use rand_core::{OsRng, RngCore as _};
pub use reconcile::MAX_CHANGE_BATCH;
pub use scim::{ScimGroup, ScimUser, GROUP as SCIM_GROUP, USER as SCIM_USER};
pub use scope::Scope;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
pub use web::{random_secret, SignIn, WebRules};
pub(crate) use write::Write;

use crate::{EntryTerms, Hashes, ReadTx, Store, StoreError, StoredReceipt, WriteTx};

/// Operator settings the ledger needs.
#[derive(Clone, Debug, Default)]
pub struct LedgerConfig {
    pub limits: Limits,
    pub iga: IgaConfig,
    /// The web app: public address, WebAuthn relying party, sessions.
    pub web: WebRules,
    /// Mail notifications; `None` when no mail server is configured.
    pub mail: Option<MailRules>,
    /// How long personal values are kept before they may be erased.
    pub retention: Retention,
}

/// Settings of the IAM/IGA integration.
#[derive(Clone, Debug)]
pub struct IgaConfig {
    /// The CloudEvents `source` of outbound events.
    pub event_source: String,
    /// What SCIM `active: false` does: suspend or terminate.
    pub scim_deactivate: IdentityStatus,
    /// What happens to the pending requests a leaver must still sign.
    pub pending_approvals: PendingApprovals,
    /// Ages and SLAs of reconciliation.
    pub reconcile: countersign_domain::reconcile::ReconcileConfig,
}

impl Default for IgaConfig {
    fn default() -> Self {
        IgaConfig {
            event_source: "urn:countersign".to_string(),
            scim_deactivate: IdentityStatus::Suspended,
            pending_approvals: PendingApprovals::Reroute,
            reconcile: Default::default(),
        }
    }
}

/// Why a ledger operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A rule refused. Where the refusal itself was recorded, `log_index` says where.
    #[error("{refusal}")]
    Refused {
        refusal: Refusal,
        log_index: Option<u64>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored log does not match what was signed. Writing stops.
    #[error("log integrity: {0}")]
    Integrity(String),
}

impl From<Refusal> for LedgerError {
    fn from(refusal: Refusal) -> Self {
        LedgerError::Refused {
            refusal,
            log_index: None,
        }
    }
}

impl From<countersign_tlog::Error> for LedgerError {
    fn from(e: countersign_tlog::Error) -> Self {
        LedgerError::Integrity(e.to_string())
    }
}

type Result<T> = std::result::Result<T, LedgerError>;

impl LedgerError {
    /// A refusal that was not itself recorded in the log.
    pub fn refused(code: ErrorCode, detail: impl Into<String>) -> Self {
        LedgerError::Refused {
            refusal: Refusal::new(code, detail),
            log_index: None,
        }
    }
}

/// The answer to a signature submission.
#[derive(Clone, Debug)]
pub struct Submission {
    pub receipt: SignatureReceipt,
    /// False when the same envelope had already been accepted and this
    /// submission only replayed its receipt.
    pub recorded: bool,
}

/// A signing refusal with the policy decision and authentication context
/// that led to it, where policy was consulted.
struct Refused {
    refusal: SigningRefusal,
    policy: Option<PolicyDecision>,
    auth: Option<AuthContext>,
}

impl Refused {
    fn plain(refusal: SigningRefusal) -> Self {
        Refused {
            refusal,
            policy: None,
            auth: None,
        }
    }
}

/// A signature accepted and logged in a write not yet sealed.
struct Accepted {
    /// The request as the signature left it.
    request: Request,
    log_index: u64,
    /// The exact bytes of the entry.
    entry: Vec<u8>,
}

/// A record together with the log index of the entry that recorded it.
#[derive(Clone, Debug)]
pub struct Receipted<T> {
    pub value: T,
    pub log_index: u64,
}

/// The single writer of a Countersign store.
pub struct Ledger {
    store: Arc<dyn Store>,
    signer: NoteSigner,
    verifier: NoteVerifier,
    config: LedgerConfig,
    /// The policy set in force; replaced whole on reload.
    policy: RwLock<Arc<dyn PolicyEngine>>,
    /// Unproven refusals recorded per caller in the current hour.
    refusal_budget: std::sync::Mutex<HashMap<String, (OffsetDateTime, u32)>>,
    /// Where the latest signed checkpoint is kept outside the database.
    keeper: Option<Arc<dyn crate::CheckpointKeeper>>,
    /// The latest checkpoint kept there: nothing is signed that is not
    /// consistent with it.
    /// Kept with its note, so a stored note equal to it needs no second
    /// verification.
    kept: std::sync::Mutex<Option<(Checkpoint, String)>>,
    /// Signature submissions waiting to be committed together.
    batcher: batch::Batcher,
}

/// A C2SP tlog-proof: entry `index`, its inclusion `hashes`, the `note`.
fn encode_receipt(index: u64, hashes: Vec<countersign_tlog::Hash>, note: &str) -> String {
    TlogProof {
        index,
        extra: None,
        hashes,
        checkpoint: note.to_string(),
    }
    .encode()
}

/// A fresh random identifier with a type prefix.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut raw = [0u8; 12];
    OsRng.fill_bytes(&mut raw);
    format!("{prefix}_{}", hex::encode(raw))
}

pub(crate) fn terms_of(event: &Event) -> EntryTerms {
    let kind = event.kind().to_string();
    let mut t = EntryTerms {
        kind,
        ..EntryTerms::default()
    };
    match event {
        Event::LogCreated { .. } => {}
        Event::IdentityCreated { identity }
        | Event::IdentityUpdated { identity, .. }
        | Event::IdentityStatusChanged { identity, .. } => {
            t.identity = Some(identity.handle.clone())
        }
        Event::CredentialEnrolled { credential } => {
            t.identity = Some(credential.identity.clone());
            t.key_id = Some(credential.key_id.clone());
        }
        Event::CredentialRevoked {
            key_id, identity, ..
        }
        | Event::CredentialVouched {
            key_id, identity, ..
        } => {
            t.identity = Some(identity.clone());
            t.key_id = Some(key_id.clone());
        }
        Event::InvitationIssued { identity, .. } => t.identity = Some(identity.clone()),
        Event::DocumentRegistered { .. }
        | Event::PolicyActivated { .. }
        | Event::CaCreated { .. }
        | Event::TokenIssued { .. }
        | Event::TokenRevoked { .. }
        | Event::TokenRecovered { .. } => {}
        Event::CredentialCertified { credential, .. } => {
            t.identity = Some(credential.identity.clone());
            t.key_id = Some(credential.key_id.clone());
        }
        Event::DelegationGranted { delegation, .. } => {
            t.identity = Some(delegation.delegate.clone())
        }
        Event::DelegationEnded { delegate, .. } => t.identity = Some(delegate.clone()),
        Event::ExceptionRequested { exception } | Event::ExceptionDecided { exception, .. } => {
            t.request = Some(exception.request.clone());
            t.identity = Some(exception.actor.clone());
        }
        Event::RequestRerouted {
            request, removed, ..
        } => {
            t.request = Some(request.clone());
            t.identity = Some(removed.clone());
        }
        // Reconciliation records are found through their own tables, not
        // through evidence terms: a request's evidence bundle is what its
        // signers did, and a finding about it is exported on its own.
        Event::GroupChanged { .. } | Event::WebhookChanged { .. } | Event::HoldReleased { .. } => {}
        Event::HoldPlaced { hold } => {
            t.identity = hold.identity.clone();
            t.request = hold.request.clone();
        }
        Event::PersonalErased { identity, .. } => t.identity = Some(identity.clone()),
        Event::EntitlementChanged { change } => t.identity = Some(change.change.subject.clone()),
        Event::ControlRaised { exception } | Event::ControlUpdated { exception, .. } => {
            t.identity = exception.subject.clone()
        }
        Event::RequestCreated { request, .. } => t.request = Some(request.id.clone()),
        Event::RequestClosed { request, .. } => t.request = Some(request.clone()),
        Event::SignatureAccepted {
            request,
            actor,
            key_id,
            ..
        } => {
            t.request = Some(request.clone());
            t.identity = Some(actor.clone());
            t.key_id = Some(key_id.clone());
        }
        Event::SignatureRefused {
            request,
            actor,
            key_id,
            ..
        } => {
            t.request = request.clone();
            t.identity = actor.clone();
            t.key_id = key_id.clone();
        }
    }
    t
}

impl Ledger {
    /// Open the ledger over a store. An empty store gets its first entry
    /// (`log.created`) and checkpoint; a non-empty one must match its latest
    /// signed checkpoint, or the ledger refuses to open.
    pub fn open(
        store: Arc<dyn Store>,
        signer: NoteSigner,
        config: LedgerConfig,
        policy: Arc<dyn PolicyEngine>,
        now: OffsetDateTime,
    ) -> Result<Self> {
        Self::open_kept(store, signer, config, policy, None, now)
    }

    /// Open the ledger, also keeping every checkpoint it signs in
    /// `keeper`: a database behind the kept checkpoint (rolled back, its
    /// tail cut) or diverging from it (a fork) is refused before anything
    /// is written.
    pub fn open_kept(
        store: Arc<dyn Store>,
        signer: NoteSigner,
        config: LedgerConfig,
        policy: Arc<dyn PolicyEngine>,
        keeper: Option<Arc<dyn crate::CheckpointKeeper>>,
        now: OffsetDateTime,
    ) -> Result<Self> {
        let verifier = signer.verifier();
        let ledger = Ledger {
            store,
            signer,
            verifier,
            config,
            policy: RwLock::new(policy.clone()),
            refusal_budget: std::sync::Mutex::new(HashMap::new()),
            keeper,
            kept: std::sync::Mutex::new(None),
            batcher: batch::Batcher::default(),
        };
        let latest = {
            let tx = ledger.store.read()?;
            let latest = ledger.check_head(&*tx)?;
            ledger.check_kept(&*tx, latest.as_ref())?;
            latest
        };
        if latest.is_some() {
            // Nothing is served from a database whose state the log does
            // not back: the whole audit, before the first answer.
            let report = crate::audit::audit(&*ledger.store, &ledger.verifier, &mut |_, _| {})?;
            if let Some(first) = report.problems.first() {
                return Err(LedgerError::Integrity(format!(
                    "the database differs from what its log records: {}{}; run `countersign log audit`",
                    first.detail,
                    match report.problems.len() {
                        1 => String::new(),
                        n => format!(" (and {} more)", n - 1),
                    }
                )));
            }
        }
        if latest.is_none() {
            let tx = ledger.begin(now)?;
            if tx.tree_size()? == 0 {
                tx.commit_event(Event::LogCreated {
                    origin: ledger.signer.name().to_string(),
                    verifier_key: ledger.verifier.to_vkey(),
                })?;
            }
        }
        ledger.activate_policy(policy, "startup", now)?;
        Ok(ledger)
    }

    /// Compare the database with the checkpoint kept outside it: the
    /// database must hold that tree (same size and root) or extend it.
    /// Then keep the database's own latest checkpoint.
    fn check_kept(&self, tx: &dyn ReadTx, latest: Option<&Checkpoint>) -> Result<()> {
        let Some(keeper) = &self.keeper else {
            return Ok(());
        };
        let kept = keeper
            .load()
            .map_err(|e| StoreError::Backend(format!("reading the kept checkpoint: {e}")))?;
        if let Some(note) = kept {
            let k = Checkpoint::open(&note, &self.verifier).map_err(|e| {
                LedgerError::Integrity(format!(
                    "the kept checkpoint does not verify with the log key: {e}"
                ))
            })?;
            let size = latest.map_or(0, |c| c.size);
            if k.size > size {
                return Err(LedgerError::Integrity(format!(
                    "the database is behind the checkpoint kept outside it: it holds {size} entries, but a checkpoint for {} was signed and acknowledged; it was rolled back or its tail was cut. Restore the newest copy, or run `countersign log audit`",
                    k.size
                )));
            }
            if k.size > 0 {
                let root = countersign_tlog::tree_hash(k.size, &Hashes(tx))?;
                if root != k.root {
                    return Err(LedgerError::Integrity(format!(
                        "the database diverges from the checkpoint kept outside it: its tree at size {} has another root; the log was forked",
                        k.size
                    )));
                }
            }
        }
        if let Some((_, note)) = tx.latest_checkpoint()? {
            self.keep(&note)?;
        }
        Ok(())
    }

    /// Keep `note` outside the database and remember it, unless a newer
    /// checkpoint is already kept (two writers finishing out of order).
    fn keep(&self, note: &str) -> Result<()> {
        if self.keeper.is_none() {
            return Ok(());
        }
        let cp = Checkpoint::open(note, &self.verifier)
            .map_err(|e| LedgerError::Integrity(format!("a signed checkpoint: {e}")))?;
        self.keep_signed(note, cp)
    }

    /// `keep` for a note this ledger has just signed over `cp`, which
    /// needs no verification.
    pub(crate) fn keep_signed(&self, note: &str, cp: Checkpoint) -> Result<()> {
        let Some(keeper) = &self.keeper else {
            return Ok(());
        };
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.as_ref().is_some_and(|(k, _)| k.size >= cp.size) {
            return Ok(());
        }
        keeper
            .keep(note)
            .map_err(|e| StoreError::Backend(format!("keeping the checkpoint: {e}")))?;
        *kept = Some((cp, note.to_string()));
        Ok(())
    }

    /// Check that the stored tree matches the latest signed checkpoint.
    fn check_head(&self, tx: &dyn ReadTx) -> Result<Option<Checkpoint>> {
        let size = tx.tree_size()?;
        let Some((cp_size, note)) = tx.latest_checkpoint()? else {
            if size == 0 {
                return Ok(None);
            }
            return Err(LedgerError::Integrity(format!(
                "the log has {size} entries but no checkpoint"
            )));
        };
        let cp = Checkpoint::open(&note, &self.verifier)
            .map_err(|e| LedgerError::Integrity(format!("latest checkpoint: {e}")))?;
        if cp.size != cp_size || cp.size != size {
            return Err(LedgerError::Integrity(format!(
                "the log has {size} entries but the latest checkpoint covers {}",
                cp.size
            )));
        }
        let root = countersign_tlog::tree_hash(size, &Hashes(tx))?;
        if root != cp.root {
            return Err(LedgerError::Integrity(format!(
                "stored tree hash at size {size} differs from the signed checkpoint; run `countersign log audit`"
            )));
        }
        Ok(Some(cp))
    }

    /// Whether the ledger can serve: the database answers, its tree matches
    /// its latest signed checkpoint and is not behind the one kept outside
    /// it. Answers the log's size.
    pub fn ready(&self) -> Result<u64> {
        let tx = self.store.read()?;
        let latest = self.check_head(&*tx)?;
        let size = latest.map_or(0, |c| c.size);
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((k, _)) = kept.filter(|(k, _)| k.size > size) {
            return Err(LedgerError::Integrity(format!(
                "the database holds {size} entries, behind the checkpoint for {} kept outside it",
                k.size
            )));
        }
        Ok(size)
    }

    /// The log's verifier key.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The store, for reads.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// Append one event; answers its index and the exact bytes written. The
    /// caller seals before commit.
    fn append(
        &self,
        tx: &mut dyn WriteTx,
        event: Event,
        now: OffsetDateTime,
    ) -> Result<(u64, Vec<u8>)> {
        let index = tx.tree_size()?;
        let terms = terms_of(&event);
        let entry = LogEntry {
            v: ENTRY_VERSION,
            at: now,
            after: tx.latest_checkpoint()?.map(|(size, _)| size),
            event,
        };
        // Personal fields leave the entry as commitments; their openings
        // are kept beside it, in this transaction.
        let (bytes, sealed) = personal::seal(&entry)?;
        let leaf = countersign_tlog::leaf_hash(&bytes);
        let hashes = countersign_tlog::hashes_to_store(index, leaf, &Hashes(&*tx))?;
        tx.append_entry(index, &bytes, &terms, &hashes)?;
        personal::keep_openings(tx, index, entry.event.kind(), &terms, sealed, now)?;
        Ok((index, bytes))
    }

    /// Sign a checkpoint for the current tree, after proving it consistent
    /// with the latest one signed. This is what keeps the log from forking:
    /// if stored hashes were altered, the proof fails and nothing is signed.
    fn seal(&self, tx: &mut dyn WriteTx) -> Result<(String, Checkpoint)> {
        let size = tx.tree_size()?;
        let root = countersign_tlog::tree_hash(size, &Hashes(&*tx))?;
        // Never sign what is not consistent with the checkpoint kept outside
        // the database, whatever the database says (a live rollback).
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let kept_note = kept.as_ref().map(|(_, n)| n.clone());
        if let Some((k, _)) = kept {
            let consistent = size >= k.size
                && countersign_tlog::consistency_proof(k.size, size, &Hashes(&*tx))
                    .ok()
                    .is_some_and(|proof| {
                        countersign_tlog::verify_consistency(k.size, size, &k.root, &root, &proof)
                            .is_ok()
                    });
            if !consistent && k.size > 0 {
                return Err(LedgerError::Integrity(format!(
                    "refusing to sign: the database's tree at size {size} is not consistent with the checkpoint at size {} kept outside it (rolled back or forked)",
                    k.size
                )));
            }
        }
        // The database's latest checkpoint, unless it is the kept one,
        // whose consistency with this tree was proven just above.
        let latest = tx
            .latest_checkpoint()?
            .filter(|(_, note)| kept_note.as_deref() != Some(note.as_str()));
        if let Some((_, note)) = latest {
            let old = Checkpoint::open(&note, &self.verifier)
                .map_err(|e| LedgerError::Integrity(format!("latest checkpoint: {e}")))?;
            let proof = countersign_tlog::consistency_proof(old.size, size, &Hashes(&*tx))?;
            countersign_tlog::verify_consistency(old.size, size, &old.root, &root, &proof)
                .map_err(|e| {
                    LedgerError::Integrity(format!(
                        "refusing to sign a checkpoint at size {size} inconsistent with the one at size {}: {e}",
                        old.size
                    ))
                })?;
        }
        let checkpoint = Checkpoint {
            origin: self.signer.name().to_string(),
            size,
            root,
            extensions: Vec::new(),
        };
        let note = checkpoint.sign(&self.signer)?;
        tx.put_checkpoint(size, &note)?;
        Ok((note, checkpoint))
    }

    /// A C2SP tlog-proof for entry `index` against the given checkpoint.
    fn receipt(&self, tx: &dyn ReadTx, index: u64, size: u64, note: &str) -> Result<String> {
        let hashes = self.checked_inclusion(tx, index, size, Some(note))?;
        Ok(encode_receipt(index, hashes, note))
    }

    /// A receipt against `checkpoint`, which this ledger signed as `note`
    /// in the current write (so its signature needs no second check).
    pub(crate) fn receipt_signed(
        &self,
        tx: &dyn ReadTx,
        index: u64,
        checkpoint: &Checkpoint,
        note: &str,
    ) -> Result<String> {
        let hashes = self.verified_inclusion(tx, index, checkpoint)?;
        Ok(encode_receipt(index, hashes, note))
    }

    // ----------------------------------------------------------- identities

    pub(crate) fn load_identity(tx: &dyn ReadTx, handle: &str) -> Result<Identity> {
        tx.identity(handle)?.ok_or_else(|| {
            LedgerError::refused(
                ErrorCode::IdentityNotFound,
                format!("no identity with handle {handle:?}"),
            )
        })
    }

    pub fn create_identity(
        &self,
        input: &CreateIdentity,
        now: OffsetDateTime,
    ) -> Result<Receipted<Identity>> {
        let mut tx = self.begin(now)?;
        // Handles differ by more than case: `Alice` is `alice`'s.
        let existing = tx.identity_any_case(&input.handle)?;
        email_free(&*tx, input.email.as_deref(), None)?;
        let owner = match &input.owner {
            Some(o) => tx.identity(o)?,
            None => None,
        };
        let identity = identity::create_identity(
            input,
            new_id("idn"),
            existing.as_ref(),
            owner.as_ref(),
            now,
        )?;
        let index = tx.tree_size()?;
        tx.put_identity(&identity, None, index)?;
        tx.commit_event(Event::IdentityCreated {
            identity: identity.clone(),
        })?;
        Ok(Receipted {
            value: identity,
            log_index: index,
        })
    }

    pub fn update_identity(
        &self,
        handle: &str,
        patch: &UpdateIdentity,
        now: OffsetDateTime,
    ) -> Result<Receipted<Identity>> {
        let tx = self.begin(now)?;
        let current = Self::load_identity(&*tx, handle)?;
        let owner = match &patch.owner {
            Some(o) => tx.identity(o)?,
            None => None,
        };
        let (next, changed) = identity::update_identity(&current, patch, owner.as_ref(), now)?;
        if changed.iter().any(|c| c == "email") {
            email_free(&*tx, next.email.as_deref(), Some(handle))?;
        }
        if changed.is_empty() {
            let index = tx
                .identity_history(handle)?
                .last()
                .map(|h| h.log_index)
                .unwrap_or(0);
            return Ok(Receipted {
                value: current,
                log_index: index,
            });
        }
        self.record_update(tx, next, changed, None)
    }

    /// Store an identity's new version and log `identity.updated` with the
    /// fields that changed, in one write.
    fn record_update(
        &self,
        mut tx: Write<'_>,
        next: Identity,
        changed: Vec<String>,
        reason: Option<&str>,
    ) -> Result<Receipted<Identity>> {
        let index = tx.tree_size()?;
        tx.put_identity(&next, reason, index)?;
        tx.commit_event(Event::IdentityUpdated {
            identity: next.clone(),
            changed,
        })?;
        Ok(Receipted {
            value: next,
            log_index: index,
        })
    }

    /// Allow the next SCIM user with this identity's e-mail to adopt it:
    /// an administrator's explicit act, logged with who did it.
    pub fn allow_scim_adoption(
        &self,
        handle: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<Receipted<Identity>> {
        let tx = self.begin(now)?;
        let current = Self::load_identity(&*tx, handle)?;
        if !current.kind.is_human() || current.status == IdentityStatus::Terminated {
            return Err(LedgerError::refused(
                ErrorCode::InvalidTransition,
                format!("only a human identity that is not terminated can be adopted over SCIM; {handle} cannot"),
            ));
        }
        if current.email.is_none() {
            return Err(LedgerError::refused(
                ErrorCode::InvalidTransition,
                format!("{handle} has no e-mail, which is how SCIM would find it"),
            ));
        }
        if tx.scim_user_of(handle)?.is_some() {
            return Err(LedgerError::refused(
                ErrorCode::InvalidTransition,
                format!("{handle} is already managed over SCIM"),
            ));
        }
        let mut next = current.clone();
        next.scim_adoptable = true;
        next.updated_at = now;
        next.revision += 1;
        let reason = format!("SCIM may adopt it (allowed by {by})");
        self.record_update(tx, next, vec!["scim_adoptable".into()], Some(&reason))
    }

    /// The identity as it was at `at` (the latest version that took effect at or before it).
    pub fn identity_at(&self, handle: &str, at: OffsetDateTime) -> Result<Identity> {
        let tx = self.store.read()?;
        let history = tx.identity_history(handle)?;
        if history.is_empty() {
            return Err(LedgerError::refused(
                ErrorCode::IdentityNotFound,
                format!("no identity with handle {handle:?}"),
            ));
        }
        history
            .into_iter()
            .rev()
            .find(|h| h.identity.updated_at <= at)
            .map(|h| h.identity)
            .ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::IdentityNotFound,
                    format!("{handle:?} did not exist at {at}"),
                )
            })
    }

    pub fn identity_history(&self, handle: &str) -> Result<Vec<IdentityHistoryEntry>> {
        let tx = self.store.read()?;
        let history = tx.identity_history(handle)?;
        if history.is_empty() {
            return Err(LedgerError::refused(
                ErrorCode::IdentityNotFound,
                format!("no identity with handle {handle:?}"),
            ));
        }
        Ok(history)
    }

    // ----------------------------------------------------------- credentials

    pub fn key_challenge(&self, handle: &str, now: OffsetDateTime) -> Result<KeyChallenge> {
        let mut tx = self.begin(now)?;
        let identity = Self::load_identity(&*tx, handle)?;
        identity::check_active_enrolment(&identity, "keys")?;
        let mut raw = [0u8; 32];
        OsRng.fill_bytes(&mut raw);
        let challenge = Challenge {
            challenge: B64.encode(raw),
            identity: handle.to_string(),
            expires_at: now + self.config.limits.challenge_lifetime,
        };
        tx.put_challenge(&challenge)?;
        tx.commit()?;
        Ok(KeyChallenge {
            challenge: challenge.challenge,
            expires_at: challenge.expires_at,
        })
    }

    /// Enrol an Ed25519 key with proof of possession. `voucher` is the
    /// administrator vouching for a `hardware` label (set by the server
    /// only for admin callers).
    pub fn enroll_key(
        &self,
        handle: &str,
        input: &EnrollKey,
        voucher: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Receipted<Credential>> {
        let mut tx = self.begin(now)?;
        let identity = Self::load_identity(&*tx, handle)?;
        let challenge = tx.challenge(&input.challenge)?;
        let existing = countersign_attest::keys::public_key_from_base64(&input.public_key)
            .ok()
            .map(|k| tx.credential(&countersign_attest::key_id(&k)))
            .transpose()?
            .flatten();
        let index = tx.tree_size()?;
        let credential = identity::enroll_key(
            &identity,
            input,
            challenge.as_ref(),
            existing.as_ref(),
            voucher,
            index,
            now,
        )?;
        tx.take_challenge(&input.challenge)?;
        tx.put_credential(&credential)?;
        tx.commit_event(Event::CredentialEnrolled {
            credential: credential.clone(),
        })?;
        Ok(Receipted {
            value: credential,
            log_index: index,
        })
    }

    pub fn revoke_key(
        &self,
        key_id: &str,
        reason: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Receipted<Credential>> {
        let mut tx = self.begin(now)?;
        let current = tx.credential(key_id)?.ok_or_else(|| {
            LedgerError::refused(ErrorCode::KeyNotFound, format!("no key {key_id}"))
        })?;
        let next = identity::revoke_key(&current, reason.clone(), now)?;
        let index = tx.tree_size()?;
        tx.put_credential(&next)?;
        // A session signed in with the credential ends with it.
        tx.delete_sessions_with(key_id)?;
        tx.commit_event(Event::CredentialRevoked {
            key_id: key_id.to_string(),
            identity: next.identity.clone(),
            reason,
        })?;
        Ok(Receipted {
            value: next,
            log_index: index,
        })
    }

    /// An administrator (`voucher`) vouches for a key's hardware label.
    pub fn vouch_key(
        &self,
        key_id: &str,
        reason: &str,
        voucher: &str,
        now: OffsetDateTime,
    ) -> Result<Receipted<Credential>> {
        let mut tx = self.begin(now)?;
        let current = tx.credential(key_id)?.ok_or_else(|| {
            LedgerError::refused(ErrorCode::KeyNotFound, format!("no key {key_id}"))
        })?;
        let next = identity::vouch_key(&current, reason, voucher, now)?;
        let Some(vouch) = next.vouch.clone() else {
            return Err(LedgerError::Integrity(
                "a vouched key without its vouch".into(),
            ));
        };
        let index = tx.tree_size()?;
        tx.put_credential(&next)?;
        tx.commit_event(Event::CredentialVouched {
            key_id: key_id.to_string(),
            identity: next.identity.clone(),
            vouch,
        })?;
        Ok(Receipted {
            value: next,
            log_index: index,
        })
    }

    // ----------------------------------------------------------- documents

    /// Register content; the same content as the latest version answers that
    /// version and records nothing.
    pub fn register_content(
        &self,
        name: &str,
        content: &[u8],
        media_type: Option<String>,
        by: &Registrant,
        now: OffsetDateTime,
    ) -> Result<(DocumentVersion, bool)> {
        let sha256 = self.check_content_size(content)?;
        self.register(
            NewVersion::upload(name, content, sha256, media_type),
            by,
            now,
        )
    }

    /// The bytes of `name` version `version`, checked against the digest
    /// they were registered with before they leave.
    pub fn document_content(&self, name: &str, version: u32) -> Result<(DocumentVersion, Vec<u8>)> {
        let tx = self.store.read()?;
        let v = tx
            .document(name)?
            .and_then(|d| d.versions.into_iter().find(|v| v.version == version))
            .ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::DocumentNotFound,
                    format!("document {name:?} has no version {version}"),
                )
            })?;
        if !v.content_stored {
            return Err(LedgerError::refused(
                ErrorCode::ContentNotStored,
                format!("{name} version {version} was registered by digest only"),
            ));
        }
        self.check_document_backed(&*tx, &v)?;
        let bytes = tx.blob(&v.sha256)?.ok_or_else(|| {
            LedgerError::Integrity(format!("content of {name} version {version} is missing"))
        })?;
        if countersign_attest::keys::sha256_hex(&bytes) != v.sha256 {
            return Err(LedgerError::Integrity(format!(
                "stored content of {name} version {version} does not match its digest"
            )));
        }
        Ok((v, bytes))
    }

    /// Register a version by digest only.
    pub fn register_digest(
        &self,
        name: &str,
        input: &RegisterDigest,
        by: &Registrant,
        now: OffsetDateTime,
    ) -> Result<(DocumentVersion, bool)> {
        countersign_domain::check_sha256("sha256", &input.sha256)?;
        self.register(
            NewVersion {
                name,
                sha256: input.sha256.clone(),
                size: input.size,
                media_type: input.media_type.clone(),
                content: None,
            },
            by,
            now,
        )
    }

    fn register(
        &self,
        v: NewVersion<'_>,
        by: &Registrant,
        now: OffsetDateTime,
    ) -> Result<(DocumentVersion, bool)> {
        let mut tx = self.begin(now)?;
        let (version, new) = self.register_in(&mut tx, v, by, now)?;
        if new {
            tx.commit()?;
        }
        Ok((version, new))
    }

    /// Register a version inside `tx`, appending its entry when it is new
    /// (the same bytes as the latest version answer that version).
    fn register_in(
        &self,
        tx: &mut Write<'_>,
        v: NewVersion<'_>,
        by: &Registrant,
        now: OffsetDateTime,
    ) -> Result<(DocumentVersion, bool)> {
        let NewVersion {
            name,
            sha256,
            size,
            media_type,
            content,
        } = v;
        countersign_domain::check_name("document name", name)?;
        if let Some(m) = &media_type {
            countersign_domain::check_text("media_type", m, 1, 200)?;
        }
        let existing = tx.document(name)?;
        let latest = existing.as_ref().and_then(|d| d.versions.last().cloned());
        if let Some(v) = &latest {
            if v.sha256 == sha256 && (v.content_stored || content.is_none()) {
                return Ok((v.clone(), false));
            }
        }
        // A document is its first registrant's: nobody else slips a
        // version in that the next request naming it would pin.
        if let Some(owner) = existing.as_ref().and_then(|d| d.versions.first()) {
            if !by.admin && owner.registered_by != by.identity {
                return Err(LedgerError::refused(
                    ErrorCode::Forbidden,
                    format!(
                        "document {name:?} belongs to {}; only they or an administrator add versions (choose another name)",
                        owner.registered_by.as_deref().unwrap_or("the administration")
                    ),
                ));
            }
        }
        let index = tx.tree_size()?;
        let version = DocumentVersion {
            document: name.to_string(),
            version: latest.as_ref().map(|v| v.version + 1).unwrap_or(1),
            sha256,
            size,
            media_type,
            content_stored: content.is_some(),
            registered_by: by.identity.clone(),
            registered_at: now,
            log_index: index,
        };
        tx.put_document_version(&version, content)?;
        tx.log(Event::DocumentRegistered {
            version: version.clone(),
        })?;
        Ok((version, true))
    }

    fn check_content_size(&self, content: &[u8]) -> Result<String> {
        if content.len() as u64 > self.config.limits.max_document_bytes {
            return Err(LedgerError::refused(
                ErrorCode::DocumentTooLarge,
                format!(
                    "document is {} bytes; the limit is {}",
                    content.len(),
                    self.config.limits.max_document_bytes
                ),
            ));
        }
        Ok(hex::encode(Sha256::digest(content)))
    }

    // ----------------------------------------------------------- requests

    /// Create a request after asking policy whether its requester may.
    pub fn create_request(
        &self,
        input: &CreateRequest,
        caller: &Authentication,
        now: OffsetDateTime,
    ) -> Result<Request> {
        let mut tx = self.begin(now)?;
        let request = self.create_request_in(&mut tx, input, caller, now)?;
        tx.commit()?;
        Ok(request)
    }

    /// Upload a document's content and create a request for exactly that
    /// version, in one transaction: a request the policy or the rules
    /// refuse leaves no version behind, and no other upload can slip in
    /// between (the web app's new-request form).
    pub fn create_request_with_content(
        &self,
        input: &CreateRequest,
        content: &[u8],
        media_type: Option<String>,
        caller: &Authentication,
        now: OffsetDateTime,
    ) -> Result<Request> {
        let [doc] = input.documents.as_slice() else {
            return Err(LedgerError::refused(
                ErrorCode::InvalidField,
                "a request created with an upload names exactly that one document",
            ));
        };
        let sha256 = self.check_content_size(content)?;
        let mut tx = self.begin(now)?;
        let by = Registrant {
            identity: Some(input.requester.clone()),
            admin: false,
        };
        let (version, _) = self.register_in(
            &mut tx,
            NewVersion::upload(&doc.document, content, sha256, media_type),
            &by,
            now,
        )?;
        let mut input = input.clone();
        input.documents[0].version = Some(version.version);
        let request = self.create_request_in(&mut tx, &input, caller, now)?;
        tx.commit()?;
        Ok(request)
    }

    fn create_request_in(
        &self,
        tx: &mut Write<'_>,
        input: &CreateRequest,
        caller: &Authentication,
        now: OffsetDateTime,
    ) -> Result<Request> {
        let mut documents = Vec::new();
        for d in &input.documents {
            let doc = tx.document(&d.document)?;
            documents.push(doc.and_then(|doc| match d.version {
                Some(n) => doc.versions.into_iter().find(|v| v.version == n),
                None => doc.versions.into_iter().last(),
            }));
        }
        let mut handles: Vec<&str> = vec![&input.requester, &input.beneficiary];
        handles.extend(input.approvers.iter().map(String::as_str));
        if let Some(a) = &input.action {
            handles.push(&a.subject);
        }
        let mut known = HashMap::new();
        for h in handles {
            if let Some(i) = tx.identity(h)? {
                known.insert(h.to_string(), i);
            }
        }
        let lookup = |h: &str| known.get(h).cloned();
        let facts = RequestFacts {
            documents,
            identity: &lookup,
        };
        let index = tx.tree_size()?;
        let request = rules::create_request(
            input,
            new_id("req"),
            &facts,
            &self.config.limits,
            index,
            now,
        )?;
        let decision = self.decide(
            &**tx,
            PolicyAction::CreateRequest,
            &request.requester,
            PolicyResource::Request(request.clone()),
            self.context(
                &request.requester,
                None,
                None,
                caller_auth(caller, &request.requester),
                now,
            ),
            &rules::parties(&request),
        )?;
        if !decision.allowed() {
            return Err(policy_refusal(&decision).into());
        }
        tx.put_request(&request)?;
        self.notify_needed(&mut **tx, &request, None, None, now)?;
        tx.log(Event::RequestCreated {
            request: request.clone(),
            policy: Some(decision),
        })?;
        Ok(request)
    }

    /// The request as stored, with the state shown at `now`.
    pub fn request(&self, id: &str, now: OffsetDateTime) -> Result<Request> {
        let tx = self.store.read()?;
        let mut r = tx.request(id)?.ok_or_else(|| {
            LedgerError::refused(
                ErrorCode::RequestNotFound,
                format!("request {id:?} does not exist"),
            )
        })?;
        // A request is answered only as its entries say it is.
        self.check_backed(&*tx, &[], None, Some(&r), &[])?;
        r.state = rules::effective_state(&r, now);
        Ok(r)
    }

    pub fn withdraw(
        &self,
        id: &str,
        reason: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Receipted<Request>> {
        if let Some(r) = &reason {
            countersign_domain::check_text("reason", r, 1, 2000)?;
        }
        self.close(id, RequestState::Withdrawn, reason, now)
    }

    fn close(
        &self,
        id: &str,
        to: RequestState,
        reason: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Receipted<Request>> {
        let mut tx = self.begin(now)?;
        let current = tx.request(id)?.ok_or_else(|| {
            LedgerError::refused(
                ErrorCode::RequestNotFound,
                format!("request {id:?} does not exist"),
            )
        })?;
        let next = rules::close(&current, to, now)?;
        tx.put_request(&next)?;
        self.notify_outcome(&mut *tx, &next, reason.as_deref(), now)?;
        let index = tx.commit_event(Event::RequestClosed {
            request: id.to_string(),
            state: to,
            reason,
        })?;
        Ok(Receipted {
            value: next,
            log_index: index,
        })
    }

    /// Record the expiry of every pending request past its deadline.
    pub fn expire_due(&self, now: OffsetDateTime) -> Result<Vec<String>> {
        let due = self.store.read()?.expired_pending(now)?;
        let mut done = Vec::new();
        for id in due {
            match self.close(&id, RequestState::Expired, Some("expired".into()), now) {
                Ok(_) => done.push(id),
                Err(LedgerError::Refused { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    // ----------------------------------------------------------- signing

    /// Accept or refuse a signed approval. A refusal is recorded in the log
    /// and answered with its index; re-submitting an accepted envelope
    /// answers the original receipt and records nothing.
    ///
    /// Submissions arriving together are committed together
    /// ([`batch`](self::batch)): one durable transaction and one signed
    /// checkpoint for the lot, each answered only after both are durable.
    pub fn submit_signature(
        &self,
        envelope: &Envelope,
        caller: &Authentication,
        now: OffsetDateTime,
    ) -> Result<Submission> {
        let digest = countersign_attest::envelope_digest(envelope)
            .map_err(|e| LedgerError::refused(ErrorCode::StatementInvalid, e.to_string()))?;
        let passkey = envelope
            .signatures
            .iter()
            .any(countersign_attest::passkey::is_passkey_signature);
        if let Some(receipt) = self.replay(&digest, now)? {
            return Self::replayed(passkey, receipt);
        }
        // Verified here, by the caller's own thread, not in the writer's
        // serialised section; the section checks the key is still the
        // credential's and otherwise verifies again.
        let verified_with = if passkey {
            None
        } else {
            self.preverify(envelope)?
        };
        self.batcher.submit(
            self,
            batch::Job {
                envelope: envelope.clone(),
                digest,
                passkey,
                caller: caller.clone(),
                now,
                verified_with,
            },
        )
    }

    /// The Ed25519 public key of the enrolled credential the envelope's
    /// statement names, if the envelope's signature verifies with it;
    /// `None` leaves verification (and the refusal that names what is
    /// wrong) to the signing check.
    fn preverify(&self, envelope: &Envelope) -> Result<Option<String>> {
        let Ok(statement) = countersign_attest::statement_of(envelope) else {
            return Ok(None);
        };
        let Some(credential) = self.store.read()?.credential(&statement.predicate.key_id)? else {
            return Ok(None);
        };
        if credential.kind == countersign_proto::model::CredentialKind::Passkey
            || envelope.signatures.iter().any(|s| s.extension.is_some())
        {
            return Ok(None);
        }
        let verified = countersign_attest::keys::public_key_from_base64(&credential.public_key)
            .ok()
            .is_some_and(|key| countersign_attest::verify_envelope(envelope, &key).is_ok());
        Ok(verified.then_some(credential.public_key))
    }

    /// Take one unproven refusal from the caller's hourly budget; false
    /// when it is spent.
    fn spend_refusal_budget(&self, caller: &Authentication, now: OffsetDateTime) -> bool {
        let key = caller
            .method
            .clone()
            .or_else(|| caller.identity.clone())
            .unwrap_or_default();
        let mut budget = self
            .refusal_budget
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if budget.len() > 100_000 {
            budget.retain(|_, (since, _)| now - *since < time::Duration::hours(1));
        }
        let slot = budget.entry(key).or_insert((now, 0));
        if now - slot.0 >= time::Duration::hours(1) {
            *slot = (now, 0);
        }
        if slot.1 >= self.config.limits.unproven_refusals_per_hour {
            return false;
        }
        slot.1 += 1;
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn try_accept(
        &self,
        tx: &mut Write<'_>,
        envelope: &Envelope,
        digest: &str,
        verified_with: Option<&str>,
        caller: &Authentication,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<Accepted, Refused>> {
        let (statement, claimed) = match signing::claims(envelope) {
            Ok(c) => c,
            Err(r) => return Ok(Err(Refused::plain(r))),
        };
        let p = &statement.predicate;
        let credential = tx.credential(&p.key_id)?;
        let actor = tx.identity(&p.actor)?;
        let request = tx.request(&p.request)?;
        let delegations = match &p.principal {
            Some(principal) if *principal != p.actor => tx.delegations_of(&p.actor)?,
            _ => Vec::new(),
        };
        // Nothing is decided on a row the log does not back.
        let principal = match &p.principal {
            Some(h) if *h != p.actor => tx.identity(h)?,
            _ => None,
        };
        let parties: Vec<&Identity> = actor.iter().chain(principal.iter()).collect();
        self.check_backed(
            &**tx,
            &parties,
            credential.as_ref(),
            request.as_ref(),
            &delegations,
        )?;
        let facts = SigningFacts {
            credential: credential.as_ref(),
            actor: actor.as_ref(),
            request: request.as_ref(),
            delegations: &delegations,
            origins: countersign_attest::passkey::Origins::Exact(&self.config.web.origins),
            verified_with,
        };
        let checked = match signing::check(
            envelope,
            &statement,
            &claimed,
            &facts,
            &self.config.limits,
            now,
        ) {
            Ok(c) => c,
            Err(r) => return Ok(Err(Refused::plain(r))),
        };
        // `check` answered Ok, so the credential and request exist.
        let (Some(credential), Some(request)) = (credential, request) else {
            return Err(LedgerError::Integrity(
                "signing check passed without its facts".into(),
            ));
        };
        let proof = match &checked.passkey {
            Some(verified) => {
                // A passkey signs a statement the server issued: its nonce
                // must be live, this signer's, for this request and key.
                let refusal = match self.take_signing_nonce(&mut **tx, &statement, verified, now)? {
                    Err(r) => Some(r),
                    Ok(()) => {
                        match Self::advance_counter(
                            &mut **tx,
                            &credential.key_id,
                            verified.sign_count,
                        ) {
                            Ok(()) => None,
                            Err(LedgerError::Refused { refusal, .. }) => Some(refusal),
                            Err(e) => return Err(e),
                        }
                    }
                };
                if let Some(refusal) = refusal {
                    return Ok(Err(Refused::plain(SigningRefusal {
                        refusal,
                        claimed: Box::new(claimed),
                    })));
                }
                Some(countersign_domain::policy::PasskeyProof {
                    user_verified: verified.user_verified,
                })
            }
            None => None,
        };
        let (mut query, auth) = self.sign_query(
            &**tx,
            &request,
            &p.actor,
            &checked.principal,
            checked.delegation.clone(),
            &credential,
            proof.as_ref(),
            caller,
            now,
        )?;
        let policy = self.policy_in_force(&**tx)?;
        let mut decision = policy.decide(&query);
        let mut used = None;
        if !decision.allowed() {
            let open = tx.exceptions(Some(&request.id))?;
            if let Some(e) = exceptions::usable(&open, &request.id, &p.actor, now) {
                // The same question, with the approved exception applied.
                query.context.exception = true;
                let with = policy.decide(&query);
                if with.allowed() {
                    decision = with;
                    used = Some(e.clone());
                }
            }
        }
        if !decision.allowed() {
            return Ok(Err(Refused {
                refusal: SigningRefusal {
                    refusal: policy_refusal(&decision),
                    claimed: Box::new(claimed),
                },
                policy: Some(decision),
                auth: Some(auth),
            }));
        }
        let index = tx.tree_size()?;
        let accepted = match signing::accept(
            &statement,
            &claimed,
            &checked,
            &request,
            used.as_ref().map(|e| e.id.clone()),
            digest,
            index,
            now,
        ) {
            Ok(a) => a,
            Err(r) => {
                return Ok(Err(Refused {
                    refusal: r,
                    policy: Some(decision),
                    auth: Some(auth),
                }))
            }
        };
        tx.put_request(&accepted.request)?;
        if let Some(e) = &used {
            tx.put_exception(&exceptions::consume(e, index))?;
        }
        // The next approver of a sequential request is told it is their turn.
        self.notify_needed(&mut **tx, &accepted.request, Some(&request), None, now)?;
        self.notify_outcome(&mut **tx, &accepted.request, None, now)?;
        let (appended, entry) = tx.log_bytes(Event::SignatureAccepted {
            request: accepted.request.id.clone(),
            actor: accepted.signature.actor.clone(),
            principal: accepted.signature.principal.clone(),
            delegation: accepted.signature.delegation.clone(),
            exception: accepted.signature.exception.clone(),
            policy: Some(decision),
            auth: Some(auth),
            decision: accepted.signature.decision,
            key_id: accepted.signature.key_id.clone(),
            envelope_sha256: digest.to_string(),
            envelope: envelope.clone(),
            request_state: accepted.request.state,
        })?;
        // The receipt is answered only after the write commits, with the
        // checkpoint it proves inclusion in (`finish_accepted`).
        Ok(Ok(Accepted {
            request: accepted.request,
            log_index: appended,
            entry,
        }))
    }

    /// Receipt an accepted signature against the checkpoint its write
    /// sealed, remember the receipt for re-submissions, and report a
    /// request the signature decided.
    fn finish_accepted(
        &self,
        tx: &mut Write<'_>,
        accepted: Accepted,
        digest: &str,
    ) -> Result<SignatureReceipt> {
        let Accepted {
            request,
            log_index,
            entry,
        } = accepted;
        let receipt = tx.receipt(log_index)?;
        tx.put_receipt(
            digest,
            &StoredReceipt {
                request: request.id.clone(),
                log_index,
                receipt: receipt.clone(),
            },
        )?;
        let decided = match request.state {
            RequestState::Approved => Some(OutboundKind::RequestApproved),
            RequestState::Rejected => Some(OutboundKind::RequestRejected),
            _ => None,
        };
        if let Some(kind) = decided {
            let data = self.decided_request_data(&**tx, &request)?;
            tx.emit(
                log_index,
                Outbound {
                    kind,
                    subject: request.id.clone(),
                    ordering_key: request.id.clone(),
                    data,
                },
            );
        }
        Ok(SignatureReceipt {
            request: request.id,
            request_state: request.state,
            log_index,
            receipt,
            entry: String::from_utf8_lossy(&entry).into_owned(),
        })
    }

    /// The answer to an envelope that was already accepted: its receipt
    /// again for a key signature (submission is idempotent); a refusal for
    /// a passkey signature, whose assertion answered a single-use
    /// challenge. Neither writes anything.
    fn replayed(passkey: bool, receipt: SignatureReceipt) -> Result<Submission> {
        if passkey {
            return Err(LedgerError::refused(
                ErrorCode::AssertionReplayed,
                format!(
                    "this passkey assertion was already accepted (log index {}); an assertion answers a single-use challenge and cannot be submitted again",
                    receipt.log_index
                ),
            ));
        }
        Ok(Submission {
            receipt,
            recorded: false,
        })
    }

    fn replay(&self, digest: &str, now: OffsetDateTime) -> Result<Option<SignatureReceipt>> {
        let tx = self.store.read()?;
        let Some(stored) = tx.receipt_for_envelope(digest)? else {
            return Ok(None);
        };
        self.check_receipt(&*tx, digest, &stored)?;
        let entry = tx.entry(stored.log_index)?.ok_or_else(|| {
            LedgerError::Integrity(format!("entry {} is missing", stored.log_index))
        })?;
        let state = tx
            .request(&stored.request)?
            .map(|r| rules::effective_state(&r, now))
            .unwrap_or(RequestState::Pending);
        Ok(Some(SignatureReceipt {
            request: stored.request,
            request_state: state,
            log_index: stored.log_index,
            receipt: stored.receipt,
            entry: String::from_utf8_lossy(&entry).into_owned(),
        }))
    }

    // ----------------------------------------------------------- log reads

    /// A receipt for any entry against the latest checkpoint.
    pub fn entry_receipt(&self, index: u64) -> Result<String> {
        let tx = self.store.read()?;
        let (size, note) = tx
            .latest_checkpoint()?
            .ok_or_else(|| LedgerError::Integrity("no checkpoint".into()))?;
        if index >= size {
            return Err(LedgerError::refused(
                ErrorCode::EntryNotFound,
                format!("entry {index} is not covered by the latest checkpoint (size {size})"),
            ));
        }
        self.receipt(&*tx, index, size, &note)
    }

    /// The latest checkpoint (size, signed note).
    pub fn latest_checkpoint(&self) -> Result<(u64, String)> {
        self.store
            .read()?
            .latest_checkpoint()?
            .ok_or_else(|| LedgerError::Integrity("no checkpoint".into()))
    }

    fn size_in_range(&self, tx: &dyn ReadTx, size: Option<u64>) -> Result<u64> {
        let (latest, _) = tx
            .latest_checkpoint()?
            .ok_or_else(|| LedgerError::Integrity("no checkpoint".into()))?;
        let size = size.unwrap_or(latest);
        if size == 0 || size > latest {
            return Err(LedgerError::refused(
                ErrorCode::TreeSizeOutOfRange,
                format!("tree size {size} is outside 1..={latest}"),
            ));
        }
        Ok(size)
    }

    /// An inclusion proof, checked against the checkpoint signed for `size`
    /// (`note`, or the one stored) before it is answered: a stored hash
    /// edited behind the log's back is caught here, not by the client.
    fn checked_inclusion(
        &self,
        tx: &dyn ReadTx,
        index: u64,
        size: u64,
        note: Option<&str>,
    ) -> Result<Vec<countersign_tlog::Hash>> {
        let note = match note {
            Some(n) => Some(n.to_string()),
            None => tx.checkpoint(size)?,
        };
        match note {
            Some(note) => {
                let cp = Checkpoint::open(&note, &self.verifier).map_err(|e| {
                    LedgerError::Integrity(format!("checkpoint for size {size}: {e}"))
                })?;
                self.verified_inclusion(tx, index, &cp)
            }
            None => Ok(countersign_tlog::inclusion_proof(index, size, &Hashes(tx))?),
        }
    }

    /// An inclusion proof for `index` in the tree `cp` signs, checked
    /// against its root before it is answered.
    fn verified_inclusion(
        &self,
        tx: &dyn ReadTx,
        index: u64,
        cp: &Checkpoint,
    ) -> Result<Vec<countersign_tlog::Hash>> {
        let size = cp.size;
        let hashes = countersign_tlog::inclusion_proof(index, size, &Hashes(tx))?;
        let bytes = tx
            .entry(index)?
            .ok_or_else(|| LedgerError::Integrity(format!("entry {index} is missing")))?;
        countersign_tlog::verify_inclusion(
            index,
            size,
            &countersign_tlog::leaf_hash(&bytes),
            &hashes,
            &cp.root,
        )
        .map_err(|e| {
            LedgerError::Integrity(format!(
                "refusing to answer an inclusion proof for entry {index} at size {size} that fails against its signed checkpoint ({e}): a stored tree hash was altered; run `countersign log audit`"
            ))
        })?;
        Ok(hashes)
    }

    pub fn inclusion_proof(
        &self,
        index: u64,
        size: Option<u64>,
    ) -> Result<(u64, Vec<countersign_tlog::Hash>)> {
        let tx = self.store.read()?;
        let size = self.size_in_range(&*tx, size)?;
        if index >= size {
            return Err(LedgerError::refused(
                ErrorCode::TreeSizeOutOfRange,
                format!("index {index} is not below tree size {size}"),
            ));
        }
        Ok((size, self.checked_inclusion(&*tx, index, size, None)?))
    }

    pub fn consistency_proof(
        &self,
        old: u64,
        new: Option<u64>,
    ) -> Result<(u64, Vec<countersign_tlog::Hash>)> {
        let tx = self.store.read()?;
        let new = self.size_in_range(&*tx, new)?;
        if old == 0 || old > new {
            return Err(LedgerError::refused(
                ErrorCode::TreeSizeOutOfRange,
                format!("old size {old} must be between 1 and the new size {new}"),
            ));
        }
        Ok((
            new,
            countersign_tlog::consistency_proof(old, new, &Hashes(&*tx))?,
        ))
    }
}

/// A document version to register: its digest, and its bytes when uploaded.
/// The one identity an e-mail address names, for sign-in and token
/// mapping: among identities with the address, the one not terminated (a
/// terminated one only when no other has it, so the caller learns it is
/// terminated). Two live identities with one address name nobody.
pub fn identity_for_email(tx: &dyn ReadTx, email: &str) -> Result<Option<Identity>> {
    let all = tx.identities_by_email(email)?;
    let mut live = all
        .iter()
        .filter(|i| i.status != IdentityStatus::Terminated)
        .cloned();
    match (live.next(), live.next()) {
        (Some(_), Some(_)) => Err(LedgerError::refused(
            ErrorCode::EmailAmbiguous,
            format!("{email:?} is the address of more than one identity, so it identifies nobody; an administrator must make it unique"),
        )),
        (Some(one), None) => Ok(Some(one)),
        (None, _) => Ok(all.into_iter().next()),
    }
}

/// Refuse an address another identity that is not terminated has
/// (e-mails are unique, case-insensitively, among live identities).
pub(crate) fn email_free(tx: &dyn ReadTx, email: Option<&str>, except: Option<&str>) -> Result<()> {
    let Some(email) = email else { return Ok(()) };
    if let Some(other) = tx
        .identities_by_email(email)?
        .into_iter()
        .find(|i| i.status != IdentityStatus::Terminated && Some(i.handle.as_str()) != except)
    {
        return Err(LedgerError::refused(
            ErrorCode::EmailTaken,
            format!("{} already has the address {email:?}", other.handle),
        ));
    }
    Ok(())
}

/// Refusals of envelopes that prove nothing about any enrolled credential.
fn unproven(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::StatementInvalid | ErrorCode::SignatureInvalid | ErrorCode::CredentialUnknown
    )
}

/// Who registers a document version.
#[derive(Clone, Debug, Default)]
pub struct Registrant {
    /// The identity recorded as the registrant (`None`: an administrator
    /// or integration not bound to an identity).
    pub identity: Option<String>,
    /// An administrator, who may add versions to anyone's document.
    pub admin: bool,
}

struct NewVersion<'a> {
    name: &'a str,
    sha256: String,
    size: Option<u64>,
    media_type: Option<String>,
    content: Option<&'a [u8]>,
}

impl<'a> NewVersion<'a> {
    fn upload(
        name: &'a str,
        content: &'a [u8],
        sha256: String,
        media_type: Option<String>,
    ) -> Self {
        NewVersion {
            name,
            sha256,
            size: Some(content.len() as u64),
            media_type,
            content: Some(content),
        }
    }
}
