//! The schemas this service speaks: core User (with the Enterprise User
//! extension) and core Group, as RFC 7643 §4 and §8.7 define them, plus the
//! discovery documents (`/Schemas`, `/ResourceTypes`,
//! `/ServiceProviderConfig`) built from them.
//!
//! Attribute names are case-insensitive (RFC 7643 §2.1) and may be written
//! fully qualified (`urn:ietf:params:scim:schemas:core:2.0:User:userName`).
//! [`resolve`] turns any such spelling into the definition, and every other
//! module goes through it, so the schema is the single source of truth for
//! types, case sensitivity and mutability.

use serde_json::{json, Map, Value};

use crate::error::{Result, ScimError};
use crate::list::list_response;

/// Schema URN of the core User resource.
pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Schema URN of the Enterprise User extension.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Schema URN of the core Group resource.
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// The kinds of resource this service provider serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// `/Users`: core User plus the Enterprise User extension.
    User,
    /// `/Groups`: core Group.
    Group,
}

impl ResourceType {
    /// The resource type's name (`User`, `Group`), also its `meta.resourceType`.
    pub fn name(self) -> &'static str {
        match self {
            ResourceType::User => "User",
            ResourceType::Group => "Group",
        }
    }

    /// The endpoint relative to the SCIM base URL (`/Users`, `/Groups`).
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceType::User => "/Users",
            ResourceType::Group => "/Groups",
        }
    }

    /// The resource type named `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [ResourceType::User, ResourceType::Group]
            .into_iter()
            .find(|rt| rt.name().eq_ignore_ascii_case(name))
    }

    /// The core schema of this resource type.
    pub fn schema(self) -> &'static Schema {
        match self {
            ResourceType::User => &USER_SCHEMA,
            ResourceType::Group => &GROUP_SCHEMA,
        }
    }

    /// The schema extensions this resource type allows (none is required).
    pub fn extensions(self) -> &'static [&'static Schema] {
        match self {
            ResourceType::User => &USER_EXTENSIONS,
            ResourceType::Group => &[],
        }
    }

    /// The attribute that must be present and non-empty on every resource
    /// of this type (`userName`, `displayName`).
    pub fn required_attribute(self) -> &'static str {
        match self {
            ResourceType::User => "userName",
            ResourceType::Group => "displayName",
        }
    }
}

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributeType {
    /// A Unicode string.
    String,
    /// `true` or `false`.
    Boolean,
    /// An RFC 3339 instant.
    DateTime,
    /// A URI naming another resource.
    Reference,
    /// An object of sub-attributes.
    Complex,
    /// A whole number.
    Integer,
    /// A real number.
    Decimal,
    /// Base64-encoded bytes.
    Binary,
}

impl AttributeType {
    /// The name RFC 7643 uses in schema documents.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Boolean => "boolean",
            AttributeType::DateTime => "dateTime",
            AttributeType::Reference => "reference",
            AttributeType::Complex => "complex",
            AttributeType::Integer => "integer",
            AttributeType::Decimal => "decimal",
            AttributeType::Binary => "binary",
        }
    }
}

/// Who may change an attribute (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutability {
    /// Only the service provider sets it; client values are ignored on
    /// create/replace and rejected in PATCH.
    ReadOnly,
    /// Clients may change it.
    ReadWrite,
    /// Clients may set it once, when it has no value.
    Immutable,
    /// Clients may set it but it is never returned. This crate never
    /// stores such values (the only one is `password`).
    WriteOnly,
}

impl Mutability {
    /// The name RFC 7643 uses in schema documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// When an attribute is returned (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Returned {
    /// Always, whatever `attributes`/`excludedAttributes` say.
    Always,
    /// Never.
    Never,
    /// Unless excluded.
    Default,
    /// Only when named in `attributes`.
    Request,
}

impl Returned {
    /// The name RFC 7643 uses in schema documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// How unique an attribute's value must be (RFC 7643 §7). This crate
/// publishes it; enforcing it needs the store, so the server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Uniqueness {
    /// No constraint.
    None,
    /// Unique among this service provider's resources of the type.
    Server,
    /// Globally unique.
    Global,
}

