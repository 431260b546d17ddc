//! SCIM filters (`?filter=` on /scim/v2/Users and /Groups): `filter::parse`,
//! `filter::parse_for`, `Filter::validate`, `Filter::matches`.
//!
//! Invariants: the `Display` rendering of a parsed filter parses back to an
//! equal filter (the documented promise) whenever it fits the length limit;
//! `parse_for` accepts exactly what `parse` + `validate` accept; a validated
//! filter's `not (…)` matches a resource exactly when the filter does not.
#![no_main]

use countersign_fuzz::{bjensen, minimal_user, tour_guides};
use countersign_scim::filter::{self, Filter, MAX_FILTER_LEN};
use countersign_scim::ResourceType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(f) = filter::parse(input) else {
        for rt in [ResourceType::User, ResourceType::Group] {
            assert!(filter::parse_for(input, rt).is_err());
        }
        return;
    };
    let text = f.to_string();
    if text.len() <= MAX_FILTER_LEN {
        match filter::parse(&text) {
            Ok(again) => assert_eq!(again, f, "{input:?} renders as {text:?}"),
            Err(e) => panic!("{input:?} renders as {text:?}, which does not parse: {e:?}"),
        }
    }
    for (rt, samples) in [
        (ResourceType::User, vec![bjensen(), minimal_user()]),
        (ResourceType::Group, vec![tour_guides()]),
    ] {
        let valid = f.validate(rt).is_ok();
        assert_eq!(valid, filter::parse_for(input, rt).is_ok(), "{input:?}");
        if !valid {
            continue;
        }
        let not = Filter::Not(Box::new(f.clone()));
        for resource in &samples {
            assert_eq!(
                not.matches(resource, rt),
                !f.matches(resource, rt),
                "{input:?}"
            );
        }
    }
});
