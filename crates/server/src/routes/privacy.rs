//! Personal data: legal holds and erasure.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use countersign_ledger::HoldOn;
use countersign_proto::governance::{Erasure, HoldList, LegalHold, PlaceHold};
use countersign_proto::Problem;

use super::answer;
use crate::auth::Caller;
use crate::extract::{Json, Path};
use crate::{ApiError, AppState};

/// Erase a terminated person's personal values whose retention has run out
/// and that no legal hold covers. Every proof and bundle stays valid; the
/// erasure is logged.
#[utoipa::path(post, path = "/v1/identities/{handle}/erasure", tag = "privacy", params(("handle" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Erasure), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn erase(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    let by = caller.actor_label();
    let e = s.run(move |l, now| l.erase(&handle, &by, now)).await?;
    let index = e.log_index;
    Ok(answer(StatusCode::OK, &e, index))
}

/// Place a legal hold on an identity: none of their personal data is
/// erased until it is released.
#[utoipa::path(post, path = "/v1/identities/{handle}/holds", tag = "privacy", params(("handle" = String, Path)),
    request_body = PlaceHold, security(("bearer" = [])),
    responses((status = 201, body = LegalHold), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn hold_identity(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
    Json(input): Json<PlaceHold>,
) -> Result<Response, ApiError> {
    place(caller, s, move |l, by, now| {
        l.place_hold(HoldOn::Identity(&handle), &input, by, now)
    })
    .await
}

/// Place a legal hold on a request: none of the personal data in its
/// entries is erased until it is released.
#[utoipa::path(post, path = "/v1/requests/{id}/holds", tag = "privacy", params(("id" = String, Path)),
    request_body = PlaceHold, security(("bearer" = [])),
    responses((status = 201, body = LegalHold), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn hold_request(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(input): Json<PlaceHold>,
) -> Result<Response, ApiError> {
    place(caller, s, move |l, by, now| {
        l.place_hold(HoldOn::Request(&id), &input, by, now)
    })
    .await
}

async fn place(
    caller: Caller,
    s: AppState,
    f: impl FnOnce(
            &countersign_ledger::Ledger,
            &str,
            time::OffsetDateTime,
        ) -> Result<LegalHold, countersign_ledger::LedgerError>
        + Send
        + 'static,
) -> Result<Response, ApiError> {
    let by = caller.actor_label();
    let h = s.run(move |l, now| f(l, &by, now)).await?;
    let index = h.log_index;
    Ok(answer(StatusCode::CREATED, &h, Some(index)))
}

#[utoipa::path(get, path = "/v1/holds", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = HoldList)))]
pub async fn list(State(s): State<AppState>) -> Result<Response, ApiError> {
    let holds = s.run(|l, _| l.holds()).await?;
    Ok(answer(StatusCode::OK, &HoldList { holds }, None))
}

#[utoipa::path(get, path = "/v1/holds/{id}", tag = "privacy", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = LegalHold), (status = 404, body = Problem)))]
pub async fn show(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let h = s.run(move |l, _| l.hold(&id)).await?;
    Ok(answer(StatusCode::OK, &h, None))
}

#[utoipa::path(post, path = "/v1/holds/{id}/release", tag = "privacy", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = LegalHold), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn release(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let by = caller.actor_label();
    let h = s.run(move |l, now| l.release_hold(&id, &by, now)).await?;
    Ok(answer(StatusCode::OK, &h, None))
}
