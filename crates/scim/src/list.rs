//! Listing resources (RFC 7644 §3.4.2): query parameters, sorting,
//! pagination, `attributes`/`excludedAttributes` projection, and the
//! ListResponse envelope.

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::coerce::{parse_bool, parse_datetime, parse_number};
use crate::error::{Result, ScimError};
use crate::filter::{self, Filter};
use crate::schema::{
    self, extension_schema, get_ci, AttributeDef, AttributeType, ResolvedAttr, ResourceType,
    Returned,
};

/// Schema URN of a list response.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A ListResponse body: `totalResults` is the number of matches in all,
/// `items` the page being returned (`itemsPerPage` is its length).
pub fn list_response(total: usize, start_index: usize, items: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Smallest first; resources without a value last.
    #[default]
    Ascending,
    /// Largest first; resources without a value first.
    Descending,
}

/// The list parameters of a GET on `/Users` or `/Groups`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `filter`, parsed and validated for the resource type.
    pub filter: Option<Filter>,
    /// `sortBy`, checked to name a sortable attribute.
    pub sort_by: Option<String>,
    /// `sortOrder` (ascending unless `descending` was asked for).
    pub sort_order: SortOrder,
    /// `startIndex`, 1-based; values below 1 become 1 (RFC 7644 §3.4.2.4).
    pub start_index: usize,
    /// `count`: page size; negative becomes 0, absent or larger than the
    /// server's maximum becomes the maximum.
    pub count: usize,
    /// `attributes`, split on commas.
    pub attributes: Vec<String>,
    /// `excludedAttributes`, split on commas.
    pub excluded_attributes: Vec<String>,
}

impl Query {
    /// Reads the list parameters from decoded query-string pairs. Names are
    /// case-insensitive and unknown parameters are ignored.
    ///
    /// Errors: a bad `filter` is `invalidFilter`; an unknown or complex
    /// `sortBy`, a `sortOrder` other than ascending/descending, or a
    /// non-integer `startIndex`/`count` is `invalidValue`. Unknown names in
    /// `attributes`/`excludedAttributes` are not errors: they select
    /// nothing, as they would if the resource simply lacked them.
    pub fn parse(
        pairs: &[(String, String)],
        rt: ResourceType,
        max_results: usize,
    ) -> Result<Query> {
        let mut q = Query {
            filter: None,
            sort_by: None,
            sort_order: SortOrder::Ascending,
            start_index: 1,
            count: max_results,
            attributes: Vec::new(),
            excluded_attributes: Vec::new(),
        };
        let int = |name: &str, v: &str| {
            v.trim().parse::<i64>().map_err(|_| {
                ScimError::invalid_value(format!("'{name}' must be an integer, got '{v}'"))
            })
        };
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        for (k, v) in pairs {
            match k.to_ascii_lowercase().as_str() {
                "filter" if v.trim().is_empty() => q.filter = None,
                "filter" => q.filter = Some(filter::parse_for(v, rt)?),
                "sortby" if v.trim().is_empty() => q.sort_by = None,
                "sortby" => {
                    sort_attr(v.trim(), rt)?;
                    q.sort_by = Some(v.trim().to_string());
                }
                "sortorder" => {
                    q.sort_order = match v.trim() {
                        s if s.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
                        s if s.eq_ignore_ascii_case("descending") => SortOrder::Descending,
                        _ => {
                            return Err(ScimError::invalid_value(format!(
                                "'sortOrder' must be ascending or descending, got '{v}'"
                            )))
                        }
                    }
                }
                "startindex" => {
                    q.start_index = usize::try_from(int("startIndex", v)?.max(1)).unwrap_or(1);
                }
                "count" => {
                    let n = usize::try_from(int("count", v)?.max(0)).unwrap_or(max_results);
                    q.count = n.min(max_results);
                }
                "attributes" => q.attributes = list(v),
                "excludedattributes" => q.excluded_attributes = list(v),
                _ => {}
            }
        }
        Ok(q)
    }

    /// How many matching resources to skip (`startIndex - 1`): what a
    /// store's OFFSET is.
    pub fn offset(&self) -> usize {
        self.start_index.saturating_sub(1)
    }

