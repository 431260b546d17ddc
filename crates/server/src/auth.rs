//! The authentication seam.
//!
//! An [`Authenticator`] turns request headers into a [`Caller`]. Today there
//! is one implementation, the admin token created by `countersign init`;
//! OIDC bearer tokens and scoped API tokens plug in here without touching
//! handlers, which only ask for the role they need via [`Admin`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use countersign_proto::ErrorCode;
use sha2::{Digest as _, Sha256};

use crate::{ApiError, AppState};

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    Admin,
}

/// Authenticates a request from its headers.
pub trait Authenticator: Send + Sync {
    fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError>;
}

/// Lowercase hex SHA-256 of a token: what the server stores instead of it.
/// Tokens are 256-bit random values, so a fast hash is enough: there is
/// nothing to brute-force that a slow hash would protect.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The admin token, known only by its hash.
pub struct AdminToken {
    pub sha256: String,
}

impl Authenticator for AdminToken {
    fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(Caller::Anonymous);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "Authorization must be `Bearer <token>`",
                )
            })?;
        // Comparing digests rather than tokens: timing reveals nothing useful
        // about the token, since the digest's prefix is not controllable.
        if token_hash(token) == self.sha256 {
            Ok(Caller::Admin)
        } else {
            Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "the bearer token is not valid",
            ))
        }
    }
}

/// Extractor: the caller must hold the admin role.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match state.auth.authenticate(&parts.headers)? {
            Caller::Admin => Ok(Admin),
            Caller::Anonymous => Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "this call needs a bearer token (Authorization: Bearer <token>)",
            )),
        }
    }
}
