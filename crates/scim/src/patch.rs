//! PATCH (RFC 7644 §3.5.2) applied to a stored resource.
//!
//! The RFC is followed, with the departures real identity providers need,
//! each marked where it is made:
//! - `op` names are case-insensitive (Entra ID sends `"Replace"`);
//! - values are coerced to the schema type (Entra ID sends `"False"`);
//! - a bare id for a complex attribute with a `value` sub-attribute is that
//!   sub-attribute (Entra ID's manager);
//! - `add`/`replace` through a filter that matches nothing creates the
//!   value the filter describes, when the filter is a plain `and` of `eq`
//!   terms (Entra ID's `emails[type eq "work"].value` on a user with no
//!   work email); the RFC says `noTarget`, which would fail the user;
//! - `remove` of a multi-valued attribute with a `value` removes just those
//!   values (Entra ID's group membership removal);
//! - readOnly attributes inside a path-less value are accepted when they
//!   equal the stored value (Okta echoes the group `id`);
//! - writeOnly attributes (`password`) are accepted and discarded.
//!
//! Operations apply to a copy, so on any error the resource is unchanged.

use serde_json::{Map, Value};

use crate::coerce::{coerce, coerce_items, coerce_single, fix_primary, same_item};
use crate::error::{Result, ScimError};
use crate::filter::Filter;
use crate::path::{self, ResolvedPath};
use crate::schema::{
    extension_schema, find_key, get_ci, AttributeDef, AttributeType, Mutability, ResolvedAttr,
    ResourceType, Schema, COMMON_ATTRIBUTES,
};

/// Schema URN of a PATCH request body.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// What a PATCH changed, for the server's bookkeeping (audit, group
/// membership tables, `meta.lastModified` and version).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchOutcome {
    /// Attributes whose value changed: core attributes by name
    /// (`displayName`, `emails`), extension attributes fully qualified
    /// (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`).
    pub changed: Vec<String>,
    /// For Groups, ids of members now present that were not before.
    pub members_added: Vec<String>,
    /// For Groups, ids of members no longer present.
    pub members_removed: Vec<String>,
}

impl PatchOutcome {
    /// Whether the PATCH changed nothing (so the server need not bump the
    /// version).
    pub fn is_noop(&self) -> bool {
        self.changed.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Replace,
}

struct Operation<'a> {
    op: Op,
    path: Option<&'a str>,
    value: Option<&'a Value>,
}

/// Applies the PatchOp request `body` to `resource` (a stored resource of
/// type `rt`, a JSON object). The resource is left unchanged on error.
///
/// This does not touch `meta` (no clock here) and does not check
/// uniqueness (no store here); the server does both afterwards.
pub fn apply_patch(resource: &mut Value, body: &Value, rt: ResourceType) -> Result<PatchOutcome> {
    let ops = parse_body(body)?;
    let before = resource
        .as_object()
        .ok_or_else(|| ScimError::invalid_value("the stored resource is not a JSON object"))?;
    let mut work = before.clone();
    for (i, op) in ops.iter().enumerate() {
        apply_op(&mut work, rt, op)
            .map_err(|e| ScimError::new(e.kind, format!("operation {}: {}", i + 1, e.detail)))?;
    }
    normalize_extensions(&mut work, rt);
    let required = rt.required_attribute();
    if get_ci(&work, required)
        .and_then(Value::as_str)
        .is_none_or(|s| s.trim().is_empty())
    {
        return Err(ScimError::invalid_value(format!(
            "'{required}' is required and cannot be removed"
        )));
    }
    let outcome = outcome(before, &work, rt);
    *resource = Value::Object(work);
    Ok(outcome)
}

