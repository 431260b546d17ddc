//! The SCIM 2.0 service provider through the real server: discovery,
//! every operation on Users and Groups, filters, sorting and paging, ETags,
//! malformed input (SCIM errors, nothing changed), the request sequences
//! Entra ID and Okta send for joiners, movers and leavers, and the
//! lifecycle consequences of a leaver.

use countersign_proto::governance::Role;
use countersign_proto::model::*;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::*;
use crate::webhooks::{Mode, Receiver};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

struct Scim<'a> {
    s: &'a TestServer,
    token: String,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl<'a> Scim<'a> {
    fn new(s: &'a TestServer) -> Self {
        Scim {
            s,
            token: s.token_for(None, &[Role::Scim]),
        }
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Answer {
        let mut r = self
            .s
            .http
            .request(method, format!("{}/scim/v2{path}", self.s.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/scim+json")
                .body(serde_json::to_vec(b).unwrap());
        }
        if let Some(m) = if_match {
            r = r.header("if-match", m);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status >= 400 {
            assert_eq!(headers["content-type"], "application/scim+json", "{body}");
            assert_eq!(body["schemas"], json!([ERROR]), "{body}");
            assert_eq!(body["status"], status.to_string(), "{body}");
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, None)
    }

    fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(&body), None)
    }

    fn patch(&self, path: &str, ops: Value) -> Answer {
        self.send(
            Method::PATCH,
            path,
            Some(&json!({"schemas": [PATCH_OP], "Operations": ops})),
            None,
        )
    }

    fn ok(&self, a: Answer) -> Value {
        assert!(a.status < 300, "{}: {}", a.status, a.body);
        a.body
    }

    /// Create a user; answers its SCIM id.
    fn user(&self, user_name: &str, given: &str, family: &str) -> String {
        let a = self.post(
            "/Users",
            json!({
                "schemas": [USER],
                "userName": user_name,
                "name": {"givenName": given, "familyName": family},
                "displayName": format!("{given} {family}"),
                "emails": [{"value": user_name, "type": "work", "primary": true}],
                "active": true,
            }),
        );
        assert_eq!(a.status, 201, "{}", a.body);
        a.body["id"].as_str().unwrap().to_string()
    }

    fn list(&self, query: &str) -> Value {
        let a = self.get(&format!("/Users?{query}"));
        assert_eq!(a.status, 200, "{query}: {}", a.body);
        a.body
    }

    fn names(&self, query: &str) -> Vec<String> {
        self.list(query)["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_string())
            .collect()
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn identity(s: &TestServer, handle: &str) -> Identity {
    s.get(&format!("/v1/identities/{handle}"))
}

#[test]
fn discovery_endpoints_describe_the_service_and_need_the_scim_role() {
    let s = TestServer::start();
    let scim = Scim::new(&s);
    let spc = scim.ok(scim.get("/ServiceProviderConfig"));
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["sort"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
    let types = scim.ok(scim.get("/ResourceTypes"));
    let names: Vec<&str> = types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["User", "Group"]);
    let user = scim.ok(scim.get("/ResourceTypes/User"));
    assert_eq!(user["schemaExtensions"][0]["schema"], ENTERPRISE);
    let schemas = scim.ok(scim.get("/Schemas"));
    assert_eq!(schemas["totalResults"], 3);
    let core = scim.ok(scim.get(&format!("/Schemas/{USER}")));
    assert!(core["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "userName"));
    assert_eq!(scim.get("/Schemas/urn:nope").status, 404);
    assert_eq!(scim.get("/Nothing").status, 404);

    // No token, or a token without the scim role: SCIM errors.
    let none = Scim {
        s: &s,
        token: "cs_not-a-token".into(),
    };
    assert_eq!(none.get("/Users").status, 401);
    let approver = Scim {
        s: &s,
        token: s.token_for(None, &[Role::Approver]),
    };
    assert_eq!(approver.get("/Users").status, 403);
}

#[test]
fn users_are_created_read_replaced_patched_and_deleted_as_identities() {
    let s = TestServer::start();
    let scim = Scim::new(&s);
    let size = s.tree_size();
    let a = scim.post(
        "/Users",
        json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": "00u1",
            "userName": "Alice.Smith@acme.test",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "emails": [{"value": "alice.smith@acme.test", "type": "work", "primary": true}],
            "title": "Engineer",
            "active": true,
            ENTERPRISE: {"department": "R&D", "employeeNumber": "42"},
            "password": "never-stored",
        }),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["id"].as_str().unwrap().to_string();
    assert_eq!(a.headers["etag"], "W/\"1\"");
    assert!(a.headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/scim/v2/Users/{id}")));
    assert_eq!(a.body["meta"]["resourceType"], "User");
    assert_eq!(a.body["meta"]["version"], "W/\"1\"");
    assert!(a.body.get("password").is_none());
    // The identity it maps to, logged.
    let alice = identity(&s, "alice.smith");
    assert_eq!(alice.id, id);
    assert_eq!(alice.display_name, "Alice Smith");
    assert_eq!(alice.email.as_deref(), Some("alice.smith@acme.test"));
    assert_eq!(alice.kind, IdentityKind::Human);
    assert_eq!(s.entry(size)["type"], "identity.created");

    let got = scim.get(&format!("/Users/{id}"));
    assert_eq!(got.status, 200);
    assert_eq!(got.body["userName"], "Alice.Smith@acme.test");
    assert_eq!(got.body[ENTERPRISE]["department"], "R&D");
    let projected = scim.ok(scim.get(&format!("/Users/{id}?attributes=userName")));
    assert!(
        projected.get("title").is_none() && projected["id"] == id.as_str(),
        "{projected}"
    );

    // PUT replaces the whole resource.
    let mut replaced = got.body.clone();
    replaced["displayName"] = json!("Alice S.");
    replaced["title"] = json!("Staff Engineer");
    let put = scim.send(
        Method::PUT,
        &format!("/Users/{id}"),
        Some(&replaced),
        Some("W/\"1\""),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.headers["etag"], "W/\"2\"");
    assert_eq!(identity(&s, "alice.smith").display_name, "Alice S.");

    // PATCH add/replace/remove.
    let p = scim.ok(scim.patch(
        &format!("/Users/{id}"),
        json!([
            {"op": "replace", "path": "title", "value": "Principal"},
            {"op": "add", "path": "phoneNumbers", "value": [{"value": "+1 555 0100", "type": "work"}]},
            {"op": "remove", "path": format!("{ENTERPRISE}:employeeNumber")},
        ]),
    ));
    assert_eq!(p["title"], "Principal");
    assert_eq!(p["phoneNumbers"][0]["value"], "+1 555 0100");
    assert!(p[ENTERPRISE].get("employeeNumber").is_none(), "{p}");
    assert_eq!(p["meta"]["version"], "W/\"3\"");

    // DELETE terminates the identity; the resource is gone.
    let d = scim.send(Method::DELETE, &format!("/Users/{id}"), None, None);
    assert_eq!(d.status, 204);
    assert_eq!(
        identity(&s, "alice.smith").status,
        IdentityStatus::Terminated
    );
    assert_eq!(scim.get(&format!("/Users/{id}")).status, 404);
    assert_eq!(
        scim.send(Method::DELETE, &format!("/Users/{id}"), None, None)
            .status,
        404
    );
}

#[test]
fn scim_adopts_an_existing_identity_only_when_an_admin_allows_it() {
    let s = TestServer::start();
    let bob: Identity = s.post(
        "/v1/identities",
        &json!({"handle": "bob", "kind": "human", "email": "bob@acme.test", "display_name": "Bob"}),
    );
    let scim = Scim::new(&s);
    let push = json!({"schemas": [USER], "userName": "bjones", "displayName": "Bob Jones",
        "emails": [{"value": "BOB@acme.test", "type": "work"}]});
    // Same address, other case: a conflict, not a takeover; nothing changes.
    let size = s.tree_size();
    let a = scim.post("/Users", push.clone());
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["scimType"], "uniqueness", "{}", a.body);
    assert!(
        a.body["detail"].as_str().unwrap().contains("allow-scim"),
        "{}",
        a.body
    );
    assert_eq!(s.tree_size(), size);
    assert_eq!(identity(&s, "bob"), bob);
    // Only an administrator allows it, and that is logged.
    let approver = s.token_for(Some("bob"), &[Role::Approver]);
    let (status, _) = s.call_as(
        Method::POST,
        "/v1/identities/bob/scim-adoption",
        None,
        Some(&approver),
    );
    assert_eq!(status, 403);
    let allowed: Identity = s.post("/v1/identities/bob/scim-adoption", &json!({}));
    assert!(allowed.scim_adoptable);
    let entry = s.entry(s.tree_size() - 1);
    assert_eq!(entry["type"], "identity.updated", "{entry}");
    assert_eq!(entry["changed"], json!(["scim_adoptable"]), "{entry}");
    // Now the push adopts bob, and the mark is used up.
    let a = scim.post("/Users", push.clone());
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["id"].as_str().unwrap().to_string();
    let adopted = identity(&s, "bob");
    assert_eq!(adopted.id, bob.id);
    assert_eq!(adopted.display_name, "Bob Jones");
    assert!(!adopted.scim_adoptable);
    let (status, _) = s.call(Method::GET, "/v1/identities/bjones", None, true);
    assert_eq!(status, 404, "no duplicate identity was made");
    // Pushing the same twice: the second changes nothing, and neither is
    // a server error.
    let a = scim.send(Method::PUT, &format!("/Users/{id}"), Some(&push), None);
    assert_eq!(a.status, 200, "{}", a.body);
    let size = s.tree_size();
    let a = scim.send(Method::PUT, &format!("/Users/{id}"), Some(&push), None);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(s.tree_size(), size);
    let a = scim.post("/Users", push);
    assert_eq!(a.status, 409, "{}", a.body);
}

#[test]
fn emails_are_unique_among_live_identities_and_handles_ignore_case() {
    let s = TestServer::start();
    s.person("carol");
    let scim = Scim::new(&s);
    // Another identity with carol's address, in another case: refused.
    let (status, v) = s.call(
        Method::POST,
        "/v1/identities",
        Some(&json!({"handle": "carol2", "kind": "human", "email": "CAROL@example.com"})),
        true,
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("email_taken")),
        "{v}"
    );
    let _: Identity = s.post("/v1/identities", &json!({"handle": "dan", "kind": "human"}));
    let (status, v) = s.call(
        Method::PATCH,
        "/v1/identities/dan",
        Some(&json!({"email": "Carol@Example.com"})),
        true,
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("email_taken")),
        "{v}"
    );
    // A SCIM user cannot take the address over by an update either.
    let id = scim.user("erin@acme.test", "Erin", "E");
    let a = scim.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "emails", "value": [{"value": "carol@EXAMPLE.com", "primary": true}]}]),
    );
    assert_eq!(a.status, 409, "{}", a.body);
    // Handles differ by more than case.
    let (status, v) = s.call(
        Method::POST,
        "/v1/identities",
        Some(&json!({"handle": "Carol", "kind": "human"})),
        true,
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("handle_taken")),
        "{v}"
    );
    // Once carol is terminated her address is free again.
    let _: Identity = s.post("/v1/identities/carol/terminate", &json!({}));
    let _: Identity = s.post(
        "/v1/identities",
        &json!({"handle": "carol-new", "kind": "human", "email": "carol@example.com"}),
    );
}

