//! The OpenAPI 3 description, generated from the handlers' annotations.
//!
//! The annotations name each operation's answers; the error answers every
//! operation shares are added here, once, so that no operation can forget
//! them: a refusal under `/v1` is an RFC 9457 problem document
//! (`application/problem+json`, with a stable `code`), a refusal under
//! `/scim/v2` an RFC 7644 SCIM error (`application/scim+json`), a call
//! without credentials to a secured operation answers 401, and every
//! operation documents a `default` error answer for the rest.

use axum::response::{IntoResponse, Response};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response as ApiResponse, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, ObjectBuilder, Ref, RefOr, Type};
use utoipa::{Modify, OpenApi};

use super::{directory, documents, governance, iga, log, privacy, requests, webhooks};

mod scim;

/// The media type of `/v1` error answers.
pub const PROBLEM_JSON: &str = "application/problem+json";

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

/// The shared error answers: `(status, component name, description)`.
/// `default` covers what no operation names (a 500 among them).
const PROBLEMS: &[(&str, &str, &str)] = &[
    (
        "400",
        "BadRequest",
        "A parameter or the body could not be parsed (`bad_request`), or the request is otherwise malformed",
    ),
    (
        "401",
        "Unauthenticated",
        "No bearer token, or one that does not authenticate (`unauthenticated`, `token_invalid`)",
    ),
    (
        "403",
        "Forbidden",
        "The caller's roles or identity do not allow this (`forbidden`), or policy refused it",
    ),
    ("404", "NotFound", "No such resource"),
    ("409", "Conflict", "The resource's state does not allow this"),
    (
        "413",
        "PayloadTooLarge",
        "The body is larger than the server accepts (`payload_too_large`, `document_too_large`)",
    ),
    (
        "422",
        "InvalidField",
        "The body parsed but a field's value is not acceptable (`invalid_field` and the refusals named by `code`)",
    ),
    (
        "429",
        "TooManyRequests",
        "Too many failed authentications or refused signatures from this caller or address (`rate_limited`); `Retry-After` says when to try again",
    ),
    (
        "503",
        "ServerBusy",
        "More operations are running or waiting than the server queues (`server_busy`); nothing was done; `Retry-After` says when to try again",
    ),
    (
        "default",
        "Problem",
        "Any other error, as an RFC 9457 problem document with a stable `code`",
    ),
];

/// The SCIM error answers, as [`PROBLEMS`] for `/scim/v2` (named by the
/// SCIM operations in `scim.rs`).
const SCIM_ERRORS: &[(&str, &str, &str)] = &[
    (
        "400",
        "ScimBadRequest",
        "The request is malformed or a value is invalid (`scimType` says which: invalidSyntax, invalidFilter, invalidValue, ...)",
    ),
    (
        "401",
        "ScimUnauthenticated",
        "No bearer token, or one that does not authenticate",
    ),
    (
        "403",
        "ScimForbidden",
        "The caller does not hold the `scim` (or `admin`) role",
    ),
    ("404", "ScimNotFound", "No such resource"),
    (
        "409",
        "ScimConflict",
        "A uniqueness or mutability conflict (`scimType`)",
    ),
    (
        "412",
        "ScimPreconditionFailed",
        "`If-Match` names a version that is not the current one",
    ),
    (
        "413",
        "ScimPayloadTooLarge",
        "The body is larger than the server accepts",
    ),
    (
        "429",
        "ScimTooManyRequests",
        "Too many failed authentications from this caller or address; `Retry-After` says when to try again",
    ),
    (
        "default",
        "ScimError",
        "Any other error, as an RFC 7644 §3.12 SCIM error",
    ),
];

/// The operations of a path item, whatever their method.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

fn error_answer(description: &str, media_type: &str, schema: &str, status: &str) -> ApiResponse {
    let mut r = ResponseBuilder::new()
        .description(description)
        .content(
            media_type,
            Content::new(Some(Ref::from_schema_name(schema))),
        )
        .build();
    if status == "401" {
        r.headers.insert(
            "WWW-Authenticate".into(),
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some("`Bearer`"))
                .build(),
        );
    }
    if status == "429" {
        r.headers.insert(
            "Retry-After".into(),
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("seconds to wait"))
                .build(),
        );
    }
    r
}