fn parse_body(body: &Value) -> Result<Vec<Operation<'_>>> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("a PATCH body must be a JSON object"))?;
    let has_schema = get_ci(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP)))
        });
    if !has_schema {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH body's 'schemas' must contain {PATCH_OP}"
        )));
    }
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ScimError::invalid_syntax("a PATCH body needs a non-empty 'Operations' array")
        })?;
    ops.iter()
        .enumerate()
        .map(|(i, o)| {
            let n = i + 1;
            let o = o.as_object().ok_or_else(|| {
                ScimError::invalid_syntax(format!("operation {n} is not a JSON object"))
            })?;
            let op = match get_ci(o, "op").and_then(Value::as_str) {
                Some(s) if s.eq_ignore_ascii_case("add") => Op::Add,
                Some(s) if s.eq_ignore_ascii_case("remove") => Op::Remove,
                Some(s) if s.eq_ignore_ascii_case("replace") => Op::Replace,
                Some(s) => {
                    return Err(ScimError::invalid_syntax(format!(
                        "operation {n}: unknown op '{s}' (expected add, remove or replace)"
                    )))
                }
                None => {
                    return Err(ScimError::invalid_syntax(format!(
                        "operation {n} has no 'op'"
                    )))
                }
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => Some(s.as_str()),
                Some(_) => {
                    return Err(ScimError::invalid_syntax(format!(
                        "operation {n}: 'path' must be a string"
                    )))
                }
            };
            Ok(Operation {
                op,
                path,
                value: get_ci(o, "value"),
            })
        })
        .collect()
}

fn apply_op(work: &mut Map<String, Value>, rt: ResourceType, op: &Operation<'_>) -> Result<()> {
    let Some(p) = op.path else {
        if op.op == Op::Remove {
            return Err(ScimError::no_target("remove needs a 'path'"));
        }
        let obj = op.value.and_then(Value::as_object).ok_or_else(|| {
            ScimError::invalid_value("without a 'path', 'value' must be an object of attributes")
        })?;
        for (k, v) in obj {
            apply_keyed(work, rt, op.op, None, k, v)?;
        }
        return Ok(());
    };
    if let Some(ext) = extension_schema(rt, p.trim()) {
        return apply_extension(work, rt, op, ext);
    }
    let resolved = path::parse(p)?.resolve(rt)?;
    apply_at(work, op.op, &resolved, op.value, true)
}

/// A path naming a whole extension (`urn:…:enterprise:2.0:User`): its value
/// is an object of that extension's attributes.
fn apply_extension(
    work: &mut Map<String, Value>,
    rt: ResourceType,
    op: &Operation<'_>,
    ext: &'static Schema,
) -> Result<()> {
    if op.op == Op::Remove {
        if let Some(key) = find_key(work, ext.id) {
            work.remove(&key);
        }
        return Ok(());
    }
    let obj = op.value.and_then(Value::as_object).ok_or_else(|| {
        ScimError::invalid_value(format!("the value for '{}' must be an object", ext.id))
    })?;
    for (k, v) in obj {
        apply_keyed(work, rt, op.op, Some(ext), k, v)?;
    }
    Ok(())
}

/// One member of a path-less value object (or of an extension object).
/// Unknown attributes are ignored, as on create (RFC 7644 §3.3 lets the
/// server ignore them, and IdPs send attributes a server may not model).
fn apply_keyed(
    work: &mut Map<String, Value>,
    rt: ResourceType,
    op: Op,
    within: Option<&'static Schema>,
    key: &str,
    value: &Value,
) -> Result<()> {
    if within.is_none() {
        if key.eq_ignore_ascii_case("schemas") {
            return Ok(());
        }
        if let Some(ext) = extension_schema(rt, key) {
            let obj = value.as_object().ok_or_else(|| {
                ScimError::invalid_value(format!("the value for '{}' must be an object", ext.id))
            })?;
            for (k, v) in obj {
                apply_keyed(work, rt, op, Some(ext), k, v)?;
            }
            return Ok(());
        }
    }
    let full;
    let key = match within {
        Some(ext) => {
            full = format!("{}:{key}", ext.id);
            full.as_str()
        }
        None => key,
    };
    // Keys may be paths themselves: Entra ID has been seen sending
    // `{"name.givenName": "x"}` and even filtered paths as keys.
    let Ok(resolved) = path::parse(key).and_then(|p| p.resolve(rt)) else {
        return Ok(());
    };
    apply_at(work, op, &resolved, Some(value), false)
}