impl Uniqueness {
    /// The name RFC 7643 uses in schema documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeDef {
    /// Canonical name, as stored and returned.
    pub name: &'static str,
    /// Data type.
    pub ty: AttributeType,
    /// Whether the value is a JSON array of values.
    pub multi_valued: bool,
    /// Human-readable description.
    pub description: &'static str,
    /// Whether a resource must have it.
    pub required: bool,
    /// Whether string comparisons are case-sensitive.
    pub case_exact: bool,
    /// Who may change it.
    pub mutability: Mutability,
    /// When it is returned.
    pub returned: Returned,
    /// Uniqueness constraint.
    pub uniqueness: Uniqueness,
    /// Suggested values (`type` of emails and so on).
    pub canonical_values: &'static [&'static str],
    /// Resource types a reference may point to.
    pub reference_types: &'static [&'static str],
    /// Sub-attributes of a complex attribute.
    pub sub_attributes: &'static [AttributeDef],
}

const fn attr(name: &'static str, ty: AttributeType, description: &'static str) -> AttributeDef {
    AttributeDef {
        name,
        ty,
        multi_valued: false,
        description,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
    }
}

const fn string(name: &'static str, description: &'static str) -> AttributeDef {
    attr(name, AttributeType::String, description)
}

impl AttributeDef {
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    const fn read_only(self) -> Self {
        self.mutability(Mutability::ReadOnly)
    }
    const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    const fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    const fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }
    const fn subs(mut self, subs: &'static [AttributeDef]) -> Self {
        self.sub_attributes = subs;
        self
    }

    /// The sub-attribute called `name` (case-insensitive).
    pub fn sub_attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The definition string comparisons and sorting use when this
    /// attribute is compared as a whole: a complex multi-valued attribute
    /// compares by its `value` sub-attribute (RFC 7644 §3.4.2.2).
    pub fn comparison_def(&'static self) -> Option<&'static AttributeDef> {
        if self.ty == AttributeType::Complex {
            self.sub_attribute("value").filter(|_| self.multi_valued)
        } else {
            Some(self)
        }
    }

    /// The RFC 7643 §7 representation of this definition.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), self.name.into());
        out.insert("type".into(), self.ty.as_str().into());
        out.insert("multiValued".into(), self.multi_valued.into());
        out.insert("description".into(), self.description.into());
        out.insert("required".into(), self.required.into());
        if !self.canonical_values.is_empty() {
            out.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        out.insert("caseExact".into(), self.case_exact.into());
        out.insert("mutability".into(), self.mutability.as_str().into());
        out.insert("returned".into(), self.returned.as_str().into());
        out.insert("uniqueness".into(), self.uniqueness.as_str().into());
        if !self.reference_types.is_empty() {
            out.insert("referenceTypes".into(), json!(self.reference_types));
        }
        if !self.sub_attributes.is_empty() {
            let subs: Vec<Value> = self.sub_attributes.iter().map(|s| s.to_json()).collect();
            out.insert("subAttributes".into(), Value::Array(subs));
        }
        Value::Object(out)
    }
}

/// One schema: an id (its URN) and its attributes.
#[derive(Debug, PartialEq, Eq)]
pub struct Schema {
    /// The schema URN.
    pub id: &'static str,
    /// Short name.
    pub name: &'static str,
    /// Human-readable description.
    pub description: &'static str,
    /// The schema's own attributes (common attributes are separate, see
    /// [`COMMON_ATTRIBUTES`]).
    pub attributes: &'static [AttributeDef],
}

impl Schema {
    /// The attribute called `name` (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 schema resource for this schema.
    pub fn to_json(&self) -> Value {
        let attrs: Vec<Value> = self.attributes.iter().map(|a| a.to_json()).collect();
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": attrs,
            "meta": { "resourceType": "Schema" },
        })
    }
}

const META_SUBS: &[AttributeDef] = &[
    string(
        "resourceType",
        "The name of the resource type of the resource.",
    )
    .case_exact()
    .read_only(),
    attr(
        "created",
        AttributeType::DateTime,
        "The date and time the resource was added to the service provider.",
    )
    .read_only(),
    attr(
        "lastModified",
        AttributeType::DateTime,
        "The most recent date and time the resource was modified.",
    )
    .read_only(),
    attr(
        "location",
        AttributeType::Reference,
        "The URI of the resource being returned.",
    )
    .case_exact()
    .read_only()
    .refs(&["uri"]),
    string("version", "The version (ETag) of the resource.")
        .case_exact()
        .read_only(),
];

