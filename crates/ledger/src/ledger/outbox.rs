//! The transactional outbox: outbound CloudEvents written in the same
//! transaction as the change they report, one delivery per subscribed
//! webhook endpoint, and the bookkeeping of delivery attempts.
//!
//! Sending is the server's job (it owns the HTTP client and the clock);
//! this module only decides what to send, records what happened, and
//! applies the retry, dead-letter and auto-disable rules. Delivery
//! bookkeeping is operational state, not audit: attempts are kept in the
//! delivery log, while endpoint changes (created, rotated, disabled) are
//! log entries like every other configuration change.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use countersign_proto::entry::Event;
use countersign_proto::iga::{
    CloudEvent, CreateWebhook, DeliveryAttempt, DeliveryFilter, DeliveryLog, DeliveryRecord,
    DeliveryState, ReplayDeliveries, SignedApproval, UpdateWebhook, WebhookEndpoint,
    CLOUDEVENTS_VERSION, EVENT_TYPE_PREFIX,
};
use countersign_proto::model::Request;
use countersign_proto::ErrorCode;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::{new_id, Ledger, LedgerError, Receipted, Result, Write};
use crate::{OutboxEvent, ReadTx, WebhookRecord, WebhookSecret, WriteTx};

/// What an outbound CloudEvent reports: its type, without the
/// `dev.countersign.` prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboundKind {
    RequestApproved,
    RequestRejected,
    RequestVoided,
    RequestRerouted,
    IdentitySuspended,
    IdentityTerminated,
    IdentityOrphaned,
    ControlExceptionRaised,
    ControlExceptionUpdated,
}

impl OutboundKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [OutboundKind; 9] = [
        OutboundKind::RequestApproved,
        OutboundKind::RequestRejected,
        OutboundKind::RequestVoided,
        OutboundKind::RequestRerouted,
        OutboundKind::IdentitySuspended,
        OutboundKind::IdentityTerminated,
        OutboundKind::IdentityOrphaned,
        OutboundKind::ControlExceptionRaised,
        OutboundKind::ControlExceptionUpdated,
    ];

    /// The short type name (`request.approved`).
    pub const fn as_str(self) -> &'static str {
        match self {
            OutboundKind::RequestApproved => "request.approved",
            OutboundKind::RequestRejected => "request.rejected",
            OutboundKind::RequestVoided => "request.voided",
            OutboundKind::RequestRerouted => "request.rerouted",
            OutboundKind::IdentitySuspended => "identity.suspended",
            OutboundKind::IdentityTerminated => "identity.terminated",
            OutboundKind::IdentityOrphaned => "identity.orphaned",
            OutboundKind::ControlExceptionRaised => "control_exception.raised",
            OutboundKind::ControlExceptionUpdated => "control_exception.updated",
        }
    }

    /// The kind with this short or full (`dev.countersign.…`) type name.
    pub fn parse(name: &str) -> Option<OutboundKind> {
        let short = name.strip_prefix(EVENT_TYPE_PREFIX).unwrap_or(name);
        OutboundKind::ALL.into_iter().find(|k| k.as_str() == short)
    }

    /// The full CloudEvents type (`dev.countersign.request.approved`).
    pub fn full_type(self) -> String {
        format!("{EVENT_TYPE_PREFIX}{}", self.as_str())
    }
}

/// Every CloudEvents type Countersign emits, without the `dev.countersign.` prefix.
pub const EVENT_TYPES: &[&str] = &{
    let mut names = [""; OutboundKind::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = OutboundKind::ALL[i].as_str();
        i += 1;
    }
    names
};

/// An outbound event, queued on a [`super::Write`] with the index of the
/// entry it reports.
pub(crate) struct Outbound {
    pub kind: OutboundKind,
    /// The CloudEvents `subject`: the request, identity or exception id.
    pub subject: String,
    /// Events with the same key reach each endpoint in order.
    pub ordering_key: String,
    pub data: Value,
}

