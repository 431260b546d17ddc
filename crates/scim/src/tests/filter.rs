use serde_json::{json, Value};

use super::{bjensen, tour_guides};
use crate::filter::{self, parse, parse_for, CompareOp, Filter, MAX_DEPTH, MAX_FILTER_LEN};
use crate::{ResourceType, ScimErrorKind};

fn user_matches(f: &str, r: &Value) -> bool {
    parse_for(f, ResourceType::User)
        .unwrap_or_else(|e| panic!("{f}: {e}"))
        .matches(r, ResourceType::User)
}

fn invalid(f: &str) -> String {
    let e = parse_for(f, ResourceType::User).expect_err(f);
    assert_eq!(e.kind, ScimErrorKind::InvalidFilter, "{f}: {e}");
    assert_eq!(e.scim_type(), Some("invalidFilter"));
    e.detail
}

fn cmp(attr: &str, op: CompareOp, value: Value) -> Filter {
    Filter::Compare {
        attr: attr.into(),
        op,
        value,
    }
}

#[test]
fn and_binds_tighter_than_or() {
    let f = parse(r#"a eq 1 or b eq 2 and c eq 3"#).unwrap();
    assert_eq!(
        f,
        Filter::Or(vec![
            cmp("a", CompareOp::Eq, json!(1)),
            Filter::And(vec![
                cmp("b", CompareOp::Eq, json!(2)),
                cmp("c", CompareOp::Eq, json!(3)),
            ]),
        ])
    );
    let f = parse(r#"a eq 1 and b eq 2 or c eq 3"#).unwrap();
    assert!(matches!(&f, Filter::Or(v) if matches!(v[0], Filter::And(_))));
}

#[test]
fn precedence_is_observable_in_matching() {
    let u = bjensen();
    // false or (true and false) = false; (false or true) and false = false;
    // true or (false and false) = true.
    assert!(!user_matches(
        r#"userName eq "nobody" or title pr and nickName pr"#,
        &u
    ));
    assert!(user_matches(
        r#"title pr or userName eq "nobody" and nickName pr"#,
        &u
    ));
    assert!(!user_matches(
        r#"(title pr or userName eq "nobody") and nickName pr"#,
        &u
    ));
}

#[test]
fn rfc_examples_parse() {
    for f in [
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        r#"title pr"#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ] {
        parse_for(f, ResourceType::User).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[test]
fn string_equality_follows_case_exact() {
    let u = bjensen();
    assert!(user_matches(r#"userName eq "BJENSEN@example.com""#, &u));
    assert!(user_matches(r#"externalId eq "701984""#, &u));
    assert!(user_matches(
        r#"id eq "2819c223-7f76-453a-919d-413861904646""#,
        &u
    ));
    // id and externalId are caseExact.
    assert!(!user_matches(
        r#"id eq "2819C223-7F76-453A-919D-413861904646""#,
        &u
    ));
    let mut v = u.clone();
    v["externalId"] = json!("AbC");
    assert!(!user_matches(r#"externalId eq "abc""#, &v));
    assert!(user_matches(r#"externalId eq "AbC""#, &v));
    assert!(user_matches(
        r#"meta.version eq "W/\"3694e05e9dff591\"""#,
        &u
    ));
    assert!(!user_matches(
        r#"meta.version eq "w/\"3694E05E9DFF591\"""#,
        &u
    ));
}

#[test]
fn substring_operators() {
    let u = bjensen();
    assert!(user_matches(r#"userName sw "BJ""#, &u));
    assert!(user_matches(r#"userName ew "EXAMPLE.COM""#, &u));
    assert!(user_matches(r#"displayName co "s J""#, &u));
    assert!(!user_matches(r#"displayName co "xyz""#, &u));
    assert!(user_matches(r#"name.familyName sw "jen""#, &u));
}

#[test]
fn keywords_and_attribute_names_are_case_insensitive() {
    let u = bjensen();
    assert!(user_matches(r#"USERNAME EQ "bjensen@example.com""#, &u));
    assert!(user_matches(
        r#"UserName Sw "bj" AND Active Eq TRUE OR NickName PR"#,
        &u
    ));
    assert!(user_matches(
        r#"NOT (Title Pr) or NAME.GIVENNAME eq "barbara""#,
        &u
    ));
    assert!(user_matches(
        r#"URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:userName eq "bjensen@example.com""#,
        &u
    ));
    assert!(user_matches(r#"EMAILS[TYPE EQ "WORK"]"#, &u));
}

#[test]
fn not_and_nested_parentheses() {
    let u = bjensen();
    assert!(user_matches(r#"not (userName eq "nobody")"#, &u));
    assert!(!user_matches(
        r#"not(userName eq "bjensen@example.com")"#,
        &u
    ));
    assert!(user_matches(
        r#"((((userName eq "bjensen@example.com"))))"#,
        &u
    ));
    assert!(user_matches(
        r#"not (not (title pr)) and (nickName pr or (active eq true and not (userType pr)))"#,
        &u
    ));
    assert_eq!(
        parse(r#"not (a pr)"#).unwrap(),
        Filter::Not(Box::new(Filter::Present { attr: "a".into() }))
    );
}

#[test]
fn string_literals_with_escapes() {
    let mut u = bjensen();
    u["displayName"] = json!("Babs \"The Guide\" Jensen \\ Café");
    assert!(user_matches(
        r#"displayName eq "Babs \"The Guide\" Jensen \\ Caf\u00e9""#,
        &u
    ));
    assert!(user_matches(r#"displayName co "\"The""#, &u));
    match parse(r#"a eq "x\ty\u00e9\/""#).unwrap() {
        Filter::Compare { value, .. } => assert_eq!(value, json!("x\ty\u{e9}/")),
        other => panic!("{other:?}"),
    }
    // A filter value with brackets, parentheses and keywords inside quotes.
    u["title"] = json!("a ] or ( b [ and");
    assert!(user_matches(r#"title eq "a ] or ( b [ and""#, &u));
}

#[test]
fn literals_numbers_booleans_null() {
    assert_eq!(
        parse("a eq -1.5e3").unwrap(),
        cmp("a", CompareOp::Eq, json!(-1500.0))
    );
    assert_eq!(
        parse("a eq 42").unwrap(),
        cmp("a", CompareOp::Eq, json!(42))
    );
    assert_eq!(
        parse("a eq false").unwrap(),
        cmp("a", CompareOp::Eq, json!(false))
    );
    assert_eq!(
        parse("a eq null").unwrap(),
        cmp("a", CompareOp::Eq, Value::Null)
    );
    let u = bjensen();
    assert!(user_matches("active eq true", &u));
    assert!(!user_matches("active eq false", &u));
    assert!(user_matches("active ne false", &u));
    // Entra-style string booleans in a filter work too.
    assert!(user_matches(r#"active eq "True""#, &u));
    assert!(user_matches("nickName eq null", &u));
    assert!(!user_matches("title eq null", &u));
    assert!(user_matches("title ne null", &u));
    // A number compared with a string attribute compares as text.
    assert!(user_matches(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq 701984",
        &u
    ));
}

#[test]
fn multi_valued_any_and_complex_value() {
    let u = bjensen();
    // A complex multi-valued attribute compares its `value`.
    assert!(user_matches(r#"emails co "@jensen.org""#, &u));
    assert!(user_matches(r#"emails eq "BJENSEN@example.com""#, &u));
    assert!(user_matches(r#"emails.type eq "home""#, &u));
    assert!(!user_matches(r#"emails.type eq "other""#, &u));
    assert!(user_matches(
        r#"emails[type eq "work" and value co "@example.com"]"#,
        &u
    ));
    // Both conditions must hold for the same value.
    assert!(!user_matches(
        r#"emails[type eq "home" and value co "@example.com"]"#,
        &u
    ));
    assert!(user_matches(r#"emails[not (type eq "work")]"#, &u));
    assert!(user_matches(r#"emails[primary eq true]"#, &u));
    assert!(user_matches(
        r#"addresses[type eq "work" and locality sw "holly"]"#,
        &u
    ));
}

#[test]
fn value_path_followed_by_sub_attribute() {
    let u = bjensen();
    assert!(user_matches(
        r#"emails[type eq "work"].value eq "bjensen@example.com""#,
        &u
    ));
    // The home address is not the work one.
    assert!(!user_matches(
        r#"emails[type eq "work"].value eq "babs@jensen.org""#,
        &u
    ));
    assert!(user_matches(r#"emails[type eq "home"].value pr"#, &u));
    let f = parse(r#"emails[type eq "work"].value eq "x""#).unwrap();
    assert_eq!(f.to_string(), r#"emails[type eq "work" and value eq "x"]"#);
}

#[test]
fn dates_compare_as_instants() {
    let u = bjensen();
    assert!(!user_matches(
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        &u
    ));
    assert!(user_matches(
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        &u
    ));
    assert!(user_matches(
        r#"meta.lastModified gt "2011-05-13T04:42:33Z""#,
        &u
    ));
    assert!(user_matches(
        r#"meta.lastModified lt "2011-05-13T04:42:35Z""#,
        &u
    ));
    // The same instant in another offset, and with fractional seconds.
    assert!(user_matches(
        r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#,
        &u
    ));
    assert!(user_matches(
        r#"meta.lastModified lt "2011-05-13T04:42:34.5Z""#,
        &u
    ));
    // As text "…T04:42:34Z" sorts before "…T05:42:34+02:00", but as
    // instants 04:42:34Z is after 03:42:34Z.
    assert!(user_matches(
        r#"meta.lastModified gt "2011-05-13T05:42:34+02:00""#,
        &u
    ));
    assert!(user_matches(
        r#"meta.created lt "2011-01-01T00:00:00Z""#,
        &u
    ));
}

#[test]
fn present() {
    let mut u = bjensen();
    assert!(user_matches("title pr", &u));
    assert!(!user_matches("nickName pr", &u));
    assert!(user_matches("emails pr", &u));
    assert!(user_matches("name pr", &u));
    u["nickName"] = json!("");
    u["phoneNumbers"] = json!([]);
    u["userType"] = Value::Null;
    u["name"] = json!({});
    assert!(!user_matches("nickName pr", &u));
    assert!(!user_matches("phoneNumbers pr", &u));
    assert!(!user_matches("userType pr", &u));
    assert!(!user_matches("name pr", &u));
}

#[test]
fn ne_matches_absent_attributes() {
    let u = bjensen();
    assert!(user_matches(r#"nickName ne "Babs""#, &u));
    assert!(!user_matches(r#"title ne "tour guide""#, &u));
    // No email equals this one.
    assert!(user_matches(r#"emails ne "nobody@example.com""#, &u));
    assert!(!user_matches(r#"emails ne "babs@jensen.org""#, &u));
}

#[test]
fn enterprise_extension_attributes() {
    let u = bjensen();
    assert!(user_matches(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
        &u
    ));
    assert!(user_matches(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#,
        &u
    ));
    // Unqualified extension names resolve too.
    assert!(user_matches(r#"department sw "Tour""#, &u));
    assert!(user_matches(r#"manager.value pr"#, &u));
    // manager.value is an id: caseExact.
    assert!(!user_matches(
        r#"manager.value eq "26118915-6090-4610-87E4-49D8CA9F808D""#,
        &u
    ));
}

#[test]
fn group_filters() {
    let g = tour_guides();
    let m = |f: &str| {
        parse_for(f, ResourceType::Group)
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .matches(&g, ResourceType::Group)
    };
    assert!(m(r#"displayName eq "tour guides""#));
    assert!(m(
        r#"members[value eq "902c246b-6245-4190-8e05-00816be7344a"]"#
    ));
    assert!(m(
        r#"members.value eq "902c246b-6245-4190-8e05-00816be7344a""#
    ));
    assert!(m(r#"members eq "902c246b-6245-4190-8e05-00816be7344a""#));
    assert!(!m(
        r#"members[value eq "902C246B-6245-4190-8E05-00816BE7344A"]"#
    ));
    assert!(m(
        r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName sw "Tour""#
    ));
    // User attributes do not exist on Groups.
    let e = parse_for(r#"userName eq "x""#, ResourceType::Group).unwrap_err();
    assert_eq!(e.kind, ScimErrorKind::InvalidFilter);
}

#[test]
fn schema_errors_are_invalid_filter() {
    assert!(invalid(r#"nosuch eq "x""#).contains("nosuch"));
    invalid(r#"name.nosuch eq "x""#);
    invalid(r#"userName.sub eq "x""#);
    invalid(r#"urn:example:unknown:2.0:User:userName eq "x""#);
    invalid(r#"emails[nosuch eq "x"]"#);
    invalid(r#"emails[type eq "work"].nosuch eq "x""#);
    invalid("active gt true");
    invalid("active le false");
    invalid(r#"active co "t""#);
    invalid(r#"active eq "maybe""#);
    invalid(r#"name eq "x""#);
    invalid(r#"addresses eq "x""#);
    invalid(r#"meta gt "x""#);
    invalid(r#"meta.lastModified gt "yesterday""#);
    invalid(r#"userName gt null"#);
    invalid(r#"userName[value eq "x"]"#);
    // A valid syntax but not for this type.
    assert!(parse(r#"nosuch eq "x""#).is_ok());
}

#[test]
fn syntax_errors_are_invalid_filter() {
    for f in [
        "",
        "   ",
        r#"userName eq "x" garbage"#,
        r#"userName eq "x" and"#,
        r#"userName eq "x" or or userName eq "y""#,
        r#"userName eq "x")"#,
        r#"(userName eq "x""#,
        r#"((userName eq "x")"#,
        r#"emails[type eq "work""#,
        r#"emails[type eq "work"]]"#,
        r#"emails type eq "work"]"#,
        r#"emails[]"#,
        r#"emails[type eq "work"]."#,
        r#"emails[type eq "work"].value"#,
        r#"emails[types[x eq 1]]"#,
        r#"userName eq "unterminated"#,
        r#"userName eq "bad \q escape""#,
        r#"userName eq"#,
        r#"userName"#,
        r#"userName xx "y""#,
        r#"userName eq bjensen"#,
        r#"userName eq 'single'"#,
        r#"eq "x""#,
        r#"not userName eq "x""#,
        r#"not ()"#,
        r#"()"#,
        r#"userName eq "x" & title pr"#,
        r#"1abc eq "x""#,
        r#"userName eq 1.2.3"#,
        r#"name..givenName eq "x""#,
    ] {
        let e = parse(f).expect_err(f);
        assert_eq!(e.kind, ScimErrorKind::InvalidFilter, "{f}: {e}");
    }
}

#[test]
fn abusive_input_is_refused_without_overflow() {
    let deep = "(".repeat(100_000);
    assert_eq!(parse(&deep).unwrap_err().kind, ScimErrorKind::InvalidFilter);
    let deep_not = "not (".repeat(20_000);
    assert_eq!(
        parse(&deep_not).unwrap_err().kind,
        ScimErrorKind::InvalidFilter
    );
    let deep_brackets = "emails[".repeat(20_000);
    assert_eq!(
        parse(&deep_brackets).unwrap_err().kind,
        ScimErrorKind::InvalidFilter
    );

    // Within the length limit, nesting is still bounded.
    let nested = |n: usize| format!("{}title pr{}", "(".repeat(n), ")".repeat(n));
    assert!(parse(&nested(MAX_DEPTH)).is_ok());
    let e = parse(&nested(MAX_DEPTH + 1)).unwrap_err();
    assert!(e.detail.contains("nested"), "{e}");
    let nots = |n: usize| format!("{}title pr{}", "not (".repeat(n), ")".repeat(n));
    assert!(parse(&nots(MAX_DEPTH)).is_ok());
    assert!(parse(&nots(MAX_DEPTH + 1)).is_err());

    // Long flat chains are fine and stay one level deep.
    let chain = vec!["title pr"; 300].join(" or ");
    assert!(chain.len() < MAX_FILTER_LEN);
    match parse_for(&chain, ResourceType::User).unwrap() {
        Filter::Or(v) => assert_eq!(v.len(), 300),
        other => panic!("{other:?}"),
    }
    let too_long = format!(r#"userName eq "{}""#, "x".repeat(MAX_FILTER_LEN));
    assert!(parse(&too_long).unwrap_err().detail.contains("longer"));
}

#[test]
fn display_round_trips() {
    for f in [
        r#"userName eq "a \"quoted\" name""#,
        r#"a pr or b pr and (c pr or d pr)"#,
        r#"not (a eq 1) and emails[type eq "work" or not (primary eq true)]"#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq null"#,
    ] {
        let parsed = parse(f).unwrap();
        assert_eq!(parse(&parsed.to_string()).unwrap(), parsed, "{f}");
    }
}

/// Found by fuzzing (fuzz target `scim_filter`): serde_json's default float
/// parsing can be one unit in the last place off, so a large or precise
/// number rendered by `Display` (shortest round-trip form) parsed back as a
/// different number.
#[test]
fn display_round_trips_numbers_exactly() {
    for f in [
        "metnEEEEEEmb eq 1904648619046486190466",
        "a eq 1.9046486190464861e+21",
        "a gt 0.30000000000000004",
        "a lt -123456789012345678901234567890.5e-3",
        "a eq 18446744073709551616",
    ] {
        let parsed = parse(f).unwrap();
        assert_eq!(parse(&parsed.to_string()).unwrap(), parsed, "{f}");
    }
}

#[test]
fn unvalidated_unknown_attribute_does_not_match() {
    let f = filter::parse(r#"nosuch eq "x""#).unwrap();
    assert!(!f.matches(&bjensen(), ResourceType::User));
}
