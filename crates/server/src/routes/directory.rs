//! Identities and their credentials.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use countersign_ledger::LedgerError;
use countersign_proto::api::{
    AtQuery, CreateIdentity, EnrollKey, IdentityFilter, IdentityList, KeyChallenge, RevokeKey,
    StatusChange, UpdateIdentity, VouchKey,
};
use countersign_proto::model::{Credential, Identity, IdentityHistoryEntry, IdentityStatus};
use countersign_proto::{ErrorCode, Problem};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::answer;
use crate::auth::Caller;
use crate::extract::{Json, Path, Query};
use crate::{ApiError, AppState};

/// Governance labels that give a person a role in the web app (auditor,
/// compliance, admin) are an administrator's to give: an integration that
/// writes the directory must not be able to promote anyone.
fn privileged_roles(caller: &Caller, roles: &[String]) -> Result<(), ApiError> {
    if caller.is_admin() {
        return Ok(());
    }
    match roles.iter().find(|r| {
        crate::web::session::GRANTED_LABELS
            .iter()
            .any(|(label, _)| label == r)
    }) {
        Some(r) => Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("only an administrator gives the {r:?} role"),
        )),
        None => Ok(()),
    }
}

#[utoipa::path(post, path = "/v1/identities", tag = "identities", request_body = CreateIdentity,
    security(("bearer" = [])),
    responses((status = 201, body = Identity), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    caller: Caller,
    State(s): State<AppState>,
    Json(input): Json<CreateIdentity>,
) -> Result<Response, ApiError> {
    privileged_roles(&caller, &input.roles)?;
    let r = s.run(move |l, now| l.create_identity(&input, now)).await?;
    Ok(answer(StatusCode::CREATED, &r.value, Some(r.log_index)))
}

#[utoipa::path(get, path = "/v1/identities", tag = "identities", params(IdentityFilter),
    security(("bearer" = [])), responses((status = 200, body = IdentityList)))]
pub async fn list(
    State(s): State<AppState>,
    Query(filter): Query<IdentityFilter>,
) -> Result<Response, ApiError> {
    let identities = s
        .run(move |l, _| Ok(l.store().read()?.identities(&filter)?))
        .await?;
    Ok(answer(StatusCode::OK, &IdentityList { identities }, None))
}

#[utoipa::path(get, path = "/v1/identities/{handle}", tag = "identities", params(("handle" = String, Path), AtQuery),
    security(("bearer" = [])), responses((status = 200, body = Identity), (status = 404, body = Problem)))]
pub async fn show(
    State(s): State<AppState>,
    Path(handle): Path<String>,
    Query(q): Query<AtQuery>,
) -> Result<Response, ApiError> {
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
    State(s): State<AppState>,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
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
    if let Some(roles) = &patch.roles {
        privileged_roles(&caller, roles)?;
    }
    let r = s
        .run(move |l, now| l.update_identity(&handle, &patch, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

/// Allow the next SCIM user with this identity's e-mail to adopt it
/// (SCIM never adopts an identity made outside SCIM on its own).
#[utoipa::path(post, path = "/v1/identities/{handle}/scim-adoption", tag = "identities", params(("handle" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = Identity), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn allow_scim_adoption(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    let by = caller.actor_label();
    let r = s
        .run(move |l, now| l.allow_scim_adoption(&handle, &by, now))
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
    State(s): State<AppState>,
    Path(handle): Path<String>,
    Json(b): Json<StatusChange>,
) -> Result<Response, ApiError> {
    transition(s, handle, IdentityStatus::Suspended, b).await
}

#[utoipa::path(post, path = "/v1/identities/{handle}/reactivate", tag = "identities", params(("handle" = String, Path)),
    request_body = StatusChange, security(("bearer" = [])),
    responses((status = 200, body = Identity), (status = 409, body = Problem)))]
pub async fn reactivate(
    State(s): State<AppState>,
    Path(handle): Path<String>,
    Json(b): Json<StatusChange>,
) -> Result<Response, ApiError> {
    transition(s, handle, IdentityStatus::Active, b).await
}

#[utoipa::path(post, path = "/v1/identities/{handle}/terminate", tag = "identities", params(("handle" = String, Path)),
    request_body = StatusChange, security(("bearer" = [])),
    responses((status = 200, body = Identity), (status = 409, body = Problem)))]