/// What one delivery attempt came to, as the sender reports it.
#[derive(Clone, Debug)]
pub struct AttemptOutcome {
    pub ok: bool,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// The sender's retry rules, applied when an attempt is recorded.
#[derive(Clone, Debug)]
pub struct DeliveryRules {
    /// Attempts after which a delivery goes to the dead-letter state.
    pub max_attempts: u32,
    /// Consecutive failed attempts after which an endpoint is disabled.
    pub disable_after: u32,
}

/// Normalise a subscription list to full type names; unknown names are refused.
fn subscription(events: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in events {
        let Some(kind) = OutboundKind::parse(e) else {
            return Err(LedgerError::refused(
                ErrorCode::InvalidField,
                format!(
                    "unknown event type {e:?}; known types: {}",
                    EVENT_TYPES.join(", ")
                ),
            ));
        };
        let full = kind.full_type();
        if !out.contains(&full) {
            out.push(full);
        }
    }
    Ok(out)
}

fn check_url(url: &str) -> Result<()> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2000
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(LedgerError::refused(
            ErrorCode::InvalidField,
            format!("url {url:?} is not an http(s) URL"),
        ))
    }
}

impl Ledger {
    /// Write `outbound` to the outbox and queue one delivery per endpoint
    /// subscribed to its type, inside the caller's transaction (called by
    /// [`super::Write::commit`]).
    pub(super) fn emit(
        &self,
        tx: &mut dyn WriteTx,
        outbound: Outbound,
        log_index: u64,
        now: OffsetDateTime,
    ) -> Result<()> {
        let event_type = outbound.kind.full_type();
        let event = CloudEvent {
            specversion: CLOUDEVENTS_VERSION.to_string(),
            id: new_id("evt"),
            source: self.config.iga.event_source.clone(),
            event_type: event_type.clone(),
            subject: Some(outbound.subject),
            time: now,
            datacontenttype: "application/json".to_string(),
            logindex: Some(log_index),
            data: outbound.data,
        };
        let body = serde_json::to_string(&event)
            .map_err(|e| LedgerError::Integrity(format!("encoding an event: {e}")))?;
        tx.put_outbox_event(&OutboxEvent {
            id: event.id.clone(),
            event_type: event_type.clone(),
            ordering_key: outbound.ordering_key.clone(),
            body,
            created_at: now,
        })?;
        for w in tx.webhooks()? {
            let e = &w.endpoint;
            // Disabled endpoints still get their deliveries queued, so that
            // re-enabling one delivers what it missed, in order.
            if !e.events.is_empty() && !e.events.contains(&event_type) {
                continue;
            }
            tx.put_delivery(&DeliveryRecord {
                id: 0,
                endpoint: e.id.clone(),
                event_id: event.id.clone(),
                event_type: event_type.clone(),
                ordering_key: outbound.ordering_key.clone(),
                state: DeliveryState::Pending,
                attempts: 0,
                next_attempt_at: Some(now),
                last_status: None,
                last_error: None,
                created_at: now,
                updated_at: now,
            })?;
        }
        Ok(())
    }

    /// The signatures of a decided request, each with its envelope, the
    /// digest of the statement it signs and its receipt, so a provisioning
    /// system can verify the approval before acting on it.
    pub(crate) fn signed_approvals(
        &self,
        tx: &dyn ReadTx,
        request: &Request,
    ) -> Result<Vec<SignedApproval>> {
        let mut out = Vec::new();
        for s in &request.signatures {
            let bytes = tx.entry(s.log_index)?.ok_or_else(|| {
                LedgerError::Integrity(format!("entry {} is missing", s.log_index))
            })?;
            let entry = super::personal::open(tx, s.log_index, &bytes)?.entry;
            let Event::SignatureAccepted { envelope, .. } = entry.event else {
                return Err(LedgerError::Integrity(format!(
                    "entry {} is not a signature",
                    s.log_index
                )));
            };
            let payload = B64
                .decode(envelope.payload.as_bytes())
                .map_err(|e| LedgerError::Integrity(format!("stored envelope: {e}")))?;
            let receipt = tx
                .receipt_for_envelope(&s.envelope_sha256)?
                .map(|r| r.receipt)
                .ok_or_else(|| {
                    LedgerError::Integrity(format!("no receipt for entry {}", s.log_index))
                })?;
            out.push(SignedApproval {
                actor: s.actor.clone(),
                principal: s.principal.clone(),
                key_id: s.key_id.clone(),
                statement_sha256: hex::encode(Sha256::digest(&payload)),
                envelope,
                log_index: s.log_index,
                receipt,
            });
        }
        Ok(out)
    }

    /// The event data of a decided request.
    pub(crate) fn decided_request_data(&self, tx: &dyn ReadTx, request: &Request) -> Result<Value> {
        Ok(json!({
            "request": request,
            "action": request.action,
            "requester": request.requester,
            "signatures": self.signed_approvals(tx, request)?,
            "log": {
                "origin": self.signer.name(),
                "verifier_key": self.verifier.to_vkey(),
            },
        }))
    }

    // ----------------------------------------------------------- endpoints