#[test]
fn filters_sorting_and_paging_follow_rfc_7644() {
    let s = TestServer::start();
    let scim = Scim::new(&s);
    scim.user("ann@acme.test", "Ann", "Smith");
    scim.user("ben@acme.test", "Ben", "Smythe");
    scim.user("cat@other.test", "Cat", "Jones");
    let p = |f: &str| format!("filter={}", enc(f));

    assert_eq!(
        scim.names(&p("userName eq \"ANN@acme.test\"")),
        ["ann@acme.test"]
    );
    assert_eq!(
        scim.names(&p("userName ne \"ann@acme.test\"")),
        ["ben@acme.test", "cat@other.test"]
    );
    assert_eq!(
        scim.names(&p("name.familyName sw \"Sm\"")),
        ["ann@acme.test", "ben@acme.test"]
    );
    assert_eq!(
        scim.names(&p("userName ew \"other.test\"")),
        ["cat@other.test"]
    );
    assert_eq!(
        scim.names(&p("emails[type eq \"work\"].value co \"@acme\"")),
        ["ann@acme.test", "ben@acme.test"]
    );
    assert_eq!(
        scim.names(&p("emails[type eq \"work\" and value co \"cat\"]")),
        ["cat@other.test"]
    );
    assert_eq!(scim.names(&p("title pr")), Vec::<String>::new());
    assert_eq!(
        scim.names(&p("not (userName sw \"a\")")),
        ["ben@acme.test", "cat@other.test"]
    );
    assert_eq!(
        scim.names(&p(
            "(userName sw \"a\" or userName sw \"c\") and active eq true"
        )),
        ["ann@acme.test", "cat@other.test"]
    );
    assert_eq!(
        scim.names(&p(
            "userName sw \"a\" or userName sw \"b\" and name.givenName eq \"Nobody\""
        )),
        ["ann@acme.test"]
    );
    assert_eq!(
        scim.names(&p("meta.lastModified gt \"2000-01-01T00:00:00Z\""))
            .len(),
        3
    );
    assert_eq!(
        scim.names(&p("meta.created lt \"2000-01-01T00:00:00Z\""))
            .len(),
        0
    );
    assert_eq!(
        scim.names(&p(&format!("{USER}:userName Eq \"ann@acme.test\"")))[..],
        ["ann@acme.test"]
    );
    assert_eq!(
        scim.names(&p("userName eq \"with \\\"quotes\\\"\"")).len(),
        0
    );

    assert_eq!(
        scim.names("sortBy=name.givenName&sortOrder=descending"),
        ["cat@other.test", "ben@acme.test", "ann@acme.test"]
    );
    let page = scim.list("sortBy=userName&startIndex=2&count=1");
    assert_eq!(page["totalResults"], 3);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 1);
    assert_eq!(page["Resources"][0]["userName"], "ben@acme.test");
    assert_eq!(
        scim.list("count=0")["Resources"]
            .as_array()
            .map_or(0, Vec::len),
        0
    );

    // Malformed filters are SCIM invalidFilter errors and change nothing.
    let size = s.tree_size();
    for bad in [
        "userName eq",
        "(userName eq \"a\"",
        "emails[type eq \"work\"",
        "nosuchattr eq \"x\"",
        "active gt true",
        "userName eq \"a\" garbage",
        "userName zz \"a\"",
    ] {
        let a = scim.get(&format!("/Users?{}", p(bad)));
        assert_eq!(
            (a.status, a.body["scimType"].as_str()),
            (400, Some("invalidFilter")),
            "{bad:?}: {}",
            a.body
        );
    }
    let deep = "(".repeat(10_000) + "userName eq \"a\"" + &")".repeat(10_000);
    let a = scim.get(&format!("/Users?{}", p(&deep)));
    assert_eq!(a.status, 400);
    let a = scim.get("/Users?sortBy=nosuch");
    assert_eq!(
        (a.status, a.body["scimType"].as_str()),
        (400, Some("invalidValue"))
    );
    assert_eq!(s.tree_size(), size);
}

