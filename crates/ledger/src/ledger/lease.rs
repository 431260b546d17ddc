//! Leases: which of the instances serving one log does a piece of work
//! now.
//!
//! Several `countersign serve` processes on one database share the log,
//! the outbox and the scheduled tasks. A lease is a row in the database,
//! taken and renewed in a write transaction (so under the store's single
//! writer, across processes): it is free, expired, or held by someone
//! until a time. The scheduled tasks run on whichever instance holds
//! `leader`; each webhook delivery and mail is claimed with a lease of
//! its own before it is sent, and the lease goes when its attempt is
//! recorded. An instance that dies holding a lease holds it only until
//! the lease runs out; the work is then taken up by another.

use std::time::Duration;

use countersign_store::{DueDelivery, Lease, MailRecord, WriteTx};
use time::OffsetDateTime;

use super::{Ledger, Result};

/// The lease of the instance that runs the scheduled tasks.
pub const LEADER: &str = "leader";

pub(crate) fn delivery_lease(id: u64) -> String {
    format!("delivery:{id}")
}

pub(crate) fn mail_lease(id: &str) -> String {
    format!("mail:{id}")
}

/// Take `name` for `holder` until `now + ttl` if it is free, expired or
/// already `holder`'s; answers whether `holder` has it.
fn take(
    tx: &mut dyn WriteTx,
    name: &str,
    holder: &str,
    ttl: Duration,
    now: OffsetDateTime,
) -> Result<bool> {
    if let Some(held) = tx.lease(name)? {
        if held.holder != holder && held.until > now {
            return Ok(false);
        }
    }
    tx.put_lease(&Lease {
        name: name.to_string(),
        holder: holder.to_string(),
        until: now + ttl,
    })?;
    Ok(true)
}

impl Ledger {
    /// Take or renew lease `name` for `holder`; false while another
    /// instance holds it.
    pub fn take_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin_operational()?;
        let got = take(&mut *tx, name, holder, ttl, now)?;
        tx.commit()?;
        Ok(got)
    }

    /// Give lease `name` up, if `holder` has it.
    pub fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let mut tx = self.begin_operational()?;
        if tx.lease(name)?.is_some_and(|l| l.holder == holder) {
            tx.delete_lease(name)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Who holds lease `name` at `now`, if anyone.
    pub fn lease_holder(&self, name: &str, now: OffsetDateTime) -> Result<Option<String>> {
        Ok(self
            .store
            .read()?
            .lease(name)?
            .filter(|l| l.until > now)
            .map(|l| l.holder))
    }

    /// Deliveries due at `now` that no other instance is sending, each
    /// claimed for `holder` for `ttl` (longer than one attempt may take),
    /// with the secrets still in force.
    pub fn claim_due_deliveries(
        &self,
        holder: &str,
        ttl: Duration,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        let mut tx = self.begin_operational()?;
        let mut claimed = Vec::new();
        for mut d in tx.due_deliveries(now, limit)? {
            if take(&mut *tx, &delivery_lease(d.delivery.id), holder, ttl, now)? {
                d.secrets.retain(|s| s.retire_at.is_none_or(|at| at > now));
                claimed.push(d);
            }
        }
        tx.commit()?;
        Ok(claimed)
    }

    /// Mails due at `now` that no other instance is sending, each claimed
    /// for `holder` for `ttl`.
    pub fn claim_due_mails(
        &self,
        holder: &str,
        ttl: Duration,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<MailRecord>> {
        let mut tx = self.begin_operational()?;
        let mut claimed = Vec::new();
        for m in tx.due_mails(now, limit)? {
            if take(&mut *tx, &mail_lease(&m.id), holder, ttl, now)? {
                claimed.push(m);
            }
        }
        tx.commit()?;
        Ok(claimed)
    }
}
