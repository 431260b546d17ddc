//! The OpenAPI 3 description, generated from the handlers' annotations.

use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{directory, documents, governance, iga, log, requests, webhooks};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Countersign", description = "Identity-bound approvals over exact document state, recorded in a verifiable transparency log. Errors are RFC 9457 problem+json documents with a stable `code`."),
    modifiers(&BearerAuth),
    paths(
        directory::create, directory::list, directory::show, directory::history, directory::update,
        directory::suspend, directory::reactivate, directory::terminate, directory::allow_scim_adoption,
        directory::challenge, directory::enroll, directory::keys_of, directory::key, directory::revoke, directory::vouch,
        documents::upload, documents::register_digest, documents::list, documents::show, documents::content,
        requests::create, requests::list, requests::show, requests::withdraw, requests::sign, requests::evidence,
        requests::outlook, requests::signing_challenge, requests::passkey_signature,
        directory::invite, directory::notifications,
        log::info, log::checkpoint, log::checkpoint_at, log::key, log::entries, log::entry, log::receipt,
        log::inclusion, log::consistency,
        governance::issue_token, governance::list_tokens, governance::revoke_token,
        governance::grant_delegation, governance::list_delegations, governance::show_delegation,
        governance::revoke_delegation, governance::request_exception, governance::list_exceptions,
        governance::show_exception, governance::approve_exception, governance::deny_exception,
        governance::show_policy, governance::reload_policy, governance::ca_certificate,
        governance::workload_certificate,
        webhooks::create, webhooks::list, webhooks::show, webhooks::update, webhooks::rotate,
        webhooks::deliveries, webhooks::delivery, webhooks::replay,
        iga::report, iga::list_changes, iga::show_change, iga::reconcile, iga::list_controls,
        iga::export, iga::show_control, iga::assign, iga::acknowledge, iga::resolve, iga::reopen,
    ),
    components(schemas(countersign_proto::ErrorCode, countersign_proto::entry::LogEntry,
        countersign_proto::iga::CloudEvent, countersign_proto::iga::SignedApproval,
        countersign_proto::iga::ChangeIntake))
)]
pub struct ApiDoc;

pub async fn serve() -> Response {
    axum::Json(ApiDoc::openapi()).into_response()
}
