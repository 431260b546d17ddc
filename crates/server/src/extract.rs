//! Extractors whose rejections are problem documents with stable codes.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use countersign_proto::ErrorCode;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON body.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| json_rejection(JsonRejection::from(r)))?;
        let parsed = match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => {
                // JSON has one kind of number and JSON Schema (so the
                // OpenAPI document) counts `2.0` as the integer 2, but serde
                // refuses it for an integer field: read such numbers again
                // as integers before refusing the body.
                if let Some(respelled) = whole_numbers_as_integers(&bytes) {
                    if let Ok(axum::Json(v)) = axum::Json::<T>::from_bytes(&respelled) {
                        return Ok(Json(v));
                    }
                }
                Err(json_rejection(rejection))
            }
        }?;
        // Every body is an object; serde would also read a struct from an
        // array of its fields in order, which no client means.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::new(
                ErrorCode::InvalidField,
                "the body must be a JSON object",
            ));
        }
        Ok(parsed)
    }
}

/// `application/json` or any `application/*+json`, parameters allowed.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.strip_prefix("application/") {
        Some(sub) => sub == "json" || (sub.ends_with("+json") && !sub.contains('/')),
        None => false,
    }
}

/// The body read again with every number that is exactly an integer but
/// written with a fraction or an exponent (`2.0`, `1e3`) as that integer,
/// or `None` when there is none (or the body is not JSON at all).
fn whole_numbers_as_integers(json: &[u8]) -> Option<Vec<u8>> {
    fn walk(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => match n.as_f64().and_then(whole) {
                Some(i) => {
                    *v = serde_json::Value::from(i);
                    true
                }
                None => false,
            },
            serde_json::Value::Array(a) => a.iter_mut().fold(false, |c, x| walk(x) | c),
            serde_json::Value::Object(m) => m.values_mut().fold(false, |c, x| walk(x) | c),
            _ => false,
        }
    }
    let mut v: serde_json::Value = serde_json::from_slice(json).ok()?;
    if walk(&mut v) {
        serde_json::to_vec(&v).ok()
    } else {
        None
    }
}

/// The integer a double spells exactly (at most 2^53 in magnitude).
fn whole(x: f64) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if !x.is_finite() || x.fract() != 0.0 || x.abs() > EXACT {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)] // whole and within ±2^53
    Some(x as i64)
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let code = match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidField,
        _ => ErrorCode::BadRequest,
    };
    ApiError::new(code, r.body_text())
}

/// Query parameters.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|r: QueryRejection| ApiError::new(ErrorCode::BadRequest, r.body_text()))
    }
}

/// Path parameters.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|r: PathRejection| ApiError::new(ErrorCode::BadRequest, r.body_text()))
    }
}
