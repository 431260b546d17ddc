//! Registering a new credential (§7.1).

use time::OffsetDateTime;

use crate::attestation::{self, Attestation, AttestationObject, Inputs};
use crate::authdata::{Aaguid, AuthenticatorData, Flags};
use crate::client_data::{self, client_data_hash, CollectedClientData};
use crate::cose::{CoseAlgorithm, CosePublicKey};
use crate::json::RegistrationResponseJson;
use crate::origin::RelyingParty;
use crate::trust::TrustAnchors;
use crate::{b64, Error, Result};

/// Credential ids longer than this are refused (§7.1 step 24).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;

/// What the relying party expects of a registration.
#[derive(Debug, Clone)]
pub struct RegistrationCheck<'a> {
    /// The challenge of the creation options, as bytes.
    pub challenge: &'a [u8],
    pub relying_party: &'a RelyingParty,
    /// Insist on the UV flag (the options said `userVerification:
    /// "required"`).
    pub require_user_verification: bool,
    /// Anchors attestation certificates may chain to.
    pub trust_anchors: &'a TrustAnchors,
    /// When certificate validity is judged.
    pub now: OffsetDateTime,
    /// For `android-key`: also accept keys whose origin and purpose are
    /// only software-enforced (the union of both authorization lists, as
    /// §8.4 allows), not just TEE-enforced ones.
    pub allow_android_software_enforced: bool,
}

/// A verified registration: what the relying party stores about the new
/// credential, and what the attestation proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub credential_id: Vec<u8>,
    /// The credential public key with its exact COSE_Key bytes
    /// ([`CosePublicKey::cose_bytes`]) for storage.
    pub public_key: CosePublicKey,
    pub algorithm: CoseAlgorithm,
    pub aaguid: Aaguid,
    pub sign_count: u32,
    /// UV, BE and BS as registered; BE never changes for a credential, so
    /// later assertions can be compared with it.
    pub flags: Flags,
    pub attestation: Attestation,
    /// `getTransports()`, as the browser reported it (unverified hints).
    pub transports: Vec<String>,
    pub authenticator_attachment: Option<String>,
    /// The authenticator extension outputs (one CBOR map), if any.
    pub extensions: Option<Vec<u8>>,
    /// The client data as parsed (the origin the credential was created on).
    pub client_data: CollectedClientData,
}

/// Verify a registration response (§7.1) against what the relying party
/// expects.
pub fn verify_registration(
    response: &RegistrationResponseJson,
    check: &RegistrationCheck<'_>,
) -> Result<Registration> {
    if response.credential_type != "public-key" {
        return Err(Error::malformed(
            "registration response",
            format!(
                "type is {:?}, expected \"public-key\"",
                response.credential_type
            ),
        ));
    }
    let id = b64::decode(&response.id, "registration response id")?;
    if id != response.raw_id.as_slice() {
        return Err(Error::CredentialId("id and rawId differ".into()));
    }

    let client_data_json = response.response.client_data_json.as_slice();
    let client_data = CollectedClientData::parse(client_data_json)?;
    client_data::check(
        &client_data,
        "webauthn.create",
        check.challenge,
        check.relying_party,
    )?;
    let client_data_hash = client_data_hash(client_data_json);

    let AttestationObject {
        fmt,
        att_stmt,
        auth_data: auth_data_bytes,
    } = AttestationObject::parse(response.response.attestation_object.as_slice())?;
    let auth_data = AuthenticatorData::parse(&auth_data_bytes)?;
    check_flags(
        &auth_data,
        check.relying_party,
        check.require_user_verification,
    )?;
    let credential = auth_data.attested_credential_data.as_ref().ok_or_else(|| {
        Error::malformed(
            "authenticator data",
            "a registration needs attested credential data (the AT flag is clear)",
        )
    })?;
    if credential.credential_id.len() > MAX_CREDENTIAL_ID_LEN {
        return Err(Error::CredentialId(format!(
            "{} bytes, more than {MAX_CREDENTIAL_ID_LEN}",
            credential.credential_id.len()
        )));
    }
    if credential.credential_id != response.raw_id.as_slice() {
        return Err(Error::CredentialId(
            "rawId is not the credential id in the authenticator data".into(),
        ));
    }

    let attestation = attestation::verify(
        &fmt,
        att_stmt,
        &Inputs {
            auth_data_bytes: &auth_data_bytes,
            auth_data: &auth_data,
            credential,
            client_data_hash,
            anchors: check.trust_anchors,
            now: check.now,
            android_software_enforced: check.allow_android_software_enforced,
        },
    )?;

    Ok(Registration {
        credential_id: credential.credential_id.clone(),
        algorithm: credential.public_key.algorithm(),
        public_key: credential.public_key.clone(),
        aaguid: credential.aaguid,
        sign_count: auth_data.sign_count,
        flags: auth_data.flags,
        attestation,
        transports: response.response.transports.clone(),
        authenticator_attachment: response.authenticator_attachment.clone(),
        extensions: auth_data.extensions.clone(),
        client_data,
    })
}

/// The authenticator data checks both ceremonies make: rpIdHash, UP, UV
/// when required, BS only with BE.
pub(crate) fn check_flags(
    auth_data: &AuthenticatorData,
    relying_party: &RelyingParty,
    require_user_verification: bool,
) -> Result<()> {
    if !client_data::constant_time_eq(&auth_data.rp_id_hash, &relying_party.id_hash()) {
        return Err(Error::RpIdHashMismatch(relying_party.id().to_string()));
    }
    if !auth_data.flags.user_present {
        return Err(Error::UserNotPresent);
    }
    if require_user_verification && !auth_data.flags.user_verified {
        return Err(Error::UserNotVerified);
    }
    if auth_data.flags.backup_state && !auth_data.flags.backup_eligible {
        return Err(Error::BackupStateWithoutEligibility);
    }
    Ok(())
}