#[test]
fn etags_guard_against_lost_updates() {
    let s = TestServer::start();
    let scim = Scim::new(&s);
    let id = scim.user("dan@acme.test", "Dan", "Brown");
    let path = format!("/Users/{id}");
    let current = scim.get(&path);
    assert_eq!(current.headers["etag"], "W/\"1\"");
    let body = json!({"schemas": [USER], "userName": "dan@acme.test", "displayName": "Daniel"});
    let ok = scim.send(Method::PUT, &path, Some(&body), Some("W/\"1\""));
    assert_eq!(ok.status, 200);
    let size = s.tree_size();
    let stale = scim.send(Method::PUT, &path, Some(&body), Some("W/\"1\""));
    assert_eq!(stale.status, 412, "{}", stale.body);
    let stale = scim.send(
        Method::PATCH,
        &path,
        Some(&json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]})),
        Some("W/\"1\""),
    );
    assert_eq!(stale.status, 412);
    assert_eq!(
        scim.send(Method::DELETE, &path, None, Some("W/\"7\""))
            .status,
        412
    );
    assert_eq!(s.tree_size(), size, "refused writes change nothing");
    assert_eq!(identity(&s, "dan").status, IdentityStatus::Active);
    let any = scim.send(
        Method::PUT,
        &path,
        Some(&json!({"schemas": [USER], "userName": "dan@acme.test", "displayName": "Dan"})),
        Some("*"),
    );
    assert_eq!(any.status, 200);
    assert_eq!(any.headers["etag"], "W/\"3\"");
}

