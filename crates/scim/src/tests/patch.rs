use serde_json::{json, Value};

use super::{bjensen, minimal_user, tour_guides, ENT};
use crate::patch::PATCH_OP;
use crate::{apply_patch, user_view, PatchOutcome, ResourceType, ScimError, ScimErrorKind};

fn body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn patch_user(r: &mut Value, ops: Value) -> Result<PatchOutcome, ScimError> {
    apply_patch(r, &body(ops), ResourceType::User)
}

fn patch_group(r: &mut Value, ops: Value) -> Result<PatchOutcome, ScimError> {
    apply_patch(r, &body(ops), ResourceType::Group)
}

/// Applies `ops` and expects failure of `kind` with the resource unchanged.
fn fails(rt: ResourceType, r: &Value, ops: Value, kind: ScimErrorKind) -> ScimError {
    let mut copy = r.clone();
    let e = apply_patch(&mut copy, &body(ops.clone()), rt).expect_err(&ops.to_string());
    assert_eq!(e.kind, kind, "{ops}: {e}");
    assert_eq!(&copy, r, "resource changed by a failed PATCH: {ops}");
    e
}

const BABS: &str = "2819c223-7f76-453a-919d-413861904646";
const MANDY: &str = "902c246b-6245-4190-8e05-00816be7344a";

// RFC 7644 §3.5.2.1: add a member.
#[test]
fn rfc_add_member() {
    let mut g = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "acbf3ae7-8463-4692-b4fd-9b4da3f908ce",
        "displayName": "Tour Guides"
    });
    let out = patch_group(
        &mut g,
        json!([{
            "op": "add",
            "path": "members",
            "value": [{
                "display": "Babs Jensen",
                "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
                "value": BABS
            }]
        }]),
    )
    .unwrap();
    assert_eq!(out.members_added, vec![BABS]);
    assert!(out.members_removed.is_empty());
    assert_eq!(out.changed, vec!["members"]);
    assert_eq!(g["members"][0]["value"], BABS);
    assert_eq!(g["members"][0]["display"], "Babs Jensen");
}

