//! Entity tags for SCIM versioning (RFC 7644 §3.14, RFC 7232).
//!
//! Versions are weak ETags, `W/"<n>"`: the server bumps `n` on every
//! change, and two representations of the same version are equivalent,
//! not byte-identical (attribute projection changes the bytes). `If-Match`
//! is therefore checked with RFC 7232 §2.3.2 weak comparison, as SCIM
//! clients expect, rather than the strong comparison plain HTTP uses.

/// The ETag of resource version `version`: `W/"<version>"`.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match` header value allows the write to a resource whose
/// current ETag is `current`: `*`, or any listed tag weakly equal to it.
/// A header that is not a valid list never matches, so a garbled
/// precondition fails safe. Bare unquoted tags (`If-Match: 3`) are
/// accepted, as some clients send them.
pub fn if_match_satisfied(header: &str, current: &str) -> bool {
    let header = header.trim();
    if header == "*" {
        return true;
    }
    let Some(current) = parse_list(current).and_then(|c| c.into_iter().next()) else {
        return false;
    };
    parse_list(header).is_some_and(|tags| tags.contains(&current))
}

/// The opaque tags of a comma-separated entity-tag list, without their
/// `W/` prefixes and quotes; `None` if the list is malformed.
fn parse_list(s: &str) -> Option<Vec<&str>> {
    let mut tags = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            continue;
        }
        if let Some(r) = rest.strip_prefix("W/").or_else(|| rest.strip_prefix("w/")) {
            rest = r;
        }
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"')?;
            tags.push(&r[..end]);
            rest = r[end + 1..].trim_start();
            if !(rest.is_empty() || rest.starts_with(',')) {
                return None;
            }
        } else {
            let end = rest
                .find(|c: char| c == ',' || c.is_whitespace())
                .unwrap_or(rest.len());
            let tag = &rest[..end];
            if tag.is_empty() || tag.contains('"') {
                return None;
            }
            tags.push(tag);
            rest = rest[end..].trim_start();
        }
    }
    (!tags.is_empty()).then_some(tags)
}
