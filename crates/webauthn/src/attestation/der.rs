//! Reading the few DER structures attestation extensions hold, over
//! `asn1-rs` (x509-parser's DER layer): it splits tag-length-value items,
//! high tag numbers included; this module says what each must be.

use x509_parser::asn1_rs::{Any, Class, FromDer as _, Tag};

/// One DER item at the start of `input` and what follows it.
pub(crate) fn item(input: &[u8]) -> Result<(Any<'_>, &[u8]), String> {
    let (rest, any) = Any::from_der(input).map_err(|e| format!("invalid DER: {e}"))?;
    Ok((any, rest))
}

/// One universal item with `tag` at the start of `input`.
pub(crate) fn expect<'a>(
    input: &'a [u8],
    tag: Tag,
    name: &str,
) -> Result<(&'a [u8], &'a [u8]), String> {
    if input.is_empty() {
        return Err(format!("{name} is missing"));
    }
    let (any, rest) = item(input).map_err(|e| format!("{name}: {e}"))?;
    if any.class() != Class::Universal || any.tag() != tag {
        return Err(format!("{name}: expected {tag}, found {}", any.tag()));
    }
    Ok((any.data, rest))
}

/// Exactly one OCTET STRING, nothing after it; its contents.
pub(crate) fn octet_string(input: &[u8]) -> Result<&[u8], String> {
    let (data, rest) = expect(input, Tag::OctetString, "OCTET STRING")?;
    if !rest.is_empty() {
        return Err(format!("{} bytes follow the OCTET STRING", rest.len()));
    }
    Ok(data)
}

/// The contents of an INTEGER or ENUMERATED that must be a small
/// non-negative value (tags, purposes, versions).
pub(crate) fn small_unsigned(data: &[u8]) -> Result<u64, String> {
    if data.is_empty() {
        return Err("empty INTEGER".into());
    }
    if data[0] & 0x80 != 0 {
        return Err("negative INTEGER".into());
    }
    let digits = if data[0] == 0 { &data[1..] } else { data };
    if digits.len() > 8 {
        return Err("INTEGER too large".into());
    }
    Ok(digits
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}
