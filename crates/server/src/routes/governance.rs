//! Governance: API tokens, delegations, policy exceptions, the policy set,
//! and workload certificates.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use countersign_ca::IssueRequest;
use countersign_domain::delegation::Grantor;
use countersign_ledger::LedgerError;
use countersign_oidc::Purpose;
use countersign_proto::api::{
    DecideException, DelegationFilter, DelegationList, EndDelegation, ExceptionFilter,
    ExceptionList, GrantDelegation, IssueToken, IssuedToken, PolicySetView, RequestException,
    TokenList, WorkloadCertificate, WorkloadCertificateRequest,
};
use countersign_proto::governance::{ApiToken, Delegation, PolicyException};
use countersign_proto::{ErrorCode, Problem};
use rand_core::{OsRng, RngCore as _};

use super::answer;
use crate::auth::{token_hash, Caller};
use crate::extract::{Json, Path, Query};
use crate::{ApiError, AppState};

// ----------------------------------------------------------- tokens

#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = IssueToken, security(("bearer" = [])),
    responses((status = 201, description = "the secret is shown once", body = IssuedToken), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn issue_token(
    caller: Caller,
    State(s): State<AppState>,
    Json(input): Json<IssueToken>,
) -> Result<Response, ApiError> {
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    let secret = format!("cs_{}", B64URL.encode(raw));
    let hash = token_hash(&secret);
    let by = caller.label.clone();
    let r = s
        .run(move |l, now| l.issue_token(&input, &by, &hash, now))
        .await?;
    let body = IssuedToken {
        token: r.value,
        secret,
    };
    Ok(answer(StatusCode::CREATED, &body, Some(r.log_index)))
}

#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = TokenList)))]
pub async fn list_tokens(State(s): State<AppState>) -> Result<Response, ApiError> {
    let tokens = s.run(|l, _| Ok(l.store().read()?.tokens()?)).await?;
    Ok(answer(StatusCode::OK, &TokenList { tokens }, None))
}

#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", tag = "tokens", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ApiToken), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = s.run(move |l, now| l.revoke_token(&id, now)).await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

// ----------------------------------------------------------- delegations

#[utoipa::path(post, path = "/v1/delegations", tag = "delegations", request_body = GrantDelegation, security(("bearer" = [])),
    responses((status = 201, body = Delegation), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn grant_delegation(
    caller: Caller,
    State(s): State<AppState>,
    Json(input): Json<GrantDelegation>,
) -> Result<Response, ApiError> {
    let who = caller.identity_unless_admin()?.map(str::to_string);
    let auth = caller.auth.clone();
    let r = s
        .run(move |l, now| {
            let grantor = match &who {
                Some(w) => Grantor::Identity(w),
                None => Grantor::Admin,
            };
            l.grant_delegation(&input, grantor, &auth, now)
        })
        .await?;
    Ok(answer(StatusCode::CREATED, &r.value, Some(r.log_index)))
}

#[utoipa::path(get, path = "/v1/delegations", tag = "delegations", params(DelegationFilter), security(("bearer" = [])),
    responses((status = 200, body = DelegationList)))]
pub async fn list_delegations(
    caller: Caller,
    State(s): State<AppState>,
    Query(mut filter): Query<DelegationFilter>,
) -> Result<Response, ApiError> {
    if !caller.has(countersign_proto::governance::Role::Auditor) {
        if let Some(me) = caller.confined_to() {
            filter.identity = Some(me.to_string());
        }
    }
    let delegations = s.run(move |l, now| l.delegations(&filter, now)).await?;
    Ok(answer(
        StatusCode::OK,
        &DelegationList { delegations },
        None,
    ))
}

#[utoipa::path(get, path = "/v1/delegations/{id}", tag = "delegations", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Delegation), (status = 404, body = Problem)))]
pub async fn show_delegation(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let scope = caller.scope();
    let d = s.run(move |l, _| l.visible_delegation(&id, &scope)).await?;
    Ok(answer(StatusCode::OK, &d, None))
}

