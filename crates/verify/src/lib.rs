//! Offline verification of Countersign evidence bundles and signature
//! receipts: what `countersign verify BUNDLE [--document FILE]... [--log-key VKEY]`
//! runs.
//!
//! Given only the bundle bytes (and, optionally, the log's verifier key and
//! the document files an auditor holds), [`verify_bundle`] checks that:
//! the checkpoint is signed by the log key; every shipped log entry is
//! included in that checkpoint; the request was created by a log entry that
//! the bundle's `request` view agrees with; every document version was
//! registered; every accepted signature is a valid DSSE approval statement by
//! a key enrolled (earlier in the log) for the signer, unrevoked and unexpired,
//! by an identity that was active, an approver, in order, and that replaying
//! the signatures with the domain's quorum rules gives the recorded states;
//! the view's signature list and state match the log; and the auditor's
//! document files are the ones that were signed. Every finding is a
//! [`Check`] whose detail names the entry index, actor, key or digest
//! concerned.
//!
//! It also checks the governance evidence each signature carries:
//! - a workload certificate (`credential.certified`) chains, at the
//!   signature's entry time, to a CA certificate the log published earlier
//!   (`ca.created`), and certifies the signing key for the signer;
//! - a signature for someone else (the entry's `principal`) matches the
//!   statement's principal and rests on a `delegation.granted` entry, not
//!   ended before it, whose scope and window cover the request; the
//!   approver slot checked and replayed is the principal's;
//! - the recorded policy decision allows `sign` under the policy set the log
//!   had put in force (`policy.activated`) before the signature;
//! - a break-glass exception was approved, for this signer and request, by
//!   someone else, was unexpired, and was used once.
//!
//! What it deliberately does **not** do:
//! - It uses no server, no database, no network and no clock: the only time
//!   it reasons about is what the bundle and its entries record.
//! - It does not prove that the bundle is *complete*: a bundle holds a subset
//!   of the log, so an entry left out (a revocation, a suspension) cannot be
//!   detected here. Checking the full log (`countersign log audit`) and
//!   consistency between checkpoints is a different job.
//! - It does not decide whether the log key is the right one: without a
//!   pinned key it trusts the key shipped in the bundle and says so in a
//!   warning.
//! - It never trusts the bundle's `request` view; it only cross-checks it.
//! - It never panics on input: a malformed or hostile bundle is a failed
//!   check, not a crash.
//! - It does not re-evaluate policies: the bundle ships no policy text, so
//!   it checks that the recorded decision was an allow under the set the log
//!   activated, not that the set would decide so again.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod bundle;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
#[cfg(test)]
mod tests;

use countersign_tlog::checkpoint::Checkpoint;
use countersign_tlog::note::NoteVerifier;
use countersign_tlog::proof::TlogProof;
use serde::Serialize;

/// One verification finding.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Check {
    /// Stable short slug, such as `checkpoint.signature` or `entry.inclusion`.
    pub name: String,
    pub ok: bool,
    /// What was checked, or exactly what failed.
    pub detail: String,
}

/// The outcome of verifying a bundle.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The request the bundle is about, once the bundle parsed.
    pub request: Option<String>,
    pub checks: Vec<Check>,
    /// Things an auditor should know that are not failures.
    pub warnings: Vec<String>,
}

impl Report {
    /// Whether at least one check ran and every check passed.
    pub fn ok(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> + '_ {
        self.checks.iter().filter(|c| !c.ok)
    }

    /// One line such as `41 of 42 checks passed, 1 failed, 1 warning`.
    pub fn summary(&self) -> String {
        let failed = self.failures().count();
        let passed = self.checks.len() - failed;
        let warnings = self.warnings.len();
        format!(
            "{passed} of {} checks passed, {failed} failed, {warnings} warning{}",
            self.checks.len(),
            if warnings == 1 { "" } else { "s" }
        )
    }

    pub(crate) fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.to_string(),
            ok: true,
            detail: detail.into(),
        });
    }

    pub(crate) fn fail(&mut self, name: &str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.to_string(),
            ok: false,
            detail: detail.into(),
        });
    }

    pub(crate) fn check(&mut self, name: &str, result: Result<String, String>) {
        match result {
            Ok(detail) => self.pass(name, detail),
            Err(detail) => self.fail(name, detail),
        }
    }

    pub(crate) fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }
}

/// What the auditor brings besides the bundle.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The log's verifier key (signed-note vkey) the auditor trusts. When
    /// absent, the key in the bundle is used and a warning says so.
    pub pinned_log_key: Option<String>,
    /// Document files to match against what was signed: (label, content).
    pub documents: Vec<(String, Vec<u8>)>,
}

/// Verify an evidence bundle (its JSON bytes). Never panics: a bundle that
/// does not parse is a report with one failed check.
pub fn verify_bundle(bundle_json: &[u8], options: &Options) -> Report {
    bundle::verify(bundle_json, options)
}

/// Verify a C2SP tlog-proof receipt for `entry` with the log key
/// `log_key_vkey`; answers the checkpoint the entry is proven against.
pub fn verify_receipt(
    receipt: &str,
    entry: &[u8],
    log_key_vkey: &str,
) -> Result<Checkpoint, String> {
    let verifier = NoteVerifier::from_vkey(log_key_vkey.trim())
        .map_err(|e| format!("the log key is not a signed-note verifier key: {e}"))?;
    let proof =
        TlogProof::parse(receipt).map_err(|e| format!("the receipt does not parse: {e}"))?;
    proof.verify(entry, &verifier).map_err(|e| {
        format!(
            "the receipt does not prove this entry at index {} with log key {}: {e}",
            proof.index,
            verifier.to_vkey()
        )
    })
}