// RFC 7644 §3.5.2.1: add without a path merges attributes.
#[test]
fn rfc_add_without_path() {
    let mut u = bjensen();
    let out = patch_user(
        &mut u,
        json!([{
            "op": "add",
            "value": {
                "emails": [{"value": "babs@jensen.org", "type": "home"}, {"value": "b@other.org", "type": "other"}],
                "nickName": "Babs"
            }
        }]),
    )
    .unwrap();
    assert_eq!(u["nickName"], "Babs");
    // babs@jensen.org (home) was already there: appended once only.
    let emails = u["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 3);
    assert_eq!(emails[2]["value"], "b@other.org");
    assert_eq!(out.changed, vec!["nickName", "emails"]);
}

// RFC 7644 §3.5.2.2: remove one member, then all members.
#[test]
fn rfc_remove_members() {
    let mut g = tour_guides();
    let out = patch_group(
        &mut g,
        json!([{"op": "remove", "path": format!("members[value eq \"{BABS}\"]")}]),
    )
    .unwrap();
    assert_eq!(out.members_removed, vec![BABS]);
    assert_eq!(g["members"].as_array().unwrap().len(), 1);

    let out = patch_group(&mut g, json!([{"op": "remove", "path": "members"}])).unwrap();
    assert_eq!(out.members_removed, vec![MANDY]);
    assert!(g.get("members").is_none());
}

// RFC 7644 §3.5.2.2: remove with a complex filter.
#[test]
fn rfc_remove_with_complex_filter() {
    let mut u = bjensen();
    patch_user(
        &mut u,
        json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
    )
    .unwrap();
    assert_eq!(
        u["emails"],
        json!([{"value": "babs@jensen.org", "type": "home"}])
    );
}

// RFC 7644 §3.5.2.2 and .3: replace all members (remove, then add).
#[test]
fn rfc_replace_members() {
    let mut g = tour_guides();
    let out = patch_group(
        &mut g,
        json!([
            {"op": "remove", "path": "members"},
            {"op": "add", "path": "members", "value": [{"value": "u-3"}, {"value": MANDY}]}
        ]),
    )
    .unwrap();
    assert_eq!(out.members_added, vec!["u-3"]);
    assert_eq!(out.members_removed, vec![BABS]);

    let out = patch_group(
        &mut g,
        json!([{"op": "replace", "path": "members", "value": [{"value": "u-4"}]}]),
    )
    .unwrap();
    assert_eq!(out.members_added, vec!["u-4"]);
    assert_eq!(out.members_removed, vec!["u-3", MANDY]);
}

// RFC 7644 §3.5.2.3: replace a whole value selected by a filter, and one
// sub-attribute of it.
#[test]
fn rfc_replace_work_address() {
    let mut u = bjensen();
    patch_user(
        &mut u,
        json!([{
            "op": "replace",
            "path": "addresses[type eq \"work\"]",
            "value": {
                "type": "work",
                "streetAddress": "911 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "US",
                "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
                "primary": true
            }
        }]),
    )
    .unwrap();
    assert_eq!(
        u["addresses"][0]["streetAddress"],
        "911 Universal City Plaza"
    );
    assert_eq!(u["addresses"][0]["postalCode"], "91608");
    assert_eq!(u["addresses"][1]["type"], "home");

    patch_user(
        &mut u,
        json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1111 Broadway Ave"}]),
    )
    .unwrap();
    assert_eq!(u["addresses"][0]["streetAddress"], "1111 Broadway Ave");
    assert_eq!(u["addresses"][0]["region"], "CA");
}

// RFC 7644 §3.5.2.3: replace without a path.
#[test]
fn rfc_replace_without_path() {
    let mut u = bjensen();
    let out = patch_user(
        &mut u,
        json!([{
            "op": "replace",
            "value": {
                "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
                "nickName": "Babs"
            }
        }]),
    )
    .unwrap();
    assert_eq!(u["emails"].as_array().unwrap().len(), 1);
    assert_eq!(u["nickName"], "Babs");
    assert_eq!(out.changed, vec!["nickName", "emails"]);
}

#[test]
fn simple_and_sub_attribute_paths() {
    let mut u = bjensen();
    let out = patch_user(
        &mut u,
        json!([
            {"op": "replace", "path": "displayName", "value": "Barbara Jensen"},
            {"op": "replace", "path": "name.givenName", "value": "Babs"},
            {"op": "add", "path": "name.middleName", "value": "Jane"},
            {"op": "remove", "path": "name.formatted"},
            {"op": "replace", "path": "active", "value": false},
            {"op": "remove", "path": "title"}
        ]),
    )
    .unwrap();
    assert_eq!(u["displayName"], "Barbara Jensen");
    assert_eq!(
        u["name"],
        json!({"familyName": "Jensen", "givenName": "Babs", "middleName": "Jane"})
    );
    assert_eq!(u["active"], false);
    assert!(u.get("title").is_none());
    assert_eq!(out.changed, vec!["name", "displayName", "title", "active"]);
}

#[test]
fn paths_are_case_insensitive_and_keys_canonical() {
    let mut u = minimal_user("u1", "kim");
    patch_user(
        &mut u,
        json!([
            {"op": "add", "path": "DISPLAYNAME", "value": "Kim"},
            {"op": "add", "path": "Name.GivenName", "value": "Kim"},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:nickName", "value": "K"}
        ]),
    )
    .unwrap();
    assert_eq!(u["displayName"], "Kim");
    assert_eq!(u["name"]["givenName"], "Kim");
    assert_eq!(u["nickName"], "K");
    // A stored key in another spelling is replaced, not duplicated.
    let mut u = minimal_user("u1", "kim");
    u["DisplayName"] = json!("old");
    patch_user(
        &mut u,
        json!([{"op": "replace", "path": "displayName", "value": "new"}]),
    )
    .unwrap();
    assert_eq!(u["displayName"], "new");
    assert!(u.get("DisplayName").is_none());
}

#[test]
fn extension_paths() {
    let mut u = minimal_user("u1", "kim");
    let out = patch_user(
        &mut u,
        json!([
            {"op": "add", "path": format!("{ENT}:employeeNumber"), "value": "42"},
            {"op": "add", "path": format!("{ENT}:department"), "value": "Finance"},
            {"op": "add", "path": format!("{ENT}:manager"), "value": {"value": "m1", "displayName": "ignored"}}
        ]),
    )
    .unwrap();
    assert_eq!(
        u[ENT],
        json!({"employeeNumber": "42", "department": "Finance", "manager": {"value": "m1"}})
    );
    assert!(u["schemas"].as_array().unwrap().contains(&json!(ENT)));
    assert_eq!(
        out.changed,
        vec![
            format!("{ENT}:employeeNumber"),
            format!("{ENT}:department"),
            format!("{ENT}:manager")
        ]
    );

    patch_user(
        &mut u,
        json!([{"op": "replace", "path": format!("{ENT}:manager.value"), "value": "m2"}]),
    )
    .unwrap();
    assert_eq!(user_view(&u).manager_id.as_deref(), Some("m2"));

    // Removing the last extension attribute removes the extension and its
    // schema URN.
    patch_user(
        &mut u,
        json!([
            {"op": "remove", "path": format!("{ENT}:manager")},
            {"op": "remove", "path": format!("{ENT}:department")},
            {"op": "remove", "path": format!("{ENT}:employeeNumber")}
        ]),
    )
    .unwrap();
    assert!(u.get(ENT).is_none());
    assert_eq!(
        u["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
    );
}

#[test]
fn extension_objects_without_path_and_as_path() {
    let mut u = minimal_user("u1", "kim");
    patch_user(
        &mut u,
        json!([{"op": "replace", "value": {ENT: {"department": "Sales", "costCenter": "4130"}}}]),
    )
    .unwrap();
    assert_eq!(u[ENT]["department"], "Sales");
    patch_user(
        &mut u,
        json!([{"op": "add", "path": ENT, "value": {"division": "West"}}]),
    )
    .unwrap();
    assert_eq!(
        u[ENT],
        json!({"department": "Sales", "costCenter": "4130", "division": "West"})
    );
    // Fully qualified keys in a path-less value (Entra ID).
    patch_user(
        &mut u,
        json!([{"op": "Replace", "value": {
            format!("{ENT}:department"): "Support",
            format!("{ENT}:manager"): "m9",
            "urn:ietf:params:scim:schemas:core:2.0:User:title": "Lead",
            "name.givenName": "Kim"
        }}]),
    )
    .unwrap();
    assert_eq!(u[ENT]["department"], "Support");
    assert_eq!(u[ENT]["manager"], json!({"value": "m9"}));
    assert_eq!(u["title"], "Lead");
    assert_eq!(u["name"]["givenName"], "Kim");
    patch_user(&mut u, json!([{"op": "remove", "path": ENT}])).unwrap();
    assert!(u.get(ENT).is_none());
}

/// The requests Entra ID sends when a user is created and then updated in
/// the directory.
#[test]
fn entra_id_user_update_sequence() {
    let mut u = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "u-entra",
        "userName": "alice@contoso.com",
        "externalId": "alice",
        "active": true,
        "meta": {"resourceType": "User"}
    });
    let out = patch_user(
        &mut u,
        json!([
            {"op": "Add", "path": "displayName", "value": "Alice Example"},
            {"op": "Add", "path": "title", "value": "Engineer"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "alice@contoso.com"},
            {"op": "Add", "path": "name.givenName", "value": "Alice"},
            {"op": "Add", "path": "name.familyName", "value": "Example"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
            {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Redmond"},
            {"op": "Add", "path": format!("{ENT}:department"), "value": "R&D"},
            {"op": "Add", "path": format!("{ENT}:employeeNumber"), "value": "1001"},
            {"op": "Add", "path": format!("{ENT}:manager"), "value": "u-boss"}
        ]),
    )
    .unwrap();
    assert_eq!(
        u["emails"],
        json!([{"type": "work", "value": "alice@contoso.com"}])
    );
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0100"}])
    );
    assert_eq!(
        u["addresses"],
        json!([{"type": "work", "locality": "Redmond"}])
    );
    assert_eq!(u[ENT]["manager"], json!({"value": "u-boss"}));
    assert!(out.changed.contains(&format!("{ENT}:manager")));

    // Email change: replace through the filter, now matching.
    patch_user(
        &mut u,
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice.example@contoso.com"}]),
    )
    .unwrap();
    assert_eq!(
        u["emails"],
        json!([{"type": "work", "value": "alice.example@contoso.com"}])
    );

    // Disable: the boolean arrives as a string.
    let out = patch_user(
        &mut u,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .unwrap();
    assert_eq!(u["active"], false);
    assert_eq!(out.changed, vec!["active"]);
    assert!(!user_view(&u).active);
    patch_user(
        &mut u,
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    )
    .unwrap();
    assert_eq!(u["active"], true);

    // New manager as a bare id replaces the whole manager value.
    let mut with_ref = u.clone();
    with_ref[ENT]["manager"]["$ref"] = json!("https://x/Users/u-boss");
    patch_user(
        &mut with_ref,
        json!([{"op": "Add", "path": format!("{ENT}:manager"), "value": "u-boss2"}]),
    )
    .unwrap();
    assert_eq!(with_ref[ENT]["manager"], json!({"value": "u-boss2"}));

    // Manager removed.
    patch_user(
        &mut u,
        json!([{"op": "Remove", "path": format!("{ENT}:manager")}]),
    )
    .unwrap();
    assert!(u[ENT].get("manager").is_none());
    assert_eq!(u[ENT]["department"], "R&D");

    // Re-sending the same values changes nothing.
    let before = u.clone();
    let out = patch_user(
        &mut u,
        json!([
            {"op": "Replace", "path": "displayName", "value": "Alice Example"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice.example@contoso.com"}
        ]),
    )
    .unwrap();
    assert!(out.is_noop());
    assert_eq!(u, before);
}

/// Entra ID relies on replace through an unmatched filter creating the
/// value; the RFC would answer noTarget.
#[test]
fn replace_through_unmatched_filter_creates_the_value() {
    let mut u = minimal_user("u1", "kim");
    u["emails"] = json!([{"value": "kim@home.example", "type": "home", "primary": true}]);
    patch_user(
        &mut u,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "kim@work.example"}]),
    )
    .unwrap();
    assert_eq!(
        u["emails"],
        json!([
            {"value": "kim@home.example", "type": "home", "primary": true},
            {"type": "work", "value": "kim@work.example"}
        ])
    );
    // A filter that does not spell out a value is still noTarget.
    fails(
        ResourceType::User,
        &u,
        json!([{"op": "replace", "path": "emails[value co \"@nowhere\"].type", "value": "other"}]),
        ScimErrorKind::NoTarget,
    );
    fails(
        ResourceType::User,
        &u,
        json!([{"op": "replace", "path": "emails[type eq \"pager\" or type eq \"other\"].value", "value": "x"}]),
        ScimErrorKind::NoTarget,
    );
}

