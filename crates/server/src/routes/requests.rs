//! Requests, signatures and evidence.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use countersign_proto::api::{
    CreateRequest, RequestFilter, RequestList, SignatureReceipt, Withdraw,
};
use countersign_proto::evidence::EvidenceBundle;
use countersign_proto::model::Request;
use countersign_proto::statement::Envelope;
use countersign_proto::Problem;

use super::answer;
use crate::auth::Admin;
use crate::extract::{Json, Path, Query};
use crate::{ApiError, AppState};

#[utoipa::path(post, path = "/v1/requests", tag = "requests", request_body = CreateRequest, security(("bearer" = [])),
    responses((status = 201, body = Request), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    _: Admin,
    State(s): State<AppState>,
    Json(input): Json<CreateRequest>,
) -> Result<Response, ApiError> {
    let r = s.run(move |l, now| l.create_request(&input, now)).await?;
    let index = r.log_index;
    Ok(answer(StatusCode::CREATED, &r, Some(index)))
}

#[utoipa::path(get, path = "/v1/requests", tag = "requests", params(RequestFilter), security(("bearer" = [])),
    responses((status = 200, body = RequestList)))]
pub async fn list(
    _: Admin,
    State(s): State<AppState>,
    Query(filter): Query<RequestFilter>,
) -> Result<Response, ApiError> {
    let requests = s
        .run(move |l, now| {
            let mut rs = l.store().read()?.requests(&filter)?;
            for r in &mut rs {
                r.state = countersign_domain::request::effective_state(r, now);
            }
            Ok(rs)
        })
        .await?;
    Ok(answer(StatusCode::OK, &RequestList { requests }, None))
}

#[utoipa::path(get, path = "/v1/requests/{id}", tag = "requests", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Request), (status = 404, body = Problem)))]
pub async fn show(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = s.run(move |l, now| l.request(&id, now)).await?;
    Ok(answer(StatusCode::OK, &r, None))
}

#[utoipa::path(post, path = "/v1/requests/{id}/withdraw", tag = "requests", params(("id" = String, Path)),
    request_body = Withdraw, security(("bearer" = [])),
    responses((status = 200, body = Request), (status = 409, body = Problem)))]
pub async fn withdraw(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<Withdraw>,
) -> Result<Response, ApiError> {
    let r = s
        .run(move |l, now| l.withdraw(&id, body.reason, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

/// Submit a DSSE envelope carrying a signed approval statement. The
/// signature is the authentication. A refusal is itself recorded in the
/// log; its problem document carries the refusal's `log_index`.
#[utoipa::path(post, path = "/v1/signatures", tag = "requests", request_body = Envelope,
    responses((status = 201, body = SignatureReceipt), (status = 200, description = "the same envelope was already accepted", body = SignatureReceipt),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn sign(
    State(s): State<AppState>,
    Json(envelope): Json<Envelope>,
) -> Result<Response, ApiError> {
    let submission = s
        .run(move |l, now| l.submit_signature(&envelope, now))
        .await?;
    let status = if submission.recorded {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let receipt = submission.receipt;
    Ok(answer(status, &receipt, Some(receipt.log_index)))
}

#[utoipa::path(get, path = "/v1/requests/{id}/evidence", tag = "requests", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = EvidenceBundle), (status = 404, body = Problem)))]
pub async fn evidence(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let bundle = s
        .run(move |l, now| countersign_store::evidence::export(l, &id, now))
        .await?;
    Ok(answer(StatusCode::OK, &bundle, None))
}