/// Applies one operation at a resolved path. `explicit` says whether the
/// client named the path (a `path` member) or it came from a key of a
/// path-less value, which is allowed to restate readOnly values.
fn apply_at(
    work: &mut Map<String, Value>,
    op: Op,
    rp: &ResolvedPath,
    value: Option<&Value>,
    explicit: bool,
) -> Result<()> {
    if !rp.target.extension {
        return apply_in(work, op, rp, value, explicit);
    }
    // Extension attributes live in an object under the schema URN; work on
    // that object detached and put it back under the canonical key. (On
    // error the whole working copy is discarded, so putting it back
    // unconditionally is fine.)
    let id = rp.target.schema.id;
    let mut ext = match take_ci(work, id) {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    let result = apply_in(&mut ext, op, rp, value, explicit);
    work.insert(id.to_string(), Value::Object(ext));
    result
}

fn apply_in(
    container: &mut Map<String, Value>,
    op: Op,
    rp: &ResolvedPath,
    value: Option<&Value>,
    explicit: bool,
) -> Result<()> {
    let target = &rp.target;
    let name = target.qualified_name();
    let current = take_ci(container, target.attr.name);

    match target.attr.mutability {
        Mutability::WriteOnly => {
            // Passwords are accepted and dropped: Countersign never
            // authenticates anyone with one, so it never keeps one.
            restore(container, target.attr, current);
            return Ok(());
        }
        Mutability::ReadOnly => {
            let unchanged = !explicit && op != Op::Remove && restates(target, &current, value);
            restore(container, target.attr, current);
            if unchanged {
                return Ok(());
            }
            return Err(ScimError::mutability(format!("'{name}' is readOnly")));
        }
        Mutability::ReadWrite | Mutability::Immutable => {}
    }
    if let Some(sub) = target.sub {
        match sub.mutability {
            Mutability::WriteOnly => {
                restore(container, target.attr, current);
                return Ok(());
            }
            Mutability::ReadOnly if !explicit => {
                restore(container, target.attr, current);
                return Ok(());
            }
            Mutability::ReadOnly => {
                return Err(ScimError::mutability(format!("'{name}' is readOnly")));
            }
            Mutability::ReadWrite | Mutability::Immutable => {}
        }
    }

    let new = match (&rp.filter, target.sub) {
        (None, None) => whole(op, target.attr, &name, current, value)?,
        (None, Some(sub)) => sub_attr(op, target.attr, sub, &name, current, value)?,
        (Some(filter), sub) => filtered(op, target.attr, filter, sub, &name, current, value)?,
    };
    restore(container, target.attr, new);
    Ok(())
}

/// Whether a path-less value restates what is stored (so a readOnly
/// attribute in it is no change).
fn restates(target: &ResolvedAttr, current: &Option<Value>, value: Option<&Value>) -> bool {
    let Some(value) = value else {
        return true;
    };
    let current = match target.sub {
        None => current.as_ref(),
        Some(sub) => current
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|o| get_ci(o, sub.name)),
    };
    match current {
        None => value.is_null(),
        Some(c) => c == value,
    }
}

/// Removes and returns the value under `name` (any spelling), so it can be
/// put back under the canonical spelling.
fn take_ci(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let mut found = None;
    while let Some(k) = find_key(map, name) {
        let v = map.remove(&k);
        if found.is_none() || k == name {
            found = v;
        }
    }
    found.filter(|v| !v.is_null())
}

fn restore(map: &mut Map<String, Value>, attr: &AttributeDef, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(attr.name.to_string(), v);
    }
}

fn need_value<'a>(value: Option<&'a Value>, name: &str) -> Result<&'a Value> {
    value.ok_or_else(|| ScimError::invalid_value(format!("a value for '{name}' is required")))
}

fn immutable_check(
    def: &AttributeDef,
    name: &str,
    old: Option<&Value>,
    new: Option<&Value>,
) -> Result<()> {
    if def.mutability == Mutability::Immutable {
        if let Some(old) = old.filter(|o| !o.is_null()) {
            if Some(old) != new {
                return Err(ScimError::mutability(format!(
                    "'{name}' is immutable once set"
                )));
            }
        }
    }
    Ok(())
}

