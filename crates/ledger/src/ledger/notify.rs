//! The mail outbox: notifications composed in the transaction of the
//! change they report (a request that needs someone, a re-routing, an
//! outcome, an enrolment link), and the bookkeeping of sending them.
//!
//! As with webhook deliveries, sending is the server's job; the ledger
//! decides who is told what (with `countersign_domain::notify`) and
//! applies the retry and dead-letter rules when the sender reports an
//! attempt. Mails hold names and addresses, so they are operational state
//! and never enter the log.

use countersign_domain::notify::{self, Composed};
use countersign_proto::model::{Identity, Request, RequestState};
use countersign_proto::notify::{Notification, NotificationKind, NotificationState};
use time::{Duration, OffsetDateTime};

use super::{new_id, Ledger, LedgerError, Result};
use crate::{MailRecord, ReadTx, WriteTx};

/// When mails go out and how failures are retried.
#[derive(Clone, Debug)]
pub struct MailRules {
    /// Reminders, each this long before a pending request expires.
    pub reminders: Vec<Duration>,
    /// Attempts after which a mail is dead.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
}

impl Default for MailRules {
    fn default() -> Self {
        MailRules {
            reminders: vec![Duration::hours(24)],
            max_attempts: 12,
            retry_base: Duration::seconds(30),
            retry_cap: Duration::hours(1),
        }
    }
}

/// What one send attempt came to, as the sender reports it.
#[derive(Clone, Debug)]
pub enum MailOutcome {
    Sent,
    /// Worth retrying (connection refused, a 4xx answer).
    Transient(String),
    /// Not worth retrying (a 5xx answer: no such mailbox, bad credentials).
    Permanent(String),
}

fn notification(m: MailRecord) -> Notification {
    Notification {
        id: m.id,
        identity: m.identity,
        kind: m.kind,
        request: m.request,
        subject: m.subject,
        state: m.state,
        attempts: m.attempts,
        created_at: m.created_at,
        sent_at: m.sent_at,
        last_error: m.last_error,
    }
}

impl Ledger {
    /// Whether mails are queued at all (an `[smtp]` server is configured).
    pub fn mail_enabled(&self) -> bool {
        self.config.mail.is_some()
    }

    /// Queue one mail to `to` inside `tx`. Without an address it is kept
    /// as `no_address`, so the recipient's history shows what they missed.
    pub(crate) fn queue_mail(
        &self,
        tx: &mut dyn WriteTx,
        to: &Identity,
        kind: NotificationKind,
        request: Option<&str>,
        mail: Composed,
        now: OffsetDateTime,
    ) -> Result<()> {
        if self.config.mail.is_none() {
            return Ok(());
        }
        let id = new_id("mail");
        let host = self
            .config
            .web
            .public_url
            .split("://")
            .nth(1)
            .and_then(|h| h.split(['/', ':']).next())
            .unwrap_or("countersign.localhost");
        tx.put_mail(&MailRecord {
            message_id: format!("<{id}@{host}>"),
            id,
            identity: to.handle.clone(),
            display_name: to.display_name.clone(),
            address: to.email.clone(),
            kind,
            request: request.map(str::to_string),
            subject: mail.subject,
            text: mail.text,
            html: Some(mail.html),
            state: if to.email.is_some() {
                NotificationState::Pending
            } else {
                NotificationState::NoAddress
            },
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            sent_at: None,
            last_error: None,
        })?;
        Ok(())
    }

    fn display_name(tx: &dyn ReadTx, handle: &str) -> Result<String> {
        Ok(tx
            .identity(handle)?
            .map(|i| i.display_name)
            .unwrap_or_else(|| handle.to_string()))
    }