/// Attributes every resource has (RFC 7643 §3.1). They belong to no
/// schema's attribute list (RFC 7643 §8.7.1 does not list them either) but
/// may be qualified with the resource's core schema URN.
pub static COMMON_ATTRIBUTES: &[AttributeDef] = &[
    string(
        "id",
        "Unique identifier for the resource, assigned by the service provider.",
    )
    .case_exact()
    .read_only()
    .returned(Returned::Always)
    .unique(Uniqueness::Server),
    string(
        "externalId",
        "Identifier of the resource in the provisioning client.",
    )
    .case_exact(),
    attr("meta", AttributeType::Complex, "Resource metadata.")
        .read_only()
        .subs(META_SUBS),
];

const NAME_SUBS: &[AttributeDef] = &[
    string("formatted", "The full name, formatted for display."),
    string(
        "familyName",
        "The family name (last name in most Western languages).",
    ),
    string(
        "givenName",
        "The given name (first name in most Western languages).",
    ),
    string("middleName", "The middle name(s)."),
    string("honorificPrefix", "The honorific prefix(es), e.g. 'Ms.'."),
    string("honorificSuffix", "The honorific suffix(es), e.g. 'III'."),
];

/// The sub-attributes RFC 7643 §2.4 gives every multi-valued attribute:
/// `value` (whose definition varies), `display`, `type` and `primary`.
const fn multi_valued_subs(
    value: AttributeDef,
    types: &'static [&'static str],
) -> [AttributeDef; 4] {
    [
        value,
        string(
            "display",
            "A human-readable name, primarily used for display.",
        ),
        string("type", "A label indicating the attribute's function.").canonical(types),
        attr(
            "primary",
            AttributeType::Boolean,
            "Whether this is the preferred value; true at most once.",
        ),
    ]
}

const EMAIL_SUBS: &[AttributeDef] = &multi_valued_subs(
    string("value", "Email address, canonicalized per RFC 5321."),
    &["work", "home", "other"],
);
const PHONE_SUBS: &[AttributeDef] = &multi_valued_subs(
    string("value", "Phone number, canonicalized per RFC 3966."),
    &["work", "home", "mobile", "fax", "pager", "other"],
);
const IM_SUBS: &[AttributeDef] = &multi_valued_subs(
    string("value", "Instant messaging address."),
    &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
);
const PHOTO_SUBS: &[AttributeDef] = &multi_valued_subs(
    attr(
        "value",
        AttributeType::Reference,
        "URL of a photo of the user.",
    )
    .case_exact()
    .refs(&["external"]),
    &["photo", "thumbnail"],
);
const ENTITLEMENT_SUBS: &[AttributeDef] =
    &multi_valued_subs(string("value", "The value of an entitlement."), &[]);
const ROLE_SUBS: &[AttributeDef] = &multi_valued_subs(string("value", "The value of a role."), &[]);
const X509_SUBS: &[AttributeDef] = &multi_valued_subs(
    attr(
        "value",
        AttributeType::Binary,
        "The value of an X.509 certificate (base64 DER).",
    )
    .case_exact(),
    &[],
);

const ADDRESS_SUBS: &[AttributeDef] = &[
    string(
        "formatted",
        "The full mailing address, formatted for display.",
    ),
    string("streetAddress", "The full street address component."),
    string("locality", "The city or locality component."),
    string("region", "The state or region component."),
    string("postalCode", "The zip code or postal code component."),
    string(
        "country",
        "The country name component (ISO 3166-1 alpha-2).",
    ),
    string("type", "A label indicating the address's function.")
        .canonical(&["work", "home", "other"]),
    attr(
        "primary",
        AttributeType::Boolean,
        "Whether this is the preferred address; true at most once.",
    ),
];

// Resource ids are compared exactly everywhere (RFC 7643 §3.1 makes `id`
// caseExact), so the sub-attributes that hold ids are caseExact here too,
// although RFC 7643 §8.7 leaves some of them caseExact false.
const USER_GROUPS_SUBS: &[AttributeDef] = &[
    string("value", "The identifier of the user's group.")
        .case_exact()
        .read_only(),
    attr("$ref", AttributeType::Reference, "The URI of the group.")
        .case_exact()
        .read_only()
        .refs(&["User", "Group"]),
    string(
        "display",
        "A human-readable name, primarily used for display.",
    )
    .read_only(),
    string("type", "How the membership was derived.")
        .read_only()
        .canonical(&["direct", "indirect"]),
];