/// The SCIM error document (RFC 7644 §3.12).
fn scim_error_schema() -> utoipa::openapi::Schema {
    ObjectBuilder::new()
        .description(Some("An RFC 7644 §3.12 SCIM error"))
        .property(
            "schemas",
            utoipa::openapi::ArrayBuilder::new()
                .items(ObjectBuilder::new().schema_type(Type::String)),
        )
        .required("schemas")
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The HTTP status code, as a string")),
        )
        .required("status")
        .property("detail", ObjectBuilder::new().schema_type(Type::String))
        .property(
            "scimType",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("RFC 7644 Table 9: invalidFilter, tooMany, uniqueness, mutability, invalidSyntax, invalidPath, noTarget, invalidValue, invalidVers, sensitive")),
        )
        .into()
}

/// Adds the shared error answers to every operation.
struct Errors;

impl Modify for Errors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert("ScimError".into(), RefOr::T(scim_error_schema()));
        for (status, name, description) in PROBLEMS {
            components.responses.insert(
                (*name).into(),
                RefOr::T(error_answer(description, PROBLEM_JSON, "Problem", status)),
            );
        }
        for (status, name, description) in SCIM_ERRORS {
            components.responses.insert(
                (*name).into(),
                RefOr::T(error_answer(
                    description,
                    "application/scim+json",
                    "ScimError",
                    status,
                )),
            );
        }
        // The SCIM operations (added by `scim::add`) name theirs.
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_path_params = path.contains('{');
            for op in operations(item) {
                document_errors(op, PROBLEMS, has_path_params);
            }
        }
    }
}

fn document_errors(op: &mut Operation, table: &[(&str, &str, &str)], has_path_params: bool) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_params = has_path_params || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_body = op.request_body.is_some();
    let json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.keys().any(|k| k.contains("json")));
    let mut wanted: Vec<&str> = Vec::new();
    if has_params || has_body {
        wanted.push("400");
    }
    if secured {
        wanted.extend(["401", "403", "429"]);
    }
    if has_path_params {
        wanted.push("404");
    }
    if has_body {
        wanted.push("413");
    }
    if json_body {
        wanted.push("422");
    }
    wanted.push("default");
    let responses = &mut op.responses.responses;
    // Error answers the annotation named are replaced by the shared ones,
    // which carry the right media type.
    let named: Vec<String> = responses
        .keys()
        .filter(|k| k.as_str() == "default" || k.starts_with('4') || k.starts_with('5'))
        .cloned()
        .collect();
    for status in named.iter().map(String::as_str).chain(wanted) {
        if let Some((_, name, _)) = table.iter().find(|(s, _, _)| *s == status) {
            responses.insert(
                status.to_string(),
                RefOr::Ref(Ref::from_response_name(*name)),
            );
        }
    }
}

/// A rule the domain checks on a request field that parsing alone does not,
/// stated in the document so that clients (and fuzzers) know what is valid.
#[derive(Clone, Copy)]
enum Rule {
    /// `countersign_domain::check_text`: at least `min` characters once
    /// trimmed, at most `max`, no control characters but tab and newline.
    Text(usize, usize),
    /// `countersign_domain::check_name`: 1 to 128 of `A-Z a-z 0-9 . _ - @`,
    /// not starting with a dot.
    Name,
    /// A list of at most 64 names.
    Names,
    /// An address with an `@` that neither starts nor ends it, no spaces.
    Email,
    /// 64 lowercase hex digits.
    Sha256,
    /// An `http://` or `https://` URL.
    HttpUrl,
    /// An integer in this range.
    Range(u64, u64),
    /// A list of at least one item, and at most this many if given.
    Items(Option<usize>),
    /// A list of webhook event types, short (`request.approved`) or full
    /// (`dev.countersign.request.approved`).
    EventTypes,
}

