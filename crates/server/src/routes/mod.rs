//! Routes of `/v1`, one module per resource.

pub mod directory;
pub mod documents;
pub mod governance;
pub mod iga;
pub mod log;
pub mod openapi;
pub mod requests;
pub mod scim;
pub mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use countersign_proto::ErrorCode;

use crate::{ApiError, AppState};

/// Header naming the log entry a write produced.
pub const LOG_INDEX_HEADER: &str = "countersign-log-index";

/// A JSON answer with a status and, for writes, the log index header.
pub(crate) fn answer<T: serde::Serialize>(
    status: StatusCode,
    body: &T,
    log_index: Option<u64>,
) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(i) = log_index {
        if let Ok(v) = HeaderValue::from_str(&i.to_string()) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(LOG_INDEX_HEADER), v);
        }
    }
    response
}

pub fn router(state: AppState) -> Router {
    let doc_limit = usize::try_from(state.ledger.limits().max_document_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let json_limit = state.config.max_json_bytes;
    let documents = Router::new()
        .route("/v1/documents/{name}/content", put(documents::upload))
        .layer(DefaultBodyLimit::max(doc_limit));
    let api = Router::new()
        .route("/v1/openapi.json", get(openapi::serve))
        .route("/v1/info", get(log::info))
        .route(
            "/v1/identities",
            post(directory::create).get(directory::list),
        )
        .route(
            "/v1/identities/{handle}",
            get(directory::show).patch(directory::update),
        )
        .route("/v1/identities/{handle}/history", get(directory::history))
        .route(
            "/v1/identities/{handle}/invitations",
            post(directory::invite),
        )
        .route("/v1/identities/{handle}/suspend", post(directory::suspend))
        .route(
            "/v1/identities/{handle}/reactivate",
            post(directory::reactivate),
        )
        .route(
            "/v1/identities/{handle}/terminate",
            post(directory::terminate),
        )
        .route(
            "/v1/identities/{handle}/key-challenges",
            post(directory::challenge),
        )
        .route(
            "/v1/identities/{handle}/keys",
            post(directory::enroll).get(directory::keys_of),
        )
        .route("/v1/keys/{key_id}", get(directory::key))
        .route("/v1/keys/{key_id}/revoke", post(directory::revoke))
        .route("/v1/keys/{key_id}/vouch", post(directory::vouch))
        .route("/v1/documents", get(documents::list))
        .route("/v1/documents/{name}", get(documents::show))
        .route(
            "/v1/documents/{name}/versions",
            post(documents::register_digest),
        )
        .route(
            "/v1/documents/{name}/versions/{version}/content",
            get(documents::content),
        )
        .route("/v1/requests", post(requests::create).get(requests::list))
        .route("/v1/requests/{id}", get(requests::show))
        .route("/v1/requests/{id}/withdraw", post(requests::withdraw))
        .route("/v1/requests/{id}/evidence", get(requests::evidence))
        .route("/v1/requests/{id}/outlook", get(requests::outlook))
        .route(
            "/v1/requests/{id}/signing-challenges",
            post(requests::signing_challenge),
        )
        .route(
            "/v1/requests/{id}/passkey-signatures",
            post(requests::passkey_signature),
        )
        .route("/v1/notifications", get(directory::notifications))
        .route("/v1/signatures", post(requests::sign))
        .route(
            "/v1/tokens",
            post(governance::issue_token).get(governance::list_tokens),
        )
        .route("/v1/tokens/{id}/revoke", post(governance::revoke_token))
        .route(
            "/v1/delegations",
            post(governance::grant_delegation).get(governance::list_delegations),
        )
        .route("/v1/delegations/{id}", get(governance::show_delegation))
        .route(
            "/v1/delegations/{id}/revoke",
            post(governance::revoke_delegation),
        )
        .route(
            "/v1/exceptions",
            post(governance::request_exception).get(governance::list_exceptions),
        )
        .route("/v1/exceptions/{id}", get(governance::show_exception))
        .route(
            "/v1/exceptions/{id}/approve",
            post(governance::approve_exception),
        )
        .route("/v1/exceptions/{id}/deny", post(governance::deny_exception))
        .route("/v1/policy", get(governance::show_policy))
        .route("/v1/policy/reload", post(governance::reload_policy))
        .route("/v1/ca", get(governance::ca_certificate))
        .route(
            "/v1/workload/certificates",
            post(governance::workload_certificate),
        )
        .route(
            "/v1/entitlement-changes",
            post(iga::report).get(iga::list_changes),
        )
        .route("/v1/entitlement-changes/{id}", get(iga::show_change))
        .route("/v1/reconcile", post(iga::reconcile))
        .route("/v1/control-exceptions", get(iga::list_controls))
        .route("/v1/control-exceptions/export", get(iga::export))
        .route("/v1/control-exceptions/{id}", get(iga::show_control))
        .route("/v1/control-exceptions/{id}/assign", post(iga::assign))
        .route(
            "/v1/control-exceptions/{id}/acknowledge",
            post(iga::acknowledge),
        )
        .route("/v1/control-exceptions/{id}/resolve", post(iga::resolve))
        .route("/v1/control-exceptions/{id}/reopen", post(iga::reopen))
        .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
        .route("/v1/webhooks/deliveries", get(webhooks::deliveries))
        .route("/v1/webhooks/deliveries/replay", post(webhooks::replay))
        .route("/v1/webhooks/deliveries/{id}", get(webhooks::delivery))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::show).patch(webhooks::update),
        )
        .route("/v1/webhooks/{id}/rotate", post(webhooks::rotate))
        .route("/v1/log/checkpoint", get(log::checkpoint))
        .route("/v1/log/checkpoints/{size}", get(log::checkpoint_at))
        .route("/v1/log/key", get(log::key))
        .route("/v1/log/entries", get(log::entries))
        .route("/v1/log/entries/{index}", get(log::entry))
        .route("/v1/log/entries/{index}/receipt", get(log::receipt))
        .route("/v1/log/proof/inclusion", get(log::inclusion))
        .route("/v1/log/proof/consistency", get(log::consistency))
        .layer(DefaultBodyLimit::max(json_limit));
    let scim = Router::new()
        .nest("/scim/v2", scim::router())
        .layer(DefaultBodyLimit::max(json_limit));
    let web =
        crate::web::router().layer(DefaultBodyLimit::max(doc_limit.saturating_add(64 * 1024)));
    documents
        .merge(api)
        .merge(scim)
        .merge(web)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::web::origin_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::web::security_headers,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// An unknown route: a problem document under `/v1` and `/scim`, a page
/// for people everywhere else.
async fn not_found(uri: axum::http::Uri) -> Response {
    let p = uri.path();
    if p.starts_with("/v1") || p.starts_with("/scim") {
        ApiError::new(
            ErrorCode::RouteNotFound,
            "no such route; the API is described at /v1/openapi.json",
        )
        .into_response()
    } else {
        crate::web::not_found_page()
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this method is not allowed on this route",
    )
}
