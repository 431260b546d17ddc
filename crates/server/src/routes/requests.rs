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
use crate::auth::{self, Caller};
use crate::extract::{Json, Path, Query};
use crate::{ApiError, AppState};
use countersign_proto::ErrorCode;

#[utoipa::path(post, path = "/v1/requests", tag = "requests", request_body = CreateRequest, security(("bearer" = [])),
    responses((status = 201, body = Request), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    caller: Caller,
    State(s): State<AppState>,
    Json(input): Json<CreateRequest>,
) -> Result<Response, ApiError> {
    caller.require(auth::REQUEST_WRITE)?;
    if let Some(me) = caller.confined_to() {
        if input.requester != me {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "{me} may create requests only as requester, not for {:?}",
                    input.requester
                ),
            ));
        }
    }
    let auth = caller.auth.clone();
    let r = s
        .run(move |l, now| l.create_request(&input, &auth, now))
        .await?;
    let index = r.log_index;
    Ok(answer(StatusCode::CREATED, &r, Some(index)))
}

#[utoipa::path(get, path = "/v1/requests", tag = "requests", params(RequestFilter), security(("bearer" = [])),
    responses((status = 200, body = RequestList)))]
pub async fn list(
    caller: Caller,
    State(s): State<AppState>,
    Query(filter): Query<RequestFilter>,
) -> Result<Response, ApiError> {
    caller.require(auth::READ)?;
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
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(auth::READ)?;
    let r = s.run(move |l, now| l.request(&id, now)).await?;
    Ok(answer(StatusCode::OK, &r, None))
}

#[utoipa::path(post, path = "/v1/requests/{id}/withdraw", tag = "requests", params(("id" = String, Path)),
    request_body = Withdraw, security(("bearer" = [])),
    responses((status = 200, body = Request), (status = 409, body = Problem)))]
pub async fn withdraw(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<Withdraw>,
) -> Result<Response, ApiError> {
    caller.require(auth::REQUEST_WRITE)?;
    let me = caller.confined_to().map(str::to_string);
    let r = s
        .run(move |l, now| {
            if let Some(me) = me {
                let current = l.request(&id, now)?;
                if current.requester != me {
                    return Err(countersign_store::LedgerError::refused(
                        ErrorCode::Forbidden,
                        format!(
                            "only the requester {} may withdraw request {id}",
                            current.requester
                        ),
                    ));
                }
            }
            l.withdraw(&id, body.reason, now)
        })
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

/// Submit a DSSE envelope carrying a signed approval statement. A caller
/// bound to an identity submits only that identity's signatures (admins
/// and integrations relay anyone's). A refusal is itself recorded in the
/// log; its problem document carries the refusal's `log_index`.
#[utoipa::path(post, path = "/v1/signatures", tag = "requests", request_body = Envelope, security(("bearer" = [])),
    responses((status = 201, body = SignatureReceipt), (status = 200, description = "the same envelope was already accepted", body = SignatureReceipt),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn sign(
    caller: Caller,
    State(s): State<AppState>,
    Json(envelope): Json<Envelope>,
) -> Result<Response, ApiError> {
    caller.require(auth::SIGN)?;
    if let Some(me) = caller.confined_to() {
        // An envelope whose statement does not parse is the ledger's to
        // refuse and record; only a readable actor is compared here.
        if let Ok(statement) = countersign_attest::statement_of(&envelope) {
            if statement.predicate.actor != me {
                return Err(ApiError::new(
                    ErrorCode::CallerNotSigner,
                    format!(
                        "the caller acts as {me} and cannot submit {}'s signature",
                        statement.predicate.actor
                    ),
                ));
            }
        }
    }
    let auth = caller.auth.clone();
    let submission = s
        .run(move |l, now| l.submit_signature(&envelope, &auth, now))
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
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(auth::EVIDENCE)?;
    let bundle = s
        .run(move |l, now| countersign_store::evidence::export(l, &id, now))
        .await?;
    Ok(answer(StatusCode::OK, &bundle, None))
}
