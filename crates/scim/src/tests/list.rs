use serde_json::{json, Value};

use super::{bjensen, minimal_user, tour_guides, ENT};
use crate::list::LIST_RESPONSE;
use crate::{list_response, project, sort, Query, ResourceType, ScimErrorKind, SortOrder};

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn user_names(rs: &[Value]) -> Vec<&str> {
    rs.iter().map(|r| r["userName"].as_str().unwrap()).collect()
}

fn people() -> Vec<Value> {
    let mut a = minimal_user("1", "carol");
    a["meta"]["lastModified"] = json!("2021-01-01T10:00:00+05:00");
    a["emails"] = json!([{"value": "z@x"}, {"value": "c@x", "primary": true}]);
    a["title"] = json!("b");
    let mut b = minimal_user("2", "Alice");
    b["meta"]["lastModified"] = json!("2021-01-01T06:00:00Z");
    b["emails"] = json!([{"value": "a@x"}]);
    let mut c = minimal_user("3", "bob");
    c["meta"]["lastModified"] = json!("2021-01-01T04:00:00Z");
    c["title"] = json!("A");
    c[ENT] = json!({"department": "Zeta"});
    vec![a, b, c]
}

#[test]
fn sort_strings_case_insensitively() {
    let mut rs = people();
    sort(&mut rs, "userName", false, ResourceType::User).unwrap();
    assert_eq!(user_names(&rs), vec!["Alice", "bob", "carol"]);
    sort(&mut rs, "USERNAME", true, ResourceType::User).unwrap();
    assert_eq!(user_names(&rs), vec!["carol", "bob", "Alice"]);
    // id is caseExact; here plain ordering by id.
    sort(&mut rs, "id", false, ResourceType::User).unwrap();
    assert_eq!(user_names(&rs), vec!["carol", "Alice", "bob"]);
}

#[test]
fn sort_missing_values_last_ascending_first_descending() {
    let mut rs = people();
    sort(&mut rs, "title", false, ResourceType::User).unwrap();
    assert_eq!(user_names(&rs), vec!["bob", "carol", "Alice"]);
    sort(&mut rs, "title", true, ResourceType::User).unwrap();
    assert_eq!(user_names(&rs), vec!["Alice", "carol", "bob"]);
    sort(
        &mut rs,
        &format!("{ENT}:department"),
        false,
        ResourceType::User,
    )
    .unwrap();
    assert_eq!(rs[0]["userName"], "bob");
}

#[test]
fn sort_dates_as_instants_and_multi_valued_by_primary() {
    let mut rs = people();
    // carol's 10:00+05:00 is 05:00Z: between bob (04:00Z) and Alice (06:00Z).
    sort(&mut rs, "meta.lastModified", false, ResourceType::User).unwrap();
    assert_eq!(user_names(&rs), vec!["bob", "carol", "Alice"]);
    // carol sorts by her primary email c@x, not her first (z@x).
    sort(&mut rs, "emails", false, ResourceType::User).unwrap();
    assert_eq!(user_names(&rs), vec!["Alice", "carol", "bob"]);
    sort(&mut rs, "emails.value", false, ResourceType::User).unwrap();
    assert_eq!(user_names(&rs), vec!["Alice", "carol", "bob"]);
}

#[test]
fn sort_errors() {
    let mut rs = people();
    for by in ["name", "nosuch", "meta", "addresses"] {
        let e = sort(&mut rs, by, false, ResourceType::User).unwrap_err();
        assert_eq!(e.kind, ScimErrorKind::InvalidValue, "{by}");
    }
    assert!(sort(&mut rs, "name.familyName", false, ResourceType::User).is_ok());
}

#[test]
fn list_response_shape() {
    let body = list_response(10, 3, vec![json!({"id": "a"}), json!({"id": "b"})]);
    assert_eq!(
        body,
        json!({
            "schemas": [LIST_RESPONSE],
            "totalResults": 10,
            "startIndex": 3,
            "itemsPerPage": 2,
            "Resources": [{"id": "a"}, {"id": "b"}]
        })
    );
}