#[test]
fn malformed_bodies_get_scim_errors_and_change_nothing() {
    let s = TestServer::start();
    let scim = Scim::new(&s);
    let id = scim.user("eve@acme.test", "Eve", "Black");
    let size = s.tree_size();
    let raw = s
        .http
        .post(format!("{}/scim/v2/Users", s.base))
        .bearer_auth(&scim.token)
        .header("content-type", "application/scim+json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(raw.status(), 400);
    let v: Value = raw.json().unwrap();
    assert_eq!(v["scimType"], "invalidSyntax");

    let cases = [
        (json!({"schemas": [USER]}), "missing userName"),
        (json!({"userName": "x@acme.test"}), "missing schemas"),
        (
            json!({"schemas": [USER], "userName": "y@acme.test", "active": "perhaps"}),
            "bad boolean",
        ),
        (
            json!({"schemas": [USER], "userName": "eve@ACME.test"}),
            "userName taken",
        ),
    ];
    for (body, why) in cases {
        let a = scim.post("/Users", body);
        assert!(
            a.status == 400 || a.status == 409,
            "{why}: {} {}",
            a.status,
            a.body
        );
        assert!(a.body["scimType"].is_string(), "{why}: {}", a.body);
    }
    assert_eq!(
        scim.post(
            "/Users",
            json!({"schemas": [USER], "userName": "eve@ACME.test"})
        )
        .body["scimType"],
        "uniqueness"
    );

    let path = format!("/Users/{id}");
    let bad_patches = [
        (
            json!({"Operations": [{"op": "replace", "path": "title", "value": "x"}]}),
            "no schemas",
        ),
        (
            json!({"schemas": [PATCH_OP], "Operations": []}),
            "no operations",
        ),
        (
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "frobnicate", "path": "title"}]}),
            "bad op",
        ),
        (
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title[[", "value": "x"}]}),
            "bad path",
        ),
        (
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "id", "value": "x"}]}),
            "read-only",
        ),
        (
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "userName"}]}),
            "required",
        ),
    ];
    for (body, why) in bad_patches {
        let a = scim.send(Method::PATCH, &path, Some(&body), None);
        assert_eq!(a.status, 400, "{why}: {}", a.body);
        assert!(a.body["scimType"].is_string(), "{why}: {}", a.body);
    }
    assert_eq!(scim.send(Method::PATCH, "/Users/idn_nope", Some(&json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]})), None).status, 404);
    assert_eq!(s.tree_size(), size, "nothing was recorded");
    let still = scim.ok(scim.get(&path));
    assert_eq!(still["meta"]["version"], "W/\"1\"");
}

