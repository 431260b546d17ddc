//! Checking and cleaning a client's User or Group for create (POST) and
//! replace (PUT), and reading the few fields Countersign cares about out of
//! a stored resource.

use serde_json::{Map, Value};

use crate::coerce::{coerce, dedupe, fix_primary, parse_bool};
use crate::error::{Result, ScimError};
use crate::patch::{member_ids, normalize_extensions};
use crate::schema::{
    self, extension_schema, get_ci, AttributeType, Mutability, ResolvedAttr, ResourceType,
    ENTERPRISE_USER,
};

/// Validates and normalises a User from a POST or PUT body.
///
/// See [`prepare`] for the rules; a User needs a non-empty `userName`.
pub fn prepare_user(body: &Value) -> Result<Value> {
    prepare(body, ResourceType::User)
}

/// Validates and normalises a Group from a POST or PUT body.
///
/// See [`prepare`] for the rules; a Group needs a non-empty `displayName`,
/// and every member a `value`. Duplicate members are merged.
pub fn prepare_group(body: &Value) -> Result<Value> {
    prepare(body, ResourceType::Group)
}

/// Validates and normalises a resource of type `rt` from a POST or PUT
/// body, returning what the server should store (before it adds `id` and
/// `meta`).
///
/// - `schemas` must list the core schema (`invalidSyntax`), and every
///   extension object present must be listed too (`invalidSyntax`). The
///   result's `schemas` is the core schema plus the extensions that hold
///   data.
/// - Values are coerced to their schema types (Entra ID's `"True"`
///   becomes `true`); what cannot be is `invalidValue`.
/// - readOnly attributes (`id`, `meta`, a User's `groups`) are dropped, as
///   RFC 7644 §3.3 says they "SHALL be ignored"; so are writeOnly ones
///   (`password`, never stored) and attributes no schema defines.
/// - Fully qualified keys (`urn:…:enterprise:2.0:User:department`) and
///   dotted ones (`name.givenName`) are placed where they belong.
/// - `primary` is made true on at most one value of each attribute.
/// - The required attribute must be a non-empty string (`invalidValue`).
///
/// Uniqueness (`userName`) and immutability across a PUT need the stored
/// state, so the server checks them.
pub fn prepare(body: &Value, rt: ResourceType) -> Result<Value> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))?;
    let schemas: Vec<&str> = match get_ci(obj, "schemas") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .ok_or_else(|| ScimError::invalid_syntax("'schemas' must list URN strings"))
            })
            .collect::<Result<_>>()?,
        _ => {
            return Err(ScimError::invalid_syntax(
                "'schemas' must be an array of URNs",
            ))
        }
    };
    let listed = |urn: &str| schemas.iter().any(|s| s.eq_ignore_ascii_case(urn));
    let core = rt.schema().id;
    if !listed(core) {
        return Err(ScimError::invalid_syntax(format!(
            "'schemas' must contain {core}"
        )));
    }

    let mut out = Map::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = extension_schema(rt, key) {
            if !listed(ext.id) {
                return Err(ScimError::invalid_syntax(format!(
                    "'{}' data is present but the schema is not listed in 'schemas'",
                    ext.id
                )));
            }
            let attrs = match value {
                Value::Object(o) => o,
                Value::Null => continue,
                _ => {
                    return Err(ScimError::invalid_syntax(format!(
                        "'{}' must be an object",
                        ext.id
                    )))
                }
            };
            for (k, v) in attrs {
                if let Ok(r) = schema::resolve(rt, &format!("{}:{k}", ext.id)) {
                    write(&mut out, &r, v)?;
                }
            }
            continue;
        }
        if let Ok(r) = schema::resolve(rt, key) {
            write(&mut out, &r, value)?;
        }
    }

    for attr in rt.schema().attributes.iter().filter(|a| a.multi_valued) {
        if let Some(Value::Array(items)) = out.remove(attr.name) {
            let mut items = dedupe(attr, items);
            fix_primary(&mut items, None);
            out.insert(attr.name.to_string(), Value::Array(items));
        }
    }
    if rt == ResourceType::Group {
        let members = out.get("members").and_then(Value::as_array);
        if members.is_some_and(|m| {
            m.iter().any(|x| {
                x.get("value")
                    .and_then(Value::as_str)
                    .is_none_or(|s| s.is_empty())
            })
        }) {
            return Err(ScimError::invalid_value(
                "every member needs a 'value' (its id)",
            ));
        }
    }
    let required = rt.required_attribute();
    if out
        .get(required)
        .and_then(Value::as_str)
        .is_none_or(|s| s.trim().is_empty())
    {
        return Err(ScimError::invalid_value(format!(
            "'{required}' is required"
        )));
    }
    out.insert(
        "schemas".into(),
        Value::Array(vec![Value::String(core.to_string())]),
    );
    normalize_extensions(&mut out, rt);
    Ok(Value::Object(out))
}

