//! Prometheus metrics, served at `/metrics` in the OpenMetrics text format
//! (`prometheus-client`): request counts and latencies by route and
//! status, signatures accepted and refused by code, webhook and mail
//! delivery outcomes, and, read at each scrape, the log's size, the age of
//! its newest entry and the delivery backlogs. Labels hold route templates,
//! codes and outcomes only: nothing personal, no ids.

use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_ledger::Submission;
use countersign_proto::iga::{DeliveryFilter, DeliveryState};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::{ApiError, AppState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignatureLabels {
    /// `accepted`, `replayed` or `refused`.
    pub outcome: String,
    /// The error code of a refusal, else `none`.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `webhook` or `mail`.
    pub channel: String,
    /// `delivered`, `retry` or `dead`.
    pub outcome: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric the server keeps.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    signatures: Family<SignatureLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    log_size: Gauge,
    newest_entry_age: Gauge<f64, AtomicU64>,
    webhook_backlog: Gauge,
    mail_backlog: Gauge,
    pending: Gauge,
    busy: Counter,
    leader: Gauge,
    scheduled: Family<TaskLabels, Counter>,
    batches: Histogram,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    /// `sweep` (expiry, reminders, purging) or `reconcile`.
    pub task: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("countersign");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let signatures = Family::<SignatureLabels, Counter>::default();
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        let log_size = Gauge::default();
        let newest_entry_age = Gauge::<f64, AtomicU64>::default();
        let webhook_backlog = Gauge::default();
        let mail_backlog = Gauge::default();
        let pending = Gauge::default();
        let busy = Counter::default();
        let leader = Gauge::default();
        // 1 to 256 submissions.
        let batches = Histogram::new(exponential_buckets(1.0, 2.0, 9));
        registry.register(
            "signature_batch_size",
            "Signature submissions written together in one durable transaction and checkpoint",
            batches.clone(),
        );
        let scheduled = Family::<TaskLabels, Counter>::default();
        registry.register(
            "leader",
            "1 while this instance holds the leader lease and runs the scheduled tasks, else 0",
            leader.clone(),
        );
        registry.register(
            "scheduled_runs",
            "Scheduled tasks this instance ran as leader, by task",
            scheduled.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            latency.clone(),
        );
        registry.register(
            "signatures",
            "Signatures submitted, by outcome and refusal code",
            signatures.clone(),
        );
        registry.register(
            "deliveries",
            "Outbound webhook and mail delivery attempts, by outcome",
            deliveries.clone(),
        );
        registry.register(
            "log_entries",
            "Entries in the log (its signed size)",
            log_size.clone(),
        );
        registry.register(
            "log_newest_entry_age_seconds",
            "Seconds since the newest log entry was written",
            newest_entry_age.clone(),
        );
        registry.register(
            "webhook_backlog",
            "Webhook deliveries waiting for their first or next attempt (counted up to 10,000)",
            webhook_backlog.clone(),
        );
        registry.register(
            "mail_backlog",
            "Mails due to be sent now (counted up to 10,000)",
            mail_backlog.clone(),
        );
        registry.register(
            "pending_operations",
            "Ledger operations running or waiting for the database (the admission queue's depth)",
            pending.clone(),
        );
        registry.register(
            "busy_refusals",
            "Requests answered 503 server_busy because the admission queue was full",
            busy.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            signatures,
            deliveries,
            log_size,
            newest_entry_age,
            webhook_backlog,
            mail_backlog,
            pending,
            busy,
            leader,
            scheduled,
            batches,
        }
    }
}

impl Metrics {
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// Count one submitted signature by what became of it.
    pub fn signature(&self, submission: &Result<Submission, ApiError>) {
        let (outcome, code) = match submission {
            Ok(s) if s.recorded => ("accepted", "none".to_string()),
            Ok(_) => ("replayed", "none".to_string()),
            Err(e) => ("refused", e.problem.code.as_str().to_string()),
        };
        self.signatures
            .get_or_create(&SignatureLabels {
                outcome: outcome.into(),
                code,
            })
            .inc();
    }

    /// The admission queue's depth now.
    pub fn pending(&self, depth: usize) {
        self.pending.set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Whether this instance leads now; answers whether it led before.
    pub fn set_leader(&self, leads: bool) -> bool {
        self.leader.set(i64::from(leads)) == 1
    }

    /// One batch of `n` signature submissions written.
    pub fn batch(&self, n: usize) {
        self.batches.observe(n as f64);
    }

    /// One run of a scheduled task on this instance.
    pub fn scheduled_run(&self, task: &str) {
        self.scheduled
            .get_or_create(&TaskLabels { task: task.into() })
            .inc();
    }

    /// One request refused because the admission queue was full.
    pub fn busy(&self) {
        self.busy.inc();
    }

    pub fn delivery(&self, channel: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                channel: channel.into(),
                outcome: outcome.into(),
            })
            .inc();
    }
}

/// `GET /metrics`.
pub async fn serve(State(s): State<AppState>) -> Response {
    let read = s
        .run_internal(|l, now| {
            let tx = l.store().read()?;
            let size = tx.latest_checkpoint()?.map_or(0, |(size, _)| size);
            let newest = match size.checked_sub(1) {
                Some(i) => tx
                    .entry(i)?
                    .and_then(|b| countersign_proto::entry::LogEntry::from_bytes(&b).ok())
                    .map(|e| (now - e.at).as_seconds_f64()),
                None => None,
            };
            let backlog = tx
                .deliveries(&DeliveryFilter {
                    endpoint: None,
                    state: Some(DeliveryState::Pending),
                    limit: Some(10_000),
                })?
                .len();
            let mails = tx.due_mails(now, 10_000)?.len();
            Ok((size, newest, backlog, mails))
        })
        .await;
    let m = &s.metrics;
    if let Ok((size, newest, backlog, mails)) = read {
        m.mail_backlog.set(i64::try_from(mails).unwrap_or(i64::MAX));
        m.log_size.set(i64::try_from(size).unwrap_or(i64::MAX));
        m.newest_entry_age.set(newest.unwrap_or(0.0));
        m.webhook_backlog
            .set(i64::try_from(backlog).unwrap_or(i64::MAX));
    }
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &m.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => ApiError::internal(format!("encoding metrics: {e}")).into_response(),
    }
}
