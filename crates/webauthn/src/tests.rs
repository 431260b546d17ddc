//! Ceremonies end to end with the test kit's authenticator: round trips,
//! and each check failing for its own reason.

use sha2::{Digest as _, Sha256};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::testkit::{client_data_json, SoftAuthenticator, TestAttestation, TestAttestationCa};
use crate::{
    verify_assertion, verify_assertion_response, verify_registration, AssertionCheck,
    AttestationConveyance, AttestationFormat, AttestationKind, AuthenticationResponseJson,
    Base64UrlBytes, CoseAlgorithm, CreationOptions, CredentialDescriptor, Error, Registration,
    RegistrationCheck, RegistrationResponseJson, RelyingParty, RequestOptions, RpEntity, Trust,
    TrustAnchors, UserEntity, UserVerification,
};

const RP_ID: &str = "countersign.example";
const ORIGIN: &str = "https://countersign.example";
const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);
const USER: &[u8] = b"user-handle-0001";

fn rp() -> RelyingParty {
    RelyingParty::new(RP_ID, vec![ORIGIN.into()]).unwrap()
}

/// A signing challenge as Countersign makes them: SHA-256 of a statement's
/// pre-authentication encoding (here of a stand-in byte string).
fn statement_challenge(statement: &[u8]) -> Vec<u8> {
    Sha256::digest(statement).to_vec()
}

fn authenticator(algorithm: CoseAlgorithm) -> SoftAuthenticator {
    let seed = match algorithm {
        CoseAlgorithm::Es256 => [7u8; 32],
        _ => [9u8; 32],
    };
    SoftAuthenticator::from_seed(algorithm, seed).unwrap()
}

fn register_check<'a>(
    challenge: &'a [u8],
    rp: &'a RelyingParty,
    anchors: &'a TrustAnchors,
) -> RegistrationCheck<'a> {
    RegistrationCheck {
        challenge,
        relying_party: rp,
        require_user_verification: true,
        trust_anchors: anchors,
        now: NOW,
        allow_android_software_enforced: false,
    }
}

fn register(
    authn: &mut SoftAuthenticator,
    attestation: TestAttestation<'_>,
    anchors: &TrustAnchors,
) -> crate::Result<Registration> {
    let challenge = [0x42u8; 32];
    let response = authn
        .register(RP_ID, ORIGIN, &challenge, USER, attestation)
        .unwrap();
    let rp = rp();
    verify_registration(&response, &register_check(&challenge, &rp, anchors))
}

fn assertion_check<'a>(challenge: &'a [u8], rp: &'a RelyingParty) -> AssertionCheck<'a> {
    AssertionCheck {
        challenge,
        relying_party: rp,
        require_user_verification: true,
    }
}

fn verify_json(
    response: &AuthenticationResponseJson,
    challenge: &[u8],
    key: &crate::CosePublicKey,
) -> crate::Result<crate::Assertion> {
    let rp = rp();
    verify_assertion(
        &assertion_check(challenge, &rp),
        key,
        response.response.authenticator_data.as_slice(),
        response.response.client_data_json.as_slice(),
        response.response.signature.as_slice(),
    )
}