fn members(s: &TestServer, handle: &str) -> Vec<String> {
    identity(s, handle).groups
}

#[test]
fn groups_carry_membership_into_identities() {
    let s = TestServer::start();
    let scim = Scim::new(&s);
    let ann = scim.user("ann@acme.test", "Ann", "Smith");
    let ben = scim.user("ben@acme.test", "Ben", "Smythe");
    let g = scim.post(
        "/Groups",
        json!({"schemas": [GROUP], "displayName": "Finance Approvers", "members": [{"value": ann}]}),
    );
    assert_eq!(g.status, 201, "{}", g.body);
    let gid = g.body["id"].as_str().unwrap().to_string();
    assert_eq!(members(&s, "ann"), ["finance-approvers"]);
    let entry = s.entry(s.tree_size() - 1);
    assert_eq!(
        (entry["type"].as_str(), entry["action"].as_str()),
        (Some("group.changed"), Some("created"))
    );
    assert_eq!(entry["group"]["members"], json!(["ann"]));
    // The user shows its groups (read-only).
    let u = scim.ok(scim.get(&format!("/Users/{ann}")));
    assert_eq!(u["groups"][0]["value"], gid);
    assert_eq!(u["groups"][0]["display"], "Finance Approvers");

    // Add (Entra style), remove by filter (Okta style), remove by value (Entra style).
    scim.ok(scim.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "Add", "path": "members", "value": [{"value": ben}]}]),
    ));
    assert_eq!(members(&s, "ben"), ["finance-approvers"]);
    scim.ok(scim.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]),
    ));
    assert!(members(&s, "ann").is_empty());
    scim.ok(scim.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "Remove", "path": "members", "value": [{"value": ben}]}]),
    ));
    assert!(members(&s, "ben").is_empty());
    // Unknown members are refused.
    let a = scim.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "add", "path": "members", "value": [{"value": "idn_nobody"}]}]),
    );
    assert_eq!(a.status, 400, "{}", a.body);

    // Rename with PUT: members move to the new label; filter on groups.
    let put = scim.send(
        Method::PUT,
        &format!("/Groups/{gid}"),
        Some(&json!({"schemas": [GROUP], "displayName": "Payments", "members": [{"value": ann}, {"value": ben}]})),
        None,
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(members(&s, "ann"), ["payments"]);
    let listed = scim.ok(scim.get(&format!(
        "/Groups?filter={}",
        enc("displayName eq \"payments\"")
    )));
    assert_eq!(listed["totalResults"], 1);
    let listed = scim.ok(scim.get(&format!(
        "/Users?filter={}",
        enc(&format!("groups.value eq \"{gid}\""))
    )));
    assert_eq!(listed["totalResults"], 2);
    assert_eq!(
        scim.post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "payments"})
        )
        .status,
        409
    );

    // Delete: members leave it.
    assert_eq!(
        scim.send(Method::DELETE, &format!("/Groups/{gid}"), None, None)
            .status,
        204
    );
    assert!(members(&s, "ann").is_empty());
    assert_eq!(scim.get(&format!("/Groups/{gid}")).status, 404);
}

