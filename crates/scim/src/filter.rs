//! SCIM filters (RFC 7644 §3.4.2.2): parsing, validation against a
//! resource type, and evaluation on JSON resources.
//!
//! Parsing is purely syntactic, so [`parse`] needs no resource type;
//! [`Filter::validate`] then checks names, operators and literal types
//! against a resource type's schema, and [`parse_for`] does both, which is
//! what a request handler wants. [`Filter::matches`] assumes a validated
//! filter: a part that names an unknown attribute simply does not match.
//!
//! The parser is recursive descent with an explicit depth budget and a
//! length limit, so no input can overflow the stack: `and`/`or` chains are
//! kept flat (n-ary), and only parentheses, `not` and `[...]` nest.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};

use crate::coerce::{is_unassigned, parse_bool, parse_datetime, parse_number};
use crate::error::{Result, ScimError, ScimErrorKind};
use crate::schema::{self, get_ci, AttributeDef, AttributeType, ResolvedAttr, ResourceType};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not (…)` and `[…]` accepted.
pub const MAX_DEPTH: usize = 32;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains.
    Co,
    /// `sw`: starts with.
    Sw,
    /// `ew`: ends with.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

impl CompareOp {
    fn from_keyword(word: &str) -> Option<Self> {
        const OPS: [(&str, CompareOp); 9] = [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ];
        OPS.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(word))
            .map(|(_, op)| *op)
    }

    /// The operator keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }

    fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

/// A parsed filter.
///
/// Attribute paths are kept as written (`name.givenName`,
/// `urn:…:enterprise:2.0:User:manager.value`) and resolved against a
/// resource type when validated or evaluated. Inside a [`Filter::ValuePath`]
/// they name sub-attributes of the filtered attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// All of these hold.
    And(Vec<Filter>),
    /// At least one of these holds.
    Or(Vec<Filter>),
    /// `not ( … )`.
    Not(Box<Filter>),
    /// `attr pr`: the attribute has a non-empty value.
    Present {
        /// Attribute path.
        attr: String,
    },
    /// `attr op value`.
    Compare {
        /// Attribute path.
        attr: String,
        /// Operator.
        op: CompareOp,
        /// JSON literal: string, number, boolean or null.
        value: Value,
    },
    /// `attr[filter]`: some value of the complex attribute `attr` matches
    /// `filter`. Entra ID's `emails[type eq "work"].value eq "x"` parses to
    /// `emails[type eq "work" and value eq "x"]`, which means the same.
    ValuePath {
        /// Path of a complex attribute.
        attr: String,
        /// Filter over its sub-attributes.
        filter: Box<Filter>,
    },
}

/// Parses a filter (syntax only; see [`Filter::validate`]).
pub fn parse(input: &str) -> Result<Filter> {
    let mut p = Parser::new(input)?;
    let f = p.or_expr(0, false)?;
    p.expect_end()?;
    Ok(f)
}

/// Parses a filter and validates it against `rt`: what a request handler
/// wants for `?filter=`.
pub fn parse_for(input: &str, rt: ResourceType) -> Result<Filter> {
    let f = parse(input)?;
    f.validate(rt)?;
    Ok(f)
}

impl Filter {
    /// Checks every attribute path, operator and literal against `rt`'s
    /// schema (`invalidFilter` otherwise): unknown attributes, ordering
    /// operators on booleans, binaries and complex attributes, substring
    /// operators on booleans and numbers, comparisons of a complex
    /// attribute with no `value` sub-attribute, literals of the wrong type
    /// (the strings `"true"`/`"false"` count as booleans, numeric strings
    /// as numbers), and `null` with anything but `eq`/`ne`.
    pub fn validate(&self, rt: ResourceType) -> Result<()> {
        self.validate_in(Scope::Resource(rt))
    }

    /// Whether `resource` (a stored resource of type `rt`) matches. String
    /// comparisons follow each attribute's `caseExact`, dateTimes compare
    /// as instants, and a multi-valued attribute matches if any value does.
    /// `ne` is the negation of `eq`, so it matches resources without the
    /// attribute; `eq null` matches exactly those.
    pub fn matches(&self, resource: &Value, rt: ResourceType) -> bool {
        self.eval(Scope::Resource(rt), resource)
    }

    /// Whether one value of the multi-valued complex attribute `parent`
    /// matches this filter, whose paths name `parent`'s sub-attributes.
    pub(crate) fn matches_element(&self, element: &Value, parent: &'static AttributeDef) -> bool {
        self.eval(Scope::Element(parent), element)
    }

    pub(crate) fn validate_element(&self, parent: &'static AttributeDef) -> Result<()> {
        self.validate_in(Scope::Element(parent))
    }

    fn validate_in(&self, scope: Scope) -> Result<()> {
        match self {
            Filter::And(fs) | Filter::Or(fs) => fs.iter().try_for_each(|f| f.validate_in(scope)),
            Filter::Not(f) => f.validate_in(scope),
            Filter::Present { attr } => scope.resolve(attr).map(|_| ()),
            Filter::Compare { attr, op, value } => {
                let def = scope.resolve(attr)?.def();
                validate_comparison(attr, def, *op, value)
            }
            Filter::ValuePath { attr, filter } => {
                let Scope::Resource(_) = scope else {
                    return Err(ScimError::invalid_filter(
                        "value filters cannot be nested inside value filters",
                    ));
                };
                let def = scope.resolve(attr)?.def();
                if def.ty != AttributeType::Complex {
                    return Err(ScimError::invalid_filter(format!(
                        "'{attr}' is not a complex attribute, so it cannot take a [value filter]"
                    )));
                }
                filter.validate_in(Scope::Element(def))
            }
        }
    }

    fn eval(&self, scope: Scope, node: &Value) -> bool {
        match self {
            Filter::And(fs) => fs.iter().all(|f| f.eval(scope, node)),
            Filter::Or(fs) => fs.iter().any(|f| f.eval(scope, node)),
            Filter::Not(f) => !f.eval(scope, node),
            Filter::Present { attr } => match scope.resolve(attr) {
                Ok(r) => r.values(node).into_iter().any(|v| !is_unassigned(v)),
                Err(_) => false,
            },
            Filter::Compare { attr, op, value } => {
                let Ok(r) = scope.resolve(attr) else {
                    return false;
                };
                let Some(cmp_def) = r.def().comparison_def() else {
                    return false;
                };
                let values: Vec<&Value> = r
                    .values(node)
                    .into_iter()
                    .filter_map(|v| {
                        if r.def().ty == AttributeType::Complex {
                            v.as_object().and_then(|o| get_ci(o, "value"))
                        } else {
                            Some(v)
                        }
                    })
                    .filter(|v| !v.is_null())
                    .collect();
                match (op, value) {
                    (CompareOp::Eq, Value::Null) => values.iter().all(|v| is_unassigned(v)),
                    (CompareOp::Ne, Value::Null) => values.iter().any(|v| !is_unassigned(v)),
                    (CompareOp::Ne, _) => !values
                        .iter()
                        .any(|v| compare(cmp_def, v, CompareOp::Eq, value)),
                    (_, Value::Null) => false,
                    _ => values.iter().any(|v| compare(cmp_def, v, *op, value)),
                }
            }
            Filter::ValuePath { attr, filter } => {
                let Ok(r) = scope.resolve(attr) else {
                    return false;
                };
                let def = r.def();
                if !matches!(scope, Scope::Resource(_)) || def.ty != AttributeType::Complex {
                    return false;
                }
                r.values(node)
                    .into_iter()
                    .any(|v| filter.eval(Scope::Element(def), v))
            }
        }
    }

    /// The equality terms of a filter that is one `sub eq literal` or an
    /// `and` of them, as sub-attribute/value pairs: what a new value must
    /// contain to match. `None` for any other shape.
    pub(crate) fn equality_terms(&self) -> Option<Vec<(&str, &Value)>> {
        match self {
            Filter::Compare {
                attr,
                op: CompareOp::Eq,
                value,
            } if !value.is_null() => Some(vec![(attr.as_str(), value)]),
            Filter::And(fs) => {
                let mut out = Vec::new();
                for f in fs {
                    out.extend(f.equality_terms()?);
                }
                Some(out)
            }
            _ => None,
        }
    }
}

fn validate_comparison(
    attr: &str,
    def: &'static AttributeDef,
    op: CompareOp,
    value: &Value,
) -> Result<()> {
    let err = |msg: String| Err(ScimError::invalid_filter(msg));
    let Some(cmp) = def.comparison_def() else {
        return err(format!(
            "'{attr}' is a complex attribute; compare one of its sub-attributes instead"
        ));
    };
    if value.is_null() {
        if matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return Ok(());
        }
        return err(format!("'{}' cannot compare with null", op.as_str()));
    }
    match cmp.ty {
        AttributeType::Boolean | AttributeType::Binary if op.is_ordering() => err(format!(
            "'{}' is not defined for {} attribute '{attr}'",
            op.as_str(),
            cmp.ty.as_str()
        )),
        AttributeType::Boolean | AttributeType::Integer | AttributeType::Decimal
            if op.is_substring() =>
        {
            err(format!(
                "'{}' is not defined for {} attribute '{attr}'",
                op.as_str(),
                cmp.ty.as_str()
            ))
        }
        AttributeType::Boolean if parse_bool(value).is_none() => err(format!(
            "'{attr}' is boolean; compare it with true or false"
        )),
        AttributeType::Integer | AttributeType::Decimal if parse_number(value).is_none() => {
            err(format!("'{attr}' is numeric; compare it with a number"))
        }
        AttributeType::DateTime
            if !op.is_substring() && value.as_str().and_then(parse_datetime).is_none() =>
        {
            err(format!(
                "'{attr}' is a dateTime; compare it with an RFC 3339 date-time string"
            ))
        }
        _ => Ok(()),
    }
}

/// The text of a scalar for string comparisons.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn ordered(ord: Option<Ordering>, op: CompareOp) -> bool {
    let Some(ord) = ord else {
        return false;
    };
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Compares one attribute value with a filter literal per `def`'s type.
fn compare(def: &AttributeDef, actual: &Value, op: CompareOp, expected: &Value) -> bool {
    match def.ty {
        AttributeType::Boolean => match (parse_bool(actual), parse_bool(expected)) {
            (Some(a), Some(e)) => ordered(Some(a.cmp(&e)), op),
            _ => false,
        },
        AttributeType::Integer | AttributeType::Decimal => {
            match (parse_number(actual), parse_number(expected)) {
                (Some(a), Some(e)) => ordered(a.partial_cmp(&e), op),
                _ => false,
            }
        }
        AttributeType::DateTime if !op.is_substring() => {
            let a = actual.as_str().and_then(parse_datetime);
            let e = expected.as_str().and_then(parse_datetime);
            match (a, e) {
                (Some(a), Some(e)) => ordered(Some(a.cmp(&e)), op),
                // A stored value that is not a valid date-time still
                // compares, as text, rather than vanishing from results.
                _ => compare_text(true, actual, op, expected),
            }
        }
        _ => compare_text(def.case_exact, actual, op, expected),
    }
}

fn compare_text(case_exact: bool, actual: &Value, op: CompareOp, expected: &Value) -> bool {
    let (Some(mut a), Some(mut e)) = (text(actual), text(expected)) else {
        return false;
    };
    if !case_exact {
        a = a.to_lowercase();
        e = e.to_lowercase();
    }
    match op {
        CompareOp::Co => a.contains(&e),
        CompareOp::Sw => a.starts_with(&e),
        CompareOp::Ew => a.ends_with(&e),
        _ => ordered(Some(a.cmp(&e)), op),
    }
}

/// Where a filter's attribute paths are resolved: at the top of a resource,
/// or inside one value of a complex attribute (`emails[...]`).
#[derive(Debug, Clone, Copy)]
enum Scope {
    Resource(ResourceType),
    Element(&'static AttributeDef),
}

enum Resolved {
    Top(ResolvedAttr),
    Sub(&'static AttributeDef),
}

impl Resolved {
    fn def(&self) -> &'static AttributeDef {
        match self {
            Resolved::Top(r) => r.leaf(),
            Resolved::Sub(d) => d,
        }
    }

    /// The values the path selects in `node`, with multi-valued attributes
    /// flattened to their elements and nulls skipped.
    fn values<'v>(&self, node: &'v Value) -> Vec<&'v Value> {
        match self {
            Resolved::Sub(d) => node
                .as_object()
                .and_then(|o| get_ci(o, d.name))
                .map(flatten)
                .unwrap_or_default(),
            Resolved::Top(r) => {
                let container = if r.extension {
                    node.as_object().and_then(|o| get_ci(o, r.schema.id))
                } else {
                    Some(node)
                };
                let top = container
                    .and_then(Value::as_object)
                    .and_then(|o| get_ci(o, r.attr.name))
                    .map(flatten)
                    .unwrap_or_default();
                match r.sub {
                    None => top,
                    Some(sub) => top
                        .into_iter()
                        .filter_map(|v| v.as_object().and_then(|o| get_ci(o, sub.name)))
                        .flat_map(flatten)
                        .collect(),
                }
            }
        }
    }
}

fn flatten(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().filter(|v| !v.is_null()).collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

impl Scope {
    fn resolve(self, path: &str) -> Result<Resolved> {
        match self {
            Scope::Resource(rt) => schema::resolve(rt, path)
                .map(Resolved::Top)
                .map_err(|e| ScimError::invalid_filter(e.detail)),
            Scope::Element(parent) => {
                parent
                    .sub_attribute(path)
                    .map(Resolved::Sub)
                    .ok_or_else(|| {
                        ScimError::invalid_filter(format!(
                            "'{path}' is not a sub-attribute of '{}'",
                            parent.name
                        ))
                    })
            }
        }
    }
}

impl fmt::Display for Filter {
    /// Renders the filter in SCIM syntax; parsing the output gives an
    /// equal filter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined = |f: &mut fmt::Formatter<'_>, fs: &[Filter], sep: &str| {
            for (i, x) in fs.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                match x {
                    Filter::And(_) | Filter::Or(_) => write!(f, "({x})")?,
                    _ => write!(f, "{x}")?,
                }
            }
            Ok(())
        };
        match self {
            Filter::And(fs) => joined(f, fs, " and "),
            Filter::Or(fs) => joined(f, fs, " or "),
            Filter::Not(x) => write!(f, "not ({x})"),
            Filter::Present { attr } => write!(f, "{attr} pr"),
            Filter::Compare { attr, op, value } => write!(f, "{attr} {} {value}", op.as_str()),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    Word(String),
    Str(String),
    Num(Number),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::LBracket => f.write_str("'['"),
            Tok::RBracket => f.write_str("']'"),
            Tok::Dot => f.write_str("'.'"),
            Tok::Word(w) => write!(f, "'{w}'"),
            Tok::Str(s) => write!(f, "string {}", Value::String(s.clone())),
            Tok::Num(n) => write!(f, "number {n}"),
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '$')
}

fn lex(input: &str, kind: ScimErrorKind) -> Result<Vec<(Tok, usize)>> {
    let err = |msg: String| ScimError::new(kind, msg);
    let bytes = input.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'[' => Tok::LBracket,
            b']' => Tok::RBracket,
            b'.' => Tok::Dot,
            b'"' => {
                // Find the closing quote, skipping escaped characters, then
                // let serde_json decode the escapes exactly as JSON does.
                let mut j = i + 1;
                loop {
                    match bytes.get(j) {
                        None => return Err(err(format!("unterminated string at position {i}"))),
                        Some(b'\\') => j += 2,
                        Some(b'"') => break,
                        Some(_) => j += 1,
                    }
                }
                let literal = input.get(i..=j).unwrap_or_default();
                let s: String = serde_json::from_str(literal)
                    .map_err(|e| err(format!("invalid string at position {i}: {e}")))?;
                i = j + 1;
                toks.push((Tok::Str(s), start));
                continue;
            }
            b'-' | b'0'..=b'9' => {
                let mut j = i + 1;
                while j < bytes.len()
                    && matches!(bytes[j], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    j += 1;
                }
                let literal = input.get(i..j).unwrap_or_default();
                let n: Number = serde_json::from_str(literal)
                    .map_err(|_| err(format!("invalid number '{literal}' at position {i}")))?;
                // serde_json's default float parsing is best effort (it may be
                // one unit in the last place off), so a float would not survive
                // `Display` and parsing again; Rust's own parser rounds exactly.
                let n = if n.is_f64() {
                    literal
                        .parse::<f64>()
                        .ok()
                        .and_then(Number::from_f64)
                        .unwrap_or(n)
                } else {
                    n
                };
                i = j;
                toks.push((Tok::Num(n), start));
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'$' || c == b'_' => {
                let mut j = i + 1;
                while j < bytes.len() && is_word_char(bytes[j] as char) {
                    j += 1;
                }
                let w = input.get(i..j).unwrap_or_default().to_string();
                i = j;
                toks.push((Tok::Word(w), start));
                continue;
            }
            _ => {
                let ch = input.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
                return Err(err(format!("unexpected character '{ch}' at position {i}")));
            }
        };
        i += 1;
        toks.push((tok, start));
    }
    Ok(toks)
}

pub(crate) struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    kind: ScimErrorKind,
}

impl Parser {
    fn new(input: &str) -> Result<Self> {
        Self::with_kind(input, ScimErrorKind::InvalidFilter)
    }

    fn with_kind(input: &str, kind: ScimErrorKind) -> Result<Self> {
        if input.len() > MAX_FILTER_LEN {
            return Err(ScimError::new(
                kind,
                format!("longer than {MAX_FILTER_LEN} bytes"),
            ));
        }
        let toks = lex(input, kind)?;
        if toks.is_empty() {
            return Err(ScimError::new(kind, "empty"));
        }
        Ok(Parser {
            toks,
            pos: 0,
            end: input.len(),
            kind,
        })
    }

    fn err(&self, msg: impl Into<String>) -> ScimError {
        ScimError::new(self.kind, msg)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|(t, _)| t)
    }

    fn position(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(_, p)| *p)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(t, _)| t.clone());
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn unexpected(&self, wanted: &str) -> ScimError {
        match self.peek() {
            Some(t) => self.err(format!(
                "expected {wanted} at position {}, found {t}",
                self.position()
            )),
            None => self.err(format!("expected {wanted}, found the end of the input")),
        }
    }

    fn expect(&mut self, tok: Tok, wanted: &str) -> Result<()> {
        if self.peek() == Some(&tok) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(wanted))
        }
    }

    fn expect_end(&self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(Tok::RParen) => {
                Err(self.err(format!("unbalanced ')' at position {}", self.position())))
            }
            Some(Tok::RBracket) => {
                Err(self.err(format!("unbalanced ']' at position {}", self.position())))
            }
            Some(t) => Err(self.err(format!(
                "unexpected {t} at position {} after a complete expression",
                self.position()
            ))),
        }
    }

    fn deeper(&self, depth: usize) -> Result<usize> {
        if depth >= MAX_DEPTH {
            Err(self.err(format!("nested deeper than {MAX_DEPTH} levels")))
        } else {
            Ok(depth + 1)
        }
    }

    fn or_expr(&mut self, depth: usize, in_value: bool) -> Result<Filter> {
        let mut terms = vec![self.and_expr(depth, in_value)?];
        while self.peek_keyword("or") {
            self.pos += 1;
            terms.push(self.and_expr(depth, in_value)?);
        }
        Ok(flatten_logic(terms, Filter::Or))
    }

    fn and_expr(&mut self, depth: usize, in_value: bool) -> Result<Filter> {
        let mut terms = vec![self.unary(depth, in_value)?];
        while self.peek_keyword("and") {
            self.pos += 1;
            terms.push(self.unary(depth, in_value)?);
        }
        Ok(flatten_logic(terms, Filter::And))
    }

    fn unary(&mut self, depth: usize, in_value: bool) -> Result<Filter> {
        if self.peek_keyword("not") && self.peek_at(1) == Some(&Tok::LParen) {
            self.pos += 2;
            let inner = self.group(depth, in_value)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        match self.peek() {
            Some(Tok::LParen) => {
                self.pos += 1;
                self.group(depth, in_value)
            }
            Some(Tok::Word(_)) => self.attr_expr(depth, in_value),
            _ => Err(self.unexpected("an attribute, '(' or 'not ('")),
        }
    }

    /// The inside of `( … )`, after the `(`.
    fn group(&mut self, depth: usize, in_value: bool) -> Result<Filter> {
        let depth = self.deeper(depth)?;
        let inner = self.or_expr(depth, in_value)?;
        self.expect(Tok::RParen, "')'")?;
        Ok(inner)
    }

    fn attr_path(&mut self) -> Result<String> {
        let at = self.position();
        match self.next() {
            Some(Tok::Word(w)) if schema::split_attr_path(&w).is_some() => Ok(w),
            Some(Tok::Word(w)) => Err(self.err(format!(
                "'{w}' at position {at} is not a valid attribute path"
            ))),
            _ => {
                self.pos = self.pos.saturating_sub(1);
                Err(self.unexpected("an attribute path"))
            }
        }
    }

    fn attr_expr(&mut self, depth: usize, in_value: bool) -> Result<Filter> {
        let at = self.position();
        let attr = self.attr_path()?;
        if self.peek() != Some(&Tok::LBracket) {
            return self.comparison(attr);
        }
        if in_value {
            return Err(self.err(format!(
                "value filters cannot be nested (position {})",
                self.position()
            )));
        }
        if matches!(schema::split_attr_path(&attr), Some((_, _, Some(_)))) {
            return Err(self.err(format!(
                "a value filter needs a multi-valued attribute, not the sub-attribute '{attr}' (position {at})"
            )));
        }
        let inner = self.value_filter(depth)?;
        if self.peek() == Some(&Tok::Dot) {
            // Entra ID's `emails[type eq "work"].value eq "x"`: the
            // comparison applies to the same value the bracket selects.
            self.pos += 1;
            let sub = self.sub_attr_name()?;
            let cmp = self.comparison(sub)?;
            let filter = match inner {
                Filter::And(mut fs) => {
                    fs.push(cmp);
                    Filter::And(fs)
                }
                other => Filter::And(vec![other, cmp]),
            };
            return Ok(Filter::ValuePath {
                attr,
                filter: Box::new(filter),
            });
        }
        Ok(Filter::ValuePath {
            attr,
            filter: Box::new(inner),
        })
    }

    /// `[ valFilter ]`, at the `[`.
    fn value_filter(&mut self, depth: usize) -> Result<Filter> {
        self.expect(Tok::LBracket, "'['")?;
        let depth = self.deeper(depth)?;
        let inner = self.or_expr(depth, true)?;
        self.expect(Tok::RBracket, "']'")?;
        Ok(inner)
    }

    fn sub_attr_name(&mut self) -> Result<String> {
        let at = self.position();
        match self.next() {
            Some(Tok::Word(w)) if matches!(schema::split_attr_path(&w), Some((None, _, None))) => {
                Ok(w)
            }
            _ => Err(self.err(format!(
                "expected a sub-attribute name after '].' at position {at}"
            ))),
        }
    }

    fn comparison(&mut self, attr: String) -> Result<Filter> {
        let op_at = self.position();
        let op = match self.next() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                return Ok(Filter::Present { attr });
            }
            Some(Tok::Word(w)) => CompareOp::from_keyword(&w).ok_or_else(|| {
                self.err(format!(
                    "unknown operator '{w}' at position {op_at} (expected eq, ne, co, sw, ew, gt, ge, lt, le or pr)"
                ))
            })?,
            _ => {
                return Err(self.err(format!(
                    "expected an operator after '{attr}' at position {op_at}"
                )));
            }
        };
        let value_at = self.position();
        let value = match self.next() {
            Some(Tok::Str(s)) => Value::String(s),
            Some(Tok::Num(n)) => Value::Number(n),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Value::Null,
            _ => {
                return Err(self.err(format!(
                "expected a string, number, true, false or null after '{}' at position {value_at}",
                op.as_str()
            )))
            }
        };
        Ok(Filter::Compare { attr, op, value })
    }

    /// A PATCH path: `attrPath` or `attrPath "[" valFilter "]" ["." subAttr]`
    /// (RFC 7644 §3.5.2).
    pub(crate) fn patch_path(input: &str) -> Result<(String, Option<Filter>, Option<String>)> {
        let mut p = Self::with_kind(input, ScimErrorKind::InvalidPath)?;
        let attr = p.attr_path()?;
        let mut filter = None;
        let mut sub = None;
        if p.peek() == Some(&Tok::LBracket) {
            filter = Some(p.value_filter(0)?);
            if p.peek() == Some(&Tok::Dot) {
                p.pos += 1;
                sub = Some(p.sub_attr_name()?);
            }
        }
        p.expect_end()?;
        Ok((attr, filter, sub))
    }
}

/// One term stays itself; several become one n-ary node, so a long
/// `a or b or c …` chain is one level deep, not one level per operator.
fn flatten_logic(mut terms: Vec<Filter>, make: fn(Vec<Filter>) -> Filter) -> Filter {
    if terms.len() == 1 {
        if let Some(t) = terms.pop() {
            return t;
        }
    }
    make(terms)
}