#[utoipa::path(post, path = "/v1/delegations/{id}/revoke", tag = "delegations", params(("id" = String, Path)),
    request_body = EndDelegation, security(("bearer" = [])),
    responses((status = 200, body = Delegation), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_delegation(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<EndDelegation>,
) -> Result<Response, ApiError> {
    let by = caller.identity_unless_admin()?.map(str::to_string);
    let r = s
        .run(move |l, now| l.end_delegation(&id, by.as_deref(), body.reason, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

// ----------------------------------------------------------- exceptions

#[utoipa::path(post, path = "/v1/exceptions", tag = "exceptions", request_body = RequestException, security(("bearer" = [])),
    responses((status = 201, body = PolicyException), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn request_exception(
    caller: Caller,
    State(s): State<AppState>,
    Json(input): Json<RequestException>,
) -> Result<Response, ApiError> {
    let actor = match (&caller.identity, &input.actor) {
        (Some(me), Some(a)) if a != me && !caller.is_admin() => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("{me} may ask for exceptions only for themself"),
            ))
        }
        (_, Some(a)) => a.clone(),
        (Some(me), None) => me.clone(),
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::InvalidField,
                "actor is required when the caller is not an identity",
            ))
        }
    };
    let r = s
        .run(move |l, now| l.request_exception(&input, &actor, now))
        .await?;
    Ok(answer(StatusCode::CREATED, &r.value, Some(r.log_index)))
}

#[utoipa::path(get, path = "/v1/exceptions", tag = "exceptions", params(ExceptionFilter), security(("bearer" = [])),
    responses((status = 200, body = ExceptionList)))]
pub async fn list_exceptions(
    caller: Caller,
    State(s): State<AppState>,
    Query(filter): Query<ExceptionFilter>,
) -> Result<Response, ApiError> {
    let scope = caller.scope();
    let exceptions = s
        .run(move |l, now| l.visible_exceptions(filter.request.as_deref(), &scope, now))
        .await?;
    Ok(answer(StatusCode::OK, &ExceptionList { exceptions }, None))
}

#[utoipa::path(get, path = "/v1/exceptions/{id}", tag = "exceptions", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = PolicyException), (status = 404, body = Problem)))]
pub async fn show_exception(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let scope = caller.scope();
    let e = s
        .run(move |l, now| l.visible_exception(&id, &scope, now))
        .await?;
    Ok(answer(StatusCode::OK, &e, None))
}

async fn decide(
    caller: Caller,
    s: AppState,
    id: String,
    body: DecideException,
    approve: bool,
) -> Result<Response, ApiError> {
    let approver = caller.bound_identity()?.to_string();
    let auth = caller.auth.clone();
    let r = s
        .run(move |l, now| l.decide_exception(&id, &approver, approve, &body, &auth, now))
        .await?;
    Ok(answer(StatusCode::OK, &r.value, Some(r.log_index)))
}

/// Approve an exception. The caller must be an identity other than the
/// one excepted, and policy (`approve_exception`) must allow it.
#[utoipa::path(post, path = "/v1/exceptions/{id}/approve", tag = "exceptions", params(("id" = String, Path)),
    request_body = DecideException, security(("bearer" = [])),
    responses((status = 200, body = PolicyException), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn approve_exception(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<DecideException>,
) -> Result<Response, ApiError> {
    decide(caller, s, id, body, true).await
}

#[utoipa::path(post, path = "/v1/exceptions/{id}/deny", tag = "exceptions", params(("id" = String, Path)),
    request_body = DecideException, security(("bearer" = [])),
    responses((status = 200, body = PolicyException), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn deny_exception(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<DecideException>,
) -> Result<Response, ApiError> {
    decide(caller, s, id, body, false).await
}

// ----------------------------------------------------------- policy

#[utoipa::path(get, path = "/v1/policy", tag = "policy", security(("bearer" = [])),
    responses((status = 200, body = PolicySetView)))]
pub async fn show_policy(State(s): State<AppState>) -> Result<Response, ApiError> {
    Ok(answer(StatusCode::OK, &s.ledger.policy().view(), None))
}

