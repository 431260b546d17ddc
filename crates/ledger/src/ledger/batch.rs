//! Group commit of signature submissions.
//!
//! Every signature costs a durable commit and a signed checkpoint (its
//! consistency proof, its signature, keeping it outside the database).
//! Submissions that arrive while another batch is being written wait
//! for it and are then written together, in arrival order, in one
//! [`Write`]: each is checked, decided and logged exactly as it would be
//! alone (it sees the entries of those before it), then one checkpoint
//! covers the whole batch, every accepted signature is receipted against
//! it, and the transaction commits. No one is answered before that
//! commit (and the kept checkpoint) is durable; a crash before it loses
//! only submissions no one was answered for.
//!
//! Submission is leader–follower: a caller queues its job and waits for
//! its turn at the writer; whoever has the turn takes everything queued
//! (up to [`MAX_BATCH`]) and answers each job. A batch that fails for a
//! reason other than a refusal (the database, an integrity check) is
//! rolled back whole and its jobs are run again one by one, so each gets
//! its own answer and no job fails for another's fault.

use std::collections::HashSet;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::Mutex;

use countersign_domain::policy::Authentication;
use countersign_proto::entry::Event;
use countersign_proto::statement::Envelope;
use countersign_proto::ErrorCode;
use time::OffsetDateTime;

use super::write::Write;
use super::{unproven, Accepted, Ledger, LedgerError, Refused, Result, SigningRefusal, Submission};

/// The most submissions one transaction carries.
pub const MAX_BATCH: usize = 256;

/// One submission waiting for the writer.
pub(crate) struct Job {
    pub envelope: Envelope,
    pub digest: String,
    /// Whether the envelope carries a passkey assertion.
    pub passkey: bool,
    pub caller: Authentication,
    pub now: OffsetDateTime,
    /// The public key the envelope's signature was verified with before
    /// the job was queued, if it was.
    pub verified_with: Option<String>,
}

struct Queued {
    job: Job,
    answer: SyncSender<Result<Submission>>,
}

/// The queue of submissions and the turn at writing them.
#[derive(Default)]
pub(crate) struct Batcher {
    queue: Mutex<Vec<Queued>>,
    turn: Mutex<()>,
    /// Called with the size of every batch written (metrics).
    observer: std::sync::OnceLock<Box<dyn Fn(usize) + Send + Sync>>,
}

/// What became of one job inside a batch, before the batch commits.
enum Outcome {
    Accepted(Accepted),
    /// Refused, and the refusal logged at this index (or not logged: the
    /// caller's budget of unproven refusals is spent).
    Refused(Refused, Option<u64>),
    /// The same envelope was accepted before, or earlier in this batch:
    /// answered from its receipt once the batch is durable.
    Replay,
}

impl Batcher {
    /// Be told the size of every batch written.
    pub(crate) fn observe(&self, f: Box<dyn Fn(usize) + Send + Sync>) {
        let _ = self.observer.set(f);
    }