#[test]
fn round_trips_for_each_algorithm_and_attestation() {
    let ca = TestAttestationCa::new([0xaa; 16]).unwrap();
    let anchors = ca.trust_anchors().unwrap();
    let root_sha256 = hex::encode(Sha256::digest(&ca.root_der));
    for algorithm in [CoseAlgorithm::Es256, CoseAlgorithm::EdDsa] {
        for (attestation, format, kind) in [
            (
                TestAttestation::None,
                AttestationFormat::None,
                AttestationKind::None,
            ),
            (
                TestAttestation::PackedSelf,
                AttestationFormat::Packed,
                AttestationKind::SelfAttestation,
            ),
            (
                ca.attestation(),
                AttestationFormat::Packed,
                AttestationKind::Basic,
            ),
        ] {
            let mut authn = authenticator(algorithm);
            authn.aaguid = [0xaa; 16];
            let registration = register(&mut authn, attestation, &anchors).unwrap();
            assert_eq!(registration.credential_id, authn.credential_id());
            assert_eq!(registration.algorithm, algorithm);
            assert_eq!(
                registration.public_key.cose_bytes(),
                authn.public_key().unwrap().cose_bytes()
            );
            assert_eq!(registration.aaguid.0, [0xaa; 16]);
            assert_eq!(registration.sign_count, 0);
            assert!(registration.flags.user_verified);
            assert!(!registration.flags.backup_eligible);
            assert_eq!(registration.transports, vec!["usb".to_string()]);
            assert_eq!(registration.attestation.format, format);
            assert_eq!(registration.attestation.kind, kind);
            if kind == AttestationKind::Basic {
                assert_eq!(
                    registration.attestation.trust,
                    Trust::Trusted {
                        anchor_sha256: root_sha256.clone()
                    }
                );
                assert_eq!(registration.attestation.certificates, ca.x5c());
            } else {
                assert_eq!(registration.attestation.trust, Trust::NoCertificates);
            }

            // The stored key bytes read back as the same key.
            let stored =
                crate::CosePublicKey::from_cose(registration.public_key.cose_bytes()).unwrap();
            assert_eq!(stored, registration.public_key);

            let challenge = statement_challenge(b"approve request 17");
            let response = authn.assert(RP_ID, ORIGIN, &challenge).unwrap();
            let rp = rp();
            let assertion = verify_assertion_response(
                &response,
                &assertion_check(&challenge, &rp),
                &registration.credential_id,
                &stored,
            )
            .unwrap();
            assert_eq!(assertion.sign_count, 1);
            assert!(assertion.flags.user_present && assertion.flags.user_verified);
            assert_eq!(
                response.response.user_handle.as_ref().map(|h| h.as_slice()),
                Some(USER)
            );

            let response = authn.assert(RP_ID, ORIGIN, &challenge).unwrap();
            assert_eq!(
                verify_json(&response, &challenge, &stored)
                    .unwrap()
                    .sign_count,
                2
            );
        }
    }
}

#[test]
fn packed_attestation_without_its_root_is_untrusted_not_an_error() {
    let ca = TestAttestationCa::new([1; 16]).unwrap();
    let other = TestAttestationCa::new([1; 16]).unwrap();
    let mut authn = authenticator(CoseAlgorithm::Es256);
    authn.aaguid = [1; 16];
    for anchors in [TrustAnchors::new(), other.trust_anchors().unwrap()] {
        let registration = register(&mut authn, ca.attestation(), &anchors).unwrap();
        assert!(!registration.attestation.is_trusted());
        assert!(matches!(
            registration.attestation.trust,
            Trust::Untrusted { .. }
        ));
    }
}

#[test]
fn packed_attestation_for_another_aaguid_is_refused() {
    let ca = TestAttestationCa::new([1; 16]).unwrap();
    let mut authn = authenticator(CoseAlgorithm::Es256);
    authn.aaguid = [2; 16];
    let result = register(&mut authn, ca.attestation(), &ca.trust_anchors().unwrap());
    assert!(
        matches!(&result, Err(Error::Attestation { format: AttestationFormat::Packed, reason }) if reason.contains("AAGUID")),
        "{result:?}"
    );
}

#[test]
fn packed_attestation_signed_by_the_wrong_key_is_refused() {
    let ca = TestAttestationCa::new([0; 16]).unwrap();
    let impostor = TestAttestationCa::new([0; 16]).unwrap();
    let x5c = ca.x5c();
    let mut authn = authenticator(CoseAlgorithm::Es256);
    let result = register(
        &mut authn,
        TestAttestation::Packed {
            signing_key: &impostor.leaf_key,
            x5c: &x5c,
        },
        &ca.trust_anchors().unwrap(),
    );
    assert!(
        matches!(&result, Err(Error::Attestation { format: AttestationFormat::Packed, reason }) if reason.contains("signature")),
        "{result:?}"
    );
}

