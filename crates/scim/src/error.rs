//! The crate's one error type: a SCIM error kind plus a human-readable detail.

use std::fmt;

use serde_json::{json, Value};

/// Schema URN of a SCIM error response body (RFC 7644 §3.12).
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// `Result` with this crate's error.
pub type Result<T, E = ScimError> = std::result::Result<T, E>;

/// What went wrong, in SCIM's words.
///
/// The first ten are RFC 7644 §3.12 `scimType` values. The last three have
/// no `scimType`: they exist so the server can map every SCIM failure
/// through one table. This crate never picks an HTTP status; the server
/// does (the RFC pairs every `scimType` with 400 except `tooMany` and
/// `sensitive`, which it leaves to the server, but that is the server's
/// decision to make).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ScimErrorKind {
    /// The filter is malformed, or names an attribute or comparison the
    /// schema does not allow.
    InvalidFilter,
    /// The request would return or touch more resources than allowed.
    TooMany,
    /// A value that must be unique is already taken.
    Uniqueness,
    /// The request tried to change a readOnly or immutable attribute.
    Mutability,
    /// The request body is not a well-formed SCIM message.
    InvalidSyntax,
    /// A PATCH path is malformed or names an unknown attribute.
    InvalidPath,
    /// A PATCH path's filter selected nothing where something was needed.
    NoTarget,
    /// A value is missing, of the wrong type, or not allowed here.
    InvalidValue,
    /// The protocol version is not supported.
    InvalidVers,
    /// Sensitive data was sent where it must not be (for example a
    /// password in a query string).
    Sensitive,
    /// The resource does not exist.
    NotFound,
    /// An `If-Match` precondition did not hold.
    PreconditionFailed,
    /// The request conflicts with the resource's current state.
    Conflict,
}

impl ScimErrorKind {
    /// The RFC 7644 §3.12 `scimType` string, if this kind has one.
    pub fn scim_type(self) -> Option<&'static str> {
        match self {
            ScimErrorKind::InvalidFilter => Some("invalidFilter"),
            ScimErrorKind::TooMany => Some("tooMany"),
            ScimErrorKind::Uniqueness => Some("uniqueness"),
            ScimErrorKind::Mutability => Some("mutability"),
            ScimErrorKind::InvalidSyntax => Some("invalidSyntax"),
            ScimErrorKind::InvalidPath => Some("invalidPath"),
            ScimErrorKind::NoTarget => Some("noTarget"),
            ScimErrorKind::InvalidValue => Some("invalidValue"),
            ScimErrorKind::InvalidVers => Some("invalidVers"),
            ScimErrorKind::Sensitive => Some("sensitive"),
            ScimErrorKind::NotFound
            | ScimErrorKind::PreconditionFailed
            | ScimErrorKind::Conflict => None,
        }
    }
}

impl fmt::Display for ScimErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scim_type() {
            Some(t) => f.write_str(t),
            None => f.write_str(match self {
                ScimErrorKind::NotFound => "notFound",
                ScimErrorKind::PreconditionFailed => "preconditionFailed",
                _ => "conflict",
            }),
        }
    }
}

/// A SCIM failure: its kind and a detail safe to show the client (it only
/// ever quotes the client's own request and the schema).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct ScimError {
    /// What kind of failure this is; the server maps it to an HTTP status.
    pub kind: ScimErrorKind,
    /// Human-readable explanation.
    pub detail: String,
}

impl ScimError {
    /// An error of `kind` explained by `detail`.
    pub fn new(kind: ScimErrorKind, detail: impl Into<String>) -> Self {
        ScimError {
            kind,
            detail: detail.into(),
        }
    }

    /// The RFC 7644 §3.12 `scimType` string, if the kind has one.
    pub fn scim_type(&self) -> Option<&'static str> {
        self.kind.scim_type()
    }

    /// The RFC 7644 §3.12 error body for this error sent with `status`,
    /// which the caller chooses. `status` is a JSON string there, as the
    /// RFC's examples show and Entra ID expects.
    pub fn to_body(&self, status: u16) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(obj)) = (self.scim_type(), body.as_object_mut()) {
            obj.insert("scimType".into(), Value::String(t.into()));
        }
        body
    }

    pub(crate) fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(ScimErrorKind::InvalidFilter, detail)
    }
    pub(crate) fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(ScimErrorKind::InvalidPath, detail)
    }
    pub(crate) fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(ScimErrorKind::InvalidValue, detail)
    }
    pub(crate) fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(ScimErrorKind::InvalidSyntax, detail)
    }
    pub(crate) fn mutability(detail: impl Into<String>) -> Self {
        Self::new(ScimErrorKind::Mutability, detail)
    }
    pub(crate) fn no_target(detail: impl Into<String>) -> Self {
        Self::new(ScimErrorKind::NoTarget, detail)
    }
}
