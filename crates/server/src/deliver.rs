//! The webhook sender: drains the outbox the ledger fills.
//!
//! Every poll it asks the ledger for deliveries that are due (at most one
//! per endpoint and ordering key, so events about one request arrive in
//! order), sends each endpoint's share in order with Standard Webhooks
//! signatures, and records every attempt. A failure is retried with capped
//! exponential backoff and jitter; after the configured attempts the
//! delivery is dead-lettered, and after enough consecutive failures the
//! endpoint is disabled (both by the ledger). Because the outbox rows are
//! written in the same transaction as the change they report, a crash
//! anywhere here loses nothing: the next poll after a restart finds the
//! delivery still pending.

use std::collections::BTreeMap;
use std::time::Duration;

use countersign_ledger::{AttemptOutcome, DeliveryRules, DueDelivery};
use countersign_webhook::{Delivery, RetryPolicy, SigningSecret};
use rand_core::{OsRng, RngCore as _};

use crate::AppState;

/// How the sender behaves.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// How often the outbox is polled.
    pub poll: Duration,
    /// Time limit of one attempt.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Consecutive failed attempts after which an endpoint is disabled.
    pub disable_after: u32,
    /// Where webhooks may go (`[webhooks] allow_http`, `allow_private`).
    pub egress: countersign_webhook::Egress,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            poll: Duration::from_millis(500),
            timeout: Duration::from_secs(15),
            retry: RetryPolicy::default(),
            disable_after: 50,
            egress: countersign_webhook::Egress::default(),
        }
    }
}

/// A uniform random number in [0, 1) to spread retries.
pub(crate) fn jitter() -> f64 {
    // 53 random bits make a uniform f64 in [0, 1).
    (OsRng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Poll and send until the task is aborted.
pub async fn run(state: AppState) {
    let client = match countersign_webhook::client(state.config.webhooks.egress) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; no webhooks will be sent");
            return;
        }
    };
    let settings = state.config.webhooks.clone();
    let mut tick = tokio::time::interval(settings.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Each delivery is claimed for longer than its attempt may take,
        // so no other instance on this log sends it meanwhile.
        let instance = state.config.instance.clone();
        let claim = settings.timeout + state.config.lease;
        let due = match state
            .run_internal(move |l, now| l.claim_due_deliveries(&instance, claim, now, 100))
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e.problem.detail, "reading the outbox failed");
                continue;
            }
        };
        if due.is_empty() {
            continue;
        }
        let mut by_endpoint: BTreeMap<String, Vec<DueDelivery>> = BTreeMap::new();
        for d in due {
            by_endpoint
                .entry(d.delivery.endpoint.clone())
                .or_default()
                .push(d);
        }
        // Endpoints are independent: a slow one must not hold up the rest.
        let mut sends = tokio::task::JoinSet::new();
        for (_, deliveries) in by_endpoint {
            let state = state.clone();
            let client = client.clone();
            let settings = settings.clone();
            sends.spawn(async move {
                for d in deliveries {
                    send_one(&state, &client, &settings, d).await;
                }
            });
        }
        while sends.join_next().await.is_some() {}
    }
}

async fn send_one(
    state: &AppState,
    client: &reqwest::Client,
    settings: &WebhookSettings,
    due: DueDelivery,
) {
    let secrets: Vec<SigningSecret> = due
        .secrets
        .iter()
        .flat_map(|s| [&s.hmac, &s.signing_key])
        .filter_map(|s| SigningSecret::parse(s).ok())
        .collect();
    let now = state.clock.now();
    let attempt = countersign_webhook::deliver(
        client,
        settings.egress,
        &Delivery {
            url: &due.url,
            msg_id: &due.delivery.event_id,
            timestamp: now.unix_timestamp(),
            body: due.body.as_bytes(),
            secrets: &secrets,
        },
        settings.timeout,
    )
    .await;
    let outcome = AttemptOutcome {
        ok: attempt.ok,
        status: attempt.status,
        error: attempt.error,
        elapsed_ms: attempt.elapsed_ms,
    };
    let delay = settings.retry.delay(due.delivery.attempts + 1, jitter());
    let rules = DeliveryRules {
        max_attempts: settings.retry.max_attempts,
        disable_after: settings.disable_after,
    };
    let id = due.delivery.id;
    let ok = outcome.ok;
    let result = state
        .run_internal(move |l, now| {
            let retry_at = now + delay;
            l.record_attempt(id, &outcome, retry_at, &rules, now)
        })
        .await;
    if let Ok(d) = &result {
        let outcome = match (ok, d.state) {
            (true, _) => "delivered",
            (false, countersign_proto::iga::DeliveryState::Dead) => "dead",
            (false, _) => "retry",
        };
        state.metrics.delivery("webhook", outcome);
    }
    match result {
        Ok(d) if !ok => tracing::info!(
            delivery = id,
            attempts = d.attempts,
            state = d.state.as_str(),
            error = d.last_error.as_deref().unwrap_or(""),
            "webhook delivery failed"
        ),
        Ok(_) => tracing::debug!(delivery = id, "webhook delivered"),
        Err(e) => {
            tracing::warn!(delivery = id, error = %e.problem.detail, "recording a webhook attempt failed")
        }
    }
}
