use serde_json::json;

use crate::{etag, if_match_satisfied, ScimError, ScimErrorKind};

#[test]
fn etags_are_weak_versions() {
    assert_eq!(etag(0), "W/\"0\"");
    assert_eq!(etag(42), "W/\"42\"");
}

#[test]
fn if_match() {
    let cur = etag(3);
    assert!(if_match_satisfied("*", &cur));
    assert!(if_match_satisfied(" * ", &cur));
    assert!(if_match_satisfied("W/\"3\"", &cur));
    // Weak comparison: the strong form of the same tag matches.
    assert!(if_match_satisfied("\"3\"", &cur));
    assert!(if_match_satisfied("W/\"1\", W/\"3\"", &cur));
    assert!(if_match_satisfied("W/\"1\",\"3\"", &cur));
    assert!(if_match_satisfied("3", &cur));
    assert!(!if_match_satisfied("W/\"4\"", &cur));
    assert!(!if_match_satisfied("W/\"30\"", &cur));
    assert!(!if_match_satisfied("W/\"1\", W/\"2\"", &cur));
    assert!(!if_match_satisfied("", &cur));
    assert!(!if_match_satisfied("W/\"3", &cur));
    assert!(!if_match_satisfied("W/\"3\"garbage", &cur));
    assert!(!if_match_satisfied("W/\"3\"", ""));
}

#[test]
fn error_bodies() {
    let e = ScimError::new(ScimErrorKind::InvalidFilter, "bad filter");
    assert_eq!(
        e.to_body(400),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "400",
            "scimType": "invalidFilter",
            "detail": "bad filter"
        })
    );
    let e = ScimError::new(ScimErrorKind::NotFound, "no such user");
    assert_eq!(e.scim_type(), None);
    assert_eq!(
        e.to_body(404),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "404",
            "detail": "no such user"
        })
    );
    assert_eq!(e.to_string(), "notFound: no such user");
    for (kind, t) in [
        (ScimErrorKind::TooMany, Some("tooMany")),
        (ScimErrorKind::Uniqueness, Some("uniqueness")),
        (ScimErrorKind::Mutability, Some("mutability")),
        (ScimErrorKind::InvalidSyntax, Some("invalidSyntax")),
        (ScimErrorKind::InvalidPath, Some("invalidPath")),
        (ScimErrorKind::NoTarget, Some("noTarget")),
        (ScimErrorKind::InvalidValue, Some("invalidValue")),
        (ScimErrorKind::InvalidVers, Some("invalidVers")),
        (ScimErrorKind::Sensitive, Some("sensitive")),
        (ScimErrorKind::PreconditionFailed, None),
        (ScimErrorKind::Conflict, None),
    ] {
        assert_eq!(kind.scim_type(), t);
    }
}