/// Re-read the policy directory. An invalid set is refused and the set in
/// force stays; a changed one is recorded as `policy.activated`.
#[utoipa::path(post, path = "/v1/policy/reload", tag = "policy", security(("bearer" = [])),
    responses((status = 200, body = PolicySetView), (status = 422, body = Problem)))]
pub async fn reload_policy(State(s): State<AppState>) -> Result<Response, ApiError> {
    let (view, index) = reload(&s).await?;
    Ok(answer(StatusCode::OK, &view, index))
}

/// Re-read the policy directory and put the set in force (also run on SIGHUP).
pub async fn reload(s: &AppState) -> Result<(PolicySetView, Option<u64>), ApiError> {
    let Some(dir) = s.config.policy_dir.clone() else {
        return Err(ApiError::new(
            ErrorCode::InvalidField,
            "this server runs the built-in policy set and has no policy directory to reload",
        ));
    };
    let set = tokio::task::spawn_blocking(move || countersign_policy::PolicySet::load_dir(&dir))
        .await
        .map_err(|e| ApiError::internal(format!("policy load task failed: {e}")))?
        .map_err(|e| ApiError::new(ErrorCode::PolicyInvalid, e.to_string()))?;
    let view = set.view();
    let index = s
        .run(move |l, now| l.activate_policy(Arc::new(set), "reload", now))
        .await?;
    Ok((view, index))
}

// ----------------------------------------------------------- workloads

/// The workload CA's certificate (PEM).
#[utoipa::path(get, path = "/v1/ca", tag = "workloads",
    responses((status = 200, description = "PEM certificate", content_type = "application/pem-certificate-chain"), (status = 404, body = Problem)))]
pub async fn ca_certificate(State(s): State<AppState>) -> Result<Response, ApiError> {
    let w = s.workloads.clone().ok_or_else(not_configured)?;
    Ok((
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        w.ca.certificate_pem().to_string(),
    )
        .into_response())
}

fn not_configured() -> ApiError {
    ApiError::new(
        ErrorCode::WorkloadsNotConfigured,
        "this server trusts no workload token issuer; configure [[workload.issuers]]",
    )
}

/// Exchange a workload's OIDC token and a fresh key (with proof of
/// possession) for a short-lived certificate. The token is the
/// authentication; no bearer token is needed.
#[utoipa::path(post, path = "/v1/workload/certificates", tag = "workloads", request_body = WorkloadCertificateRequest,
    responses((status = 201, body = WorkloadCertificate), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn workload_certificate(
    State(s): State<AppState>,
    Json(input): Json<WorkloadCertificateRequest>,
) -> Result<Response, ApiError> {
    let w = s.workloads.clone().ok_or_else(not_configured)?;
    let cert = s
        .run(move |l, now| {
            let verified = w
                .verifier
                .verify_current(&input.token, Purpose::Workload, now)
                .map_err(|e| {
                    LedgerError::refused(ErrorCode::TokenInvalid, format!("workload token: {e}"))
                })?;
            let ca = w.ca.clone();
            let handle = verified.identity.clone();
            let issuer = verified.issuer.clone();
            let issue = |key: &[u8; 32], nb, na| {
                ca.issue(&IssueRequest {
                    identity: &handle,
                    public_key: key,
                    not_before: nb,
                    not_after: na,
                    oidc_issuer: &issuer,
                })
                .map(|c| c.pem)
                .map_err(|e| e.to_string())
            };
            let r = l.certify_workload(
                &verified.identity,
                &verified.issuer,
                &verified.subject,
                &verified.token_sha256,
                &input.public_key,
                &input.proof,
                &issue,
                now,
            )?;
            Ok(WorkloadCertificate {
                identity: r.value.identity.clone(),
                key_id: r.value.key_id.clone(),
                certificate: r.value.certificate.clone().unwrap_or_default(),
                ca_certificate: w.ca.certificate_pem().to_string(),
                not_before: r.value.enrolled_at,
                not_after: r.value.expires_at.unwrap_or(r.value.enrolled_at),
                log_index: r.log_index,
            })
        })
        .await?;
    let index = cert.log_index;
    Ok(answer(StatusCode::CREATED, &cert, Some(index)))
}
