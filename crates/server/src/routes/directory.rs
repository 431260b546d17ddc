//! Identities and their credentials.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use countersign_proto::api::{
    AtQuery, CreateIdentity, EnrollKey, IdentityFilter, IdentityList, KeyChallenge, RevokeKey,
    StatusChange, UpdateIdentity,
};
use countersign_proto::model::{Credential, Identity, IdentityHistoryEntry, IdentityStatus};
use countersign_proto::{ErrorCode, Problem};
use countersign_store::LedgerError;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::answer;
use crate::auth::{self, Caller};
use crate::extract::{Json, Path, Query};
use crate::{ApiError, AppState};

#[utoipa::path(post, path = "/v1/identities", tag = "identities", request_body = CreateIdentity,
    security(("bearer" = [])),
    responses((status = 201, body = Identity), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    caller: Caller,
    State(s): State<AppState>,
    Json(input): Json<CreateIdentity>,
) -> Result<Response, ApiError> {
    caller.require(auth::DIRECTORY_WRITE)?;
    let r = s.run(move |l, now| l.create_identity(&input, now)).await?;
    Ok(answer(StatusCode::CREATED, &r.value, Some(r.log_index)))
}

#[utoipa::path(get, path = "/v1/identities", tag = "identities", params(IdentityFilter),
    security(("bearer" = [])), responses((status = 200, body = IdentityList)))]
pub async fn list(
    caller: Caller,
    State(s): State<AppState>,
    Query(filter): Query<IdentityFilter>,
) -> Result<Response, ApiError> {
    caller.require(auth::READ)?;
    let identities = s
        .run(move |l, _| Ok(l.store().read()?.identities(&filter)?))
        .await?;
    Ok(answer(StatusCode::OK, &IdentityList { identities }, None))
}

#[utoipa::path(get, path = "/v1/identities/{handle}", tag = "identities", params(("handle" = String, Path), AtQuery),
    security(("bearer" = [])), responses((status = 200, body = Identity), (status = 404, body = Problem)))]
pub async fn show(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
    Query(q): Query<AtQuery>,
) -> Result<Response, ApiError> {
    caller.require(auth::READ)?;
    let at = match q.at {
        Some(t) => Some(OffsetDateTime::parse(&t, &Rfc3339).map_err(|e| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("at must be an RFC 3339 time: {e}"),
            )
        })?),
        None => None,
    };
    let identity = s
        .run(move |l, _| match at {
            Some(at) => l.identity_at(&handle, at),
            None => l.store().read()?.identity(&handle)?.ok_or_else(|| {
                LedgerError::refused(
                    ErrorCode::IdentityNotFound,
                    format!("no identity {handle:?}"),
                )
            }),
        })
        .await?;
    Ok(answer(StatusCode::OK, &identity, None))
}

#[utoipa::path(get, path = "/v1/identities/{handle}/history", tag = "identities", params(("handle" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = [IdentityHistoryEntry]), (status = 404, body = Problem)))]
pub async fn history(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(auth::READ)?;
    let h = s.run(move |l, _| l.identity_history(&handle)).await?;
    Ok(answer(StatusCode::OK, &h, None))
}

