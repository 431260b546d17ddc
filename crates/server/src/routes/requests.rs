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
use crate::auth::Caller;
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
    let scope = caller.scope();
    let requests = s
        .run(move |l, now| l.visible_requests(&filter, &scope, now))
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
    let scope = caller.scope();
    let r = s
        .run(move |l, now| l.visible_request(&id, &scope, now))
        .await?;
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
    let me = caller.confined_to().map(str::to_string);
    let r = s
        .run(move |l, now| {
            if let Some(me) = me {
                let current = l.request(&id, now)?;
                if current.requester != me {
                    return Err(countersign_ledger::LedgerError::refused(
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
    caller.check_refusals(&s.auth.limits)?;
    let auth = caller.auth.clone();
    let submission = s
        .run(move |l, now| l.submit_signature(&envelope, &auth, now))
        .await;
    caller.charge_refusal(&s.auth.limits, &submission);
    s.metrics.signature(&submission);
    let submission = submission?;
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
    let scope = caller.scope();
    let bundle = s
        .run(move |l, now| {
            l.visible_request(&id, &scope, now)?;
            countersign_ledger::evidence::export(l, &id, now)
        })
        .await?;
    Ok(answer(StatusCode::OK, &bundle, None))
}

/// Query of `GET /v1/requests/{id}/outlook`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutlookQuery {
    /// The credential the signer would sign with (default: their newest passkey, else key).
    #[serde(default)]
    pub key_id: Option<String>,
    /// The signer, for callers who relay others' signatures (admin,
    /// integration); a caller bound to an identity asks for itself.
    #[serde(default)]
    pub actor: Option<String>,
}

/// What the policy in force would ask of the caller if they signed this
/// request, for each approver slot they could fill, before they try.
#[utoipa::path(get, path = "/v1/requests/{id}/outlook", tag = "requests", params(("id" = String, Path), OutlookQuery),
    security(("bearer" = [])),
    responses((status = 200, body = countersign_proto::passkey::SigningOutlook), (status = 404, body = Problem)))]
pub async fn outlook(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<OutlookQuery>,
) -> Result<Response, ApiError> {
    let me = match (caller.confined_to(), &q.actor) {
        (Some(me), Some(a)) if a != me => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("{me} may ask only about their own signature"),
            ))
        }
        (Some(me), _) => me.to_string(),
        (None, Some(a)) => a.clone(),
        (None, None) => caller.bound_identity()?.to_string(),
    };
    let auth = caller.auth.clone();
    let scope = caller.scope();
    let o = s
        .run(move |l, now| {
            l.visible_request(&id, &scope, now)?;
            l.signing_outlook(&id, &me, q.key_id.as_deref(), &auth, now)
        })
        .await?;
    Ok(answer(StatusCode::OK, &o, None))
}

/// Issue a statement for the caller's passkey to sign: the approval
/// statement with a single-use nonce, its exact payload, and the WebAuthn
/// challenge (SHA-256 of its DSSE PAE). Answer with
/// `POST /v1/requests/{id}/passkey-signatures`, or wrap the assertion in a
/// DSSE envelope yourself and `POST /v1/signatures`.
#[utoipa::path(post, path = "/v1/requests/{id}/signing-challenges", tag = "requests", params(("id" = String, Path)),
    request_body = countersign_proto::passkey::SigningChallengeRequest, security(("bearer" = [])),
    responses((status = 201, body = countersign_proto::passkey::SigningChallenge), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn signing_challenge(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(b): Json<countersign_proto::passkey::SigningChallengeRequest>,
) -> Result<Response, ApiError> {
    let me = caller.bound_identity()?.to_string();
    let auth = caller.auth.clone();
    let scope = caller.scope();
    let issued = s
        .run(move |l, now| {
            l.visible_request(&id, &scope, now)?;
            l.issue_statement(
                &id,
                &me,
                b.decision,
                b.reason,
                b.on_behalf_of,
                None,
                &auth,
                now,
            )
        })
        .await?;
    let c = crate::web::signing_challenge(&s, issued)?;
    Ok(answer(StatusCode::CREATED, &c, None))
}

/// Submit a passkey's answer to a signing challenge; decided like any
/// signature (refusals are recorded and answered with their log index).
#[utoipa::path(post, path = "/v1/requests/{id}/passkey-signatures", tag = "requests", params(("id" = String, Path)),
    request_body = countersign_proto::passkey::PasskeySignature, security(("bearer" = [])),
    responses((status = 201, body = SignatureReceipt), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn passkey_signature(
    caller: Caller,
    State(s): State<AppState>,
    Path(_id): Path<String>,
    Json(b): Json<countersign_proto::passkey::PasskeySignature>,
) -> Result<Response, ApiError> {
    caller.bound_identity()?;
    caller.check_refusals(&s.auth.limits)?;
    let credential: countersign_webauthn::AuthenticationResponseJson =
        serde_json::from_value(b.credential).map_err(|e| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("credential is not a PublicKeyCredential's JSON form: {e}"),
            )
        })?;
    let auth = caller.auth.clone();
    let submission = s
        .run(move |l, now| {
            l.submit_passkey_signature(
                &b.nonce,
                credential.raw_id.as_slice(),
                credential.response.authenticator_data.as_slice(),
                credential.response.client_data_json.as_slice(),
                credential.response.signature.as_slice(),
                &auth,
                now,
            )
        })
        .await;
    caller.charge_refusal(&s.auth.limits, &submission);
    s.metrics.signature(&submission);
    let receipt = submission?.receipt;
    Ok(answer(
        StatusCode::CREATED,
        &receipt,
        Some(receipt.log_index),
    ))
}