#[test]
fn entra_id_joiner_mover_leaver() {
    let s = TestServer::start();
    let scim = Scim::new(&s);
    // Entra checks for the user first.
    let q = format!("/Users?filter={}", enc("userName eq \"jo@contoso.test\""));
    let empty = scim.ok(scim.get(&q));
    assert_eq!(empty["totalResults"], 0);
    assert_eq!(empty["Resources"], json!([]));
    let mgr = scim.user("mia@contoso.test", "Mia", "Manager");
    // Joiner.
    let created = scim.post(
        "/Users",
        json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": "f2f9c1a0",
            "userName": "jo@contoso.test",
            "active": true,
            "displayName": "Jo Doe",
            "title": "Analyst",
            "emails": [{"primary": true, "type": "work", "value": "jo@contoso.test"}],
            "name": {"formatted": "Jo Doe", "familyName": "Doe", "givenName": "Jo"},
            ENTERPRISE: {"department": "Finance"},
        }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    // Entra sets the manager in a PATCH with a bare id.
    scim.ok(scim.patch(
        &format!("/Users/{id}"),
        json!([
            {"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": mgr},
        ]),
    ));
    assert_eq!(identity(&s, "jo").manager.as_deref(), Some("mia"));
    // Mover: new title, new work email, new display name.
    let moved = scim.ok(scim.patch(&format!("/Users/{id}"), json!([
        {"op": "Replace", "path": "title", "value": "Senior Analyst"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "jo.doe@contoso.test"},
        {"op": "Replace", "path": "displayName", "value": "Jo Doe-Smith"},
    ])));
    assert_eq!(moved["title"], "Senior Analyst");
    let jo = identity(&s, "jo");
    assert_eq!(jo.email.as_deref(), Some("jo.doe@contoso.test"));
    assert_eq!(jo.display_name, "Jo Doe-Smith");
    // Leaver: Entra disables with a string boolean, then deletes later.
    let before = s.tree_size();
    let off = scim.ok(scim.patch(
        &format!("/Users/{id}"),
        json!([
            {"op": "Replace", "path": "active", "value": "False"},
        ]),
    ));
    assert_eq!(off["active"], false);
    let jo = identity(&s, "jo");
    assert_eq!(jo.status, IdentityStatus::Suspended);
    assert_eq!(
        jo.updated_at,
        s.now(),
        "the status takes the time the push arrived"
    );
    let entry = s.entry(before);
    assert_eq!(entry["type"], "identity.status_changed");
    assert_eq!(entry["reason"], "deactivated over SCIM (active: false)");
    assert_eq!(
        scim.send(Method::DELETE, &format!("/Users/{id}"), None, None)
            .status,
        204
    );
    assert_eq!(identity(&s, "jo").status, IdentityStatus::Terminated);
}

