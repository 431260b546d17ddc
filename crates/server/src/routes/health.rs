//! `/healthz` and `/readyz`, for load balancers and orchestrators: outside
//! `/v1`, unauthenticated, and telling nothing an anonymous caller may not
//! know.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;

/// The process is up and answering.
pub async fn healthz() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "ok\n",
    )
        .into_response()
}

/// The server can serve: the database answers and its log matches its
/// signed and kept checkpoints, and a policy set is loaded. 503 otherwise,
/// naming the check that failed (not why: that goes to the server's log).
pub async fn readyz(State(s): State<AppState>) -> Response {
    let checked = s
        .run_internal(|l, _| {
            let size = l.ready()?;
            Ok((size, l.policy().digest()))
        })
        .await;
    let (status, body) = match checked {
        Ok((size, policy)) => (
            StatusCode::OK,
            json!({"ready": true, "checks": {"database": "ok", "log": "ok", "policy": "ok"},
                   "tree_size": size, "policy_set": policy}),
        ),
        // The failure itself is in the server's log (the error mapping
        // logs integrity and internal failures in full).
        Err(_) => {
            tracing::warn!("not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"ready": false, "checks": {"log": "failed"}}),
            )
        }
    };
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}