    /// Register an endpoint with its first secret (made by the caller).
    pub fn create_webhook(
        &self,
        input: &CreateWebhook,
        secret: WebhookSecret,
        now: OffsetDateTime,
    ) -> Result<Receipted<WebhookEndpoint>> {
        check_url(&input.url)?;
        let events = subscription(&input.events)?;
        let tx = self.begin(now)?;
        let index = tx.tree_size()?;
        let endpoint = WebhookEndpoint {
            id: new_id("whk"),
            url: input.url.clone(),
            events,
            enabled: true,
            disabled_reason: None,
            public_keys: vec![secret.public_key.clone()],
            secrets: 1,
            consecutive_failures: 0,
            created_at: now,
            log_index: index,
        };
        self.save_webhook(
            tx,
            WebhookRecord {
                endpoint,
                secrets: vec![secret],
            },
            "created",
            None,
        )
    }

    fn save_webhook(
        &self,
        mut tx: Write<'_>,
        mut record: WebhookRecord,
        action: &str,
        reason: Option<String>,
    ) -> Result<Receipted<WebhookEndpoint>> {
        record.endpoint.secrets = record.secrets.len();
        record.endpoint.public_keys = record
            .secrets
            .iter()
            .map(|s| s.public_key.clone())
            .collect();
        tx.put_webhook(&record)?;
        let index = tx.commit_event(Event::WebhookChanged {
            endpoint: record.endpoint.clone(),
            action: action.to_string(),
            reason,
        })?;
        Ok(Receipted {
            value: record.endpoint,
            log_index: index,
        })
    }

    fn load_webhook(tx: &dyn ReadTx, id: &str) -> Result<WebhookRecord> {
        tx.webhook(id)?.ok_or_else(|| {
            LedgerError::refused(ErrorCode::WebhookNotFound, format!("no webhook {id:?}"))
        })
    }

    /// Change an endpoint's URL, subscription or enabled state.
    pub fn update_webhook(
        &self,
        id: &str,
        patch: &UpdateWebhook,
        now: OffsetDateTime,
    ) -> Result<Receipted<WebhookEndpoint>> {
        let tx = self.begin(now)?;
        let mut record = Self::load_webhook(&*tx, id)?;
        let mut action = "updated";
        if let Some(url) = &patch.url {
            check_url(url)?;
            record.endpoint.url.clone_from(url);
        }
        if let Some(events) = &patch.events {
            record.endpoint.events = subscription(events)?;
        }
        if let Some(enabled) = patch.enabled {
            if enabled != record.endpoint.enabled {
                action = if enabled { "enabled" } else { "disabled" };
            }
            record.endpoint.enabled = enabled;
            if enabled {
                record.endpoint.disabled_reason = None;
                record.endpoint.consecutive_failures = 0;
            } else {
                record.endpoint.disabled_reason = Some("disabled by an operator".into());
            }
        }
        self.save_webhook(tx, record, action, None)
    }

    /// Add a new secret; the old ones keep signing for `overlap`, so
    /// receivers can switch without missing a delivery.
    pub fn rotate_webhook(
        &self,
        id: &str,
        secret: WebhookSecret,
        overlap: time::Duration,
        now: OffsetDateTime,
    ) -> Result<Receipted<WebhookEndpoint>> {
        let tx = self.begin(now)?;
        let mut record = Self::load_webhook(&*tx, id)?;
        record
            .secrets
            .retain(|s| s.retire_at.is_none_or(|at| at > now));
        for s in &mut record.secrets {
            let retire = now + overlap;
            s.retire_at = Some(s.retire_at.map_or(retire, |at| at.min(retire)));
        }
        record.secrets.push(secret);
        self.save_webhook(tx, record, "rotated", None)
    }

    pub fn webhooks(&self) -> Result<Vec<WebhookEndpoint>> {
        Ok(self
            .store
            .read()?
            .webhooks()?
            .into_iter()
            .map(|w| w.endpoint)
            .collect())
    }

    pub fn webhook(&self, id: &str) -> Result<WebhookEndpoint> {
        Ok(Self::load_webhook(&*self.store.read()?, id)?.endpoint)
    }

    // ----------------------------------------------------------- deliveries

