//! SCIM 2.0 (RFC 7643, RFC 7644) for Countersign's `/scim/v2` Users and
//! Groups, as pure functions on JSON resources.
//!
//! Identity providers (Entra ID, Okta) provision people and groups into
//! Countersign over SCIM. The server stores each resource as a
//! `serde_json::Value`; this crate holds all the SCIM logic that needs
//! nothing but that value:
//!
//! - [`schema`]: the User (+ Enterprise User) and Group schemas, attribute
//!   lookup (case-insensitive, URN-qualified or not) and the discovery
//!   documents (`/Schemas`, `/ResourceTypes`, `/ServiceProviderConfig`);
//! - [`filter`]: the filter grammar, validated against a schema and
//!   evaluated on resources;
//! - [`path`] and [`patch`]: PATCH paths and operations, applied
//!   atomically, tolerant of what Entra ID and Okta actually send;
//! - [`resource`]: validation and normalisation of POST/PUT bodies, and
//!   typed views of the fields Countersign uses;
//! - [`list`]: query parameters, sorting, pagination, attribute projection
//!   and the ListResponse envelope;
//! - [`mod@etag`]: weak ETags and `If-Match`;
//! - [`error`]: [`ScimError`], a [`ScimErrorKind`] plus detail, rendered as
//!   an RFC 7644 §3.12 error body.
//!
//! It deliberately does not:
//! - do IO, speak HTTP or read the clock: the server stores resources,
//!   assigns `id`, writes `meta` (`created`, `lastModified`, `location`,
//!   `version`) and enforces uniqueness, which needs the store;
//! - choose HTTP status codes: [`ScimErrorKind`] says what went wrong and
//!   only the server maps it to a status (and passes that to
//!   [`ScimError::to_body`]);
//! - support `/Bulk`, `/Me`, password changes or storing passwords
//!   (`password` is accepted and discarded), or schemas beyond the three
//!   above (unknown attributes are dropped on write);
//! - authenticate or authorise the caller.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod coerce;
pub mod error;
pub mod etag;
pub mod filter;
pub mod list;
pub mod patch;
pub mod path;
pub mod resource;
pub mod schema;

pub use error::{Result, ScimError, ScimErrorKind};
pub use etag::{etag, if_match_satisfied};
pub use filter::{CompareOp, Filter};
pub use list::{list_response, project, sort, Query, SortOrder};
pub use patch::{apply_patch, PatchOutcome};
pub use resource::{group_view, prepare_group, prepare_user, user_view, GroupView, UserView};
pub use schema::{
    resource_type, resource_types, schema_resource, schemas_document, service_provider_config,
    ResourceType,
};

#[cfg(test)]
mod tests;