/// Writes one client value into `out` at `r`, coerced, unless the
/// attribute is one clients do not get to set.
fn write(out: &mut Map<String, Value>, r: &ResolvedAttr, value: &Value) -> Result<()> {
    let skip = |m: Mutability| matches!(m, Mutability::ReadOnly | Mutability::WriteOnly);
    if skip(r.attr.mutability) || r.sub.is_some_and(|s| skip(s.mutability)) {
        return Ok(());
    }
    let name = r.qualified_name();
    let container = if r.extension {
        let slot = out
            .entry(r.schema.id.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        match slot {
            Value::Object(o) => o,
            _ => return Ok(()),
        }
    } else {
        out
    };
    match r.sub {
        None => {
            if let Some(c) = coerce(r.attr, value, &name)? {
                container.insert(r.attr.name.to_string(), c);
            }
        }
        // `name.givenName` as a key: only meaningful for a single-valued
        // complex attribute.
        Some(sub) if r.attr.ty == AttributeType::Complex && !r.attr.multi_valued => {
            if let Some(c) = coerce(sub, value, &name)? {
                let parent = container
                    .entry(r.attr.name.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(p) = parent {
                    p.insert(sub.name.to_string(), c);
                }
            }
        }
        Some(_) => {}
    }
    Ok(())
}

/// The fields of a stored User that Countersign uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UserView {
    /// `userName` (empty if the resource has none).
    pub user_name: String,
    /// `externalId`: the IdP's own id for the user.
    pub external_id: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `name.givenName`.
    pub given_name: Option<String>,
    /// `name.familyName`.
    pub family_name: Option<String>,
    /// The primary email, else the work email, else the first one.
    pub email: Option<String>,
    /// `active`, true when absent (RFC 7643 §4.1.1 leaves the default to
    /// the server; a provisioned user is active until told otherwise).
    pub active: bool,
    /// The enterprise extension's `manager.value`: the manager's SCIM id.
    pub manager_id: Option<String>,
    /// `title`.
    pub title: Option<String>,
    /// The enterprise extension's `department`.
    pub department: Option<String>,
}

/// The fields of a stored Group that Countersign uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GroupView {
    /// `displayName` (empty if the resource has none).
    pub display_name: String,
    /// `externalId`: the IdP's own id for the group.
    pub external_id: Option<String>,
    /// Member ids (`members[].value`), in order, without duplicates.
    pub members: Vec<String>,
}

fn text(obj: Option<&Map<String, Value>>, key: &str) -> Option<String> {
    obj.and_then(|o| get_ci(o, key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Reads a [`UserView`] from a stored (or prepared) User. Never fails:
/// missing fields are `None`.
pub fn user_view(resource: &Value) -> UserView {
    let obj = resource.as_object();
    let name = obj
        .and_then(|o| get_ci(o, "name"))
        .and_then(Value::as_object);
    let ext = obj
        .and_then(|o| get_ci(o, ENTERPRISE_USER))
        .and_then(Value::as_object);
    let manager_id = match ext.and_then(|e| get_ci(e, "manager")) {
        Some(Value::Object(m)) => text(Some(m), "value"),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    UserView {
        user_name: text(obj, "userName").unwrap_or_default(),
        external_id: text(obj, "externalId"),
        display_name: text(obj, "displayName"),
        given_name: text(name, "givenName"),
        family_name: text(name, "familyName"),
        email: email(obj),
        active: obj
            .and_then(|o| get_ci(o, "active"))
            .and_then(parse_bool)
            .unwrap_or(true),
        manager_id,
        title: text(obj, "title"),
        department: text(ext, "department"),
    }
}

fn email(obj: Option<&Map<String, Value>>) -> Option<String> {
    let emails: Vec<&Map<String, Value>> = obj
        .and_then(|o| get_ci(o, "emails"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter(|e| text(Some(e), "value").is_some())
        .collect();
    let primary = emails
        .iter()
        .find(|e| get_ci(e, "primary").and_then(parse_bool).unwrap_or(false));
    let work = emails.iter().find(|e| {
        get_ci(e, "type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("work"))
    });
    primary
        .or(work)
        .or(emails.first())
        .and_then(|e| text(Some(e), "value"))
}

/// Reads a [`GroupView`] from a stored (or prepared) Group.
pub fn group_view(resource: &Value) -> GroupView {
    let obj = resource.as_object();
    GroupView {
        display_name: text(obj, "displayName").unwrap_or_default(),
        external_id: text(obj, "externalId"),
        members: obj.map(member_ids).unwrap_or_default(),
    }
}
