use serde_json::json;

use super::ENT;
use crate::resource::prepare;
use crate::{
    group_view, prepare_group, prepare_user, user_view, GroupView, ResourceType, ScimErrorKind,
    UserView,
};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// What Entra ID POSTs to /Users (with extras a server must ignore).
#[test]
fn entra_id_create_user() {
    let body = json!({
        "schemas": [CORE, ENT],
        "id": "client-chosen",
        "externalId": "alice",
        "userName": "Alice@contoso.com",
        "active": "True",
        "displayName": "Alice Example",
        "title": "Engineer",
        "password": "p@ss",
        "emails": [{"primary": true, "type": "work", "value": "alice@contoso.com"}],
        "meta": {"resourceType": "User", "created": "2020-01-01T00:00:00Z"},
        "groups": [{"value": "g1"}],
        "name": {"formatted": "Alice Example", "familyName": "Example", "givenName": "Alice", "nickname": "x"},
        "favouriteColour": "blue",
        "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100"}],
        ENT: {"employeeNumber": 1001, "department": "R&D", "manager": {"value": "u-boss", "displayName": "Bob"}}
    });
    let u = prepare_user(&body).unwrap();
    assert_eq!(
        u,
        json!({
            "schemas": [CORE, ENT],
            "externalId": "alice",
            "userName": "Alice@contoso.com",
            "active": true,
            "displayName": "Alice Example",
            "title": "Engineer",
            "emails": [{"primary": true, "type": "work", "value": "alice@contoso.com"}],
            "name": {"formatted": "Alice Example", "familyName": "Example", "givenName": "Alice"},
            "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100"}],
            ENT: {"employeeNumber": "1001", "department": "R&D", "manager": {"value": "u-boss"}}
        })
    );
    let view = user_view(&u);
    assert_eq!(
        view,
        UserView {
            user_name: "Alice@contoso.com".into(),
            external_id: Some("alice".into()),
            display_name: Some("Alice Example".into()),
            given_name: Some("Alice".into()),
            family_name: Some("Example".into()),
            email: Some("alice@contoso.com".into()),
            active: true,
            manager_id: Some("u-boss".into()),
            title: Some("Engineer".into()),
            department: Some("R&D".into()),
        }
    );
}

/// Okta's create body: no extension, `active` a real boolean.
#[test]
fn okta_create_user() {
    let u = prepare_user(&json!({
        "schemas": [CORE],
        "userName": "isaac@example.org",
        "name": {"givenName": "Isaac", "familyName": "Brock"},
        "emails": [{"primary": true, "value": "isaac@example.org", "type": "work"}],
        "displayName": "Isaac Brock",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": false
    }))
    .unwrap();
    assert_eq!(u["schemas"], json!([CORE]));
    assert_eq!(u["active"], false);
    assert!(u.get("password").is_none() && u.get("groups").is_none());
    assert!(!user_view(&u).active);
}

#[test]
fn schemas_are_checked() {
    let kind = |b: serde_json::Value| prepare_user(&b).unwrap_err().kind;
    assert_eq!(kind(json!({"userName": "x"})), ScimErrorKind::InvalidSyntax);
    assert_eq!(
        kind(json!({"schemas": "x", "userName": "x"})),
        ScimErrorKind::InvalidSyntax
    );
    assert_eq!(
        kind(json!({"schemas": [1], "userName": "x"})),
        ScimErrorKind::InvalidSyntax
    );
    assert_eq!(
        kind(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "userName": "x"})),
        ScimErrorKind::InvalidSyntax
    );
    assert_eq!(
        kind(json!({"schemas": [CORE], "userName": "x", ENT: {"department": "d"}})),
        ScimErrorKind::InvalidSyntax
    );
    assert_eq!(
        kind(json!({"schemas": [CORE, ENT], "userName": "x", ENT: "d"})),
        ScimErrorKind::InvalidSyntax
    );
    assert_eq!(kind(json!("not an object")), ScimErrorKind::InvalidSyntax);
    // Schema URNs are matched case-insensitively; a listed extension with no
    // data is dropped from the result, unknown schema URNs too.
    let u = prepare_user(&json!({
        "schemas": [CORE.to_uppercase(), ENT, "urn:example:custom"],
        "userName": "x"
    }))
    .unwrap();
    assert_eq!(u["schemas"], json!([CORE]));
}