/// The requests Entra ID sends to maintain a group.
#[test]
fn entra_id_group_sequence() {
    let mut g = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "g-entra",
        "displayName": "Signers",
        "externalId": "8c1e",
        "meta": {"resourceType": "Group"}
    });
    let out = patch_group(
        &mut g,
        json!([{"op": "Add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}]),
    )
    .unwrap();
    assert_eq!(out.members_added, vec!["u1", "u2"]);

    // Sent again (a retry): no duplicates, nothing added.
    let out = patch_group(
        &mut g,
        json!([{"op": "Add", "path": "members", "value": [{"value": "u1"}]}]),
    )
    .unwrap();
    assert!(out.members_added.is_empty());
    assert!(out.is_noop());
    assert_eq!(g["members"].as_array().unwrap().len(), 2);

    // Removal with a value array, including an id that is not a member.
    let out = patch_group(
        &mut g,
        json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}, {"value": "u-gone"}]}]),
    )
    .unwrap();
    assert_eq!(out.members_removed, vec!["u1"]);
    assert_eq!(g["members"], json!([{"value": "u2"}]));

    let out = patch_group(
        &mut g,
        json!([{"op": "Replace", "path": "displayName", "value": "Release signers"}]),
    )
    .unwrap();
    assert_eq!(out.changed, vec!["displayName"]);
    assert!(out.members_added.is_empty() && out.members_removed.is_empty());
}