#[test]
fn okta_joiner_mover_leaver() {
    let s = TestServer::start();
    let scim = Scim::new(&s);
    let q = format!(
        "/Users?filter={}&startIndex=1&count=100",
        enc("userName eq \"sam@okta.test\"")
    );
    assert_eq!(scim.ok(scim.get(&q))["totalResults"], 0);
    let created = scim.post(
        "/Users",
        json!({
            "schemas": [USER],
            "userName": "sam@okta.test",
            "name": {"givenName": "Sam", "familyName": "Lee"},
            "emails": [{"primary": true, "value": "sam@okta.test", "type": "work"}],
            "displayName": "Sam Lee",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": true,
        }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    // Okta updates profiles with a full PUT.
    let mut body = created.body.clone();
    body["name"]["familyName"] = json!("Lee-Park");
    body["displayName"] = json!("Sam Lee-Park");
    let put = scim.send(Method::PUT, &format!("/Users/{id}"), Some(&body), None);
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(identity(&s, "sam").display_name, "Sam Lee-Park");
    // Group push.
    let g = scim.post(
        "/Groups",
        json!({"schemas": [GROUP], "displayName": "Release Managers", "members": []}),
    );
    assert_eq!(g.status, 201, "{}", g.body);
    let gid = g.body["id"].as_str().unwrap().to_string();
    scim.ok(scim.patch(
        &format!("/Groups/{gid}"),
        json!([
            {"op": "add", "path": "members", "value": [{"value": id, "display": "sam@okta.test"}]},
        ]),
    ));
    assert_eq!(identity(&s, "sam").groups, ["release-managers"]);
    // Deactivate and reactivate: a path-less replace.
    scim.ok(scim.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "value": {"active": false}}]),
    ));
    assert_eq!(identity(&s, "sam").status, IdentityStatus::Suspended);
    scim.ok(scim.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "value": {"active": true}}]),
    ));
    assert_eq!(identity(&s, "sam").status, IdentityStatus::Active);
    // Leaver: removed from the group, then deactivated.
    scim.ok(scim.patch(
        &format!("/Groups/{gid}"),
        json!([
            {"op": "remove", "path": format!("members[value eq \"{id}\"]")},
        ]),
    ));
    assert!(identity(&s, "sam").groups.is_empty());
    scim.ok(scim.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "value": {"active": false}}]),
    ));
    assert_eq!(identity(&s, "sam").status, IdentityStatus::Suspended);
}

