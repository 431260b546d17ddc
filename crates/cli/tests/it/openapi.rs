//! The OpenAPI document says what the server does: parameters where the
//! router reads them, every operation's error answers with the media type
//! they are sent in. (`.ci/schemathesis` fuzzes the server against it.)

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::*;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// A response, its `$ref` followed.
fn resolve<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{r} does not resolve")),
        None => response,
    }
}

fn media_types(response: &Value) -> Vec<String> {
    response["content"]
        .as_object()
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn the_openapi_document_matches_the_router() {
    let s = TestServer::start();
    let doc: Value = s.get("/v1/openapi.json");
    let ops = operations(&doc);
    assert!(ops.len() > 80, "only {} operations", ops.len());
    for (method, path, op) in &ops {
        let label = format!("{method} {path}");
        let template: Vec<&str> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let in_path: Vec<&str> = params
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for name in &in_path {
            assert!(
                template.contains(name),
                "{label}: `{name}` is declared in: path but is not in the path"
            );
        }
        for name in &template {
            assert!(
                in_path.contains(name),
                "{label}: `{{{name}}}` is not declared"
            );
        }
        for p in params.iter().filter(|p| p["in"] == "query") {
            assert!(
                !p["schema"].to_string().contains("\"null\""),
                "{label}: query `{}` may be null, which a query string cannot say",
                p["name"]
            );
        }

        let scim = path.starts_with("/scim/");
        let (error_type, error_schema) = if scim {
            ("application/scim+json", "#/components/schemas/ScimError")
        } else {
            ("application/problem+json", "#/components/schemas/Problem")
        };
        let responses = op["responses"].as_object().unwrap();
        let default = responses
            .get("default")
            .unwrap_or_else(|| panic!("{label}: no default error answer"));
        let default = resolve(&doc, default);
        assert_eq!(
            default["content"][error_type]["schema"]["$ref"], error_schema,
            "{label}: the default answer is not a {error_type} document"
        );
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if secured {
            let unauthenticated = responses
                .get("401")
                .unwrap_or_else(|| panic!("{label}: secured but no 401"));
            assert_eq!(
                media_types(resolve(&doc, unauthenticated)),
                [error_type],
                "{label}: 401"
            );
        }
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    media_types(resolve(&doc, response)),
                    [error_type],
                    "{label}: {status} is not documented as {error_type}"
                );
            }
        }
    }
}

#[test]
fn error_answers_are_sent_as_documented() {
    let s = TestServer::start();
    let cases = [
        (
            Method::GET,
            "/v1/identities/nobody",
            true,
            404,
            "identity_not_found",
        ),
        (Method::GET, "/v1/identities", false, 401, "unauthenticated"),
        (
            Method::GET,
            "/v1/entitlement-changes/nothing",
            true,
            404,
            "change_not_found",
        ),
    ];
    for (method, path, token, status, code) in cases {
        let mut req = s.http.request(method.clone(), format!("{}{path}", s.base));
        if token {
            req = req.bearer_auth(TOKEN);
        }
        let r = req.send().unwrap();
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(ctype, "application/problem+json", "{method} {path}");
        let body: Value = r.json().unwrap();
        assert_eq!(body["code"], code, "{method} {path}: {body}");
    }
    let r = s
        .http
        .get(format!("{}/scim/v2/Users", s.base))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["content-type"], "application/scim+json");
}

#[test]
fn json_bodies_are_objects_and_whole_numbers_are_integers() {
    let s = TestServer::start();
    // JSON Schema, so the document, counts 86400.0 as an integer.
    let (status, v) = s.call(
        Method::POST,
        "/v1/tokens",
        Some(&json!({"name": "ci", "roles": ["auditor"], "expires_in_seconds": 86400.0})),
        true,
    );
    assert_eq!(status, 201, "{v}");
    // Only numbers are read again; strings keep their bytes.
    let (status, v) = s.call(
        Method::POST,
        "/v1/tokens",
        Some(&json!({"name": "ci \"2.0\" 1e3", "roles": ["auditor"], "expires_in_seconds": 1e5})),
        true,
    );
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["token"]["name"], "ci \"2.0\" 1e3");
    // A fraction is not an integer.
    let (status, v) = s.call(
        Method::POST,
        "/v1/tokens",
        Some(&json!({"name": "ci", "roles": ["auditor"], "expires_in_seconds": 1.5})),
        true,
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (422, Some("invalid_field")),
        "{v}"
    );
    let r = s
        .http
        .post(format!("{}/v1/tokens", s.base))
        .bearer_auth(TOKEN)
        .header("content-type", "text/json")
        .body(r#"{"name": "ci", "roles": ["auditor"]}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // serde would read a struct from an array of its fields; no client means that.
    let (status, v) = s.call(
        Method::POST,
        "/v1/tokens",
        Some(&json!(["ci", ["auditor"]])),
        true,
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (422, Some("invalid_field")),
        "{v}"
    );
}