/// The requests Okta sends.
#[test]
fn okta_sequences() {
    let mut u = bjensen();
    let out = patch_user(
        &mut u,
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .unwrap();
    assert_eq!(u["active"], false);
    assert_eq!(out.changed, vec!["active"]);

    // Password sync: accepted, never stored.
    let before = u.clone();
    let out = patch_user(
        &mut u,
        json!([{"op": "replace", "value": {"password": "hunter2"}}]),
    )
    .unwrap();
    assert!(out.is_noop());
    assert_eq!(u, before);
    patch_user(
        &mut u,
        json!([{"op": "replace", "path": "password", "value": "hunter2"}]),
    )
    .unwrap();
    assert!(u.get("password").is_none());

    // Group rename restates the id, which is readOnly but unchanged.
    let mut g = tour_guides();
    let out = patch_group(
        &mut g,
        json!([{"op": "replace", "value": {"id": "e9e30dba-f08f-4109-8486-d5c6a331660a", "displayName": "Guides"}}]),
    )
    .unwrap();
    assert_eq!(out.changed, vec!["displayName"]);
    assert_eq!(g["displayName"], "Guides");
    // A different id is a mutability error.
    fails(
        ResourceType::Group,
        &g,
        json!([{"op": "replace", "value": {"id": "other", "displayName": "X"}}]),
        ScimErrorKind::Mutability,
    );

    // Membership changes.
    let out = patch_group(
        &mut g,
        json!([
            {"op": "add", "path": "members", "value": [{"value": "00u1", "display": "user1@okta.local"}]},
            {"op": "remove", "path": format!("members[value eq \"{MANDY}\"]")}
        ]),
    )
    .unwrap();
    assert_eq!(out.members_added, vec!["00u1"]);
    assert_eq!(out.members_removed, vec![MANDY]);
}

#[test]
fn add_to_multi_valued_keeps_one_primary() {
    let mut u = bjensen();
    patch_user(
        &mut u,
        json!([{"op": "add", "path": "emails", "value": {"value": "new@example.com", "type": "other", "primary": true}}]),
    )
    .unwrap();
    let primaries: Vec<&Value> = u["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == true)
        .collect();
    assert_eq!(primaries.len(), 1);
    assert_eq!(primaries[0]["value"], "new@example.com");
}

#[test]
fn remove_errors_follow_the_rfc() {
    let u = bjensen();
    fails(
        ResourceType::User,
        &u,
        json!([{"op": "remove"}]),
        ScimErrorKind::NoTarget,
    );
    fails(
        ResourceType::User,
        &u,
        json!([{"op": "remove", "path": "emails[type eq \"other\"]"}]),
        ScimErrorKind::NoTarget,
    );
    fails(
        ResourceType::Group,
        &tour_guides(),
        json!([{"op": "remove", "path": "members[value eq \"not-a-member\"]"}]),
        ScimErrorKind::NoTarget,
    );
    fails(
        ResourceType::User,
        &u,
        json!([{"op": "remove", "path": "userName"}]),
        ScimErrorKind::InvalidValue,
    );
    fails(
        ResourceType::Group,
        &tour_guides(),
        json!([{"op": "remove", "path": "displayName"}]),
        ScimErrorKind::InvalidValue,
    );
    // Removing something absent (no filter) is a no-op.
    let mut v = u.clone();
    assert!(
        patch_user(&mut v, json!([{"op": "remove", "path": "nickName"}]))
            .unwrap()
            .is_noop()
    );
}

#[test]
fn mutability_errors() {
    let u = bjensen();
    for ops in [
        json!([{"op": "replace", "path": "id", "value": "x"}]),
        json!([{"op": "remove", "path": "id"}]),
        json!([{"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"}]),
        json!([{"op": "add", "path": "meta", "value": {"version": "x"}}]),
        json!([{"op": "add", "path": "groups", "value": [{"value": "g1"}]}]),
        json!([{"op": "replace", "value": {"groups": [{"value": "g1"}]}}]),
        json!([{"op": "replace", "path": format!("{ENT}:manager.displayName"), "value": "X"}]),
    ] {
        fails(ResourceType::User, &u, ops, ScimErrorKind::Mutability);
    }
    // Member ids are immutable: a member is removed and another added, not
    // edited in place.
    fails(
        ResourceType::Group,
        &tour_guides(),
        json!([{"op": "replace", "path": format!("members[value eq \"{BABS}\"].value"), "value": "someone-else"}]),
        ScimErrorKind::Mutability,
    );
    fails(
        ResourceType::Group,
        &tour_guides(),
        json!([{"op": "replace", "path": format!("members[value eq \"{BABS}\"]"), "value": {"value": "someone-else"}}]),
        ScimErrorKind::Mutability,
    );
}

#[test]
fn invalid_values_and_paths() {
    let u = bjensen();
    for (ops, kind) in [
        (
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            ScimErrorKind::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "active", "value": [true]}]),
            ScimErrorKind::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "userName", "value": ""}]),
            ScimErrorKind::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "userName", "value": null}]),
            ScimErrorKind::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "name", "value": ["x"]}]),
            ScimErrorKind::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "title"}]),
            ScimErrorKind::InvalidValue,
        ),
        (
            json!([{"op": "add", "value": "not an object"}]),
            ScimErrorKind::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "nosuch", "value": 1}]),
            ScimErrorKind::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "name.nosuch", "value": 1}]),
            ScimErrorKind::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": 1}]),
            ScimErrorKind::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "emails[nosuch eq \"x\"].value", "value": 1}]),
            ScimErrorKind::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"].nosuch", "value": 1}]),
            ScimErrorKind::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "userName[value eq \"x\"]", "value": 1}]),
            ScimErrorKind::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "name[givenName eq \"x\"]", "value": 1}]),
            ScimErrorKind::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "userName eq \"x\"", "value": 1}]),
            ScimErrorKind::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "", "value": 1}]),
            ScimErrorKind::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "urn:example:nope:User:x", "value": 1}]),
            ScimErrorKind::InvalidPath,
        ),
    ] {
        fails(ResourceType::User, &u, ops, kind);
    }
}