    /// Answers the query over `resources` (all stored resources of type
    /// `rt`): filter, sort, page, project, wrapped in a ListResponse.
    pub fn respond(&self, resources: Vec<Value>, rt: ResourceType) -> Result<Value> {
        let mut matched: Vec<Value> = match &self.filter {
            Some(f) => resources.into_iter().filter(|r| f.matches(r, rt)).collect(),
            None => resources,
        };
        if let Some(by) = &self.sort_by {
            sort(
                &mut matched,
                by,
                self.sort_order == SortOrder::Descending,
                rt,
            )?;
        }
        let total = matched.len();
        let page: Vec<Value> = matched
            .iter()
            .skip(self.offset())
            .take(self.count)
            .map(|r| project(r, &self.attributes, &self.excluded_attributes, rt))
            .collect();
        Ok(list_response(total, self.start_index, page))
    }
}

fn sort_attr(sort_by: &str, rt: ResourceType) -> Result<ResolvedAttr> {
    let r = schema::resolve(rt, sort_by).map_err(|e| ScimError::invalid_value(e.detail))?;
    if r.leaf().comparison_def().is_none() {
        return Err(ScimError::invalid_value(format!(
            "cannot sort by the complex attribute '{sort_by}'; name a sub-attribute such as '{}.{}'",
            r.attr.name,
            r.attr.sub_attributes.first().map_or("value", |s| s.name)
        )));
    }
    Ok(r)
}

/// A sort key. Keys of one attribute are almost always of one kind; the
/// rank only makes mixed data sort deterministically, with `Missing`
/// greatest so that it lands last ascending and first descending.
#[derive(Debug, Clone)]
enum Key {
    Bool(bool),
    Num(f64),
    Date(OffsetDateTime),
    Text(String),
    Missing,
}