fn items_of(current: Option<Value>) -> Vec<Value> {
    match current {
        Some(Value::Array(a)) => a.into_iter().filter(|v| !v.is_null()).collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

fn non_empty(items: Vec<Value>) -> Option<Value> {
    (!items.is_empty()).then_some(Value::Array(items))
}

/// Merges the sub-attributes of `new` into `old`, as `add` and `replace` of
/// a complex value do (RFC 7644 §3.5.2.1 and §3.5.2.3: sub-attributes not
/// given are left alone).
fn merge(
    def: &AttributeDef,
    name: &str,
    old: Option<Value>,
    new: Map<String, Value>,
) -> Result<Option<Value>> {
    let mut obj = match old {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    for (k, v) in new {
        if let Some(sub) = def.sub_attribute(&k) {
            immutable_check(
                sub,
                &format!("{name}.{}", sub.name),
                get_ci(&obj, &k),
                Some(&v),
            )?;
        }
        obj.insert(k, v);
    }
    Ok((!obj.is_empty()).then_some(Value::Object(obj)))
}

/// add/replace/remove of a whole attribute (no filter, no sub-attribute).
fn whole(
    op: Op,
    attr: &'static AttributeDef,
    name: &str,
    current: Option<Value>,
    value: Option<&Value>,
) -> Result<Option<Value>> {
    match op {
        Op::Add if attr.multi_valued => {
            // RFC 7644 §3.5.2.1: add to a multi-valued attribute appends;
            // a value already present is not added twice.
            let new = coerce_items(attr, need_value(value, name)?, name)?;
            let mut items = items_of(current);
            let mut keep = None;
            for item in new {
                match items.iter().position(|o| same_item(attr, o, &item)) {
                    Some(i) => {
                        if let (Some(Value::Object(existing)), Value::Object(fresh)) =
                            (items.get_mut(i), item)
                        {
                            for (k, v) in fresh {
                                let immutable = attr
                                    .sub_attribute(&k)
                                    .is_some_and(|s| s.mutability == Mutability::Immutable);
                                if !(immutable && existing.contains_key(&k)) {
                                    existing.insert(k, v);
                                }
                            }
                        }
                        keep = Some(i);
                    }
                    None => {
                        items.push(item);
                        keep = Some(items.len() - 1);
                    }
                }
            }
            fix_primary(&mut items, keep);
            Ok(non_empty(items))
        }
        Op::Replace if attr.multi_valued => {
            let v = need_value(value, name)?;
            let mut items = crate::coerce::dedupe(attr, coerce_items(attr, v, name)?);
            fix_primary(&mut items, None);
            let new = non_empty(items);
            immutable_check(attr, name, current.as_ref(), new.as_ref())?;
            Ok(new)
        }
        Op::Add | Op::Replace if attr.ty == AttributeType::Complex => {
            let v = need_value(value, name)?;
            match (v, coerce_single(attr, v, name)?) {
                (_, None) if v.is_null() => {
                    immutable_check(attr, name, current.as_ref(), None)?;
                    Ok(None)
                }
                (_, None) => Ok(current),
                // A bare value (Entra ID's manager id) replaces the whole
                // complex value: keeping the old `$ref` or display name
                // beside a new id would describe someone else.
                (Value::String(_) | Value::Number(_), Some(new)) => {
                    immutable_check(attr, name, current.as_ref(), Some(&new))?;
                    Ok(Some(new))
                }
                (_, Some(Value::Object(new))) => merge(attr, name, current, new),
                (_, Some(new)) => Ok(Some(new)),
            }
        }
        Op::Add | Op::Replace => {
            let v = need_value(value, name)?;
            let new = coerce(attr, v, name)?;
            if op == Op::Add && new.is_none() {
                return Ok(current);
            }
            immutable_check(attr, name, current.as_ref(), new.as_ref())?;
            Ok(new)
        }
        Op::Remove => {
            if attr.multi_valued {
                if let Some(v) = value.filter(|v| !v.is_null()) {
                    // Entra ID removes group members with
                    // `{"op":"Remove","path":"members","value":[{"value":"id"}]}`:
                    // only the listed values go, and ones already absent
                    // are no error, so retries are harmless.
                    let gone = coerce_items(attr, v, name)?;
                    let mut items = items_of(current);
                    items.retain(|it| !gone.iter().any(|g| same_item(attr, it, g)));
                    return Ok(non_empty(items));
                }
            }
            if attr.required {
                return Err(ScimError::invalid_value(format!(
                    "'{name}' is required and cannot be removed"
                )));
            }
            immutable_check(attr, name, current.as_ref(), None)?;
            Ok(None)
        }
    }
}

/// add/replace/remove of `attr.sub` without a filter: `name.givenName`,
/// `urn:…:manager.value`, or (for a multi-valued attribute) the
/// sub-attribute of every value.
fn sub_attr(
    op: Op,
    attr: &'static AttributeDef,
    sub: &'static AttributeDef,
    name: &str,
    current: Option<Value>,
    value: Option<&Value>,
) -> Result<Option<Value>> {
    let new = match op {
        Op::Remove => None,
        Op::Add | Op::Replace => coerce(sub, need_value(value, name)?, name)?,
    };
    if op == Op::Add && new.is_none() {
        return Ok(current);
    }
    let set = |obj: &mut Map<String, Value>| -> Result<()> {
        let key = find_key(obj, sub.name);
        let old = key.as_ref().and_then(|k| obj.get(k));
        immutable_check(sub, name, old, new.as_ref())?;
        if let Some(k) = key {
            obj.remove(&k);
        }
        if let Some(v) = &new {
            obj.insert(sub.name.to_string(), v.clone());
        }
        Ok(())
    };
    if attr.multi_valued {
        let mut items = items_of(current);
        if items.is_empty() {
            if let Some(v) = &new {
                let mut obj = Map::new();
                obj.insert(sub.name.to_string(), v.clone());
                items.push(Value::Object(obj));
            }
        }
        for item in &mut items {
            if let Value::Object(obj) = item {
                set(obj)?;
            }
        }
        items.retain(|v| v.as_object().is_some_and(|o| !o.is_empty()));
        Ok(non_empty(items))
    } else {
        let mut obj = match current {
            Some(Value::Object(o)) => o,
            _ => Map::new(),
        };
        set(&mut obj)?;
        Ok((!obj.is_empty()).then_some(Value::Object(obj)))
    }
}

/// Operations through a value filter: `emails[type eq "work"]`,
/// `emails[type eq "work"].value`, `members[value eq "id"]`.
fn filtered(
    op: Op,
    attr: &'static AttributeDef,
    filter: &Filter,
    sub: Option<&'static AttributeDef>,
    name: &str,
    current: Option<Value>,
    value: Option<&Value>,
) -> Result<Option<Value>> {
    let mut items = items_of(current);
    let hits: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, v)| filter.matches_element(v, attr))
        .map(|(i, _)| i)
        .collect();
    let no_target =
        || ScimError::no_target(format!("no value of '{}' matches [{filter}]", attr.name));

    if op == Op::Remove {
        if hits.is_empty() {
            return Err(no_target());
        }
        match sub {
            Some(sub) => {
                for &i in &hits {
                    if let Some(Value::Object(obj)) = items.get_mut(i) {
                        if let Some(k) = find_key(obj, sub.name) {
                            immutable_check(sub, name, obj.get(&k), None)?;
                            obj.remove(&k);
                        }
                    }
                }
                items.retain(|v| v.as_object().is_some_and(|o| !o.is_empty()));
            }
            None => {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !hits.contains(&i);
                    i += 1;
                    keep
                });
            }
        }
        return Ok(non_empty(items));
    }

    let v = need_value(value, name)?;
    if hits.is_empty() {
        // RFC 7644 §3.5.2.3 answers `noTarget` here. Entra ID sends
        // `replace emails[type eq "work"].value` (and phoneNumbers,
        // addresses) for users who have no such value yet and expects it
        // to be created, so when the filter spells out the new value's
        // identity as `eq` terms, create that value instead.
        let terms = filter.equality_terms().ok_or_else(no_target)?;
        let mut obj = Map::new();
        for (k, lit) in terms {
            let Some(sd) = attr.sub_attribute(k) else {
                return Err(no_target());
            };
            if let Some(c) = coerce_single(sd, lit, &format!("{}.{}", attr.name, sd.name))? {
                obj.insert(sd.name.to_string(), c);
            }
        }
        match sub {
            Some(sub) => match coerce(sub, v, name)? {
                Some(c) => {
                    obj.insert(sub.name.to_string(), c);
                }
                None => return Ok(non_empty(items)),
            },
            None => match coerce_single(attr, v, name)? {
                Some(Value::Object(given)) => obj.extend(given),
                _ => return Ok(non_empty(items)),
            },
        }
        items.push(Value::Object(obj));
        let last = items.len() - 1;
        fix_primary(&mut items, Some(last));
        return Ok(non_empty(items));
    }

    match sub {
        Some(sub) => {
            let new = coerce(sub, v, name)?;
            for &i in &hits {
                if let Some(Value::Object(obj)) = items.get_mut(i) {
                    let key = find_key(obj, sub.name);
                    immutable_check(
                        sub,
                        name,
                        key.as_ref().and_then(|k| obj.get(k)),
                        new.as_ref(),
                    )?;
                    if let Some(k) = key {
                        obj.remove(&k);
                    }
                    if let Some(n) = &new {
                        obj.insert(sub.name.to_string(), n.clone());
                    }
                }
            }
            items.retain(|v| v.as_object().is_some_and(|o| !o.is_empty()));
        }
        None => {
            let new = coerce_single(attr, v, name)?;
            for &i in &hits {
                let Some(slot) = items.get_mut(i) else {
                    continue;
                };
                let old = std::mem::take(slot);
                *slot = match (op, &new) {
                    // Replace swaps the whole value (RFC 7644 §3.5.2.3's
                    // "entire work address" example), keeping immutable
                    // sub-attributes immutable.
                    (Op::Replace, _) => {
                        for sd in attr.sub_attributes {
                            let o = old.as_object().and_then(|o| get_ci(o, sd.name));
                            let n = new
                                .as_ref()
                                .and_then(Value::as_object)
                                .and_then(|o| o.get(sd.name));
                            immutable_check(sd, &format!("{}.{}", attr.name, sd.name), o, n)?;
                        }
                        new.clone().unwrap_or(Value::Null)
                    }
                    (_, Some(Value::Object(fresh))) => {
                        merge(attr, name, Some(old), fresh.clone())?.unwrap_or(Value::Null)
                    }
                    _ => old,
                };
            }
            items.retain(|v| !v.is_null());
        }
    }
    let last = hits.last().copied();
    fix_primary(&mut items, last);
    Ok(non_empty(items))
}

