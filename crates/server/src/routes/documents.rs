//! Documents: content-addressed versions.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_proto::api::RegisterDigest;
use countersign_proto::model::{Document, DocumentVersion};
use countersign_proto::{ErrorCode, Problem};

use super::answer;
use crate::auth::Caller;
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
    let by = caller.registrant();
    let (version, created) = s
        .run(move |l, now| l.register_content(&name, &body, media_type, &by, now))
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
    let by = caller.registrant();
    let (version, created) = s
        .run(move |l, now| l.register_digest(&name, &input, &by, now))
        .await?;
    Ok(registered(version, created))
}

#[utoipa::path(get, path = "/v1/documents", tag = "documents", security(("bearer" = [])),
    responses((status = 200, body = [Document])))]
pub async fn list(caller: Caller, State(s): State<AppState>) -> Result<Response, ApiError> {
    let scope = caller.scope();
    let docs = s
        .run(move |l, now| l.visible_documents(&scope, now))
        .await?;
    Ok(answer(StatusCode::OK, &docs, None))
}

#[utoipa::path(get, path = "/v1/documents/{name}", tag = "documents", params(("name" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = Document), (status = 404, body = Problem)))]
pub async fn show(
    caller: Caller,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let scope = caller.scope();
    let doc = s
        .run(move |l, now| l.visible_document(&name, &scope, now))
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
    let scope = caller.scope();
    let (v, bytes) = s
        .run(move |l, now| {
            l.visible_document(&name, &scope, now)?;
            l.document_content(&name, version)
        })
        .await?;
    // Always a download: the uploader's media type is in the version
    // record, never in the answer, so an uploaded page cannot run here.
    let safe_name: String = v
        .document
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(d) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{safe_name}-v{}\"",
        v.version
    )) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    if let Ok(e) = HeaderValue::from_str(&format!("\"{}\"", v.sha256)) {
        h.insert(header::ETAG, e);
    }
    Ok(response)
}