static USER_ATTRIBUTES: &[AttributeDef] = &[
    string(
        "userName",
        "Unique identifier for the user, used to authenticate.",
    )
    .required()
    .unique(Uniqueness::Server),
    attr(
        "name",
        AttributeType::Complex,
        "The components of the user's name.",
    )
    .subs(NAME_SUBS),
    string("displayName", "The name of the user, suitable for display."),
    string("nickName", "The casual way to address the user."),
    attr(
        "profileUrl",
        AttributeType::Reference,
        "A URI of the user's online profile.",
    )
    .refs(&["external"]),
    string("title", "The user's title, such as 'Vice President'."),
    string(
        "userType",
        "The relationship between the organization and the user.",
    ),
    string(
        "preferredLanguage",
        "The user's preferred written or spoken language.",
    ),
    string("locale", "The user's default location, for localization."),
    string(
        "timezone",
        "The user's time zone in IANA tz database format.",
    ),
    attr(
        "active",
        AttributeType::Boolean,
        "The user's administrative status.",
    ),
    string(
        "password",
        "The user's cleartext password; accepted and discarded, never stored.",
    )
    .mutability(Mutability::WriteOnly)
    .returned(Returned::Never),
    attr(
        "emails",
        AttributeType::Complex,
        "Email addresses for the user.",
    )
    .multi()
    .subs(EMAIL_SUBS),
    attr(
        "phoneNumbers",
        AttributeType::Complex,
        "Phone numbers for the user.",
    )
    .multi()
    .subs(PHONE_SUBS),
    attr(
        "ims",
        AttributeType::Complex,
        "Instant messaging addresses for the user.",
    )
    .multi()
    .subs(IM_SUBS),
    attr(
        "photos",
        AttributeType::Complex,
        "URLs of photos of the user.",
    )
    .multi()
    .subs(PHOTO_SUBS),
    attr(
        "addresses",
        AttributeType::Complex,
        "Physical mailing addresses for the user.",
    )
    .multi()
    .subs(ADDRESS_SUBS),
    attr(
        "groups",
        AttributeType::Complex,
        "The groups the user belongs to.",
    )
    .multi()
    .read_only()
    .subs(USER_GROUPS_SUBS),
    attr(
        "entitlements",
        AttributeType::Complex,
        "Entitlements the user has.",
    )
    .multi()
    .subs(ENTITLEMENT_SUBS),
    attr("roles", AttributeType::Complex, "Roles the user has.")
        .multi()
        .subs(ROLE_SUBS),
    attr(
        "x509Certificates",
        AttributeType::Complex,
        "X.509 certificates issued to the user.",
    )
    .multi()
    .subs(X509_SUBS),
];

const MANAGER_SUBS: &[AttributeDef] = &[
    string(
        "value",
        "The id of the SCIM resource representing the user's manager.",
    )
    .case_exact(),
    attr(
        "$ref",
        AttributeType::Reference,
        "The URI of the manager's SCIM resource.",
    )
    .case_exact()
    .refs(&["User"]),
    string(
        "displayName",
        "The manager's display name, set by the service provider.",
    )
    .read_only(),
];

static ENTERPRISE_ATTRIBUTES: &[AttributeDef] = &[
    string(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person.",
    ),
    string("costCenter", "Identifies the name of a cost center."),
    string("organization", "Identifies the name of an organization."),
    string("division", "Identifies the name of a division."),
    string("department", "Identifies the name of a department."),
    attr("manager", AttributeType::Complex, "The user's manager.").subs(MANAGER_SUBS),
];

// Members are set when added and never edited in place: changing one is
// removing it and adding another, which is what IdPs send.
const MEMBER_SUBS: &[AttributeDef] = &[
    string("value", "Identifier of the member of this group.")
        .case_exact()
        .mutability(Mutability::Immutable),
    attr(
        "$ref",
        AttributeType::Reference,
        "The URI of the member resource.",
    )
    .case_exact()
    .mutability(Mutability::Immutable)
    .refs(&["User", "Group"]),
    string("display", "A human-readable name for the member.").mutability(Mutability::Immutable),
    string("type", "The kind of member.")
        .mutability(Mutability::Immutable)
        .canonical(&["User", "Group"]),
];