#[test]
fn a_leaver_pushed_over_scim_has_every_lifecycle_consequence() {
    let s = TestServer::start_with(countersign_ledger::IgaConfig {
        scim_deactivate: IdentityStatus::Terminated,
        ..Default::default()
    });
    s.tick();
    let rx = Receiver::start(Mode::Ok);
    let _: countersign_proto::iga::WebhookSecrets = s.post(
        "/v1/webhooks",
        &json!({"url": rx.url, "events": ["identity.terminated", "request.rerouted", "request.voided", "identity.orphaned"]}),
    );
    let scim = Scim::new(&s);
    let carol = scim.user("carol@acme.test", "Carol", "Boss");
    let bob = scim.user("bob@acme.test", "Bob", "Approver");
    scim.ok(scim.patch(
        &format!("/Users/{bob}"),
        json!([
            {"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": {"value": carol}},
        ]),
    ));
    let b = "bob";
    s.human("alice");
    s.human("dave");
    s.human("erin");
    let key = s.enroll(b, None);
    let _ = key;
    let token = s.token_for(Some(b), &[Role::Approver]);
    let _: Identity = s.post(
        "/v1/identities",
        &json!({"handle": "report-bot", "kind": "service", "owner": b}),
    );
    s.document("offer-letter", b"Offer\n");
    // One request bob must sign alone (his manager can take it), one he
    // shares with erin under quorum 1 of 2 (dropped), and one where his
    // manager is already an approver and the quorum needs both (voided).
    let rerouted = s.request(&request_body("offer-letter", "alice", "dave", &[b]));
    let mut shared = request_body("offer-letter", "alice", "dave", &[b, "erin"]);
    shared.quorum = Some(1);
    let shared = s.request(&shared);
    let mut both = request_body("offer-letter", "alice", "dave", &[b, "carol"]);
    both.quorum = Some(2);
    let voided = s.request(&both);

    let before = s.tree_size();
    scim.ok(scim.patch(
        &format!("/Users/{bob}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    ));
    let bob_now = identity(&s, b);
    assert_eq!(bob_now.status, IdentityStatus::Terminated);
    // Credentials end.
    let keys: Vec<Credential> = s.get(&format!("/v1/identities/{b}/keys"));
    assert!(keys.iter().all(|k| k.revoked_at.is_some()), "{keys:?}");
    let (status, _) = s.call_as(Method::GET, "/v1/requests", None, Some(&token));
    assert_eq!(status, 401, "bob's API token was revoked");
    // Pending requests re-routed or voided.
    let r1: Request = s.get(&format!("/v1/requests/{}", rerouted.id));
    assert_eq!(r1.approvers, ["carol"]);
    assert_eq!(r1.state, RequestState::Pending);
    let r2: Request = s.get(&format!("/v1/requests/{}", shared.id));
    assert_eq!(r2.approvers, ["carol", "erin"]);
    let r3: Request = s.get(&format!("/v1/requests/{}", voided.id));
    assert_eq!(r3.state, RequestState::Voided);
    // Non-human identities it owns are orphaned.
    assert!(identity(&s, "report-bot").orphaned);
    // All of it is logged.
    let kinds: Vec<String> = (before..s.tree_size())
        .map(|i| s.entry(i)["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds[0], "identity.status_changed");
    assert_eq!(
        s.entry(before)["revoked_keys"].as_array().map(Vec::len),
        Some(1)
    );
    for k in [
        "token.revoked",
        "request.rerouted",
        "request.closed",
        "identity.updated",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    // The requesters and owners are told: one event per consequence.
    let events = rx.wait_for(5);
    let kinds: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| (e.event_type.as_str(), e.subject.as_deref()))
        .collect();
    assert!(
        kinds.contains(&("dev.countersign.identity.terminated", Some(b))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(
            "dev.countersign.request.rerouted",
            Some(rerouted.id.as_str())
        )),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("dev.countersign.request.rerouted", Some(shared.id.as_str()))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("dev.countersign.request.voided", Some(voided.id.as_str()))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("dev.countersign.identity.orphaned", Some("report-bot"))),
        "{kinds:?}"
    );
    let voided_event = events
        .iter()
        .find(|e| e.event_type.ends_with("request.voided"))
        .unwrap();
    assert_eq!(voided_event.data["requester"], "alice");
    let terminated = events
        .iter()
        .find(|e| e.event_type.ends_with("identity.terminated"))
        .unwrap();
    assert_eq!(
        terminated.data["consequences"]["voided_requests"],
        json!([voided.id])
    );
    assert_eq!(
        terminated.data["consequences"]["orphaned_identities"],
        json!(["report-bot"])
    );

    // The re-routed request can be signed by the manager, and its evidence
    // verifies offline with the re-routing in it.
    let carol_key = s.enroll("carol", None);
    let (status, v) = s.submit(&sign(
        &statement(&r1, "carol", &carol_key, Decision::Approve, s.now()),
        &carol_key,
    ));
    assert_eq!(status, 201, "{v}");
    let bundle = s
        .http
        .get(format!("{}/v1/requests/{}/evidence", s.base, r1.id))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let report =
        countersign_verify::verify_bundle(&bundle, &countersign_verify::Options::default());
    assert!(report.ok(), "{report:#?}");
    let voided_bundle = s
        .http
        .get(format!("{}/v1/requests/{}/evidence", s.base, r3.id))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let report =
        countersign_verify::verify_bundle(&voided_bundle, &countersign_verify::Options::default());
    assert!(report.ok(), "{report:#?}");
}

/// Found by `.ci/schemathesis`: deleting the SCIM user of an identity the
/// API had already terminated appended nothing to the log and then tried to
/// seal a second checkpoint at the same size (a 500).
#[test]
fn deleting_the_user_of_a_terminated_identity_succeeds() {
    let s = TestServer::start();
    let scim = Scim::new(&s);
    let a = scim.post("/Users", json!({"schemas": [USER], "userName": "leaver"}));
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["id"].as_str().unwrap().to_string();
    let (status, v) = s.call(
        Method::POST,
        "/v1/identities/leaver/terminate",
        Some(&json!({"reason": "left"})),
        true,
    );
    assert_eq!(status, 200, "{v}");
    let size = s.get::<Value>("/v1/info")["tree_size"].clone();
    let a = scim.send(Method::DELETE, &format!("/Users/{id}"), None, None);
    assert_eq!(a.status, 204, "{}", a.body);
    assert_eq!(scim.get(&format!("/Users/{id}")).status, 404);
    assert_eq!(s.get::<Value>("/v1/info")["tree_size"], size);
}
