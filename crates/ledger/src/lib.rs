//! The ledger: the one writer of a Countersign store, and the readers
//! that check it (the log audit, evidence export).
//!
//! Every state change runs inside a single store transaction that also
//! appends the change's log entry, the new complete-subtree hashes and a
//! freshly signed checkpoint, so a change is never visible without its
//! audit record and an acknowledged change is durable together with a
//! checkpoint covering it.
//!
//! The ledger is built on the storage seam (`countersign-store`) alone: it
//! never sees SQL or a database driver. It knows nothing of HTTP or the
//! system clock either: callers pass `now`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod audit;
pub mod evidence;
mod kept;
mod ledger;
mod replay;

pub use ledger::{
    challenge_b64url, entry_openings, identity_for_email, random_secret, AttemptOutcome,
    CertificateIssuer, DeliveryRules, HoldOn, IgaConfig, IssuedStatement, Ledger, LedgerConfig,
    LedgerError, MailOutcome, MailRules, Receipted, Registrant, Retention, ScimGroup, ScimUser,
    Scope, SignIn, Submission, WebRules, EVENT_TYPES, MAX_CHANGE_BATCH, SCIM_GROUP, SCIM_USER,
};

pub use kept::{CheckpointFile, CheckpointKeeper};
pub use ledger::lease::LEADER;

/// The storage seam the ledger writes through, and the records its
/// answers carry.
pub use countersign_store::{
    DueDelivery, EntryTerms, Hashes, InvitationRecord, Lease, MailRecord, OutboxEvent, ReadTx,
    ScimRecord, SessionRecord, StateRows, Store, StoreError, StoredOpening, StoredReceipt,
    WebChallenge, WebhookRecord, WebhookSecret, WriteTx,
};
