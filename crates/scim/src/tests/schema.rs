use serde_json::Value;

use super::ENT;
use crate::schema::{
    find_attribute, resolve, AttributeType, Mutability, Returned, Uniqueness, CORE_GROUP, CORE_USER,
};
use crate::{
    resource_type, resource_types, schema_resource, schemas_document, service_provider_config,
    ResourceType, ScimErrorKind,
};

fn attr<'a>(schema: &'a Value, name: &str) -> &'a Value {
    schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn schemas_document_lists_three_schemas() {
    let doc = schemas_document();
    assert_eq!(doc["totalResults"], 3);
    let ids: Vec<&str> = doc["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![CORE_USER, ENT, CORE_GROUP]);
    for r in doc["Resources"].as_array().unwrap() {
        assert_eq!(
            r["schemas"][0],
            "urn:ietf:params:scim:schemas:core:2.0:Schema"
        );
        assert_eq!(r["meta"]["resourceType"], "Schema");
    }
}

#[test]
fn schema_attributes_in_rfc_7643_form() {
    let user = schema_resource(CORE_USER).unwrap();
    let user_name = attr(&user, "userName");
    assert_eq!(user_name["type"], "string");
    assert_eq!(user_name["required"], true);
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["mutability"], "readWrite");
    assert_eq!(user_name["returned"], "default");
    assert_eq!(user_name["multiValued"], false);
    let emails = attr(&user, "emails");
    assert_eq!(emails["multiValued"], true);
    assert_eq!(emails["type"], "complex");
    let subs: Vec<&str> = emails["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(subs, vec!["value", "display", "type", "primary"]);
    assert_eq!(emails["subAttributes"][2]["canonicalValues"][0], "work");
    assert_eq!(attr(&user, "groups")["mutability"], "readOnly");
    assert_eq!(attr(&user, "active")["type"], "boolean");
    assert_eq!(attr(&user, "password")["returned"], "never");
    let groups_ref = &attr(&user, "groups")["subAttributes"][1];
    assert_eq!(groups_ref["name"], "$ref");
    assert_eq!(groups_ref["referenceTypes"][0], "User");

    let ent = schema_resource(&ENT.to_lowercase()).unwrap();
    let manager = attr(&ent, "manager");
    assert_eq!(manager["subAttributes"][0]["name"], "value");
    assert_eq!(manager["subAttributes"][2]["mutability"], "readOnly");

    let group = schema_resource(CORE_GROUP).unwrap();
    assert_eq!(attr(&group, "displayName")["required"], true);
    let members = attr(&group, "members");
    assert_eq!(members["subAttributes"].as_array().unwrap().len(), 4);
    assert!(schema_resource("urn:nope").is_none());
}

#[test]
fn resource_types_document() {
    let doc = resource_types("https://cs.example/scim/v2/");
    assert_eq!(doc["totalResults"], 2);
    let user = &doc["Resources"][0];
    assert_eq!(user["id"], "User");
    assert_eq!(user["endpoint"], "/Users");
    assert_eq!(user["schema"], CORE_USER);
    assert_eq!(user["schemaExtensions"][0]["schema"], ENT);
    assert_eq!(user["schemaExtensions"][0]["required"], false);
    assert_eq!(
        user["meta"]["location"],
        "https://cs.example/scim/v2/ResourceTypes/User"
    );
    let group = resource_type("group", "https://cs.example/scim/v2").unwrap();
    assert_eq!(group["endpoint"], "/Groups");
    assert_eq!(group["schemaExtensions"].as_array().unwrap().len(), 0);
    assert!(resource_type("Device", "x").is_none());
}

#[test]
fn service_provider_config_document() {
    let c = service_provider_config("https://cs.example/scim/v2", 200);
    assert_eq!(c["patch"]["supported"], true);
    assert_eq!(c["bulk"]["supported"], false);
    assert_eq!(c["filter"]["supported"], true);
    assert_eq!(c["filter"]["maxResults"], 200);
    assert_eq!(c["changePassword"]["supported"], false);
    assert_eq!(c["sort"]["supported"], true);
    assert_eq!(c["etag"]["supported"], true);
    let schemes = c["authenticationSchemes"].as_array().unwrap();
    assert_eq!(schemes.len(), 1);
    assert_eq!(schemes[0]["type"], "oauthbearertoken");
    assert_eq!(schemes[0]["primary"], true);
    assert_eq!(
        c["meta"]["location"],
        "https://cs.example/scim/v2/ServiceProviderConfig"
    );
}

#[test]
fn attribute_lookup() {
    let rt = ResourceType::User;
    let r = resolve(rt, "USERNAME").unwrap();
    assert_eq!((r.attr.name, r.extension), ("userName", false));
    let r = resolve(
        rt,
        "urn:ietf:params:scim:schemas:core:2.0:User:name.GIVENNAME",
    )
    .unwrap();
    assert_eq!(r.qualified_name(), "name.givenName");
    assert_eq!(r.leaf().ty, AttributeType::String);
    let r = resolve(rt, &format!("{ENT}:manager.value")).unwrap();
    assert!(r.extension);
    assert_eq!(r.qualified_name(), format!("{ENT}:manager.value"));
    assert!(r.leaf().case_exact);
    let r = resolve(rt, &format!("{}:Manager", ENT.to_uppercase())).unwrap();
    assert_eq!(r.attr.name, "manager");
    let r = resolve(rt, "department").unwrap();
    assert!(r.extension);
    let r = resolve(rt, "id").unwrap();
    assert_eq!(
        (
            r.attr.mutability,
            r.attr.returned,
            r.attr.uniqueness,
            r.attr.case_exact
        ),
        (
            Mutability::ReadOnly,
            Returned::Always,
            Uniqueness::Server,
            true
        )
    );
    assert!(resolve(rt, "meta.version").unwrap().leaf().case_exact);
    assert!(resolve(rt, "groups.$ref").unwrap().leaf().case_exact);
    assert!(resolve(rt, "externalId").unwrap().leaf().case_exact);
    assert!(!resolve(rt, "emails.value").unwrap().leaf().case_exact);
    for bad in [
        "nosuch",
        "name.nosuch",
        "userName.x",
        "name.givenName.x",
        "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "",
        "9lives",
        "members",
    ] {
        let e = resolve(rt, bad).unwrap_err();
        assert_eq!(e.kind, ScimErrorKind::InvalidPath, "{bad}");
    }
    assert!(find_attribute(ResourceType::Group, "members.value").is_some());
    assert!(find_attribute(ResourceType::Group, "department").is_none());
}