pub async fn terminate(
    State(s): State<AppState>,
    Path(handle): Path<String>,
    Json(b): Json<StatusChange>,
) -> Result<Response, ApiError> {
    transition(s, handle, IdentityStatus::Terminated, b).await
}

#[utoipa::path(post, path = "/v1/identities/{handle}/key-challenges", tag = "credentials", params(("handle" = String, Path)),
    security(("bearer" = [])), responses((status = 201, body = KeyChallenge), (status = 404, body = Problem)))]
pub async fn challenge(
    State(s): State<AppState>,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
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
    // Only an administrator vouches for a hardware label; everyone else's
    // `hardware` is refused as unearned.
    let voucher = caller.is_admin().then(|| caller.actor_label());
    let r = s
        .run(move |l, now| l.enroll_key(&handle, &input, voucher.as_deref(), now))
        .await?;
    Ok(answer(StatusCode::CREATED, &r.value, Some(r.log_index)))
}

/// An administrator vouches for a key's hardware label (keys enrolled
/// before assurance had to be earned keep their label as declared until
/// someone vouches). Logged as `credential.vouched` with who vouched.
#[utoipa::path(post, path = "/v1/keys/{key_id}/vouch", tag = "credentials", params(("key_id" = String, Path)),
    request_body = VouchKey, security(("bearer" = [])),
    responses((status = 200, body = Credential), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn vouch(
    caller: Caller,
    State(s): State<AppState>,
    Path(key_id): Path<String>,
    Json(b): Json<VouchKey>,
) -> Result<Response, ApiError> {
    let voucher = caller.actor_label();
    let r = s
        .run(move |l, now| l.vouch_key(&key_id, &b.reason, &voucher, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

#[utoipa::path(get, path = "/v1/identities/{handle}/keys", tag = "credentials", params(("handle" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = [Credential]), (status = 404, body = Problem)))]
pub async fn keys_of(
    State(s): State<AppState>,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
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
    State(s): State<AppState>,
    Path(key_id): Path<String>,
) -> Result<Response, ApiError> {
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
    State(s): State<AppState>,
    Path(key_id): Path<String>,
    Json(b): Json<RevokeKey>,
) -> Result<Response, ApiError> {
    let r = s
        .run(move |l, now| l.revoke_key(&key_id, b.reason, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

/// Issue a single-use enrolment link for an identity's first passkey
/// (administrators). The link is answered once and never stored; its
/// issue is logged as `invitation.issued`. With `send_mail` it is also
/// mailed to the identity.
#[utoipa::path(post, path = "/v1/identities/{handle}/invitations", tag = "identities", params(("handle" = String, Path)),
    request_body = countersign_proto::passkey::CreateInvitation, security(("bearer" = [])),
    responses((status = 201, body = countersign_proto::passkey::Invitation), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn invite(
    caller: Caller,
    State(s): State<AppState>,
    Path(handle): Path<String>,
    Json(b): Json<countersign_proto::passkey::CreateInvitation>,
) -> Result<Response, ApiError> {
    let by = caller.actor_label();
    let lifetime = b
        .expires_in_seconds
        .map(|s| time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX)));
    let inv = s
        .run(move |l, now| l.invite(&handle, lifetime, b.send_mail, &by, now))
        .await?;
    let index = inv.log_index;
    let mut r = answer(StatusCode::CREATED, &inv, Some(index));
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

/// Query of `GET /v1/notifications`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// Another identity's history (administrators only).
    #[serde(default)]
    pub identity: Option<String>,
}

/// The caller's notification history, newest first (administrators may
/// name another identity).
#[utoipa::path(get, path = "/v1/notifications", tag = "identities", params(NotificationQuery), security(("bearer" = [])),
    responses((status = 200, body = countersign_proto::notify::NotificationList)))]
pub async fn notifications(
    caller: Caller,
    State(s): State<AppState>,
    Query(q): Query<NotificationQuery>,
) -> Result<Response, ApiError> {
    let who = match q.identity {
        Some(h) if caller.is_admin() => h,
        Some(h) if caller.identity.as_deref() == Some(h.as_str()) => h,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "only an administrator reads another identity's notifications",
            ))
        }
        None => caller.bound_identity()?.to_string(),
    };
    let notifications = s.run(move |l, _| l.notifications(&who, 500)).await?;
    Ok(answer(
        StatusCode::OK,
        &countersign_proto::notify::NotificationList { notifications },
        None,
    ))
}
