//! Webhook endpoints, their deliveries, the delivery log and replay.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use countersign_ledger::WebhookSecret;
use countersign_proto::iga::{
    CreateWebhook, DeliveryFilter, DeliveryList, DeliveryLog, ReplayDeliveries, Replayed,
    RotateWebhook, UpdateWebhook, WebhookEndpoint, WebhookList, WebhookSecrets,
};
use countersign_proto::{ErrorCode, Problem};
use countersign_webhook::SigningSecret;
use rand_core::OsRng;
use time::OffsetDateTime;

use super::answer;
use crate::extract::{Json, Path, Query};
use crate::{ApiError, AppState};

/// A fresh HMAC secret and Ed25519 key pair, in Standard Webhooks form.
fn new_secret(now: OffsetDateTime) -> (WebhookSecret, String) {
    let hmac = SigningSecret::generate_hmac(&mut OsRng);
    let (signing, public) = SigningSecret::generate_ed25519(&mut OsRng);
    let hmac = hmac.to_string();
    (
        WebhookSecret {
            hmac: hmac.clone(),
            signing_key: signing.to_string(),
            public_key: public.to_string(),
            created_at: now,
            retire_at: None,
        },
        hmac,
    )
}

#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhook, security(("bearer" = [])),
    responses((status = 201, description = "the secret is shown once", body = WebhookSecrets), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    Json(input): Json<CreateWebhook>,
) -> Result<Response, ApiError> {
    egress_allows(&s, &input.url)?;
    let now = s.clock.now();
    let (secret, hmac) = new_secret(now);
    let public_key = secret.public_key.clone();
    let r = s
        .run(move |l, now| l.create_webhook(&input, secret, now))
        .await?;
    let body = WebhookSecrets {
        endpoint: r.value,
        secret: hmac,
        public_key,
    };
    Ok(answer(StatusCode::CREATED, &body, Some(r.log_index)))
}

/// Refuse a URL the egress policy forbids before it is stored.
fn egress_allows(s: &AppState, url: &str) -> Result<(), ApiError> {
    s.config.webhooks.egress.check_url(url).map_err(|why| {
        ApiError::new(
            ErrorCode::InvalidField,
            format!("url is not an allowed webhook destination: {why}"),
        )
    })
}

#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = WebhookList)))]
pub async fn list(State(s): State<AppState>) -> Result<Response, ApiError> {
    let endpoints = s.run(|l, _| l.webhooks()).await?;
    Ok(answer(StatusCode::OK, &WebhookList { endpoints }, None))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = WebhookEndpoint), (status = 404, body = Problem)))]
pub async fn show(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let w = s.run(move |l, _| l.webhook(&id)).await?;
    Ok(answer(StatusCode::OK, &w, None))
}

#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)), request_body = UpdateWebhook, security(("bearer" = [])),
    responses((status = 200, body = WebhookEndpoint), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(patch): Json<UpdateWebhook>,
) -> Result<Response, ApiError> {
    if let Some(url) = &patch.url {
        egress_allows(&s, url)?;
    }
    let r = s
        .run(move |l, now| l.update_webhook(&id, &patch, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate", tag = "webhooks", params(("id" = String, Path)), request_body = RotateWebhook, security(("bearer" = [])),
    responses((status = 200, description = "the new secret is shown once; the old ones sign alongside until the overlap ends", body = WebhookSecrets), (status = 404, body = Problem)))]
pub async fn rotate(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(input): Json<RotateWebhook>,
) -> Result<Response, ApiError> {
    let overlap = time::Duration::seconds(
        i64::try_from(input.overlap_seconds.unwrap_or(86_400).min(30 * 86_400)).unwrap_or(86_400),
    );
    let now = s.clock.now();
    let (secret, hmac) = new_secret(now);
    let public_key = secret.public_key.clone();
    let r = s
        .run(move |l, now| l.rotate_webhook(&id, secret, overlap, now))
        .await?;
    let body = WebhookSecrets {
        endpoint: r.value,
        secret: hmac,
        public_key,
    };
    Ok(answer(StatusCode::OK, &body, Some(r.log_index)))
}

#[utoipa::path(get, path = "/v1/webhooks/deliveries", tag = "webhooks", params(DeliveryFilter), security(("bearer" = [])),
    responses((status = 200, body = DeliveryList)))]
pub async fn deliveries(
    State(s): State<AppState>,
    Query(filter): Query<DeliveryFilter>,
) -> Result<Response, ApiError> {
    let deliveries = s.run(move |l, _| l.deliveries(&filter)).await?;
    Ok(answer(StatusCode::OK, &DeliveryList { deliveries }, None))
}

#[utoipa::path(get, path = "/v1/webhooks/deliveries/{id}", tag = "webhooks", params(("id" = u64, Path)), security(("bearer" = [])),
    responses((status = 200, description = "the delivery and every attempt", body = DeliveryLog), (status = 404, body = Problem)))]
pub async fn delivery(
    State(s): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    let log = s.run(move |l, _| l.delivery_log(id)).await?;
    Ok(answer(StatusCode::OK, &log, None))
}

#[utoipa::path(post, path = "/v1/webhooks/deliveries/replay", tag = "webhooks", request_body = ReplayDeliveries, security(("bearer" = [])),
    responses((status = 200, body = Replayed), (status = 404, body = Problem)))]
pub async fn replay(
    State(s): State<AppState>,
    Json(input): Json<ReplayDeliveries>,
) -> Result<Response, ApiError> {
    let replayed = s
        .run(move |l, now| l.replay_deliveries(&input, now))
        .await?;
    Ok(answer(StatusCode::OK, &Replayed { replayed }, None))
}
