//! Bringing client values into the schema's shape, shared by create,
//! replace and PATCH so that every write path accepts the same inputs.
//!
//! Tolerance lives here: Entra ID sends booleans as `"True"`/`"False"`,
//! IdPs send a manager as a bare id string, and numbers turn up where
//! strings are declared. What cannot be made to fit is `invalidValue`.

use serde_json::{Map, Number, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{Result, ScimError};
use crate::schema::{AttributeDef, AttributeType, Mutability};

/// A boolean, accepting Entra ID's string spellings (`"True"`, `"false"`).
pub(crate) fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A number, accepting numeric strings.
pub(crate) fn parse_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

pub(crate) fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Whether `v` counts as "no value" (RFC 7643 §2.5: null, empty string,
/// empty array, or a complex value with nothing in it).
pub(crate) fn is_unassigned(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(is_unassigned),
        Value::Object(o) => o.values().all(is_unassigned),
        _ => false,
    }
}

/// Coerces `v` for attribute `def`, honouring `multiValued`: an array for a
/// multi-valued attribute (a lone value is wrapped), a single value
/// otherwise. `None` means the attribute ends up unassigned.
pub(crate) fn coerce(def: &'static AttributeDef, v: &Value, name: &str) -> Result<Option<Value>> {
    if def.multi_valued {
        let items = coerce_items(def, v, name)?;
        Ok((!items.is_empty()).then_some(Value::Array(items)))
    } else {
        if v.is_array() {
            return Err(ScimError::invalid_value(format!(
                "'{name}' is single-valued but an array was given"
            )));
        }
        coerce_single(def, v, name)
    }
}

/// Coerces the values of multi-valued `def`: each array element (or `v`
/// itself if it is not an array), with nulls dropped.
pub(crate) fn coerce_items(
    def: &'static AttributeDef,
    v: &Value,
    name: &str,
) -> Result<Vec<Value>> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.is_array() {
            return Err(ScimError::invalid_value(format!(
                "'{name}' values must not be arrays"
            )));
        }
        if let Some(c) = coerce_single(def, item, name)? {
            out.push(c);
        }
    }
    Ok(out)
}

/// Coerces one value (one element, for multi-valued attributes) of `def`.
pub(crate) fn coerce_single(
    def: &'static AttributeDef,
    v: &Value,
    name: &str,
) -> Result<Option<Value>> {
    let wrong =
        |expected: &str| ScimError::invalid_value(format!("'{name}' must be {expected}, got {v}"));
    if v.is_null() {
        return Ok(None);
    }
    let out = match def.ty {
        AttributeType::Complex => match v {
            Value::Object(obj) => {
                let mut out = Map::new();
                for (k, sv) in obj {
                    // Unknown and server-owned sub-attributes are dropped
                    // rather than rejected: RFC 7644 §3.3 says readOnly
                    // values "SHALL be ignored", and IdPs echo back
                    // sub-attributes (display names, $ref) freely.
                    let Some(sub) = def.sub_attribute(k) else {
                        continue;
                    };
                    if matches!(sub.mutability, Mutability::ReadOnly | Mutability::WriteOnly) {
                        continue;
                    }
                    let sub_name = format!("{name}.{}", sub.name);
                    if let Some(c) = coerce(sub, sv, &sub_name)? {
                        out.insert(sub.name.to_string(), c);
                    }
                }
                if out.is_empty() {
                    return Ok(None);
                }
                Value::Object(out)
            }
            // A bare value for a complex attribute with a `value`
            // sub-attribute means that sub-attribute: Entra ID sets the
            // manager with `"value": "<id>"` rather than `{"value": "<id>"}`.
            Value::String(_) | Value::Number(_) => match def.sub_attribute("value") {
                Some(value_def) => match coerce_single(value_def, v, name)? {
                    Some(c) => {
                        let mut out = Map::new();
                        out.insert("value".into(), c);
                        Value::Object(out)
                    }
                    None => return Ok(None),
                },
                None => return Err(wrong("an object")),
            },
            _ => return Err(wrong("an object")),
        },
        AttributeType::Boolean => Value::Bool(parse_bool(v).ok_or_else(|| wrong("a boolean"))?),
        AttributeType::Integer => {
            let n = match v {
                Value::Number(n) if n.is_i64() || n.is_u64() => n.clone(),
                Value::Number(n) => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Number::from(f as i64),
                    _ => return Err(wrong("an integer")),
                },
                Value::String(s) => {
                    Number::from(s.trim().parse::<i64>().map_err(|_| wrong("an integer"))?)
                }
                _ => return Err(wrong("an integer")),
            };
            Value::Number(n)
        }
        AttributeType::Decimal => {
            let f = parse_number(v).ok_or_else(|| wrong("a number"))?;
            match v {
                Value::Number(n) => Value::Number(n.clone()),
                _ => Value::Number(Number::from_f64(f).ok_or_else(|| wrong("a number"))?),
            }
        }
        AttributeType::DateTime => match v {
            Value::String(s) if parse_datetime(s).is_some() => v.clone(),
            _ => return Err(wrong("an RFC 3339 date-time")),
        },
        AttributeType::String | AttributeType::Reference | AttributeType::Binary => match v {
            Value::String(_) => v.clone(),
            // Some IdPs send employee numbers and the like as JSON numbers
            // or booleans; their text is what was meant.
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            _ => return Err(wrong("a string")),
        },
    };
    Ok(Some(out))
}

/// Enforces RFC 7643 §2.4: `primary` is true on at most one value. The
/// value at `keep` (the one just written) wins; otherwise the first does.
pub(crate) fn fix_primary(items: &mut [Value], keep: Option<usize>) {
    let is_primary = |v: &Value| {
        v.as_object()
            .and_then(|o| o.get("primary"))
            .and_then(parse_bool)
            .unwrap_or(false)
    };
    let winner = keep
        .filter(|&i| items.get(i).is_some_and(is_primary))
        .or_else(|| items.iter().position(is_primary));
    let Some(winner) = winner else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        if i != winner && is_primary(item) {
            if let Some(obj) = item.as_object_mut() {
                obj.insert("primary".into(), Value::Bool(false));
            }
        }
    }
}

/// Whether two values of multi-valued `def` are the same entry: equal
/// `value` sub-attributes (compared per its caseExact) whose `type`s do
/// not disagree, or plain equality where there is no `value`. This is what
/// makes adding a member twice, or re-sending an email an IdP already
/// sent, a no-op instead of a duplicate.
pub(crate) fn same_item(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    let Some(value_def) = def.sub_attribute("value") else {
        return a == b;
    };
    let field = |v: &Value, name: &str| {
        v.as_object()
            .and_then(|o| crate::schema::get_ci(o, name))
            .filter(|x| !x.is_null())
            .cloned()
    };
    let (Some(va), Some(vb)) = (field(a, "value"), field(b, "value")) else {
        return a == b;
    };
    let text = |v: &Value| match v {
        Value::String(s) if !value_def.case_exact => s.to_lowercase(),
        other => other.to_string(),
    };
    if text(&va) != text(&vb) {
        return false;
    }
    match (field(a, "type"), field(b, "type")) {
        (Some(Value::String(ta)), Some(Value::String(tb))) => ta.eq_ignore_ascii_case(&tb),
        _ => true,
    }
}

/// Drops later duplicates (per [`same_item`]) from `items`.
pub(crate) fn dedupe(def: &AttributeDef, items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if !out.iter().any(|o| same_item(def, o, &item)) {
            out.push(item);
        }
    }
    out
}
