//! PATCH paths (RFC 7644 §3.5.2): `attrPath` or
//! `attrPath "[" valFilter "]" ["." subAttr]`, for example `displayName`,
//! `name.givenName`, `urn:…:enterprise:2.0:User:manager`,
//! `members[value eq "2819c223"]` or `emails[type eq "work"].value`.

use crate::error::{Result, ScimError};
use crate::filter::{Filter, Parser};
use crate::schema::{self, AttributeType, ResolvedAttr, ResourceType};

/// A PATCH path as written, before it is checked against a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute path before any `[`, possibly URN-qualified and, when
    /// there is no filter, possibly with a sub-attribute.
    pub attr: String,
    /// The value filter inside `[...]`, if any.
    pub filter: Option<Filter>,
    /// The sub-attribute after `].`, if any.
    pub sub: Option<String>,
}

/// A PATCH path checked against a resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPath {
    /// The attribute (and sub-attribute) the operation targets.
    pub target: ResolvedAttr,
    /// For a multi-valued complex attribute, which of its values.
    pub filter: Option<Filter>,
}

/// Parses a PATCH path (syntax only). Errors are `invalidPath`.
pub fn parse(input: &str) -> Result<PatchPath> {
    let (attr, filter, sub) = Parser::patch_path(input.trim())?;
    Ok(PatchPath { attr, filter, sub })
}

impl PatchPath {
    /// Checks the path against `rt`'s schema: the attribute must exist, a
    /// filter needs a multi-valued complex attribute whose sub-attributes
    /// it names, and a trailing sub-attribute must belong to it. Every
    /// failure is `invalidPath`, filter problems included, because for the
    /// client it is the path that is wrong.
    pub fn resolve(&self, rt: ResourceType) -> Result<ResolvedPath> {
        let mut target = schema::resolve(rt, &self.attr)?;
        let Some(filter) = &self.filter else {
            return Ok(ResolvedPath {
                target,
                filter: None,
            });
        };
        let attr = target.attr;
        if target.sub.is_some() || attr.ty != AttributeType::Complex || !attr.multi_valued {
            return Err(ScimError::invalid_path(format!(
                "'{}' is not a multi-valued complex attribute, so it cannot take a [value filter]",
                self.attr
            )));
        }
        filter
            .validate_element(attr)
            .map_err(|e| ScimError::invalid_path(e.detail))?;
        if let Some(sub) = &self.sub {
            target.sub = Some(attr.sub_attribute(sub).ok_or_else(|| {
                ScimError::invalid_path(format!(
                    "'{sub}' is not a sub-attribute of '{}'",
                    attr.name
                ))
            })?);
        }
        Ok(ResolvedPath {
            target,
            filter: Some(filter.clone()),
        })
    }
}
