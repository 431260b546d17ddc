//! Verifying an authentication assertion (§7.2) against a challenge the
//! caller chose.
//!
//! For a Countersign signing assertion the challenge is SHA-256 of the
//! DSSE pre-authentication encoding of the statement, so a verified
//! assertion is the user's signature over that statement; for a sign-in it
//! is the random challenge the server issued. This module does not care
//! which: it compares bytes.

use crate::authdata::{AuthenticatorData, Flags};
use crate::client_data::{self, client_data_hash, CollectedClientData};
use crate::cose::CosePublicKey;
use crate::json::AuthenticationResponseJson;
use crate::origin::RelyingParty;
use crate::registration::check_flags;
use crate::{b64, Error, Result};

/// What the relying party expects of an assertion.
#[derive(Debug, Clone)]
pub struct AssertionCheck<'a> {
    /// The expected challenge, any length.
    pub challenge: &'a [u8],
    pub relying_party: &'a RelyingParty,
    /// Insist on the UV flag.
    pub require_user_verification: bool,
}

/// A verified assertion: what the caller compares with its stored
/// credential record (sign count, backup eligibility) and records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub flags: Flags,
    /// The authenticator's signature counter; 0 when it keeps none
    /// (synced passkeys). Comparing it with the stored value is the
    /// caller's business (§7.2 step 22).
    pub sign_count: u32,
    /// The authenticator extension outputs (one CBOR map), if any.
    pub extensions: Option<Vec<u8>>,
    pub client_data: CollectedClientData,
}

/// Verify an assertion from its three byte strings (§7.2 steps 10–21):
/// ceremony type `webauthn.get`, challenge, origin, no cross-origin use,
/// rpIdHash, UP, UV when required, BS only with BE, then the signature over
/// `authenticator_data || SHA-256(client_data_json)` with `credential_key`.
///
/// Which credential record `credential_key` comes from (by credential id,
/// and the user handle for discoverable sign-in) is the caller's lookup.
pub fn verify_assertion(
    check: &AssertionCheck<'_>,
    credential_key: &CosePublicKey,
    authenticator_data: &[u8],
    client_data_json: &[u8],
    signature: &[u8],
) -> Result<Assertion> {
    let client_data = CollectedClientData::parse(client_data_json)?;
    client_data::check(
        &client_data,
        "webauthn.get",
        check.challenge,
        check.relying_party,
    )?;
    let auth_data = AuthenticatorData::parse(authenticator_data)?;
    check_flags(
        &auth_data,
        check.relying_party,
        check.require_user_verification,
    )?;
    let mut signed = Vec::with_capacity(authenticator_data.len() + 32);
    signed.extend_from_slice(authenticator_data);
    signed.extend_from_slice(&client_data_hash(client_data_json));
    credential_key.verify(&signed, signature)?;
    Ok(Assertion {
        flags: auth_data.flags,
        sign_count: auth_data.sign_count,
        extensions: auth_data.extensions,
        client_data,
    })
}

/// [`verify_assertion`] on the browser's JSON form, after checking that it
/// is a `public-key` credential whose `id` and `rawId` agree and name
/// `credential_id`.
pub fn verify_assertion_response(
    response: &AuthenticationResponseJson,
    check: &AssertionCheck<'_>,
    credential_id: &[u8],
    credential_key: &CosePublicKey,
) -> Result<Assertion> {
    if response.credential_type != "public-key" {
        return Err(Error::malformed(
            "authentication response",
            format!(
                "type is {:?}, expected \"public-key\"",
                response.credential_type
            ),
        ));
    }
    let id = b64::decode(&response.id, "authentication response id")?;
    if id != response.raw_id.as_slice() {
        return Err(Error::CredentialId("id and rawId differ".into()));
    }
    if response.raw_id.as_slice() != credential_id {
        return Err(Error::CredentialId(
            "the response is for another credential".into(),
        ));
    }
    verify_assertion(
        check,
        credential_key,
        response.response.authenticator_data.as_slice(),
        response.response.client_data_json.as_slice(),
        response.response.signature.as_slice(),
    )
}
