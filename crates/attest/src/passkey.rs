//! Passkey signatures: DSSE envelopes whose signature is a WebAuthn
//! assertion over the statement (see
//! `countersign_proto::statement::WEBAUTHN_EXTENSION_KIND`).
//!
//! A passkey signs `authenticatorData || SHA-256(clientDataJSON)`, not the
//! DSSE PAE, so the browser asks for an assertion whose challenge is
//! SHA-256 of the PAE. To verify, rebuild the PAE from the envelope,
//! require the client data's challenge to be its digest, and verify the
//! assertion with the enrolled passkey's COSE key under the relying party
//! the passkey was registered with. The same function serves the server
//! (with its configured origins) and the offline verifier (with the
//! WebAuthn rule for the RP ID), so both check exactly the same things.

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine as _;
use countersign_proto::model::{Credential, CredentialKind};
use countersign_proto::statement::{
    Envelope, EnvelopeSignature, SignatureExtension, WebAuthnAssertion, WEBAUTHN_EXTENSION_KIND,
};
use countersign_webauthn::{AssertionCheck, CosePublicKey, RelyingParty};
use sha2::{Digest as _, Sha256};

use crate::dsse::pae;
use crate::keys::sha256_hex;
use crate::{Error, Result};

/// Where a passkey assertion may come from.
#[derive(Clone, Copy, Debug)]
pub enum Origins<'a> {
    /// Exactly these origins (the server's configuration).
    Exact(&'a [String]),
    /// Any origin WebAuthn allows for the passkey's RP ID (offline, where
    /// the deployment's list is not at hand).
    RpIdScope,
}

/// What a verified passkey signature proved besides possession.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasskeyVerified {
    /// The UV flag of the assertion.
    pub user_verified: bool,
    /// The authenticator's signature counter.
    pub sign_count: u32,
}

/// The WebAuthn challenge for signing `payload` under `payload_type`:
/// SHA-256 of its DSSE PAE.
pub fn signing_challenge(payload_type: &str, payload: &[u8]) -> [u8; 32] {
    Sha256::digest(pae(payload_type, payload)).into()
}

/// The assertion carried by a signature's extension, decoded.
pub struct DecodedAssertion {
    pub credential_id: Vec<u8>,
    pub authenticator_data: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub signature: Vec<u8>,
}

fn b64url(field: &str, s: &str) -> Result<Vec<u8>> {
    B64URL
        .decode(s.trim_end_matches('=').as_bytes())
        .map_err(|e| Error::Statement(format!("webauthn extension {field} is not base64url: {e}")))
}

/// The COSE public key a passkey credential was enrolled with.
pub fn enrolled_key(credential: &Credential) -> Result<CosePublicKey> {
    let cose = B64
        .decode(credential.public_key.as_bytes())
        .map_err(|e| Error::Key(format!("passkey public key is not base64: {e}")))?;
    CosePublicKey::from_cose(&cose).map_err(|e| Error::Key(format!("passkey public key: {e}")))
}

/// Whether a signature carries a WebAuthn assertion.
pub fn is_passkey_signature(sig: &EnvelopeSignature) -> bool {
    sig.extension
        .as_ref()
        .is_some_and(|e| e.kind == WEBAUTHN_EXTENSION_KIND)
}

/// Decode the assertion of a passkey signature.
pub fn decode_assertion(sig: &EnvelopeSignature) -> Result<DecodedAssertion> {
    let Some(ext) = &sig.extension else {
        return Err(Error::Statement(
            "a passkey signature needs its WebAuthn assertion (the signature extension)".into(),
        ));
    };
    if ext.kind != WEBAUTHN_EXTENSION_KIND {
        return Err(Error::Statement(format!(
            "signature extension kind {:?} is not {WEBAUTHN_EXTENSION_KIND:?}",
            ext.kind
        )));
    }
    let a: WebAuthnAssertion = serde_json::from_value(ext.ext.clone())
        .map_err(|e| Error::Statement(format!("webauthn extension: {e}")))?;
    Ok(DecodedAssertion {
        credential_id: b64url("credentialId", &a.credential_id)?,
        authenticator_data: b64url("authenticatorData", &a.authenticator_data)?,
        client_data_json: b64url("clientDataJSON", &a.client_data_json)?,
        signature: B64
            .decode(sig.sig.as_bytes())
            .map_err(|_| Error::SignatureEncoding)?,
    })
}

