//! `android-key` (§8.4): the credential key is an Android Keystore key
//! whose certificate carries the Key Attestation extension
//! (1.3.6.1.4.1.11129.2.1.17, the KeyDescription of
//! <https://source.android.com/docs/security/features/keystore/attestation#schema>).

use x509_parser::asn1_rs::{Class, Tag};

use super::{der, Attestation, AttestationKind, Inputs, Statement};
use crate::Result;

const OID_KEY_DESCRIPTION: &str = "1.3.6.1.4.1.11129.2.1.17";
/// AuthorizationList tags (context-specific, explicit).
const TAG_PURPOSE: u32 = 1;
const TAG_ALL_APPLICATIONS: u32 = 600;
const TAG_ORIGIN: u32 = 702;
const KM_PURPOSE_SIGN: u64 = 2;
const KM_ORIGIN_GENERATED: u64 = 0;

pub(super) fn verify(mut stmt: Statement, inputs: &Inputs<'_>) -> Result<Attestation> {
    let alg = stmt.int("alg")?;
    let sig = stmt.bytes("sig")?;
    let x5c = stmt.x5c()?;
    let chain = stmt.chain(&x5c)?;
    let leaf = &chain[0];
    stmt.verify_by_certificate(
        alg,
        leaf,
        "attestation",
        &inputs.signed_data(),
        &sig,
        "attestation signature",
    )?;
    if leaf.key != *inputs.credential.public_key.public_key() {
        return Err(stmt.fail("the attestation certificate's key is not the credential public key"));
    }

    let (value, _critical) = leaf
        .extension(OID_KEY_DESCRIPTION)
        .map_err(|e| stmt.fail(e))?
        .ok_or_else(|| stmt.fail("the certificate has no key attestation extension"))?;
    let description =
        KeyDescription::parse(value).map_err(|e| stmt.fail(format!("key description: {e}")))?;
    if description.attestation_challenge != inputs.client_data_hash {
        return Err(
            stmt.fail("the key description's attestationChallenge is not the clientDataHash")
        );
    }
    // A key usable by all applications is not scoped to this RP ID.
    if description.software.all_applications || description.tee.all_applications {
        return Err(stmt.fail("the key is usable by all applications (allApplications)"));
    }
    let (origin, purposes) = if inputs.android_software_enforced {
        (
            description.tee.origin.or(description.software.origin),
            [description.tee.purposes, description.software.purposes].concat(),
        )
    } else {
        (description.tee.origin, description.tee.purposes)
    };
    let lists = if inputs.android_software_enforced {
        "the TEE-enforced or software-enforced authorization list"
    } else {
        "the TEE-enforced authorization list"
    };
    if origin != Some(KM_ORIGIN_GENERATED) {
        return Err(stmt.fail(format!(
            "{lists} does not say the key was generated in the keystore (origin {origin:?})"
        )));
    }
    if !purposes.contains(&KM_PURPOSE_SIGN) {
        return Err(stmt.fail(format!(
            "{lists} does not give the key the sign purpose (purposes {purposes:?})"
        )));
    }

    stmt.certified(AttestationKind::Basic, &chain, &x5c, inputs)
}

struct KeyDescription {
    attestation_challenge: Vec<u8>,
    software: AuthorizationList,
    tee: AuthorizationList,
}

#[derive(Default)]
struct AuthorizationList {
    purposes: Vec<u64>,
    all_applications: bool,
    origin: Option<u64>,
}

impl KeyDescription {
    fn parse(value: &[u8]) -> std::result::Result<Self, String> {
        let (body, rest) = der::expect(value, Tag::Sequence, "KeyDescription")?;
        if !rest.is_empty() {
            return Err(format!("{} bytes follow the KeyDescription", rest.len()));
        }
        let (_version, body) = der::expect(body, Tag::Integer, "attestationVersion")?;
        let (_level, body) = der::expect(body, Tag::Enumerated, "attestationSecurityLevel")?;
        let (_km_version, body) = der::expect(body, Tag::Integer, "keymasterVersion")?;
        let (_km_level, body) = der::expect(body, Tag::Enumerated, "keymasterSecurityLevel")?;
        let (challenge, body) = der::expect(body, Tag::OctetString, "attestationChallenge")?;
        let (_unique_id, body) = der::expect(body, Tag::OctetString, "uniqueId")?;
        let (software, body) = der::expect(body, Tag::Sequence, "softwareEnforced")?;
        let (tee, _newer_fields) = der::expect(body, Tag::Sequence, "teeEnforced")?;
        Ok(KeyDescription {
            attestation_challenge: challenge.to_vec(),
            software: AuthorizationList::parse(software)?,
            tee: AuthorizationList::parse(tee)?,
        })
    }
}

impl AuthorizationList {
    /// Read the entries that matter and skip the rest; each entry is an
    /// explicitly tagged context-specific item.
    fn parse(mut body: &[u8]) -> std::result::Result<Self, String> {
        let mut list = AuthorizationList::default();
        while !body.is_empty() {
            let (entry, rest) = der::item(body)?;
            body = rest;
            if entry.class() != Class::ContextSpecific {
                return Err(format!(
                    "authorization list entry with tag {} is not context-specific",
                    entry.tag()
                ));
            }
            match entry.tag().0 {
                TAG_PURPOSE => {
                    let (mut set, rest) = der::expect(entry.data, Tag::Set, "purpose")?;
                    if !rest.is_empty() {
                        return Err("bytes follow the purpose set".into());
                    }
                    while !set.is_empty() {
                        let (purpose, rest) = der::expect(set, Tag::Integer, "purpose")?;
                        list.purposes.push(der::small_unsigned(purpose)?);
                        set = rest;
                    }
                }
                TAG_ALL_APPLICATIONS => list.all_applications = true,
                TAG_ORIGIN => {
                    let (origin, rest) = der::expect(entry.data, Tag::Integer, "origin")?;
                    if !rest.is_empty() {
                        return Err("bytes follow the origin".into());
                    }
                    list.origin = Some(der::small_unsigned(origin)?);
                }
                _ => {}
            }
        }
        Ok(list)
    }
}