#[test]
fn malformed_bodies_are_invalid_syntax() {
    let u = bjensen();
    for b in [
        json!([]),
        json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]}),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Operations": [{"op": "add", "path": "title", "value": "x"}]}),
        json!({"schemas": [PATCH_OP]}),
        json!({"schemas": [PATCH_OP], "Operations": []}),
        json!({"schemas": [PATCH_OP], "Operations": {"op": "add"}}),
        json!({"schemas": [PATCH_OP], "Operations": ["add"]}),
        json!({"schemas": [PATCH_OP], "Operations": [{"path": "title", "value": "x"}]}),
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "move", "path": "title"}]}),
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": 7, "value": "x"}]}),
    ] {
        let mut copy = u.clone();
        let e = apply_patch(&mut copy, &b, ResourceType::User).expect_err(&b.to_string());
        assert_eq!(e.kind, ScimErrorKind::InvalidSyntax, "{b}: {e}");
        assert_eq!(copy, u);
    }
}

#[test]
fn failed_patch_leaves_resource_unchanged() {
    let u = bjensen();
    // The first operations succeed; the last fails; nothing sticks.
    let e = fails(
        ResourceType::User,
        &u,
        json!([
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "remove", "path": "emails"},
            {"op": "add", "path": format!("{ENT}:department"), "value": "Elsewhere"},
            {"op": "replace", "path": "id", "value": "hijack"}
        ]),
        ScimErrorKind::Mutability,
    );
    assert!(e.detail.starts_with("operation 4:"), "{e}");
    let g = tour_guides();
    fails(
        ResourceType::Group,
        &g,
        json!([
            {"op": "add", "path": "members", "value": [{"value": "new"}]},
            {"op": "remove", "path": "members[value eq \"missing\"]"}
        ]),
        ScimErrorKind::NoTarget,
    );
}

#[test]
fn unknown_attributes_in_pathless_values_are_ignored() {
    let mut u = bjensen();
    let out = patch_user(
        &mut u,
        json!([{"op": "add", "value": {"schemas": ["x"], "favouriteColour": "blue", "nickName": "B"}}]),
    )
    .unwrap();
    assert_eq!(out.changed, vec!["nickName"]);
    assert!(u.get("favouriteColour").is_none());
}

#[test]
fn operations_apply_in_order() {
    let mut u = minimal_user("u1", "kim");
    patch_user(
        &mut u,
        json!([
            {"op": "add", "path": "emails", "value": [{"value": "a@x", "type": "work"}]},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@x"},
            {"op": "add", "path": "emails[type eq \"work\"].primary", "value": "true"},
            {"op": "remove", "path": "emails[value eq \"b@x\"].primary"}
        ]),
    )
    .unwrap();
    assert_eq!(u["emails"], json!([{"value": "b@x", "type": "work"}]));
}
