//! The SCIM 2.0 service provider (`/scim/v2`) in the OpenAPI document.
//!
//! The SCIM handlers are closures over one resource type each (see
//! `routes::scim`), so they carry no annotations; their description is
//! written here, as JSON, in RFC 7643/7644 terms. Resources are open
//! objects: the service provider keeps the attributes its schemas define
//! and drops the rest. Errors are SCIM errors (the `Scim*` responses).

use serde_json::{json, Map, Value};

const SCIM_JSON: &str = "application/scim+json";
const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn error(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

fn body(schema: &str) -> Value {
    json!({ SCIM_JSON: { "schema": { "$ref": format!("#/components/schemas/{schema}") } } })
}

fn ok(description: &str, schema: &str) -> Value {
    json!({ "description": description, "content": body(schema) })
}

fn etag_header() -> Value {
    json!({ "ETag": {
        "description": "The resource's version (`W/\"n\"`), for `If-Match`",
        "schema": { "type": "string" }
    }})
}

fn param(name: &str, place: &str, required: bool, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": place, "required": required, "description": description, "schema": schema })
}

fn text() -> Value {
    json!({ "type": "string" })
}

fn id_param(what: &str) -> Value {
    param("id", "path", true, &format!("The {what}'s id"), text())
}

fn projection() -> Vec<Value> {
    vec![
        param(
            "attributes",
            "query",
            false,
            "Comma-separated attribute names to return",
            text(),
        ),
        param(
            "excludedAttributes",
            "query",
            false,
            "Comma-separated attribute names to leave out",
            text(),
        ),
    ]
}

fn if_match() -> Value {
    param(
        "If-Match",
        "header",
        false,
        "Write only if the resource is still at this version (its `ETag`)",
        text(),
    )
}

/// An operation's answers: `ok` for the success statuses, then the SCIM
/// errors that apply to it.
fn responses(ok: &[(&str, Value)], errors: &[(&str, &str)]) -> Value {
    let mut m = Map::new();
    for (status, r) in ok {
        m.insert((*status).into(), r.clone());
    }
    for (status, name) in [
        ("401", "ScimUnauthenticated"),
        ("403", "ScimForbidden"),
        ("default", "ScimError"),
    ]
    .iter()
    .chain(errors)
    {
        m.insert((*status).into(), error(name));
    }
    Value::Object(m)
}

fn operation(id: &str, summary: &str, parameters: Vec<Value>, responses: Value) -> Value {
    json!({
        "tags": ["scim"],
        "operationId": id,
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
        "security": [{ "bearer": [] }],
    })
}

fn with_body(mut op: Value, schema: &str) -> Value {
    op["requestBody"] = json!({ "required": true, "content": body(schema) });
    op
}

fn resource_paths(paths: &mut Map<String, Value>, plural: &str, schema: &str, what: &str) {
    let list_params = [
        vec![
            param(
                "filter",
                "query",
                false,
                "An RFC 7644 §3.4.2.2 filter (`userName eq \"bjensen\"`)",
                text(),
            ),
            param("sortBy", "query", false, "The attribute to sort by", text()),
            param(
                "sortOrder",
                "query",
                false,
                "`ascending` (default) or `descending`",
                json!({ "type": "string", "enum": ["ascending", "descending"] }),
            ),
            param(
                "startIndex",
                "query",
                false,
                "1-based index of the first result (smaller values count as 1)",
                json!({ "type": "integer" }),
            ),
            param(
                "count",
                "query",
                false,
                "Page size (negative counts as 0; at most the server's maximum)",
                json!({ "type": "integer" }),
            ),
        ],
        projection(),
    ]
    .concat();
    let created = json!({
        "description": format!("The {what}, created"),
        "headers": {
            "ETag": etag_header()["ETag"],
            "Location": { "description": "The resource's URL", "schema": { "type": "string" } },
        },
        "content": body("ScimResource"),
    });
    let current = json!({
        "description": format!("The {what}"),
        "headers": etag_header(),
        "content": body("ScimResource"),
    });
    let collection = json!({
        "get": operation(
            &format!("scim_list_{plural}"),
            &format!("List {what}s"),
            list_params,
            responses(&[("200", ok(&format!("A page of {what}s"), "ScimListResponse"))], &[("400", "ScimBadRequest")]),
        ),
        "post": with_body(operation(
            &format!("scim_create_{plural}"),
            &format!("Create a {what}"),
            vec![],
            responses(&[("201", created)], &[("400", "ScimBadRequest"), ("409", "ScimConflict"), ("413", "ScimPayloadTooLarge")]),
        ), schema),
    });
    let item = json!({
        "get": operation(
            &format!("scim_show_{plural}"),
            &format!("A {what}"),
            [vec![id_param(what)], projection()].concat(),
            responses(&[("200", current.clone())], &[("400", "ScimBadRequest"), ("404", "ScimNotFound")]),
        ),
        "put": with_body(operation(
            &format!("scim_replace_{plural}"),
            &format!("Replace a {what}"),
            vec![id_param(what), if_match()],
            responses(&[("200", current.clone())], &[("400", "ScimBadRequest"), ("404", "ScimNotFound"), ("409", "ScimConflict"), ("412", "ScimPreconditionFailed"), ("413", "ScimPayloadTooLarge")]),
        ), schema),
        "patch": with_body(operation(
            &format!("scim_patch_{plural}"),
            &format!("Change a {what} (RFC 7644 §3.5.2)"),
            vec![id_param(what), if_match()],
            responses(&[("200", current)], &[("400", "ScimBadRequest"), ("404", "ScimNotFound"), ("409", "ScimConflict"), ("412", "ScimPreconditionFailed"), ("413", "ScimPayloadTooLarge")]),
        ), "ScimPatchOp"),
        "delete": operation(
            &format!("scim_delete_{plural}"),
            &format!("Delete a {what}"),
            vec![id_param(what), if_match()],
            responses(&[("204", json!({ "description": "Deleted" }))], &[("404", "ScimNotFound"), ("409", "ScimConflict"), ("412", "ScimPreconditionFailed")]),
        ),
    });
    paths.insert(format!("/scim/v2/{plural}"), collection);
    paths.insert(format!("/scim/v2/{plural}/{{id}}"), item);
}

fn discovery(paths: &mut Map<String, Value>, name: &str, summary: &str, one: Option<&str>) {
    paths.insert(
        format!("/scim/v2/{name}"),
        json!({ "get": operation(
            &format!("scim_{}", name.to_ascii_lowercase()),
            summary,
            vec![],
            responses(&[("200", ok(summary, if one.is_some() { "ScimListResponse" } else { "ScimResource" }))], &[]),
        )}),
    );
    if let Some(param_name) = one {
        paths.insert(
            format!("/scim/v2/{name}/{{{param_name}}}"),
            json!({ "get": operation(
                &format!("scim_{}_one", name.to_ascii_lowercase()),
                &format!("One of {summary}"),
                vec![param(param_name, "path", true, "Its name or URN", text())],
                responses(&[("200", ok(summary, "ScimResource"))], &[("404", "ScimNotFound")]),
            )}),
        );
    }
}

/// A `schemas` list that must name `urn`.
fn schemas_naming(urn: &str) -> Value {
    json!({
        "type": "array",
        "prefixItems": [{ "const": urn }],
        "items": { "type": "string" },
        "minItems": 1,
        "description": format!("Lists {urn} (first, here), and any extension whose attributes are sent"),
    })
}

/// Adds the SCIM paths and their schemas to the document.
pub fn add(doc: &mut Value) {
    // A unique name: a string, though numbers and booleans are read as
    // their text, as some IdPs send them.
    let text = json!({
        "type": ["string", "number", "boolean"],
        "pattern": "\\S",
        "description": "Unique; a string (numbers and booleans are read as their text, as some IdPs send them)",
    });
    let schemas = json!({
        "ScimResource": {
            "type": "object",
            "description": "A SCIM resource as stored (User, Group) or a discovery document",
            "properties": {
                "schemas": { "type": "array", "items": { "type": "string" } },
                "id": { "type": "string" },
                "meta": { "type": "object" },
            },
        },
        "ScimListResponse": {
            "type": "object",
            "required": ["schemas", "totalResults", "Resources"],
            "properties": {
                "schemas": { "type": "array", "items": { "const": LIST_RESPONSE } },
                "totalResults": { "type": "integer", "minimum": 0 },
                "startIndex": { "type": "integer", "minimum": 1 },
                "itemsPerPage": { "type": "integer", "minimum": 0 },
                "Resources": { "type": "array", "items": { "$ref": "#/components/schemas/ScimResource" } },
            },
        },
        "ScimUser": {
            "type": "object",
            "description": "An RFC 7643 §4.1 User (with the enterprise extension); `password` is accepted and dropped",
            "required": ["schemas", "userName"],
            "properties": {
                "schemas": schemas_naming(CORE_USER),
                "userName": text.clone(),
                "active": { "description": "A boolean; IdPs' strings (`\"True\"`) are read as one" },
            },
        },
        "ScimGroup": {
            "type": "object",
            "description": "An RFC 7643 §4.2 Group",
            "required": ["schemas", "displayName"],
            "properties": {
                "schemas": schemas_naming(CORE_GROUP),
                "displayName": text,
                "members": {
                    "type": ["array", "null"],
                    "description": "null is unassigned (RFC 7643 §2.5)",
                    "items": { "description": "A member, `{\"value\": <id>}`" },
                },
            },
        },
        "ScimPatchOp": {
            "type": "object",
            "description": "An RFC 7644 §3.5.2 PATCH request",
            "required": ["schemas", "Operations"],
            "properties": {
                "schemas": schemas_naming(PATCH_OP),
                "Operations": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["op"],
                        "properties": {
                            "op": { "type": "string", "enum": ["add", "remove", "replace", "Add", "Remove", "Replace"] },
                            "path": { "type": "string" },
                            "value": {},
                        },
                    },
                },
            },
        },
    });
    if let (Some(Value::Object(target)), Value::Object(new)) =
        (doc.pointer_mut("/components/schemas"), schemas)
    {
        target.extend(new);
    }
    let mut paths = Map::new();
    discovery(
        &mut paths,
        "ServiceProviderConfig",
        "The service provider's configuration",
        None,
    );
    discovery(
        &mut paths,
        "ResourceTypes",
        "The resource types",
        Some("name"),
    );
    discovery(&mut paths, "Schemas", "The schemas", Some("id"));
    resource_paths(&mut paths, "Users", "ScimUser", "user");
    resource_paths(&mut paths, "Groups", "ScimGroup", "group");
    if let Some(Value::Object(target)) = doc.get_mut("paths") {
        target.extend(paths);
    }
    if let Some(Value::Array(tags)) = doc.get_mut("tags") {
        tags.push(json!({ "name": "scim", "description": "SCIM 2.0 provisioning (RFC 7643, RFC 7644); errors are SCIM errors" }));
    }
}