#[utoipa::path(patch, path = "/v1/identities/{handle}", tag = "identities", params(("handle" = String, Path)),
    request_body = UpdateIdentity, security(("bearer" = [])),
    responses((status = 200, body = Identity), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
    Json(patch): Json<UpdateIdentity>,
) -> Result<Response, ApiError> {
    caller.require(auth::DIRECTORY_WRITE)?;
    let r = s
        .run(move |l, now| l.update_identity(&handle, &patch, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

async fn transition(
    s: AppState,
    handle: String,
    to: IdentityStatus,
    body: StatusChange,
) -> Result<Response, ApiError> {
    let r = s
        .run(move |l, now| l.change_status(&handle, to, body.reason, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

#[utoipa::path(post, path = "/v1/identities/{handle}/suspend", tag = "identities", params(("handle" = String, Path)),
    request_body = StatusChange, security(("bearer" = [])),
    responses((status = 200, body = Identity), (status = 409, body = Problem)))]
pub async fn suspend(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
    Json(b): Json<StatusChange>,
) -> Result<Response, ApiError> {
    caller.require(auth::DIRECTORY_WRITE)?;
    transition(s, handle, IdentityStatus::Suspended, b).await
}

#[utoipa::path(post, path = "/v1/identities/{handle}/reactivate", tag = "identities", params(("handle" = String, Path)),
    request_body = StatusChange, security(("bearer" = [])),
    responses((status = 200, body = Identity), (status = 409, body = Problem)))]
pub async fn reactivate(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
    Json(b): Json<StatusChange>,
) -> Result<Response, ApiError> {
    caller.require(auth::DIRECTORY_WRITE)?;
    transition(s, handle, IdentityStatus::Active, b).await
}

#[utoipa::path(post, path = "/v1/identities/{handle}/terminate", tag = "identities", params(("handle" = String, Path)),
    request_body = StatusChange, security(("bearer" = [])),
    responses((status = 200, body = Identity), (status = 409, body = Problem)))]
pub async fn terminate(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
    Json(b): Json<StatusChange>,
) -> Result<Response, ApiError> {
    caller.require(auth::DIRECTORY_WRITE)?;
    transition(s, handle, IdentityStatus::Terminated, b).await
}

#[utoipa::path(post, path = "/v1/identities/{handle}/key-challenges", tag = "credentials", params(("handle" = String, Path)),
    security(("bearer" = [])), responses((status = 201, body = KeyChallenge), (status = 404, body = Problem)))]
pub async fn challenge(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(auth::DIRECTORY_WRITE)?;
    let c = s.run(move |l, now| l.key_challenge(&handle, now)).await?;
    Ok(answer(StatusCode::CREATED, &c, None))
}

#[utoipa::path(post, path = "/v1/identities/{handle}/keys", tag = "credentials", params(("handle" = String, Path)),
    request_body = EnrollKey, security(("bearer" = [])),
    responses((status = 201, body = Credential), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn enroll(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
    Json(input): Json<EnrollKey>,
) -> Result<Response, ApiError> {
    caller.require(auth::DIRECTORY_WRITE)?;
    let r = s
        .run(move |l, now| l.enroll_key(&handle, &input, now))
        .await?;
    Ok(answer(StatusCode::CREATED, &r.value, Some(r.log_index)))
}

#[utoipa::path(get, path = "/v1/identities/{handle}/keys", tag = "credentials", params(("handle" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = [Credential]), (status = 404, body = Problem)))]
pub async fn keys_of(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(auth::READ)?;
    let keys = s
        .run(move |l, _| {
            let tx = l.store().read()?;
            if tx.identity(&handle)?.is_none() {
                return Err(LedgerError::refused(
                    ErrorCode::IdentityNotFound,
                    format!("no identity {handle:?}"),
                ));
            }
            Ok(tx.credentials_of(&handle)?)
        })
        .await?;
    Ok(answer(StatusCode::OK, &keys, None))
}

#[utoipa::path(get, path = "/v1/keys/{key_id}", tag = "credentials", params(("key_id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = Credential), (status = 404, body = Problem)))]
pub async fn key(
    caller: Caller,
    State(s): State<AppState>,
    Path(key_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(auth::READ)?;
    let c = s
        .run(move |l, _| {
            l.store().read()?.credential(&key_id)?.ok_or_else(|| {
                LedgerError::refused(ErrorCode::KeyNotFound, format!("no key {key_id}"))
            })
        })
        .await?;
    Ok(answer(StatusCode::OK, &c, None))
}

#[utoipa::path(post, path = "/v1/keys/{key_id}/revoke", tag = "credentials", params(("key_id" = String, Path)),
    request_body = RevokeKey, security(("bearer" = [])),
    responses((status = 200, body = Credential), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn revoke(
    caller: Caller,
    State(s): State<AppState>,
    Path(key_id): Path<String>,
    Json(b): Json<RevokeKey>,
) -> Result<Response, ApiError> {
    caller.require(auth::DIRECTORY_WRITE)?;
    let r = s
        .run(move |l, now| l.revoke_key(&key_id, b.reason, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}
