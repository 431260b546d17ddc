//! Documents: content-addressed versions.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_proto::api::RegisterDigest;
use countersign_proto::model::{Document, DocumentVersion};
use countersign_proto::{ErrorCode, Problem};
use countersign_store::LedgerError;

use super::answer;
use crate::auth::{self, Caller};
use crate::extract::{Json, Path};
use crate::{ApiError, AppState};

fn registered(version: DocumentVersion, created: bool) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let index = created.then_some(version.log_index);
    answer(status, &version, index)
}

/// Register the request body as the document's next version. The same
/// content as the latest version answers 200 with that version.
#[utoipa::path(put, path = "/v1/documents/{name}/content", tag = "documents", params(("name" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"), security(("bearer" = [])),
    responses((status = 201, body = DocumentVersion), (status = 200, body = DocumentVersion), (status = 413, body = Problem)))]
pub async fn upload(
    caller: Caller,
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(auth::REQUEST_WRITE)?;
    let limit = s.ledger.limits().max_document_bytes;
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::DocumentTooLarge,
                format!("the document exceeds the limit of {limit} bytes"),
            )
        } else {
            ApiError::new(ErrorCode::BadRequest, r.body_text())
        }
    })?;
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let (version, created) = s
        .run(move |l, now| l.register_content(&name, &body, media_type, now))
        .await?;
    Ok(registered(version, created))
}

#[utoipa::path(post, path = "/v1/documents/{name}/versions", tag = "documents", params(("name" = String, Path)),
    request_body = RegisterDigest, security(("bearer" = [])),
    responses((status = 201, body = DocumentVersion), (status = 200, body = DocumentVersion), (status = 422, body = Problem)))]
pub async fn register_digest(
    caller: Caller,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Json(input): Json<RegisterDigest>,
) -> Result<Response, ApiError> {
    caller.require(auth::REQUEST_WRITE)?;
    let (version, created) = s
        .run(move |l, now| l.register_digest(&name, &input, now))
        .await?;
    Ok(registered(version, created))
}

#[utoipa::path(get, path = "/v1/documents", tag = "documents", security(("bearer" = [])),
    responses((status = 200, body = [Document])))]
pub async fn list(caller: Caller, State(s): State<AppState>) -> Result<Response, ApiError> {
    caller.require(auth::READ)?;
    let docs = s.run(|l, _| Ok(l.store().read()?.documents()?)).await?;
    Ok(answer(StatusCode::OK, &docs, None))
}

#[utoipa::path(get, path = "/v1/documents/{name}", tag = "documents", params(("name" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = Document), (status = 404, body = Problem)))]
pub async fn show(
    caller: Caller,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(auth::READ)?;
    let doc = s
        .run(move |l, _| {
            l.store().read()?.document(&name)?.ok_or_else(|| {
                LedgerError::refused(ErrorCode::DocumentNotFound, format!("no document {name:?}"))
            })
        })
        .await?;
    Ok(answer(StatusCode::OK, &doc, None))
}

/// The bytes of one version, checked against its digest before they leave.
#[utoipa::path(get, path = "/v1/documents/{name}/versions/{version}/content", tag = "documents",
    params(("name" = String, Path), ("version" = u32, Path)), security(("bearer" = [])),
    responses((status = 200, description = "the bytes, as the media type they were registered with (`application/octet-stream` when none was given)",
        content_type = "*/*", body = Vec<u8>), (status = 404, body = Problem)))]
pub async fn content(
    caller: Caller,
    State(s): State<AppState>,
    Path((name, version)): Path<(String, u32)>,
) -> Result<Response, ApiError> {
    caller.require(auth::READ)?;
    let (v, bytes) = s
        .run(move |l, _| l.document_content(&name, version))
        .await?;
    let media = v
        .media_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let mut response = bytes.into_response();
    if let Ok(h) = HeaderValue::from_str(&media) {
        response.headers_mut().insert(header::CONTENT_TYPE, h);
    }
    Ok(response)
}
