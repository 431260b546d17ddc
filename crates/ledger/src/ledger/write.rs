//! The one way the ledger writes: [`Write`].
//!
//! A write opens a store transaction, lets its caller change state, log
//! the events that record the change ([`Write::log`]) and queue the
//! outbound messages that report them ([`Write::emit`]), then
//! [`Write::commit`]s: the outbound messages go to the outbox, a
//! checkpoint covering every logged entry is proven consistent with the
//! last one and signed, the transaction commits durably, and the
//! checkpoint is kept outside the database, all before the caller can
//! answer anyone. A write that logged nothing (a session, a challenge)
//! commits without a checkpoint. Dropping a `Write` without committing
//! rolls everything back.

use std::ops::{Deref, DerefMut};

use countersign_proto::entry::Event;
use countersign_tlog::checkpoint::Checkpoint;
use time::OffsetDateTime;

use super::outbox::Outbound;
use super::{Ledger, LedgerError, Result};
use crate::WriteTx;

/// One ledger write in progress. Dereferences to its store transaction
/// for state reads and writes.
pub(crate) struct Write<'l> {
    ledger: &'l Ledger,
    tx: Box<dyn WriteTx + 'l>,
    /// When the write happens; `None` for a write of operational state
    /// only (a session, a counter), which cannot log.
    now: Option<OffsetDateTime>,
    /// The index of the first entry this write logged: it logged every
    /// entry from there to the tree's end.
    first: Option<u64>,
    /// Outbound messages, each with the index of the entry it reports.
    outbound: Vec<(u64, Outbound)>,
    /// The checkpoint signed over this write so far: its note and itself.
    sealed: Option<(String, Checkpoint)>,
}

impl Ledger {
    /// Begin a write (waits for the store's writer).
    pub(crate) fn begin(&self, now: OffsetDateTime) -> Result<Write<'_>> {
        self.begin_at(Some(now))
    }

    /// Begin a write of operational state only: sessions, ceremony
    /// challenges, counters. It logs nothing and signs no checkpoint.
    pub(crate) fn begin_operational(&self) -> Result<Write<'_>> {
        self.begin_at(None)
    }

    fn begin_at(&self, now: Option<OffsetDateTime>) -> Result<Write<'_>> {
        Ok(Write {
            ledger: self,
            tx: self.store.write()?,
            now,
            first: None,
            outbound: Vec::new(),
            sealed: None,
        })
    }
}

impl<'l> Write<'l> {
    /// The time the write happens at (the epoch for an operational write,
    /// which never records it).
    pub fn now(&self) -> OffsetDateTime {
        self.now.unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Log what follows at `now` (a batch's jobs each keep their own
    /// time); nothing for an operational write.
    pub fn at(&mut self, now: OffsetDateTime) {
        if self.now.is_some() {
            self.now = Some(now);
        }
    }

    /// The index the next logged event will get.
    pub fn next_index(&self) -> Result<u64> {
        Ok(self.tx.tree_size()?)
    }

    /// Whether this write has logged anything yet.
    pub fn logged_any(&self) -> bool {
        self.first.is_some()
    }

    /// Append `event` to the log; answers its index.
    pub fn log(&mut self, event: Event) -> Result<u64> {
        let (index, _) = self.log_bytes(event)?;
        Ok(index)
    }

    /// Append `event`; answers its index and the exact bytes written.
    pub fn log_bytes(&mut self, event: Event) -> Result<(u64, Vec<u8>)> {
        let Some(now) = self.now else {
            return Err(LedgerError::Integrity(format!(
                "an operational write cannot log {}",
                event.kind()
            )));
        };
        let (index, bytes) = self.ledger.append(&mut *self.tx, event, now)?;
        self.first.get_or_insert(index);
        Ok((index, bytes))
    }

    /// Queue `outbound` as the report of entry `index`, which this write
    /// logged (or will log before it commits).
    pub fn emit(&mut self, index: u64, outbound: Outbound) {
        self.outbound.push((index, outbound));
    }

    /// Sign a checkpoint over everything logged so far, proven consistent
    /// with the last one. A receipt computed against it is valid once the
    /// write commits.
    pub fn seal(&mut self) -> Result<()> {
        let (note, checkpoint) = self.ledger.seal(&mut *self.tx)?;
        self.sealed = Some((note, checkpoint));
        Ok(())
    }

    /// A C2SP tlog-proof for entry `index` against the checkpoint this
    /// write sealed.
    pub fn receipt(&self, index: u64) -> Result<String> {
        let Some((note, checkpoint)) = &self.sealed else {
            return Err(LedgerError::Integrity(
                "a receipt asked for before the write was sealed".into(),
            ));
        };
        self.ledger
            .receipt_signed(&*self.tx, index, checkpoint, note)
    }

    /// Log `event` and commit; answers its index. Most writes are this.
    pub fn commit_event(mut self, event: Event) -> Result<u64> {
        let index = self.log(event)?;
        self.commit()?;
        Ok(index)
    }

    /// Write the queued outbound messages, seal a checkpoint over the
    /// entries logged since the last seal, commit durably, and keep the
    /// checkpoint outside the database.
    pub fn commit(mut self) -> Result<()> {
        let now = self.now();
        let size = self.tx.tree_size()?;
        for (index, o) in std::mem::take(&mut self.outbound) {
            if !self
                .first
                .is_some_and(|first| (first..size).contains(&index))
            {
                return Err(LedgerError::Integrity(format!(
                    "an outbound message reports entry {index}, which this write did not log"
                )));
            }
            self.ledger.emit(&mut *self.tx, o, index, now)?;
        }
        // Nothing logged since the last seal (or at all): a second
        // checkpoint at one size would break the store's unique key on it.
        let unsealed =
            self.first.is_some() && self.sealed.as_ref().is_none_or(|(_, c)| c.size < size);
        if unsealed {
            self.seal()?;
        }
        let Write {
            ledger, tx, sealed, ..
        } = self;
        tx.commit()?;
        match sealed {
            Some((note, checkpoint)) => ledger.keep_signed(&note, checkpoint),
            None => Ok(()),
        }
    }
}

impl<'l> Deref for Write<'l> {
    type Target = dyn WriteTx + 'l;
    fn deref(&self) -> &Self::Target {
        &*self.tx
    }
}

impl DerefMut for Write<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.tx
    }
}