/// The envelope signature for a WebAuthn assertion made over `keyid`'s
/// statement: what a browser's answer becomes.
pub fn passkey_signature(
    keyid: &str,
    credential_id: &[u8],
    authenticator_data: &[u8],
    client_data_json: &[u8],
    signature: &[u8],
) -> Result<EnvelopeSignature> {
    let ext = serde_json::to_value(WebAuthnAssertion {
        credential_id: B64URL.encode(credential_id),
        authenticator_data: B64URL.encode(authenticator_data),
        client_data_json: B64URL.encode(client_data_json),
    })?;
    Ok(EnvelopeSignature {
        keyid: keyid.to_string(),
        sig: B64.encode(signature),
        extension: Some(SignatureExtension {
            kind: WEBAUTHN_EXTENSION_KIND.to_string(),
            ext,
        }),
    })
}

/// Verify an envelope's single signature as a passkey signature by
/// `credential`: the assertion names the credential, its challenge is the
/// envelope's PAE digest, the ceremony checks hold (type `webauthn.get`,
/// origin, rpIdHash, UP, and UV when `require_user_verification`), and
/// the signature verifies with the enrolled COSE key.
pub fn verify_passkey_envelope(
    envelope: &Envelope,
    credential: &Credential,
    origins: Origins<'_>,
    require_user_verification: bool,
) -> Result<PasskeyVerified> {
    let [sig] = envelope.signatures.as_slice() else {
        return Err(Error::SignatureCount(envelope.signatures.len()));
    };
    let (CredentialKind::Passkey, Some(passkey)) = (credential.kind, &credential.passkey) else {
        return Err(Error::Key(format!(
            "{} is not a passkey credential",
            credential.key_id
        )));
    };
    let a = decode_assertion(sig)?;
    if sha256_hex(&a.credential_id) != credential.key_id
        || B64URL.encode(&a.credential_id) != passkey.credential_id.trim_end_matches('=')
    {
        return Err(Error::BadSignature(format!(
            "{}: the assertion was made with another passkey",
            credential.key_id
        )));
    }
    let key = enrolled_key(credential)?;
    let rp = match origins {
        Origins::Exact(list) => RelyingParty::new(passkey.rp_id.clone(), list.to_vec()),
        Origins::RpIdScope => RelyingParty::for_rp_id_scope(passkey.rp_id.clone()),
    }
    .map_err(|e| Error::Key(format!("relying party {:?}: {e}", passkey.rp_id)))?;
    let payload = crate::dsse::payload_of(envelope)?;
    let challenge = signing_challenge(&envelope.payload_type, &payload);
    let verified = countersign_webauthn::verify_assertion(
        &AssertionCheck {
            challenge: &challenge,
            relying_party: &rp,
            require_user_verification,
        },
        &key,
        &a.authenticator_data,
        &a.client_data_json,
        &a.signature,
    )
    .map_err(|e| Error::BadSignature(format!("{}: {e}", credential.key_id)))?;
    if verified.flags.backup_eligible != passkey.backup_eligible {
        // BE is fixed for a credential's lifetime (WebAuthn §6.1.3): a
        // change means this is not the authenticator that registered.
        return Err(Error::BadSignature(format!(
            "{}: the assertion's backup eligibility differs from the registered passkey's",
            credential.key_id
        )));
    }
    Ok(PasskeyVerified {
        user_verified: verified.flags.user_verified,
        sign_count: verified.sign_count,
    })
}