/// Keeps `schemas` in step with the extension data: an extension object
/// with something in it is listed, an empty one is removed with its URN.
pub(crate) fn normalize_extensions(work: &mut Map<String, Value>, rt: ResourceType) {
    for ext in rt.extensions() {
        let key = find_key(work, ext.id);
        let has_data = key
            .as_ref()
            .and_then(|k| work.get(k))
            .and_then(Value::as_object)
            .is_some_and(|o| o.values().any(|v| !v.is_null()));
        if !has_data {
            if let Some(k) = key {
                work.remove(&k);
            }
        }
        let schemas_key = find_key(work, "schemas").unwrap_or_else(|| "schemas".to_string());
        let schemas = work
            .entry(schemas_key)
            .or_insert_with(|| Value::Array(vec![Value::String(rt.schema().id.to_string())]));
        if let Value::Array(list) = schemas {
            let listed = |s: &Value| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(ext.id));
            if has_data && !list.iter().any(listed) {
                list.push(Value::String(ext.id.to_string()));
            } else if !has_data {
                list.retain(|s| !listed(s));
            }
        }
    }
}

fn outcome(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    rt: ResourceType,
) -> PatchOutcome {
    let mut changed = Vec::new();
    let core_names = COMMON_ATTRIBUTES
        .iter()
        .chain(rt.schema().attributes)
        .map(|a| a.name);
    for n in core_names {
        if get_ci(before, n) != get_ci(after, n) {
            changed.push(n.to_string());
        }
    }
    for ext in rt.extensions() {
        let b = get_ci(before, ext.id).and_then(Value::as_object);
        let a = get_ci(after, ext.id).and_then(Value::as_object);
        for attr in ext.attributes {
            let bv = b.and_then(|o| get_ci(o, attr.name));
            let av = a.and_then(|o| get_ci(o, attr.name));
            if bv != av {
                changed.push(format!("{}:{}", ext.id, attr.name));
            }
        }
    }
    let mut out = PatchOutcome {
        changed,
        ..PatchOutcome::default()
    };
    if rt == ResourceType::Group {
        let before = member_ids(before);
        let after = member_ids(after);
        out.members_added = after
            .iter()
            .filter(|m| !before.contains(m))
            .cloned()
            .collect();
        out.members_removed = before
            .iter()
            .filter(|m| !after.contains(m))
            .cloned()
            .collect();
    }
    out
}

/// The `value`s of a Group's `members`, in order, without duplicates.
pub(crate) fn member_ids(group: &Map<String, Value>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for m in get_ci(group, "members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = match m {
            Value::Object(o) => get_ci(o, "value").and_then(Value::as_str),
            Value::String(s) => Some(s.as_str()),
            _ => None,
        };
        if let Some(id) = id {
            if !ids.iter().any(|x| x == id) {
                ids.push(id.to_string());
            }
        }
    }
    ids
}
