//! The one mapping from errors to HTTP responses: RFC 9457 problem+json.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_ledger::LedgerError;
use countersign_proto::{ErrorCode, Problem};

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub problem: Problem,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError {
            problem: Problem::new(code, detail),
            retry_after: None,
        }
    }

    /// An internal failure: logged in full, answered without detail.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(ErrorCode::Internal, "internal error; see the server log")
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Refused { refusal, log_index } => {
                let mut problem = Problem::new(refusal.code, refusal.detail);
                problem.log_index = log_index;
                ApiError {
                    problem,
                    retry_after: None,
                }
            }
            LedgerError::Integrity(detail) => {
                tracing::error!(error = %detail, "log integrity failure");
                ApiError::new(
                    ErrorCode::IntegrityFailure,
                    "the log failed an integrity check; writes are refused until an operator runs `countersign log audit`",
                )
            }
            LedgerError::Store(e) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(v) = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