    /// Record one attempt. A failure schedules the next attempt at
    /// `retry_at`, or moves the delivery to dead-letter once the attempts
    /// are used up; enough consecutive failures disable the endpoint.
    pub fn record_attempt(
        &self,
        delivery: u64,
        outcome: &AttemptOutcome,
        retry_at: OffsetDateTime,
        rules: &DeliveryRules,
        now: OffsetDateTime,
    ) -> Result<DeliveryRecord> {
        let mut tx = self.begin(now)?;
        let mut d = tx.delivery(delivery)?.ok_or_else(|| {
            LedgerError::refused(
                ErrorCode::DeliveryNotFound,
                format!("no delivery {delivery}"),
            )
        })?;
        if d.state != DeliveryState::Pending {
            // Replayed or finished meanwhile; this attempt's result is moot.
            return Ok(d);
        }
        d.attempts += 1;
        d.last_status = outcome.status;
        d.last_error.clone_from(&outcome.error);
        d.updated_at = now;
        if outcome.ok {
            d.state = DeliveryState::Delivered;
            d.next_attempt_at = None;
        } else if d.attempts >= rules.max_attempts {
            d.state = DeliveryState::Dead;
            d.next_attempt_at = None;
        } else {
            d.next_attempt_at = Some(retry_at);
        }
        tx.put_delivery(&d)?;
        // The attempt is recorded: the claim on it ends with this write.
        tx.delete_lease(&super::lease::delivery_lease(delivery))?;
        tx.add_delivery_attempt(&DeliveryAttempt {
            delivery,
            attempt: d.attempts,
            at: now,
            status: outcome.status,
            error: outcome.error.clone(),
            elapsed_ms: outcome.elapsed_ms,
        })?;
        let mut record = Self::load_webhook(&*tx, &d.endpoint)?;
        let before = record.endpoint.consecutive_failures;
        record.endpoint.consecutive_failures = if outcome.ok { 0 } else { before + 1 };
        if record.endpoint.consecutive_failures == before {
            tx.commit()?;
            return Ok(d);
        }
        if record.endpoint.enabled && record.endpoint.consecutive_failures >= rules.disable_after {
            record.endpoint.enabled = false;
            let why = format!(
                "disabled after {} consecutive failed deliveries; last: {}",
                record.endpoint.consecutive_failures,
                outcome.error.as_deref().unwrap_or("no answer")
            );
            record.endpoint.disabled_reason = Some(why.clone());
            self.save_webhook(tx, record, "disabled", Some(why))?;
            return Ok(d);
        }
        tx.put_webhook(&record)?;
        tx.commit()?;
        Ok(d)
    }

    /// Send dead (or named) deliveries again from their first attempt.
    pub fn replay_deliveries(
        &self,
        input: &ReplayDeliveries,
        now: OffsetDateTime,
    ) -> Result<Vec<u64>> {
        let mut tx = self.begin(now)?;
        if let Some(e) = &input.endpoint {
            Self::load_webhook(&*tx, e)?;
        }
        let targets: Vec<DeliveryRecord> = if input.deliveries.is_empty() {
            tx.deliveries(&DeliveryFilter {
                endpoint: input.endpoint.clone(),
                state: Some(DeliveryState::Dead),
                limit: Some(1000),
            })?
        } else {
            let mut v = Vec::new();
            for id in &input.deliveries {
                let d = tx.delivery(*id)?.ok_or_else(|| {
                    LedgerError::refused(ErrorCode::DeliveryNotFound, format!("no delivery {id}"))
                })?;
                v.push(d);
            }
            v
        };
        let mut replayed = Vec::new();
        // Oldest first, so a replayed backlog keeps its order.
        let mut targets = targets;
        targets.sort_by_key(|d| d.id);
        for mut d in targets {
            if d.state == DeliveryState::Pending {
                continue;
            }
            d.state = DeliveryState::Pending;
            d.attempts = 0;
            d.next_attempt_at = Some(now);
            d.updated_at = now;
            tx.put_delivery(&d)?;
            replayed.push(d.id);
        }
        tx.commit()?;
        Ok(replayed)
    }

    pub fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>> {
        Ok(self.store.read()?.deliveries(filter)?)
    }

    pub fn delivery_log(&self, id: u64) -> Result<DeliveryLog> {
        let tx = self.store.read()?;
        let delivery = tx.delivery(id)?.ok_or_else(|| {
            LedgerError::refused(ErrorCode::DeliveryNotFound, format!("no delivery {id}"))
        })?;
        Ok(DeliveryLog {
            attempts: tx.delivery_attempts(id)?,
            delivery,
        })
    }

    /// The CloudEvent body of an outbox event.
    pub fn outbox_event(&self, id: &str) -> Result<Option<OutboxEvent>> {
        Ok(self.store.read()?.outbox_event(id)?)
    }
}