static GROUP_ATTRIBUTES: &[AttributeDef] = &[
    string("displayName", "A human-readable name for the group.").required(),
    attr(
        "members",
        AttributeType::Complex,
        "A list of members of the group.",
    )
    .multi()
    .subs(MEMBER_SUBS),
];

/// The core User schema (RFC 7643 §4.1).
pub static USER_SCHEMA: Schema = Schema {
    id: CORE_USER,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRIBUTES,
};

/// The Enterprise User extension (RFC 7643 §4.3).
pub static ENTERPRISE_USER_SCHEMA: Schema = Schema {
    id: ENTERPRISE_USER,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRIBUTES,
};

/// The core Group schema (RFC 7643 §4.2).
pub static GROUP_SCHEMA: Schema = Schema {
    id: CORE_GROUP,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRIBUTES,
};

static USER_EXTENSIONS: [&Schema; 1] = [&ENTERPRISE_USER_SCHEMA];

static ALL_SCHEMAS: [&Schema; 3] = [&USER_SCHEMA, &ENTERPRISE_USER_SCHEMA, &GROUP_SCHEMA];

/// An attribute reference resolved against a resource type's schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedAttr {
    /// The schema the attribute belongs to (the core schema for common
    /// attributes).
    pub schema: &'static Schema,
    /// Whether the attribute is an extension attribute, stored in the
    /// resource under the key `schema.id`.
    pub extension: bool,
    /// The top-level attribute.
    pub attr: &'static AttributeDef,
    /// The sub-attribute, for `name.givenName` style references.
    pub sub: Option<&'static AttributeDef>,
}

impl ResolvedAttr {
    /// The innermost definition named: the sub-attribute if any, else the
    /// attribute.
    pub fn leaf(&self) -> &'static AttributeDef {
        self.sub.unwrap_or(self.attr)
    }

    /// The attribute's name as reported to callers: plain for core and
    /// common attributes, URN-qualified for extension attributes, with the
    /// sub-attribute if any (`name.givenName`,
    /// `urn:…:enterprise:2.0:User:manager.value`).
    pub fn qualified_name(&self) -> String {
        let mut s = String::new();
        if self.extension {
            s.push_str(self.schema.id);
            s.push(':');
        }
        s.push_str(self.attr.name);
        if let Some(sub) = self.sub {
            s.push('.');
            s.push_str(sub.name);
        }
        s
    }
}

/// The extension schema of `rt` whose URN is `urn` (case-insensitive).
pub fn extension_schema(rt: ResourceType, urn: &str) -> Option<&'static Schema> {
    rt.extensions()
        .iter()
        .copied()
        .find(|s| s.id.eq_ignore_ascii_case(urn))
}

/// Splits an attribute path (`[URN ":"] name ["." sub]`) into its parts.
/// The URN is everything before the last `:` (RFC 7644 §3.10), which keeps
/// the `2.0` inside schema URNs out of the sub-attribute split.
pub(crate) fn split_attr_path(path: &str) -> Option<(Option<&str>, &str, Option<&str>)> {
    let (uri, rest) = if path
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
    {
        let i = path.rfind(':')?;
        (Some(&path[..i]), &path[i + 1..])
    } else {
        (None, path)
    };
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let valid = |s: &str| {
        let mut chars = s.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '$')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !valid(name) || sub.is_some_and(|s| !valid(s)) {
        return None;
    }
    Some((uri, name, sub))
}

/// Resolves an attribute path against `rt`'s schemas.
///
/// Accepts `userName`, `name.givenName`, `meta.lastModified`, core-qualified
/// names (`urn:ietf:params:scim:schemas:core:2.0:User:userName`) and
/// extension-qualified ones
/// (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`),
/// all case-insensitively. An unqualified name that is not a core or
/// common attribute is looked up in the extensions, so `department` finds
/// the enterprise attribute: no core attribute shares a name with one, and
/// clients do send such names.
///
/// Errors are `invalidPath`; callers that parse filters re-label them.
pub fn resolve(rt: ResourceType, path: &str) -> Result<ResolvedAttr> {
    let (uri, name, sub) = split_attr_path(path)
        .ok_or_else(|| ScimError::invalid_path(format!("'{path}' is not an attribute path")))?;
    resolve_parts(rt, uri, name, sub)
}

