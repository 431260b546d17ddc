//! NIST SP 800-63-4 authentication assurance levels from OIDC `acr`/`amr`.
//! The rules are listed in the crate documentation.

use std::collections::BTreeMap;

/// RFC 8176 `amr` values for something the user knows.
const KNOWLEDGE: &[&str] = &["pwd", "pin"];
/// RFC 8176 `amr` values for something the user has (short of a hardware key).
const POSSESSION: &[&str] = &["otp", "sms", "tel", "swk"];
/// RFC 8176 `amr` values for something the user is.
const INHERENCE: &[&str] = &["fpt", "face", "iris", "retina", "vbm"];
/// RFC 8176 `amr` values for a hardware-protected key.
const HARDWARE: &[&str] = &["hwk", "sc"];

/// The AAL (1, 2 or 3) of an authentication described by `acr` and `amr`:
/// the higher of the level the `acr` names (the operator's `acr_values`
/// first, then well-known values) and the level the `amr` methods reach.
pub fn aal_from(acr: Option<&str>, amr: &[String], acr_values: &BTreeMap<String, u8>) -> u8 {
    let from_acr = acr.map_or(1, |acr| {
        acr_values
            .get(acr)
            .copied()
            .or_else(|| well_known_acr(acr))
            .unwrap_or(1)
    });
    from_acr.max(amr_level(amr)).clamp(1, 3)
}

/// The level of a well-known `acr` value, if it is one.
fn well_known_acr(acr: &str) -> Option<u8> {
    match acr {
        "phrh" => return Some(3),
        "phr" => return Some(2),
        _ => {}
    }
    // login.gov qualifies its values with a query string, as in
    // `.../aal/2?phishing_resistant=true`; the level is the path.
    let value = acr.split_once('?').map_or(acr, |(value, _)| value);
    let lower = value.to_ascii_lowercase();
    (1..=3).find(|level| {
        [format!("aal{level}"), format!("aal/{level}")]
            .iter()
            .any(|suffix| {
                lower
                    .strip_suffix(suffix.as_str())
                    .is_some_and(|before| !before.ends_with(|c: char| c.is_ascii_alphanumeric()))
            })
    })
}

/// The level the authentication methods reach on their own.
fn amr_level(amr: &[String]) -> u8 {
    let has_any = |values: &[&str]| amr.iter().any(|m| values.contains(&m.as_str()));
    let hardware = has_any(HARDWARE);
    let mfa = has_any(&["mfa"]);
    let knowledge = has_any(KNOWLEDGE);
    let inherence = has_any(INHERENCE);
    let possession = has_any(POSSESSION);
    // A hardware key unlocked or accompanied by a factor of another kind.
    if hardware && (knowledge || inherence || mfa) {
        return 3;
    }
    let kinds = [knowledge, possession, inherence]
        .iter()
        .filter(|present| **present)
        .count();
    if hardware || mfa || kinds >= 2 {
        return 2;
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aal(acr: Option<&str>, amr: &[&str]) -> u8 {
        let amr: Vec<String> = amr.iter().map(|s| (*s).to_owned()).collect();
        aal_from(acr, &amr, &BTreeMap::new())
    }

    #[test]
    fn acr_values_table() {
        let cases: &[(&str, u8)] = &[
            ("http://idmanagement.gov/ns/assurance/aal/1", 1),
            ("http://idmanagement.gov/ns/assurance/aal/2", 2),
            ("http://idmanagement.gov/ns/assurance/aal/3", 3),
            (
                "http://idmanagement.gov/ns/assurance/aal/2?phishing_resistant=true",
                2,
            ),
            ("urn:gov:gsa:ac:classes:sp:aal3", 3),
            ("urn:example:AAL2", 2),
            ("urn:example:loa:aal2", 2),
            ("phrh", 3),
            ("phr", 2),
            ("PHR", 1),
            ("urn:example:paal2", 1),
            ("aal2", 2),
            ("aal4", 1),
            ("aal/0", 1),
            ("0", 1),
            ("urn:mace:incommon:iap:silver", 1),
            ("", 1),
        ];
        for (acr, want) in cases {
            assert_eq!(aal(Some(acr), &[]), *want, "acr {acr:?}");
        }
        assert_eq!(aal(None, &[]), 1);
    }

    #[test]
    fn amr_table() {
        let cases: &[(&[&str], u8)] = &[
            (&[], 1),
            (&["pwd"], 1),
            (&["otp"], 1),
            (&["fpt"], 1),
            (&["pwd", "pin"], 1),
            (&["otp", "sms"], 1),
            (&["unknown", "pwd"], 1),
            (&["pwd", "otp"], 2),
            (&["pwd", "sms"], 2),
            (&["pin", "swk"], 2),
            (&["tel", "face"], 2),
            (&["pwd", "fpt"], 2),
            (&["mfa"], 2),
            (&["hwk"], 2),
            (&["sc"], 2),
            (&["hwk", "otp"], 2),
            (&["hwk", "sms"], 2),
            (&["hwk", "pin"], 3),
            (&["hwk", "fpt"], 3),
            (&["sc", "pin"], 3),
            (&["hwk", "pwd"], 3),
            (&["hwk", "face"], 3),
            (&["hwk", "iris"], 3),
            (&["hwk", "retina"], 3),
            (&["hwk", "vbm"], 3),
            (&["hwk", "mfa"], 3),
            (&["pwd", "hwk", "otp"], 3),
        ];
        for (amr, want) in cases {
            assert_eq!(aal(None, amr), *want, "amr {amr:?}");
        }
    }

    #[test]
    fn operator_table_comes_first_and_the_highest_level_wins() {
        let mut table = BTreeMap::new();
        table.insert("urn:corp:strong".to_owned(), 3);
        table.insert("urn:corp:weak:aal3".to_owned(), 1);
        let amr = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(aal_from(Some("urn:corp:strong"), &[], &table), 3);
        // The operator's table overrides the well-known suffix ...
        assert_eq!(aal_from(Some("urn:corp:weak:aal3"), &[], &table), 1);
        // ... but amr can still raise the level.
        assert_eq!(
            aal_from(Some("urn:corp:weak:aal3"), &amr(&["pwd", "otp"]), &table),
            2
        );
        assert_eq!(aal_from(Some("phr"), &amr(&["hwk", "pin"]), &table), 3);
        assert_eq!(aal_from(Some("phrh"), &amr(&["pwd"]), &table), 3);
        // Out-of-range table entries are clamped (validation refuses them).
        table.insert("urn:corp:zero".to_owned(), 0);
        table.insert("urn:corp:nine".to_owned(), 9);
        assert_eq!(aal_from(Some("urn:corp:zero"), &[], &table), 1);
        assert_eq!(aal_from(Some("urn:corp:nine"), &[], &table), 3);
    }
}