#[test]
fn self_attestation_with_a_tampered_signature_is_refused() {
    let mut authn = authenticator(CoseAlgorithm::EdDsa);
    let challenge = [1u8; 32];
    let response = authn
        .register(RP_ID, ORIGIN, &challenge, USER, TestAttestation::PackedSelf)
        .unwrap();
    // Re-sign the client data the server will see: the statement then no
    // longer covers it.
    let mut tampered = response.clone();
    tampered.response.client_data_json = Base64UrlBytes(
        String::from_utf8(response.response.client_data_json.0.clone())
            .unwrap()
            .replace("\"crossOrigin\":false}", "\"crossOrigin\":false }")
            .into_bytes(),
    );
    let rp = rp();
    let anchors = TrustAnchors::new();
    let result = verify_registration(&tampered, &register_check(&challenge, &rp, &anchors));
    assert!(
        matches!(
            result,
            Err(Error::Attestation {
                format: AttestationFormat::Packed,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn registration_response_must_be_consistent() {
    let mut authn = authenticator(CoseAlgorithm::Es256);
    let challenge = [3u8; 32];
    let response = authn
        .register(RP_ID, ORIGIN, &challenge, USER, TestAttestation::None)
        .unwrap();
    let rp = rp();
    let anchors = TrustAnchors::new();
    let check = register_check(&challenge, &rp, &anchors);

    let mut wrong_type = response.clone();
    wrong_type.credential_type = "password".into();
    assert!(matches!(
        verify_registration(&wrong_type, &check),
        Err(Error::Malformed { .. })
    ));

    let mut wrong_raw_id = response.clone();
    wrong_raw_id.raw_id = Base64UrlBytes(vec![1, 2, 3]);
    wrong_raw_id.id = crate::b64::encode(&[1, 2, 3]);
    assert!(matches!(
        verify_registration(&wrong_raw_id, &check),
        Err(Error::CredentialId(_))
    ));

    let mut wrong_id = response.clone();
    wrong_id.id = "AAAA".into();
    assert!(matches!(
        verify_registration(&wrong_id, &check),
        Err(Error::CredentialId(_))
    ));

    // An assertion's client data in a registration is the wrong ceremony.
    let mut wrong_ceremony = response.clone();
    wrong_ceremony.response.client_data_json =
        Base64UrlBytes(client_data_json("webauthn.get", &challenge, ORIGIN));
    assert_eq!(
        verify_registration(&wrong_ceremony, &check),
        Err(Error::WrongCeremony {
            expected: "webauthn.create",
            found: "webauthn.get".into()
        })
    );

    assert!(verify_registration(&response, &check).is_ok());
}

#[test]
fn registration_flag_checks() {
    let anchors = TrustAnchors::new();
    let mut authn = authenticator(CoseAlgorithm::Es256);
    authn.flags.user_verified = false;
    assert_eq!(
        register(&mut authn, TestAttestation::None, &anchors),
        Err(Error::UserNotVerified)
    );
    authn.flags.user_verified = true;
    authn.flags.user_present = false;
    assert_eq!(
        register(&mut authn, TestAttestation::None, &anchors),
        Err(Error::UserNotPresent)
    );
    authn.flags.user_present = true;
    authn.flags.backup_state = true;
    assert_eq!(
        register(&mut authn, TestAttestation::None, &anchors),
        Err(Error::BackupStateWithoutEligibility)
    );
    authn.flags.backup_eligible = true;
    let registration = register(&mut authn, TestAttestation::None, &anchors).unwrap();
    assert!(registration.flags.backup_eligible && registration.flags.backup_state);
}

/// One registered ES256 credential and a valid assertion over a statement
/// digest, for the negative assertion tests.
fn registered() -> (SoftAuthenticator, Registration, Vec<u8>) {
    let mut authn = authenticator(CoseAlgorithm::Es256);
    let registration = register(&mut authn, TestAttestation::None, &TrustAnchors::new()).unwrap();
    (authn, registration, statement_challenge(b"statement"))
}

#[test]
fn assertion_with_another_challenge_origin_or_rp_id_is_refused() {
    let (mut authn, registration, challenge) = registered();
    let key = &registration.public_key;

    let response = authn.assert(RP_ID, ORIGIN, &challenge).unwrap();
    assert_eq!(
        verify_json(&response, &statement_challenge(b"another statement"), key),
        Err(Error::ChallengeMismatch)
    );
    // A challenge of another length (a sign-in challenge of 16 bytes).
    assert_eq!(
        verify_json(&response, &challenge[..16], key),
        Err(Error::ChallengeMismatch)
    );

    let response = authn
        .assert(RP_ID, "https://evil.example", &challenge)
        .unwrap();
    assert_eq!(
        verify_json(&response, &challenge, key),
        Err(Error::OriginNotAllowed("https://evil.example".into()))
    );

    // A page on an allowed origin, but the authenticator scoped to another
    // RP ID.
    let response = authn.assert("evil.example", ORIGIN, &challenge).unwrap();
    assert_eq!(
        verify_json(&response, &challenge, key),
        Err(Error::RpIdHashMismatch(RP_ID.into()))
    );

    // Registration client data used for an assertion.
    let response = authn
        .assert_with_client_data(
            RP_ID,
            client_data_json("webauthn.create", &challenge, ORIGIN),
        )
        .unwrap();
    assert_eq!(
        verify_json(&response, &challenge, key),
        Err(Error::WrongCeremony {
            expected: "webauthn.get",
            found: "webauthn.create".into()
        })
    );

    // A cross-origin iframe.
    let cross = String::from_utf8(client_data_json("webauthn.get", &challenge, ORIGIN))
        .unwrap()
        .replace("\"crossOrigin\":false", "\"crossOrigin\":true");
    let response = authn
        .assert_with_client_data(RP_ID, cross.into_bytes())
        .unwrap();
    assert_eq!(
        verify_json(&response, &challenge, key),
        Err(Error::CrossOrigin { top_origin: None })
    );

    // Still fine with the right inputs.
    let response = authn.assert(RP_ID, ORIGIN, &challenge).unwrap();
    assert!(verify_json(&response, &challenge, key).is_ok());
}

#[test]
fn assertion_flag_checks() {
    let (mut authn, registration, challenge) = registered();
    let key = &registration.public_key;

    authn.flags.user_verified = false;
    let response = authn.assert(RP_ID, ORIGIN, &challenge).unwrap();
    assert_eq!(
        verify_json(&response, &challenge, key),
        Err(Error::UserNotVerified)
    );
    // Without the requirement, UV is only reported.
    let rp = rp();
    let relaxed = AssertionCheck {
        require_user_verification: false,
        ..assertion_check(&challenge, &rp)
    };
    let assertion = verify_assertion(
        &relaxed,
        key,
        response.response.authenticator_data.as_slice(),
        response.response.client_data_json.as_slice(),
        response.response.signature.as_slice(),
    )
    .unwrap();
    assert!(!assertion.flags.user_verified);

    authn.flags.user_verified = true;
    authn.flags.user_present = false;
    let response = authn.assert(RP_ID, ORIGIN, &challenge).unwrap();
    assert_eq!(
        verify_json(&response, &challenge, key),
        Err(Error::UserNotPresent)
    );

    authn.flags.user_present = true;
    authn.flags.backup_state = true;
    let response = authn.assert(RP_ID, ORIGIN, &challenge).unwrap();
    assert_eq!(
        verify_json(&response, &challenge, key),
        Err(Error::BackupStateWithoutEligibility)
    );
}

#[test]
fn tampering_with_any_signed_byte_breaks_the_signature() {
    let (mut authn, registration, challenge) = registered();
    let key = &registration.public_key;
    let response = authn.assert(RP_ID, ORIGIN, &challenge).unwrap();

    // clientDataJSON: the same members, one byte more (whitespace), so every
    // check before the signature passes.
    let mut tampered = response.clone();
    tampered.response.client_data_json = Base64UrlBytes(
        String::from_utf8(response.response.client_data_json.0.clone())
            .unwrap()
            .replace(",\"crossOrigin\"", ", \"crossOrigin\"")
            .into_bytes(),
    );
    assert_eq!(
        verify_json(&tampered, &challenge, key),
        Err(Error::BadSignature)
    );

    // authenticatorData: the last byte of the sign counter.
    let mut tampered = response.clone();
    let data = &mut tampered.response.authenticator_data.0;
    let last = data.len() - 1;
    data[last] ^= 0x01;
    assert_eq!(
        verify_json(&tampered, &challenge, key),
        Err(Error::BadSignature)
    );

    // authenticatorData: the rpIdHash.
    let mut tampered = response.clone();
    tampered.response.authenticator_data.0[0] ^= 0x01;
    assert_eq!(
        verify_json(&tampered, &challenge, key),
        Err(Error::RpIdHashMismatch(RP_ID.into()))
    );

    // The signature: every byte, one at a time.
    for i in 0..response.response.signature.0.len() {
        let mut tampered = response.clone();
        tampered.response.signature.0[i] ^= 0x01;
        assert_eq!(
            verify_json(&tampered, &challenge, key),
            Err(Error::BadSignature),
            "signature byte {i}"
        );
    }

    // Another credential's key.
    let other = SoftAuthenticator::from_seed(CoseAlgorithm::Es256, [8; 32]).unwrap();
    assert_eq!(
        verify_json(&response, &challenge, &other.public_key().unwrap()),
        Err(Error::BadSignature)
    );

    // The JSON form for another credential id.
    let rp = rp();
    assert!(matches!(
        verify_assertion_response(
            &response,
            &assertion_check(&challenge, &rp),
            b"another id",
            key
        ),
        Err(Error::CredentialId(_))
    ));
}

#[test]
fn eddsa_signature_tampering_and_length() {
    let mut authn = authenticator(CoseAlgorithm::EdDsa);
    let registration = register(&mut authn, TestAttestation::None, &TrustAnchors::new()).unwrap();
    let challenge = statement_challenge(b"x");
    let response = authn.assert(RP_ID, ORIGIN, &challenge).unwrap();
    let key = &registration.public_key;
    assert!(verify_json(&response, &challenge, key).is_ok());
    let mut short = response.clone();
    short.response.signature.0.pop();
    assert_eq!(
        verify_json(&short, &challenge, key),
        Err(Error::BadSignature)
    );
    let mut flipped = response.clone();
    flipped.response.signature.0[10] ^= 0x80;
    assert_eq!(
        verify_json(&flipped, &challenge, key),
        Err(Error::BadSignature)
    );
}

/// WebAuthn does not require low-S ECDSA signatures (authenticators produce
/// both), so the negated-s twin of a valid signature must verify too.
#[test]
fn es256_accepts_high_and_low_s() {
    let (mut authn, registration, challenge) = registered();
    let response = authn.assert(RP_ID, ORIGIN, &challenge).unwrap();
    let signature = p256::ecdsa::Signature::from_der(&response.response.signature.0).unwrap();
    let (r, s) = signature.split_scalars();
    let twin = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
    let mut other = response.clone();
    other.response.signature = Base64UrlBytes(twin.to_der().as_bytes().to_vec());
    assert!(verify_json(&response, &challenge, &registration.public_key).is_ok());
    assert!(verify_json(&other, &challenge, &registration.public_key).is_ok());
}

#[test]
fn rp_id_scope_accepts_subdomains_offline() {
    let (mut authn, registration, challenge) = registered();
    let scope = RelyingParty::for_rp_id_scope(RP_ID).unwrap();
    for (origin, ok) in [
        ("https://countersign.example", true),
        ("https://approvals.countersign.example:8443", true),
        ("http://countersign.example", false),
        ("https://countersign.example.evil", false),
        ("https://evilcountersign.example", false),
    ] {
        let response = authn.assert(RP_ID, origin, &challenge).unwrap();
        let result = verify_assertion(
            &assertion_check(&challenge, &scope),
            &registration.public_key,
            response.response.authenticator_data.as_slice(),
            response.response.client_data_json.as_slice(),
            response.response.signature.as_slice(),
        );
        assert_eq!(result.is_ok(), ok, "{origin}: {result:?}");
    }
}

#[test]
fn extension_outputs_are_skipped_and_reported() {
    // {"credProtect": 2}
    let extensions = vec![
        0xa1, 0x6b, b'c', b'r', b'e', b'd', b'P', b'r', b'o', b't', b'e', b'c', b't', 0x02,
    ];
    let mut authn = authenticator(CoseAlgorithm::EdDsa);
    authn.extensions = Some(extensions.clone());
    let registration = register(
        &mut authn,
        TestAttestation::PackedSelf,
        &TrustAnchors::new(),
    )
    .unwrap();
    assert_eq!(
        registration.extensions.as_deref(),
        Some(extensions.as_slice())
    );
    let challenge = statement_challenge(b"with extensions");
    let response = authn.assert(RP_ID, ORIGIN, &challenge).unwrap();
    let assertion = verify_json(&response, &challenge, &registration.public_key).unwrap();
    assert_eq!(assertion.extensions.as_deref(), Some(extensions.as_slice()));
}

#[test]
fn browser_json_round_trips_and_accepts_padding() {
    let mut authn = authenticator(CoseAlgorithm::Es256);
    let challenge = [5u8; 32];
    let response = authn
        .register(RP_ID, ORIGIN, &challenge, USER, TestAttestation::PackedSelf)
        .unwrap();
    let json = serde_json::to_value(&response).unwrap();
    for key in [
        "id",
        "rawId",
        "type",
        "response",
        "authenticatorAttachment",
        "clientExtensionResults",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    for key in [
        "clientDataJSON",
        "attestationObject",
        "authenticatorData",
        "transports",
        "publicKey",
        "publicKeyAlgorithm",
    ] {
        assert!(json["response"].get(key).is_some(), "response.{key}");
    }
    assert_eq!(json["type"], "public-key");
    assert_eq!(json["response"]["publicKeyAlgorithm"], -7);
    assert!(!json["rawId"].as_str().unwrap().contains('='));

    // The same response with padded base64url strings parses to the same
    // bytes.
    let mut padded = json.clone();
    let pad = |v: &mut serde_json::Value| {
        let s = v.as_str().unwrap().to_string();
        let n = (4 - s.len() % 4) % 4;
        *v = serde_json::Value::String(format!("{s}{}", "=".repeat(n)));
    };
    pad(&mut padded["rawId"]);
    pad(&mut padded["response"]["clientDataJSON"]);
    pad(&mut padded["response"]["attestationObject"]);
    let reparsed: RegistrationResponseJson = serde_json::from_value(padded).unwrap();
    assert_eq!(reparsed.raw_id, response.raw_id);
    assert_eq!(
        reparsed.response.attestation_object,
        response.response.attestation_object
    );

    // Minimal responses (no optional members) parse too.
    let minimal = serde_json::json!({
        "id": json["id"], "rawId": json["rawId"], "type": "public-key",
        "response": {
            "clientDataJSON": json["response"]["clientDataJSON"],
            "attestationObject": json["response"]["attestationObject"],
        },
        "unknownMember": 1,
    });
    let minimal: RegistrationResponseJson = serde_json::from_value(minimal).unwrap();
    let rp = rp();
    let anchors = TrustAnchors::new();
    assert!(verify_registration(&minimal, &register_check(&challenge, &rp, &anchors)).is_ok());

    // Standard base64 ('+', '/') is not base64url.
    let bad = serde_json::json!({
        "id": "a+b/", "rawId": "a+b/", "type": "public-key",
        "response": {"clientDataJSON": "", "attestationObject": ""},
    });
    assert!(serde_json::from_value::<RegistrationResponseJson>(bad).is_err());

    let assertion = authn.assert(RP_ID, ORIGIN, &challenge).unwrap();
    let json = serde_json::to_string(&assertion).unwrap();
    let back: AuthenticationResponseJson = serde_json::from_str(&json).unwrap();
    assert_eq!(back, assertion);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in [
        "clientDataJSON",
        "authenticatorData",
        "signature",
        "userHandle",
    ] {
        assert!(value["response"].get(key).is_some(), "response.{key}");
    }
}

#[test]
fn creation_options_json() {
    let options = CreationOptions::passkey(
        RpEntity {
            id: RP_ID.into(),
            name: "Countersign".into(),
        },
        UserEntity {
            id: Base64UrlBytes(USER.to_vec()),
            name: "ada".into(),
            display_name: "Ada Lovelace".into(),
        },
        vec![0xff; 32],
        UserVerification::Required,
        AttestationConveyance::Direct,
    );
    let mut options = options;
    options.timeout = Some(60_000);
    options.exclude_credentials =
        vec![CredentialDescriptor::new(vec![1, 2, 3], vec!["usb".into()])];
    options.hints = vec!["security-key".into()];
    assert_eq!(
        serde_json::to_value(&options).unwrap(),
        serde_json::json!({
            "rp": {"id": RP_ID, "name": "Countersign"},
            "user": {"id": "dXNlci1oYW5kbGUtMDAwMQ", "name": "ada", "displayName": "Ada Lovelace"},
            "challenge": "__________________________________________8",
            "pubKeyCredParams": [
                {"type": "public-key", "alg": -8},
                {"type": "public-key", "alg": -7},
                {"type": "public-key", "alg": -257},
            ],
            "timeout": 60000,
            "excludeCredentials": [{"type": "public-key", "id": "AQID", "transports": ["usb"]}],
            "authenticatorSelection": {
                "residentKey": "required",
                "requireResidentKey": true,
                "userVerification": "required",
            },
            "hints": ["security-key"],
            "attestation": "direct",
        })
    );
}

#[test]
fn request_options_json() {
    let discoverable =
        RequestOptions::new(RP_ID, vec![0; 32], Vec::new(), UserVerification::Preferred);
    assert_eq!(
        serde_json::to_value(&discoverable).unwrap(),
        serde_json::json!({
            "challenge": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "rpId": RP_ID,
            "allowCredentials": [],
            "userVerification": "preferred",
        })
    );
    let mut signing = RequestOptions::new(
        RP_ID,
        statement_challenge(b"s"),
        vec![CredentialDescriptor::new(vec![9], Vec::new())],
        UserVerification::Discouraged,
    );
    signing.timeout = Some(120_000);
    let json = serde_json::to_value(&signing).unwrap();
    assert_eq!(
        json["allowCredentials"],
        serde_json::json!([{"type": "public-key", "id": "CQ"}])
    );
    assert_eq!(json["userVerification"], "discouraged");
    assert_eq!(json["timeout"], 120000);
}

/// A small deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Truncations, bit flips and random bytes through every parser and both
/// ceremonies: each must answer, never panic.
#[test]
fn hostile_input_never_panics() {
    let ca = TestAttestationCa::new([0; 16]).unwrap();
    let anchors = ca.trust_anchors().unwrap();
    let mut authn = authenticator(CoseAlgorithm::Es256);
    let challenge = [0x42u8; 32];
    let response = authn
        .register(RP_ID, ORIGIN, &challenge, USER, ca.attestation())
        .unwrap();
    let rp = rp();
    let check = register_check(&challenge, &rp, &anchors);
    let object = response.response.attestation_object.0.clone();
    let auth_data = response.response.authenticator_data.clone().unwrap().0;
    let cose = authn.public_key().unwrap().cose_bytes().to_vec();

    for len in 0..object.len() {
        let mut truncated = response.clone();
        truncated.response.attestation_object.0.truncate(len);
        assert!(
            verify_registration(&truncated, &check).is_err(),
            "length {len}"
        );
    }
    for len in 0..auth_data.len() {
        assert!(
            crate::AuthenticatorData::parse(&auth_data[..len]).is_err(),
            "length {len}"
        );
    }
    for len in 0..cose.len() {
        assert!(
            crate::CosePublicKey::from_cose(&cose[..len]).is_err(),
            "length {len}"
        );
    }
    // Trailing garbage.
    let mut long = auth_data.clone();
    long.push(0);
    assert!(crate::AuthenticatorData::parse(&long).is_err());
    let mut long = response.clone();
    long.response.attestation_object.0.push(0);
    assert!(matches!(
        verify_registration(&long, &check),
        Err(Error::Malformed { .. })
    ));
    let mut long = cose.clone();
    long.push(0xa0);
    assert!(crate::CosePublicKey::from_cose(&long).is_err());

    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut mutated = response.clone();
        let bytes = &mut mutated.response.attestation_object.0;
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() as usize) % bytes.len();
            bytes[i] ^= 1 << (rng.next() % 8);
        }
        let _ = verify_registration(&mutated, &check);
        let mut data = auth_data.clone();
        let i = (rng.next() as usize) % data.len();
        data[i] = rng.next() as u8;
        let _ = crate::AuthenticatorData::parse(&data);
        let random: Vec<u8> = (0..rng.next() % 200).map(|_| rng.next() as u8).collect();
        let _ = crate::AuthenticatorData::parse(&random);
        let _ = crate::CosePublicKey::from_cose(&random);
        let _ = crate::attestation::AttestationObject::parse(&random);
        let _ = crate::CollectedClientData::parse(&random);
    }

    // Length headers that claim far more than the input holds.
    for hostile in [
        vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0x81; 100_000],
        vec![0x5f, 0x41, 0x00],
    ] {
        assert!(crate::CosePublicKey::from_cose(&hostile).is_err());
        assert!(crate::attestation::AttestationObject::parse(&hostile).is_err());
        // Fixed part and AAGUID, a one-byte credential id, then the key.
        let mut data = auth_data[..53].to_vec();
        data[32] |= 0x40;
        data.extend_from_slice(&[0, 1, 0]);
        data.extend_from_slice(&hostile);
        assert!(crate::AuthenticatorData::parse(&data).is_err());
    }
}