/// `(schema, property, rule)`, for request bodies only: answers carry
/// what was checked when it was written.
const RULES: &[(&str, &str, Rule)] = &[
    ("CreateIdentity", "handle", Rule::Name),
    ("CreateIdentity", "display_name", Rule::Text(1, 200)),
    ("CreateIdentity", "email", Rule::Email),
    ("CreateIdentity", "groups", Rule::Names),
    ("CreateIdentity", "roles", Rule::Names),
    ("UpdateIdentity", "display_name", Rule::Text(1, 200)),
    ("UpdateIdentity", "email", Rule::Email),
    ("UpdateIdentity", "groups", Rule::Names),
    ("UpdateIdentity", "roles", Rule::Names),
    ("StatusChange", "reason", Rule::Text(1, 2000)),
    ("EnrollKey", "label", Rule::Text(1, 200)),
    ("EnrollKey", "vouch", Rule::Text(3, 2000)),
    ("VouchKey", "reason", Rule::Text(3, 2000)),
    ("RevokeKey", "reason", Rule::Text(1, 2000)),
    ("RegisterDigest", "sha256", Rule::Sha256),
    ("RegisterDigest", "media_type", Rule::Text(1, 200)),
    ("CreateRequest", "purpose", Rule::Text(1, 4000)),
    ("Withdraw", "reason", Rule::Text(1, 2000)),
    ("GrantDelegation", "reason", Rule::Text(1, 2000)),
    ("EndDelegation", "reason", Rule::Text(1, 2000)),
    ("RequestException", "justification", Rule::Text(10, 4000)),
    ("DecideException", "reason", Rule::Text(1, 2000)),
    ("IssueToken", "name", Rule::Text(1, 200)),
    ("PlaceHold", "reason", Rule::Text(1, 2000)),
    ("SigningChallengeRequest", "reason", Rule::Text(1, 4000)),
    (
        "CreateInvitation",
        "expires_in_seconds",
        Rule::Range(1, 14 * 86_400),
    ),
    ("ReportChange", "system", Rule::Text(1, 200)),
    ("ReportChange", "subject", Rule::Text(1, 200)),
    ("ReportChange", "entitlement", Rule::Text(1, 500)),
    ("ReportChange", "changed_by", Rule::Text(1, 200)),
    ("ReportChange", "source_event_id", Rule::Text(1, 200)),
    ("ReopenControl", "reason", Rule::Text(1, 2000)),
    ("CreateWebhook", "url", Rule::HttpUrl),
    ("CreateWebhook", "events", Rule::EventTypes),
    ("UpdateWebhook", "url", Rule::HttpUrl),
    ("UpdateWebhook", "events", Rule::EventTypes),
    ("CreateRequest", "documents", Rule::Items(Some(64))),
    ("CreateRequest", "approvers", Rule::Items(Some(32))),
    ("IssueToken", "roles", Rule::Items(None)),
    // Read over the whole unsigned range: a size is stored as given, an
    // overlap is capped at 30 days.
    ("RegisterDigest", "size", Rule::Range(0, u64::MAX)),
    ("RotateWebhook", "overlap_seconds", Rule::Range(0, u64::MAX)),
];

/// Path parameters that are names (`check_name`) where the call creates
/// what they name.
const NAMED_PATHS: &[(&str, &str)] = &[
    ("/v1/documents/{name}/content", "name"),
    ("/v1/documents/{name}/versions", "name"),
];

/// Characters `check_text` refuses: controls other than tab and newline.
const CONTROL: &str = r"\x00-\x08\x0B-\x1F\x7F-\x9F";
/// White space `str::trim` removes, less the controls (refused anyway).
const SPACE: &str = r"\t\n \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

fn text_pattern(min: usize) -> String {
    let allowed = format!("[^{CONTROL}]");
    let solid = format!("[^{CONTROL}{SPACE}]");
    match min {
        0 => format!("^{allowed}*$"),
        1 => format!("^{allowed}*{solid}{allowed}*$"),
        n => format!(
            "^[{SPACE}]*{solid}{allowed}{{{},}}{solid}[{SPACE}]*$",
            n - 2
        ),
    }
}

const NAME_PATTERN: &str = r"^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,127}$";

fn apply_rule(property: &mut serde_json::Value, rule: Rule) {
    use serde_json::json;
    let Some(p) = property.as_object_mut() else {
        return;
    };
    match rule {
        Rule::Text(min, max) => {
            p.insert("pattern".into(), json!(text_pattern(min)));
            p.insert("minLength".into(), json!(min));
            p.insert("maxLength".into(), json!(max));
        }
        Rule::Name => {
            p.insert("pattern".into(), json!(NAME_PATTERN));
        }
        Rule::Names => {
            p.insert("maxItems".into(), json!(64));
            if let Some(items) = p.get_mut("items").and_then(|i| i.as_object_mut()) {
                items.insert("pattern".into(), json!(NAME_PATTERN));
            }
        }
        Rule::Email => {
            let c = CONTROL;
            p.insert(
                "pattern".into(),
                json!(format!(r"^[^@\s{c}][^\s{c}]*@[^\s{c}]+$")),
            );
            p.insert("minLength".into(), json!(3));
            p.insert("maxLength".into(), json!(254));
        }
        Rule::Sha256 => {
            p.insert("pattern".into(), json!("^[0-9a-f]{64}$"));
        }
        Rule::HttpUrl => {
            // The server takes any `http://` or `https://` URL of at most
            // 2000 bytes without spaces or controls; printable ASCII (what
            // a URL is) keeps bytes and characters the same.
            p.insert(
                "pattern".into(),
                json!(r"^https?://[A-Za-z0-9\[][\x21-\x7E]*$"),
            );
            p.insert("maxLength".into(), json!(2000));
        }
        Rule::Range(min, max) => {
            p.remove("format");
            p.insert("minimum".into(), json!(min));
            p.insert("maximum".into(), json!(max));
        }
        Rule::Items(max) => {
            p.insert("minItems".into(), json!(1));
            if let Some(max) = max {
                p.insert("maxItems".into(), json!(max));
            }
        }
        Rule::EventTypes => {
            let names: Vec<String> = countersign_ledger::EVENT_TYPES
                .iter()
                .flat_map(|t| {
                    [
                        (*t).to_string(),
                        format!("{}{t}", countersign_proto::iga::EVENT_TYPE_PREFIX),
                    ]
                })
                .collect();
            if let Some(items) = p.get_mut("items").and_then(|i| i.as_object_mut()) {
                items.insert("enum".into(), json!(names));
            }
        }
    }
}