    /// Tell everyone `request` now needs, and who `before` (the request
    /// before this change) did not already need, that it awaits them; and
    /// each active delegate who may sign for them. `rerouted_from` names
    /// an approver who left, for the wording.
    pub(crate) fn notify_needed(
        &self,
        tx: &mut dyn WriteTx,
        request: &Request,
        before: Option<&Request>,
        rerouted_from: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()> {
        if self.config.mail.is_none() {
            return Ok(());
        }
        let already = before.map(notify::needed_now).unwrap_or_default();
        let newly: Vec<String> = notify::needed_now(request)
            .into_iter()
            .filter(|a| !already.contains(a))
            .collect();
        if newly.is_empty() {
            return Ok(());
        }
        let requester = Self::display_name(&*tx, &request.requester)?;
        let base = self.config.web.public_url.clone();
        for approver in newly {
            // The approver, then each active delegate who may sign for them.
            let delegations = tx.delegations_of(&approver)?;
            let delegates = notify::delegates_for(&delegations, &approver, request, now);
            let mut recipients = vec![(approver.clone(), None)];
            if !delegates.is_empty() {
                let principal = Self::display_name(&*tx, &approver)?;
                recipients.extend(delegates.into_iter().map(|d| (d, Some(principal.clone()))));
            }
            for (handle, for_principal) in recipients {
                let Some(who) = tx.identity(&handle)? else {
                    continue;
                };
                let left = if for_principal.is_none() {
                    rerouted_from
                } else {
                    None
                };
                let mail = notify::approval_needed(
                    request,
                    &who,
                    &requester,
                    for_principal.as_deref(),
                    left,
                    &base,
                );
                self.queue_mail(
                    tx,
                    &who,
                    NotificationKind::ApprovalNeeded,
                    Some(&request.id),
                    mail,
                    now,
                )?;
            }
        }
        Ok(())
    }

    /// Tell the requester how their request ended.
    pub(crate) fn notify_outcome(
        &self,
        tx: &mut dyn WriteTx,
        request: &Request,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()> {
        if self.config.mail.is_none() {
            return Ok(());
        }
        let kind = match request.state {
            RequestState::Approved => NotificationKind::Approved,
            RequestState::Rejected => NotificationKind::Rejected,
            RequestState::Expired => NotificationKind::Expired,
            RequestState::Voided => NotificationKind::Voided,
            RequestState::Pending | RequestState::Withdrawn => return Ok(()),
        };
        let Some(requester) = tx.identity(&request.requester)? else {
            return Ok(());
        };
        let mail = notify::outcome(
            request,
            &requester,
            &requester.display_name,
            reason,
            &self.config.web.public_url,
        );
        self.queue_mail(tx, &requester, kind, Some(&request.id), mail, now)
    }

    /// Queue the reminders that have come due: for every pending request,
    /// each configured offset before its expiry that has passed, to each
    /// approver it still needs (once per request, approver and offset).
    /// Answers how many mails were queued.
    pub fn remind_due(&self, now: OffsetDateTime) -> Result<u64> {
        let Some(rules) = self.config.mail.clone() else {
            return Ok(0);
        };
        if rules.reminders.is_empty() {
            return Ok(0);
        }
        // Which approvers are owed which reminders, read first: most sweeps
        // find every due reminder already sent and write nothing.
        let mut owed = Vec::new();
        {
            let tx = self.store.read()?;
            let pending = tx.requests(&countersign_proto::api::RequestFilter {
                state: Some(RequestState::Pending),
                limit: Some(10_000),
                ..Default::default()
            })?;
            for r in pending {
                if r.expires_at <= now {
                    continue;
                }
                let due: Vec<i64> = rules
                    .reminders
                    .iter()
                    .filter(|o| r.expires_at - **o <= now && r.created_at < r.expires_at - **o)
                    .map(|o| o.whole_seconds())
                    .collect();
                let mut approvers = Vec::new();
                for approver in notify::needed_now(&r) {
                    let mut fresh = Vec::new();
                    for offset in &due {
                        if !tx.reminded(&r.id, &approver, *offset)? {
                            fresh.push(*offset);
                        }
                    }
                    if !fresh.is_empty() {
                        approvers.push((approver, fresh));
                    }
                }
                if !approvers.is_empty() {
                    owed.push((r, approvers));
                }
            }
        }
        let mut queued = 0;
        for (r, approvers) in owed {
            let mut tx = self.begin(now)?;
            let requester = Self::display_name(&*tx, &r.requester)?;
            let mut wrote = false;
            for (approver, offsets) in approvers {
                // Another sweep may have sent it since the read.
                let mut fresh = Vec::new();
                for offset in offsets {
                    if !tx.reminded(&r.id, &approver, offset)? {
                        fresh.push(offset);
                    }
                }
                if fresh.is_empty() {
                    continue;
                }
                // Several offsets can be due at once (the server was down):
                // they are the same message, so one mail covers them all.
                for offset in fresh {
                    tx.put_reminder(&r.id, &approver, offset)?;
                }
                wrote = true;
                if let Some(who) = tx.identity(&approver)? {
                    let mail = notify::reminder(&r, &who, &requester, &self.config.web.public_url);
                    self.queue_mail(
                        &mut *tx,
                        &who,
                        NotificationKind::Reminder,
                        Some(&r.id),
                        mail,
                        now,
                    )?;
                    queued += 1;
                }
            }
            if wrote {
                tx.commit()?;
            }
        }
        Ok(queued)
    }

    /// Record what sending mail `id` came to: sent; retried later with
    /// capped exponential backoff; or dead after a permanent failure or
    /// the last attempt. `jitter` (0 to 1) spreads retries.
    pub fn mail_attempted(
        &self,
        id: &str,
        outcome: MailOutcome,
        jitter: f64,
        now: OffsetDateTime,
    ) -> Result<MailRecord> {
        let rules = self.config.mail.clone().unwrap_or_default();
        let mut tx = self.begin(now)?;
        let mut m = tx.mail(id)?.ok_or_else(|| {
            LedgerError::refused(
                countersign_proto::ErrorCode::RouteNotFound,
                format!("no mail {id}"),
            )
        })?;
        if m.state != NotificationState::Pending {
            return Ok(m);
        }
        m.attempts += 1;
        match outcome {
            MailOutcome::Sent => {
                m.state = NotificationState::Sent;
                m.sent_at = Some(now);
                m.last_error = None;
            }
            MailOutcome::Permanent(e) => {
                m.state = NotificationState::Dead;
                m.last_error = Some(e);
            }
            MailOutcome::Transient(e) => {
                m.last_error = Some(e);
                if m.attempts >= rules.max_attempts {
                    m.state = NotificationState::Dead;
                } else {
                    let exp = rules
                        .retry_base
                        .saturating_mul(1_i32 << (m.attempts - 1).min(20))
                        .min(rules.retry_cap);
                    // Equal jitter: half fixed, half random.
                    let half = exp / 2;
                    m.next_attempt_at = now + half + half * jitter.clamp(0.0, 1.0);
                }
            }
        }
        tx.put_mail(&m)?;
        tx.delete_lease(&super::lease::mail_lease(id))?;
        tx.commit()?;
        Ok(m)
    }

    /// An identity's notification history, newest first.
    pub fn notifications(&self, handle: &str, limit: u32) -> Result<Vec<Notification>> {
        Ok(self
            .store
            .read()?
            .mails_of(handle, limit)?
            .into_iter()
            .map(notification)
            .collect())
    }
}