#[test]
fn values_are_checked() {
    let kind = |b: serde_json::Value| prepare_user(&b).unwrap_err().kind;
    assert_eq!(
        kind(json!({"schemas": [CORE]})),
        ScimErrorKind::InvalidValue
    );
    assert_eq!(
        kind(json!({"schemas": [CORE], "userName": ""})),
        ScimErrorKind::InvalidValue
    );
    assert_eq!(
        kind(json!({"schemas": [CORE], "userName": null})),
        ScimErrorKind::InvalidValue
    );
    assert_eq!(
        kind(json!({"schemas": [CORE], "userName": "x", "active": "yes"})),
        ScimErrorKind::InvalidValue
    );
    assert_eq!(
        kind(json!({"schemas": [CORE], "userName": "x", "name": "Babs"})),
        ScimErrorKind::InvalidValue
    );
    assert_eq!(
        kind(json!({"schemas": [CORE], "userName": "x", "emails": [["a"]]})),
        ScimErrorKind::InvalidValue
    );
    assert_eq!(
        kind(json!({"schemas": [CORE], "userName": "x", "displayName": {"a": 1}})),
        ScimErrorKind::InvalidValue
    );
}

#[test]
fn normalisation() {
    let u = prepare_user(&json!({
        "schemas": [CORE],
        "USERNAME": "kim",
        "name.givenName": "Kim",
        "urn:ietf:params:scim:schemas:core:2.0:User:title": "Boss",
        format!("{ENT}:department"): "Ops",
        "emails": [
            {"value": "a@x", "type": "work", "primary": "true"},
            {"value": "b@x", "type": "home", "primary": true},
            {"value": "A@X", "type": "work"}
        ],
        "phoneNumbers": {"value": "+1", "type": "work"},
        "nickName": null,
        "Active": "false"
    }))
    .unwrap();
    assert_eq!(u["userName"], "kim");
    assert_eq!(u["name"], json!({"givenName": "Kim"}));
    assert_eq!(u["title"], "Boss");
    assert_eq!(u[ENT], json!({"department": "Ops"}));
    assert_eq!(u["schemas"], json!([CORE, ENT]));
    // Duplicates merged (emails compare case-insensitively), one primary.
    assert_eq!(
        u["emails"],
        json!([
            {"value": "a@x", "type": "work", "primary": true},
            {"value": "b@x", "type": "home", "primary": false}
        ])
    );
    assert_eq!(u["phoneNumbers"], json!([{"value": "+1", "type": "work"}]));
    assert!(u.get("nickName").is_none());
    assert_eq!(u["active"], false);
}

#[test]
fn groups() {
    let g = prepare_group(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "ignored",
        "displayName": "Signers",
        "externalId": "e1",
        "members": [{"value": "u1", "display": "U1"}, {"value": "u2"}, {"value": "u1"}],
        "meta": {"resourceType": "Group"}
    }))
    .unwrap();
    assert_eq!(
        g,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Signers",
            "externalId": "e1",
            "members": [{"value": "u1", "display": "U1"}, {"value": "u2"}]
        })
    );
    assert_eq!(
        group_view(&g),
        GroupView {
            display_name: "Signers".into(),
            external_id: Some("e1".into()),
            members: vec!["u1".into(), "u2".into()],
        }
    );
    let kind = |b: serde_json::Value| prepare_group(&b).unwrap_err().kind;
    assert_eq!(
        kind(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]})),
        ScimErrorKind::InvalidValue
    );
    assert_eq!(
        kind(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "g", "members": [{"display": "no id"}]})
        ),
        ScimErrorKind::InvalidValue
    );
    assert_eq!(
        kind(json!({"schemas": [CORE], "displayName": "g"})),
        ScimErrorKind::InvalidSyntax
    );
    // A Group has no userName; it is dropped like any unknown attribute.
    let g = prepare(
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "g", "userName": "x"}),
        ResourceType::Group,
    )
    .unwrap();
    assert!(g.get("userName").is_none());
}

#[test]
fn user_view_email_choice_and_defaults() {
    let v = user_view(&json!({"userName": "k", "emails": [
        {"value": "home@x", "type": "home"},
        {"value": "work@x", "type": "work"}
    ]}));
    assert_eq!(v.email.as_deref(), Some("work@x"));
    assert!(v.active);
    let v = user_view(&json!({"userName": "k", "emails": [
        {"value": "home@x", "type": "home"},
        {"value": "other@x", "type": "other", "primary": "True"},
        {"value": "work@x", "type": "work"}
    ]}));
    assert_eq!(v.email.as_deref(), Some("other@x"));
    let v = user_view(&json!({"userName": "k", "emails": [{"value": "only@x"}]}));
    assert_eq!(v.email.as_deref(), Some("only@x"));
    let v = user_view(&json!("garbage"));
    assert_eq!(
        v,
        UserView {
            active: true,
            ..UserView::default()
        }
    );
}