/// Query strings have no `null`: an absent parameter is how a query says
/// "none", so the nullable half of an optional parameter's schema goes.
fn not_null(schema: &mut serde_json::Value) {
    if let Some(types) = schema.get_mut("type").and_then(|t| t.as_array_mut()) {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            schema["type"] = only;
        }
    }
    let one_of = schema.get("oneOf").and_then(|o| o.as_array()).map(|o| {
        o.iter()
            .filter(|s| s.get("type").and_then(|t| t.as_str()) != Some("null"))
            .cloned()
            .collect::<Vec<_>>()
    });
    if let (Some(mut rest), Some(obj)) = (one_of, schema.as_object_mut()) {
        if rest.len() == 1 {
            obj.remove("oneOf");
            if let Some(serde_json::Value::Object(inner)) = rest.pop() {
                obj.extend(inner);
            }
        } else {
            obj.insert("oneOf".into(), serde_json::Value::Array(rest));
        }
    }
}

/// Unsigned 32-bit integers: the server reads every value up to 2^32-1,
/// not only the `int32` range the generator names them by.
fn u32_ranges(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            let is_u32 = m.get("format").and_then(|f| f.as_str()) == Some("int32")
                && m.get("minimum").and_then(|n| n.as_u64()) == Some(0);
            if is_u32 {
                m.insert("format".into(), "int64".into());
                m.insert("maximum".into(), u64::from(u32::MAX).into());
            }
            m.values_mut().for_each(u32_ranges);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(u32_ranges),
        _ => {}
    }
}

fn tighten(doc: &mut serde_json::Value) {
    use serde_json::json;
    u32_ranges(doc);
    if let Some(batch) = doc.pointer_mut("/components/schemas/ChangeReport/oneOf/1") {
        batch["minItems"] = json!(1);
        batch["maxItems"] = json!(countersign_ledger::MAX_CHANGE_BATCH);
    }
    // An empty upload is an empty document, not a missing one.
    if let Some(body) = doc.pointer_mut("/paths/~1v1~1documents~1{name}~1content/put/requestBody") {
        body["required"] = json!(false);
    }
    for (schema, property, rule) in RULES {
        if let Some(p) = doc.pointer_mut(&format!(
            "/components/schemas/{schema}/properties/{property}"
        )) {
            apply_rule(p, *rule);
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) else {
                continue;
            };
            for param in params {
                let name = param["name"].as_str().unwrap_or("").to_string();
                let place = param["in"].as_str().unwrap_or("").to_string();
                let Some(schema) = param.get_mut("schema") else {
                    continue;
                };
                if place == "query" {
                    not_null(schema);
                }
                if place == "path" && NAMED_PATHS.contains(&(path.as_str(), name.as_str())) {
                    apply_rule(schema, Rule::Name);
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Countersign", description = "Identity-bound approvals over exact document state, recorded in a verifiable transparency log. Errors are RFC 9457 problem+json documents with a stable `code`; SCIM errors are RFC 7644 SCIM errors."),
    modifiers(&BearerAuth, &Errors),
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
        privacy::erase, privacy::hold_identity, privacy::hold_request, privacy::list, privacy::show, privacy::release,
    ),
    components(schemas(countersign_proto::Problem, countersign_proto::ErrorCode,
        countersign_proto::entry::LogEntry,
        countersign_proto::iga::CloudEvent, countersign_proto::iga::SignedApproval,
        countersign_proto::iga::ChangeIntake, iga::ExportFormat))
)]
pub struct ApiDoc;

/// The document served at `/v1/openapi.json`: the generated one, with the
/// SCIM service provider added and the domain's field rules and
/// query-string facts stated (see [`RULES`]).
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    scim::add(&mut doc);
    tighten(&mut doc);
    doc
}

pub async fn serve() -> Response {
    axum::Json(document()).into_response()
}