    /// Queue `job` and wait for its answer, writing batches meanwhile
    /// whenever it is this caller's turn.
    pub(crate) fn submit(&self, ledger: &Ledger, job: Job) -> Result<Submission> {
        let (answer, answered) = sync_channel(1);
        lock(&self.queue).push(Queued { job, answer });
        loop {
            let turn = lock(&self.turn);
            if let Some(a) = ready(&answered)? {
                return a;
            }
            let batch: Vec<Queued> = {
                let mut q = lock(&self.queue);
                let n = q.len().min(MAX_BATCH);
                q.drain(..n).collect()
            };
            if !batch.is_empty() {
                if let Some(f) = self.observer.get() {
                    f(batch.len());
                }
                ledger.write_batch(batch);
            }
            drop(turn);
            if let Some(a) = ready(&answered)? {
                return a;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The answer, if it came; an error if the batch that had the job died
/// without answering it.
fn ready(answered: &Receiver<Result<Submission>>) -> Result<Option<Result<Submission>>> {
    match answered.try_recv() {
        Ok(a) => Ok(Some(a)),
        Err(TryRecvError::Empty) => Ok(None),
        Err(TryRecvError::Disconnected) => Err(LedgerError::Integrity(
            "the batch carrying this signature stopped without an answer; nothing of it was committed".into(),
        )),
    }
}

impl Ledger {
    /// Call `f` with the number of submissions in every batch written
    /// (once; later observers are ignored).
    pub fn observe_batches(&self, f: Box<dyn Fn(usize) + Send + Sync>) {
        self.batcher.observe(f);
    }

    /// Write `batch` in one transaction and answer every job; on a
    /// failure that is not a refusal, write each job alone instead.
    fn write_batch(&self, batch: Vec<Queued>) {
        if batch.len() > 1 {
            let jobs: Vec<&Job> = batch.iter().map(|q| &q.job).collect();
            if let Ok(answers) = self.try_batch(&jobs) {
                for (q, a) in batch.into_iter().zip(answers) {
                    let _ = q.answer.send(a);
                }
                return;
            }
        }
        for q in batch {
            let a = self
                .try_batch(&[&q.job])
                .and_then(|mut a| a.pop().unwrap_or_else(|| Err(missing())));
            let _ = q.answer.send(a);
        }
    }

    /// One transaction for `jobs`: each answer, or the error that rolled
    /// the whole transaction back.
    fn try_batch(&self, jobs: &[&Job]) -> Result<Vec<Result<Submission>>> {
        let first = jobs.first().ok_or_else(missing)?;
        let mut tx = self.begin(first.now)?;
        let mut seen = HashSet::new();
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            tx.at(job.now);
            let again = !seen.insert(job.digest.as_str())
                || tx.receipt_for_envelope(&job.digest)?.is_some();
            let outcome = if again {
                Outcome::Replay
            } else {
                match self.try_accept(
                    &mut tx,
                    &job.envelope,
                    &job.digest,
                    job.verified_with.as_deref(),
                    &job.caller,
                    job.now,
                )? {
                    Ok(accepted) => Outcome::Accepted(accepted),
                    Err(refused) => {
                        let index = self.log_refusal(&mut tx, job, &refused)?;
                        Outcome::Refused(refused, index)
                    }
                }
            };
            outcomes.push(outcome);
        }
        if tx.logged_any() {
            tx.seal()?;
        }
        let mut answers = Vec::with_capacity(jobs.len());
        for (job, outcome) in jobs.iter().zip(outcomes) {
            answers.push(match outcome {
                Outcome::Accepted(a) => Ok(Some(self.finish_accepted(&mut tx, a, &job.digest)?)),
                Outcome::Refused(
                    Refused {
                        refusal: SigningRefusal { mut refusal, .. },
                        ..
                    },
                    log_index,
                ) => {
                    if log_index.is_none() {
                        // Garbage proves nothing about anyone: past the
                        // caller's budget it is answered, not written to a
                        // log that keeps it forever.
                        refusal.detail.push_str(
                            " (not recorded: this caller's hourly budget of refusals of unverifiable envelopes is spent)",
                        );
                    }
                    Err(LedgerError::Refused { refusal, log_index })
                }
                Outcome::Replay => Ok(None),
            });
        }
        tx.commit()?;
        Ok(jobs
            .iter()
            .zip(answers)
            .map(|(job, answer)| match answer {
                Ok(Some(receipt)) => Ok(Submission {
                    receipt,
                    recorded: true,
                }),
                Ok(None) => {
                    let receipt = self.replay(&job.digest, job.now)?.ok_or_else(|| {
                        LedgerError::Integrity("receipt vanished during submission".into())
                    })?;
                    Self::replayed(job.passkey, receipt)
                }
                Err(e) => Err(e),
            })
            .collect())
    }

    /// Log a refusal in the batch, unless it proves nothing about anyone
    /// and the caller's budget for those is spent; answers its index.
    fn log_refusal(&self, tx: &mut Write<'_>, job: &Job, refused: &Refused) -> Result<Option<u64>> {
        let Refused {
            refusal: SigningRefusal { refusal, claimed },
            policy,
            auth,
        } = refused;
        if unproven(refusal.code) && !self.spend_refusal_budget(&job.caller, job.now) {
            return Ok(None);
        }
        if job.passkey {
            // A refused passkey signature uses up its nonce too: the same
            // assertion cannot be tried again.
            if let Some(nonce) = countersign_attest::statement_of(&job.envelope)
                .ok()
                .and_then(|s| s.predicate.nonce)
            {
                tx.take_web_challenge(&nonce)?;
            }
        }
        let keep_envelope = refusal.code != ErrorCode::StatementInvalid;
        let claimed = claimed.as_ref().clone();
        let index = tx.log(Event::SignatureRefused {
            code: refusal.code,
            detail: refusal.detail.clone(),
            request: claimed.request,
            actor: claimed.actor,
            principal: claimed.principal,
            key_id: claimed.key_id,
            policy: policy.clone(),
            auth: auth.clone(),
            envelope_sha256: Some(job.digest.clone()),
            envelope: keep_envelope.then(|| job.envelope.clone()),
        })?;
        Ok(Some(index))
    }
}

fn missing() -> LedgerError {
    LedgerError::Integrity("a batch answered fewer jobs than it was given".into())
}