impl Key {
    fn rank(&self) -> u8 {
        match self {
            Key::Bool(_) => 0,
            Key::Num(_) => 1,
            Key::Date(_) => 2,
            Key::Text(_) => 3,
            Key::Missing => 4,
        }
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Key::Bool(a), Key::Bool(b)) => a.cmp(b),
            (Key::Num(a), Key::Num(b)) => a.total_cmp(b),
            (Key::Date(a), Key::Date(b)) => a.cmp(b),
            (Key::Text(a), Key::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

/// The value a resource sorts by (RFC 7644 §3.4.2.3): for a multi-valued
/// attribute its primary value, else its first.
fn sort_key(resource: &Value, r: &ResolvedAttr) -> Key {
    let container = if r.extension {
        resource.as_object().and_then(|o| get_ci(o, r.schema.id))
    } else {
        Some(resource)
    };
    let Some(mut v) = container
        .and_then(Value::as_object)
        .and_then(|o| get_ci(o, r.attr.name))
    else {
        return Key::Missing;
    };
    if let Value::Array(items) = v {
        let primary = items.iter().find(|i| {
            i.as_object()
                .and_then(|o| get_ci(o, "primary"))
                .and_then(parse_bool)
                .unwrap_or(false)
        });
        match primary.or(items.first()) {
            Some(i) => v = i,
            None => return Key::Missing,
        }
    }
    let leaf = match (r.sub, r.attr.comparison_def()) {
        (Some(sub), _) => {
            v = match v.as_object().and_then(|o| get_ci(o, sub.name)) {
                Some(x) => x,
                None => return Key::Missing,
            };
            sub
        }
        (None, Some(d)) if r.attr.ty == AttributeType::Complex => {
            v = match v.as_object().and_then(|o| get_ci(o, "value")) {
                Some(x) => x,
                None => return Key::Missing,
            };
            d
        }
        (None, _) => r.attr,
    };
    key_of(leaf, v)
}

fn key_of(def: &AttributeDef, v: &Value) -> Key {
    match (def.ty, v) {
        (_, Value::Null) => Key::Missing,
        (AttributeType::Boolean, v) => parse_bool(v).map_or(Key::Missing, Key::Bool),
        (AttributeType::Integer | AttributeType::Decimal, v) => {
            parse_number(v).map_or(Key::Missing, Key::Num)
        }
        (AttributeType::DateTime, Value::String(s)) => {
            parse_datetime(s).map_or_else(|| Key::Text(s.clone()), Key::Date)
        }
        (_, Value::String(s)) if s.is_empty() => Key::Missing,
        (_, Value::String(s)) if def.case_exact => Key::Text(s.clone()),
        (_, Value::String(s)) => Key::Text(s.to_lowercase()),
        (_, Value::Number(n)) => Key::Text(n.to_string()),
        (_, Value::Bool(b)) => Key::Text(b.to_string()),
        _ => Key::Missing,
    }
}

/// Sorts `resources` by `sort_by` (RFC 7644 §3.4.2.3). Strings compare
/// case-insensitively unless caseExact, dateTimes as instants; resources
/// without a value come last ascending and first descending. The sort is
/// stable. Errors: `sort_by` unknown or a complex attribute without a
/// sub-attribute (`invalidValue`).
pub fn sort(
    resources: &mut [Value],
    sort_by: &str,
    descending: bool,
    rt: ResourceType,
) -> Result<()> {
    let r = sort_attr(sort_by, rt)?;
    if descending {
        resources.sort_by_cached_key(|res| Reverse(sort_key(res, &r)));
    } else {
        resources.sort_by_cached_key(|res| sort_key(res, &r));
    }
    Ok(())
}

/// What `attributes` asks for from one top-level attribute: all of it, or
/// some sub-attributes.
enum Pick {
    All,
    Subs(Vec<&'static str>),
}

/// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) to a
/// stored resource for output. `id`, `schemas` and `meta.resourceType` are
/// always returned, attributes marked `returned: never` never are. When
/// `attributes` is non-empty it wins and `excluded` is not consulted.
/// Names may be qualified, dotted (`name.givenName`) or a whole extension
/// URN; unknown names select nothing.
pub fn project(
    resource: &Value,
    attributes: &[String],
    excluded: &[String],
    rt: ResourceType,
) -> Value {
    let Some(obj) = resource.as_object() else {
        return resource.clone();
    };
    let mut out = if attributes.is_empty() {
        let mut out = without_never(obj, rt);
        for name in excluded {
            exclude(&mut out, name, rt);
        }
        out
    } else {
        include(obj, attributes, rt)
    };
    for key in ["schemas", "id"] {
        if let Some(v) = get_ci(obj, key) {
            out.insert(key.to_string(), v.clone());
        }
    }
    if let Some(rt_name) = get_ci(obj, "meta")
        .and_then(Value::as_object)
        .and_then(|m| get_ci(m, "resourceType"))
    {
        let meta = out
            .entry("meta".to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = meta {
            m.insert("resourceType".into(), rt_name.clone());
        }
    }
    Value::Object(out)
}

fn include(
    obj: &Map<String, Value>,
    attributes: &[String],
    rt: ResourceType,
) -> Map<String, Value> {
    // (extension URN or "", attribute) → what to copy.
    let mut picks: BTreeMap<(&'static str, &'static str), (&'static AttributeDef, Pick)> =
        BTreeMap::new();
    for name in attributes {
        let resolved: Vec<ResolvedAttr> = match extension_schema(rt, name) {
            Some(ext) => ext
                .attributes
                .iter()
                .map(|a| ResolvedAttr {
                    schema: ext,
                    extension: true,
                    attr: a,
                    sub: None,
                })
                .collect(),
            None => schema::resolve(rt, name).into_iter().collect(),
        };
        for r in resolved {
            let ext = if r.extension { r.schema.id } else { "" };
            let entry = picks
                .entry((ext, r.attr.name))
                .or_insert((r.attr, Pick::Subs(Vec::new())));
            match (&mut entry.1, r.sub) {
                (Pick::Subs(subs), Some(sub)) => subs.push(sub.name),
                (pick, None) => *pick = Pick::All,
                (Pick::All, Some(_)) => {}
            }
        }
    }
    let mut out = Map::new();
    for ((ext, name), (def, pick)) in picks {
        if def.returned == Returned::Never {
            continue;
        }
        let src = if ext.is_empty() {
            Some(obj)
        } else {
            get_ci(obj, ext).and_then(Value::as_object)
        };
        let Some(v) = src.and_then(|s| get_ci(s, name)) else {
            continue;
        };
        let v = match pick {
            Pick::All => strip_never(def, v),
            Pick::Subs(subs) => keep_subs(v, &subs),
        };
        let Some(v) = v else {
            continue;
        };
        let dst = if ext.is_empty() {
            &mut out
        } else {
            match out
                .entry(ext.to_string())
                .or_insert_with(|| Value::Object(Map::new()))
            {
                Value::Object(o) => o,
                _ => continue,
            }
        };
        dst.insert(name.to_string(), v);
    }
    out
}

/// `v` (one complex value or an array of them) reduced to `subs`.
fn keep_subs(v: &Value, subs: &[&str]) -> Option<Value> {
    let reduce = |x: &Value| -> Option<Value> {
        let o = x.as_object()?;
        let kept: Map<String, Value> = subs
            .iter()
            .filter_map(|s| get_ci(o, s).map(|v| (s.to_string(), v.clone())))
            .collect();
        (!kept.is_empty()).then_some(Value::Object(kept))
    };
    match v {
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(reduce).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => reduce(other),
    }
}

/// `v` without sub-attributes that are never returned.
fn strip_never(def: &AttributeDef, v: &Value) -> Option<Value> {
    if def.returned == Returned::Never {
        return None;
    }
    let never: Vec<&str> = def
        .sub_attributes
        .iter()
        .filter(|s| s.returned == Returned::Never)
        .map(|s| s.name)
        .collect();
    if never.is_empty() {
        return Some(v.clone());
    }
    let strip = |x: &Value| match x {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !never.iter().any(|n| n.eq_ignore_ascii_case(k)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    Some(match v {
        Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
        other => strip(other),
    })
}

/// A copy of the resource without `returned: never` (or `request`)
/// attributes, which are only ever returned on request.
fn without_never(obj: &Map<String, Value>, rt: ResourceType) -> Map<String, Value> {
    let mut out = obj.clone();
    let hidden = |d: &AttributeDef| matches!(d.returned, Returned::Never | Returned::Request);
    let scrub = |m: &mut Map<String, Value>, attrs: &[AttributeDef]| {
        for a in attrs {
            if let Some(k) = schema::find_key(m, a.name) {
                if hidden(a) {
                    m.remove(&k);
                } else if let Some(v) = m.get(&k).and_then(|v| strip_never(a, v)) {
                    m.insert(k, v);
                }
            }
        }
    };
    scrub(&mut out, rt.schema().attributes);
    for ext in rt.extensions() {
        if let Some(Value::Object(e)) = schema::find_key(&out, ext.id).and_then(|k| out.get_mut(&k))
        {
            scrub(e, ext.attributes);
        }
    }
    out
}

fn exclude(out: &mut Map<String, Value>, name: &str, rt: ResourceType) {
    if let Some(ext) = extension_schema(rt, name) {
        if let Some(k) = schema::find_key(out, ext.id) {
            out.remove(&k);
        }
        return;
    }
    let Ok(r) = schema::resolve(rt, name) else {
        return;
    };
    if r.leaf().returned == Returned::Always || r.attr.returned == Returned::Always {
        return;
    }
    let container = if r.extension {
        match schema::find_key(out, r.schema.id).and_then(|k| out.get_mut(&k)) {
            Some(Value::Object(o)) => o,
            _ => return,
        }
    } else {
        out
    };
    let Some(key) = schema::find_key(container, r.attr.name) else {
        return;
    };
    match r.sub {
        None => {
            container.remove(&key);
        }
        Some(sub) => {
            let drop_sub = |x: &mut Value| {
                if let Value::Object(o) = x {
                    if let Some(k) = schema::find_key(o, sub.name) {
                        o.remove(&k);
                    }
                }
            };
            match container.get_mut(&key) {
                Some(Value::Array(items)) => items.iter_mut().for_each(drop_sub),
                Some(v) => drop_sub(v),
                None => {}
            }
        }
    }
}
