//! Base64url as WebAuthn's JSON forms use it.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// The URL-safe alphabet, accepting input with or without `=` padding.
///
/// The specification's `Base64URLString` has no padding, and browsers emit
/// none; some client libraries pad anyway, and refusing them would buy
/// nothing, since both spell the same bytes.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encode bytes as unpadded base64url.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode base64url with or without padding; `what` names the field for the
/// error.
pub(crate) fn decode(text: &str, what: &'static str) -> Result<Vec<u8>> {
    LENIENT
        .decode(text)
        .map_err(|e| Error::malformed(what, format!("not base64url: {e}")))
}

/// Bytes that travel as a base64url string in JSON: serialized without
/// padding, deserialized with or without it.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Base64UrlBytes(pub Vec<u8>);

impl Base64UrlBytes {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Base64UrlBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b64u:{}", encode(&self.0))
    }
}

impl From<Vec<u8>> for Base64UrlBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Base64UrlBytes(bytes)
    }
}

impl From<&[u8]> for Base64UrlBytes {
    fn from(bytes: &[u8]) -> Self {
        Base64UrlBytes(bytes.to_vec())
    }
}

impl AsRef<[u8]> for Base64UrlBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Base64UrlBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64UrlBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        LENIENT
            .decode(text.as_bytes())
            .map(Base64UrlBytes)
            .map_err(|e| serde::de::Error::custom(format!("not base64url: {e}")))
    }
}
