//! The little CBOR work WebAuthn needs, over `ciborium`.
//!
//! Authenticator data embeds CBOR items back to back with no length prefix
//! (the COSE key, then the extension outputs), so the parser must know how
//! many bytes one item took. `ciborium` reads exactly one item from an
//! `io::Read`; reading from a byte slice advances the slice, and the bytes it
//! advanced are the item's encoding. Its recursion limit bounds nesting and
//! its segment-wise reads mean a hostile length header cannot make it
//! allocate more than the input holds.

use std::collections::BTreeSet;

use ciborium::value::Value;

use crate::{Error, Result};

/// Decode one CBOR item at the start of `bytes`; answer it and how many
/// bytes it took.
pub(crate) fn decode_prefix(bytes: &[u8], what: &'static str) -> Result<(Value, usize)> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader(&mut rest)
        .map_err(|e| Error::malformed(what, format!("invalid CBOR: {e}")))?;
    Ok((value, bytes.len() - rest.len()))
}

/// Decode `bytes` as exactly one CBOR item, refusing trailing bytes.
pub(crate) fn decode_exact(bytes: &[u8], what: &'static str) -> Result<Value> {
    let (value, used) = decode_prefix(bytes, what)?;
    if used != bytes.len() {
        return Err(Error::malformed(
            what,
            format!("{} bytes follow the CBOR item", bytes.len() - used),
        ));
    }
    Ok(value)
}

/// Encode a CBOR value.
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn encode(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out)
        .map_err(|e| Error::malformed("CBOR", format!("cannot encode: {e}")))?;
    Ok(out)
}

/// The entries of a CBOR map whose keys are all text strings, refusing
/// duplicate keys (a duplicate would let two readers see different values).
pub(crate) fn text_map(value: Value, what: &'static str) -> Result<Vec<(String, Value)>> {
    let Value::Map(entries) = value else {
        return Err(Error::malformed(what, "not a CBOR map"));
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let Value::Text(key) = key else {
            return Err(Error::malformed(what, "a map key is not a text string"));
        };
        if !seen.insert(key.clone()) {
            return Err(Error::malformed(what, format!("duplicate key {key:?}")));
        }
        out.push((key, value));
    }
    Ok(out)
}

/// The entries of a CBOR map whose keys are all integers (COSE labels),
/// refusing duplicates.
pub(crate) fn int_map(value: Value, what: &'static str) -> Result<Vec<(i128, Value)>> {
    let Value::Map(entries) = value else {
        return Err(Error::malformed(what, "not a CBOR map"));
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let Value::Integer(key) = key else {
            return Err(Error::malformed(what, "a map label is not an integer"));
        };
        let key = i128::from(key);
        if !seen.insert(key) {
            return Err(Error::malformed(what, format!("duplicate label {key}")));
        }
        out.push((key, value));
    }
    Ok(out)
}

/// Remove and answer the entry with `key`, if any.
pub(crate) fn take<K: PartialEq>(entries: &mut Vec<(K, Value)>, key: K) -> Option<Value> {
    let index = entries.iter().position(|(k, _)| *k == key)?;
    Some(entries.swap_remove(index).1)
}

/// A CBOR integer that fits an `i64`.
pub(crate) fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(i) => i64::try_from(i128::from(*i)).ok(),
        _ => None,
    }
}

#[cfg(any(test, feature = "testkit"))]
pub(crate) fn integer(i: i64) -> Value {
    Value::Integer(ciborium::value::Integer::from(i))
}