#[test]
fn query_defaults_and_clamping() {
    let q = Query::parse(&[], ResourceType::User, 100).unwrap();
    assert_eq!(
        (q.start_index, q.count, q.sort_order),
        (1, 100, SortOrder::Ascending)
    );
    assert!(q.filter.is_none() && q.sort_by.is_none());

    let q = Query::parse(
        &pairs(&[("startIndex", "0"), ("count", "-5")]),
        ResourceType::User,
        100,
    )
    .unwrap();
    assert_eq!((q.start_index, q.count), (1, 0));
    let q = Query::parse(
        &pairs(&[("StartIndex", "-3"), ("COUNT", "100000")]),
        ResourceType::User,
        100,
    )
    .unwrap();
    assert_eq!((q.start_index, q.count, q.offset()), (1, 100, 0));
    let q = Query::parse(
        &pairs(&[
            ("startIndex", "11"),
            ("count", "10"),
            ("sortBy", "userName"),
            ("sortOrder", "Descending"),
            ("filter", r#"userName sw "a""#),
            ("attributes", "userName, emails.value,,"),
            ("excludedAttributes", "groups"),
            ("unrelated", "ignored"),
        ]),
        ResourceType::User,
        100,
    )
    .unwrap();
    assert_eq!((q.start_index, q.count, q.offset()), (11, 10, 10));
    assert_eq!(q.sort_by.as_deref(), Some("userName"));
    assert_eq!(q.sort_order, SortOrder::Descending);
    assert!(q.filter.is_some());
    assert_eq!(q.attributes, vec!["userName", "emails.value"]);
    assert_eq!(q.excluded_attributes, vec!["groups"]);
}

#[test]
fn query_errors() {
    let kind = |p: &[(&str, &str)]| {
        Query::parse(&pairs(p), ResourceType::User, 100)
            .unwrap_err()
            .kind
    };
    assert_eq!(
        kind(&[("filter", "userName eq")]),
        ScimErrorKind::InvalidFilter
    );
    assert_eq!(
        kind(&[("filter", r#"members eq "x""#)]),
        ScimErrorKind::InvalidFilter
    );
    assert_eq!(kind(&[("sortBy", "nosuch")]), ScimErrorKind::InvalidValue);
    assert_eq!(
        kind(&[("sortOrder", "sideways")]),
        ScimErrorKind::InvalidValue
    );
    assert_eq!(kind(&[("startIndex", "one")]), ScimErrorKind::InvalidValue);
    assert_eq!(kind(&[("count", "1.5")]), ScimErrorKind::InvalidValue);
    // Groups have members.
    assert!(Query::parse(
        &pairs(&[("filter", r#"members eq "x""#)]),
        ResourceType::Group,
        10
    )
    .is_ok());
}

#[test]
fn respond_filters_sorts_pages_and_projects() {
    let q = Query::parse(
        &pairs(&[
            ("filter", r#"emails pr or title pr"#),
            ("sortBy", "userName"),
            ("startIndex", "2"),
            ("count", "1"),
            ("attributes", "userName"),
        ]),
        ResourceType::User,
        50,
    )
    .unwrap();
    let body = q.respond(people(), ResourceType::User).unwrap();
    assert_eq!(body["totalResults"], 3);
    assert_eq!(body["startIndex"], 2);
    assert_eq!(body["itemsPerPage"], 1);
    assert_eq!(
        body["Resources"],
        json!([{
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "3",
            "userName": "bob",
            "meta": {"resourceType": "User"}
        }])
    );
    // Entra ID's existence check.
    let q = Query::parse(
        &pairs(&[("filter", r#"userName eq "ALICE""#)]),
        ResourceType::User,
        50,
    )
    .unwrap();
    let body = q.respond(people(), ResourceType::User).unwrap();
    assert_eq!(body["totalResults"], 1);
    assert_eq!(body["Resources"][0]["id"], "2");
    // A page past the end.
    let q = Query::parse(&pairs(&[("startIndex", "10")]), ResourceType::User, 50).unwrap();
    let body = q.respond(people(), ResourceType::User).unwrap();
    assert_eq!(
        (body["totalResults"].as_u64(), body["itemsPerPage"].as_u64()),
        (Some(3), Some(0))
    );
    // count=0: only the total.
    let q = Query::parse(&pairs(&[("count", "0")]), ResourceType::User, 50).unwrap();
    let body = q.respond(people(), ResourceType::User).unwrap();
    assert_eq!(body["totalResults"], 3);
    assert_eq!(body["Resources"], json!([]));
}

#[test]
fn project_attributes() {
    let u = bjensen();
    let attrs = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let p = project(&u, &attrs(&["userName"]), &[], ResourceType::User);
    assert_eq!(
        p,
        json!({
            "schemas": u["schemas"],
            "id": u["id"],
            "userName": "bjensen@example.com",
            "meta": {"resourceType": "User"}
        })
    );
    let p = project(
        &u,
        &attrs(&[
            "name.givenName",
            "EMAILS.value",
            "emails.type",
            &format!("{ENT}:manager.value"),
        ]),
        &[],
        ResourceType::User,
    );
    assert_eq!(p["name"], json!({"givenName": "Barbara"}));
    assert_eq!(
        p["emails"],
        json!([{"value": "bjensen@example.com", "type": "work"}, {"value": "babs@jensen.org", "type": "home"}])
    );
    assert_eq!(
        p[ENT],
        json!({"manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}})
    );
    assert!(p.get("displayName").is_none());
    // A whole extension, and a whole meta.
    let p = project(&u, &attrs(&[ENT, "meta"]), &[], ResourceType::User);
    assert_eq!(p[ENT], u[ENT]);
    assert_eq!(p["meta"], u["meta"]);
    // Unknown names select nothing.
    let p = project(&u, &attrs(&["nosuch"]), &[], ResourceType::User);
    assert_eq!(p.as_object().unwrap().len(), 3);
}

#[test]
fn project_excluded_attributes() {
    let mut u = bjensen();
    u["password"] = json!("should never be stored, let alone returned");
    let ex = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let p = project(&u, &[], &[], ResourceType::User);
    assert!(p.get("password").is_none());
    assert_eq!(p["emails"], u["emails"]);

    let p = project(
        &u,
        &[],
        &ex(&[
            "emails",
            "meta",
            "id",
            "name.givenName",
            &format!("{ENT}:department"),
            "schemas",
        ]),
        ResourceType::User,
    );
    assert!(p.get("emails").is_none());
    assert_eq!(p["meta"], json!({"resourceType": "User"}));
    assert_eq!(p["id"], u["id"]);
    assert_eq!(p["schemas"], u["schemas"]);
    assert_eq!(
        p["name"],
        json!({"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen"})
    );
    assert!(p[ENT].get("department").is_none());
    assert_eq!(p[ENT]["employeeNumber"], "701984");

    // Entra ID lists groups without their members.
    let g = project(&tour_guides(), &[], &ex(&["members"]), ResourceType::Group);
    assert!(g.get("members").is_none());
    assert_eq!(g["displayName"], "Tour Guides");
    // attributes wins over excludedAttributes.
    let g = project(
        &tour_guides(),
        &ex(&["members"]),
        &ex(&["members"]),
        ResourceType::Group,
    );
    assert!(g.get("members").is_some());
}