pub(crate) fn resolve_parts(
    rt: ResourceType,
    uri: Option<&str>,
    name: &str,
    sub: Option<&str>,
) -> Result<ResolvedAttr> {
    let core = rt.schema();
    let unknown = || {
        let full = match (uri, sub) {
            (Some(u), Some(s)) => format!("{u}:{name}.{s}"),
            (Some(u), None) => format!("{u}:{name}"),
            (None, Some(s)) => format!("{name}.{s}"),
            (None, None) => name.to_string(),
        };
        ScimError::invalid_path(format!(
            "'{full}' is not an attribute of the {} resource type",
            rt.name()
        ))
    };
    let in_core = || {
        COMMON_ATTRIBUTES
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .or_else(|| core.attribute(name))
            .map(|a| (core, false, a))
    };
    let found = match uri {
        Some(u) if u.eq_ignore_ascii_case(core.id) => in_core(),
        Some(u) => extension_schema(rt, u).and_then(|s| s.attribute(name).map(|a| (s, true, a))),
        None => in_core().or_else(|| {
            rt.extensions()
                .iter()
                .find_map(|s| s.attribute(name).map(|a| (*s, true, a)))
        }),
    };
    let (schema, extension, attr) = found.ok_or_else(unknown)?;
    let sub = match sub {
        None => None,
        Some(s) => Some(attr.sub_attribute(s).ok_or_else(unknown)?),
    };
    Ok(ResolvedAttr {
        schema,
        extension,
        attr,
        sub,
    })
}

/// Like [`resolve`], but `None` for anything unknown.
pub fn find_attribute(rt: ResourceType, path: &str) -> Option<ResolvedAttr> {
    resolve(rt, path).ok()
}

/// The value under `key` in `map`, matching the key case-insensitively
/// (RFC 7643 §2.1) but preferring an exact match.
pub(crate) fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The actual key in `map` that matches `key` case-insensitively.
pub(crate) fn find_key(map: &Map<String, Value>, key: &str) -> Option<String> {
    if map.contains_key(key) {
        return Some(key.to_string());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// The `/Schemas` response: a ListResponse of the three schema resources
/// (RFC 7644 §4, RFC 7643 §7).
pub fn schemas_document() -> Value {
    let items: Vec<Value> = ALL_SCHEMAS.iter().map(|s| s.to_json()).collect();
    list_response(items.len(), 1, items)
}

/// The schema resource with URN `id` (case-insensitive), for
/// `/Schemas/{id}`.
pub fn schema_resource(id: &str) -> Option<Value> {
    ALL_SCHEMAS
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
        .map(|s| s.to_json())
}

fn base(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

fn resource_type_json(rt: ResourceType, base_url: &str) -> Value {
    let extensions: Vec<Value> = rt
        .extensions()
        .iter()
        .map(|s| json!({ "schema": s.id, "required": false }))
        .collect();
    let description = match rt {
        ResourceType::User => "User Account",
        ResourceType::Group => "Group",
    };
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": rt.name(),
        "name": rt.name(),
        "endpoint": rt.endpoint(),
        "description": description,
        "schema": rt.schema().id,
        "schemaExtensions": extensions,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{}/ResourceTypes/{}", base(base_url), rt.name()),
        },
    })
}

/// The `/ResourceTypes` response: User (with the Enterprise User extension,
/// not required) and Group. `base_url` is the SCIM base, for example
/// `https://host/scim/v2`.
pub fn resource_types(base_url: &str) -> Value {
    let items: Vec<Value> = [ResourceType::User, ResourceType::Group]
        .into_iter()
        .map(|rt| resource_type_json(rt, base_url))
        .collect();
    list_response(items.len(), 1, items)
}

/// The ResourceType resource called `name` (case-insensitive), for
/// `/ResourceTypes/{name}`.
pub fn resource_type(name: &str, base_url: &str) -> Option<Value> {
    ResourceType::from_name(name).map(|rt| resource_type_json(rt, base_url))
}

/// The `/ServiceProviderConfig` document (RFC 7643 §5).
///
/// PATCH, filtering (up to `max_results` resources per response), sorting
/// and ETags are supported. Bulk operations and password changes are not:
/// Countersign has no `/Bulk` endpoint and never stores passwords. The one
/// authentication scheme is an OAuth bearer token.
pub fn service_provider_config(base_url: &str, max_results: usize) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": max_results },
        "changePassword": { "supported": false },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with an OAuth 2.0 bearer token (RFC 6750).",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", base(base_url)),
        },
    })
}
