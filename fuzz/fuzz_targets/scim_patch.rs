//! SCIM PATCH (RFC 7644 §3.5.2) bodies: `patch::apply_patch` on stored
//! Users and Groups, and `path::parse` / `PatchPath::resolve` on each
//! operation's `path`.
//!
//! Invariants: a refused PATCH leaves the resource unchanged (documented:
//! operations apply to a copy); an accepted one leaves a JSON object whose
//! required attribute (`userName` / `displayName`) is a non-blank string;
//! a PATCH reported as a no-op changed nothing; members added and removed
//! are disjoint; a path that resolves also parses.
#![no_main]

use countersign_fuzz::{bjensen, minimal_user, tour_guides};
use countersign_scim::{apply_patch, path, ResourceType};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let paths: Vec<&str> = body
        .get("Operations")
        .and_then(Value::as_array)
        .map(|ops| {
            ops.iter()
                .filter_map(|op| op.get("path").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    for p in paths {
        if let Ok(parsed) = path::parse(p) {
            for rt in [ResourceType::User, ResourceType::Group] {
                let _ = parsed.resolve(rt);
            }
        }
    }
    for (rt, stored) in [
        (ResourceType::User, bjensen()),
        (ResourceType::User, minimal_user()),
        (ResourceType::Group, tour_guides()),
    ] {
        let mut resource = stored.clone();
        match apply_patch(&mut resource, &body, rt) {
            Err(_) => assert_eq!(resource, stored, "a refused PATCH changed the resource"),
            Ok(outcome) => {
                let obj = resource
                    .as_object()
                    .expect("a patched resource is an object");
                let required = rt.required_attribute();
                let value = obj
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(required))
                    .and_then(|(_, v)| v.as_str());
                assert!(
                    value.is_some_and(|s| !s.trim().is_empty()),
                    "{required} is gone after {body}"
                );
                if outcome.is_noop() {
                    assert_eq!(
                        resource, stored,
                        "a no-op PATCH changed the resource: {body}"
                    );
                }
                for id in &outcome.members_added {
                    assert!(
                        !outcome.members_removed.contains(id),
                        "{id} added and removed"
                    );
                }
            }
        }
    }
});
