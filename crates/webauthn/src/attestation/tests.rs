//! Attestation statements built here, byte by byte where the format is
//! binary (TPM structures, the Android KeyDescription, Apple's nonce), with
//! certificates from rcgen: each format trusted with its root, untrusted
//! without it, and refused when what it signs or binds is wrong.

use ciborium::value::Value;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use sha2::{Digest as _, Sha256};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::testkit::{client_data_json, SoftAuthenticator, TestAttestation};
use crate::{
    b64, cbor, verify_registration, AttestationFormat, AttestationKind, Base64UrlBytes,
    CoseAlgorithm, Error, Registration, RegistrationCheck, RegistrationResponseJson, RelyingParty,
    Trust, TrustAnchors,
};

const RP_ID: &str = "countersign.example";
const ORIGIN: &str = "https://countersign.example";
const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);
const CHALLENGE: [u8; 32] = [0x5a; 32];
const AAGUID: [u8; 16] = [0x11; 16];
const SEED: [u8; 32] = [3; 32];

/// A CA made with rcgen.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: Vec<u8>,
}

impl Ca {
    fn root(name: &str) -> Ca {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let params = ca_params(name);
        let der = params.self_signed(&key).unwrap().der().to_vec();
        Ca {
            issuer: Issuer::new(params, key),
            der,
        }
    }

    fn intermediate(&self, name: &str) -> Ca {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let params = ca_params(name);
        let der = params.signed_by(&key, &self.issuer).unwrap().der().to_vec();
        Ca {
            issuer: Issuer::new(params, key),
            der,
        }
    }

    fn issue(&self, params: &CertificateParams, key: &KeyPair) -> Vec<u8> {
        params.signed_by(key, &self.issuer).unwrap().der().to_vec()
    }

    fn anchors(&self) -> TrustAnchors {
        let mut anchors = TrustAnchors::new();
        anchors.add_der(&self.der).unwrap();
        anchors
    }

    fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.der))
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn end_entity(dn: &[(DnType, &str)]) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    for (ty, value) in dn {
        params.distinguished_name.push(ty.clone(), *value);
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params
}

fn packed_dn() -> Vec<(DnType, &'static str)> {
    vec![
        (DnType::CountryName, "AA"),
        (DnType::OrganizationName, "Test Vendor"),
        (DnType::OrganizationalUnitName, "Authenticator Attestation"),
        (DnType::CommonName, "Test Authenticator"),
    ]
}

/// The credential: the test kit's authenticator, whose key rcgen can also
/// certify (apple, android-key put the credential key in the certificate).
fn credential() -> (SoftAuthenticator, KeyPair, p256::ecdsa::SigningKey) {
    let mut authn = SoftAuthenticator::from_seed(CoseAlgorithm::Es256, SEED).unwrap();
    authn.aaguid = AAGUID;
    let signing = p256::ecdsa::SigningKey::from_bytes(&SEED.into()).unwrap();
    let pkcs8 = signing.to_pkcs8_der().unwrap();
    let keypair = KeyPair::try_from(pkcs8.as_bytes()).unwrap();
    (authn, keypair, signing)
}

fn p256_of(keypair: &KeyPair) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_pkcs8_der(&keypair.serialize_der()).unwrap()
}

fn es256(key: &p256::ecdsa::SigningKey, message: &[u8]) -> Vec<u8> {
    let signature: p256::ecdsa::Signature = key.sign(message);
    signature.to_der().as_bytes().to_vec()
}

/// The pieces a statement is computed over.
#[derive(Clone)]
struct Ceremony {
    auth_data: Vec<u8>,
    client_data: Vec<u8>,
    client_data_hash: [u8; 32],
}

impl Ceremony {
    fn new(authn: &SoftAuthenticator) -> Ceremony {
        Self::with_auth_data(authn.authenticator_data(RP_ID, true).unwrap())
    }

    fn with_auth_data(auth_data: Vec<u8>) -> Ceremony {
        let client_data = client_data_json("webauthn.create", &CHALLENGE, ORIGIN);
        let client_data_hash = Sha256::digest(&client_data).into();
        Ceremony {
            auth_data,
            client_data,
            client_data_hash,
        }
    }

    fn signed(&self) -> Vec<u8> {
        [self.auth_data.as_slice(), &self.client_data_hash].concat()
    }

    /// The browser's JSON for this ceremony with `fmt` and `att_stmt`.
    fn response(&self, fmt: &str, att_stmt: Vec<(&str, Value)>) -> RegistrationResponseJson {
        let object = Value::Map(vec![
            (Value::Text("fmt".into()), Value::Text(fmt.into())),
            (
                Value::Text("attStmt".into()),
                Value::Map(
                    att_stmt
                        .into_iter()
                        .map(|(k, v)| (Value::Text(k.into()), v))
                        .collect(),
                ),
            ),
            (
                Value::Text("authData".into()),
                Value::Bytes(self.auth_data.clone()),
            ),
        ]);
        let a = &self.auth_data;
        let len = usize::from(u16::from_be_bytes([a[53], a[54]]));
        let id = a[55..55 + len].to_vec();
        RegistrationResponseJson {
            id: b64::encode(&id),
            raw_id: Base64UrlBytes(id),
            credential_type: "public-key".into(),
            response: crate::AttestationResponseJson {
                client_data_json: Base64UrlBytes(self.client_data.clone()),
                attestation_object: Base64UrlBytes(cbor::encode(&object).unwrap()),
                authenticator_data: None,
                transports: Vec::new(),
                public_key: None,
                public_key_algorithm: None,
            },
            authenticator_attachment: None,
            client_extension_results: serde_json::Map::new(),
        }
    }
}

fn verify_with(
    response: &RegistrationResponseJson,
    anchors: &TrustAnchors,
    software: bool,
) -> crate::Result<Registration> {
    let rp = RelyingParty::new(RP_ID, vec![ORIGIN.into()]).unwrap();
    verify_registration(
        response,
        &RegistrationCheck {
            challenge: &CHALLENGE,
            relying_party: &rp,
            require_user_verification: true,
            trust_anchors: anchors,
            now: NOW,
            allow_android_software_enforced: software,
        },
    )
}

fn verify(
    response: &RegistrationResponseJson,
    anchors: &TrustAnchors,
) -> crate::Result<Registration> {
    verify_with(response, anchors, false)
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

fn x5c(chain: &[&[u8]]) -> Value {
    Value::Array(chain.iter().map(|c| bytes(c)).collect())
}

/// Assert an attestation error of `format` whose reason mentions `words`.
#[track_caller]
fn refused(result: crate::Result<Registration>, format: AttestationFormat, words: &str) {
    match result {
        Err(Error::Attestation { format: f, reason }) if f == format => {
            assert!(
                reason.contains(words),
                "{reason:?} should mention {words:?}"
            )
        }
        other => panic!("expected a {format} attestation error about {words:?}, got {other:?}"),
    }
}

#[track_caller]
fn untrusted(result: crate::Result<Registration>) -> String {
    match result.map(|r| r.attestation.trust) {
        Ok(Trust::Untrusted { reason }) => reason,
        other => panic!("expected an untrusted attestation, got {other:?}"),
    }
}

// ---------------------------------------------------------------- packed

fn packed_response(
    leaf_key: &p256::ecdsa::SigningKey,
    chain: &[Vec<u8>],
) -> RegistrationResponseJson {
    let (mut authn, _, _) = credential();
    authn
        .register(
            RP_ID,
            ORIGIN,
            &CHALLENGE,
            b"user",
            TestAttestation::Packed {
                signing_key: leaf_key,
                x5c: chain,
            },
        )
        .unwrap()
}

#[test]
fn packed_chain_through_an_intermediate() {
    let root = Ca::root("Vendor Root");
    let intermediate = root.intermediate("Vendor Intermediate");
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = intermediate.issue(&end_entity(&packed_dn()), &key);
    let response = packed_response(&p256_of(&key), &[leaf.clone(), intermediate.der.clone()]);

    let registration = verify(&response, &root.anchors()).unwrap();
    assert_eq!(registration.attestation.kind, AttestationKind::Basic);
    assert_eq!(
        registration.attestation.trusted_anchor(),
        Some(root.sha256().as_str())
    );
    // The intermediate as the anchor, and the leaf itself pinned.
    assert_eq!(
        verify(&response, &intermediate.anchors())
            .unwrap()
            .attestation
            .trusted_anchor(),
        Some(intermediate.sha256().as_str())
    );
    let mut pinned = TrustAnchors::new();
    pinned.add_der(&leaf).unwrap();
    assert_eq!(
        verify(&response, &pinned)
            .unwrap()
            .attestation
            .trusted_anchor(),
        Some(hex::encode(Sha256::digest(&leaf)).as_str())
    );
    untrusted(verify(&response, &TrustAnchors::new()));

    // The intermediate left out: the leaf's issuer is not an anchor.
    let short = packed_response(&p256_of(&key), std::slice::from_ref(&leaf));
    assert!(untrusted(verify(&short, &root.anchors())).contains("Vendor Intermediate"));

    // The chain in the wrong order is broken, not merely untrusted.
    let swapped = packed_response(
        &p256_of(&key),
        &[leaf, root.der.clone(), intermediate.der.clone()],
    );
    refused(
        verify(&swapped, &TrustAnchors::new()),
        AttestationFormat::Packed,
        "issued by",
    );
}

#[test]
fn packed_chain_with_a_non_ca_issuer_is_refused() {
    let root = Ca::root("Vendor Root");
    // An end-entity certificate whose key signs another certificate.
    let rogue_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut rogue_params = end_entity(&[(DnType::CommonName, "Rogue")]);
    let rogue = root.issue(&rogue_params, &rogue_key);
    rogue_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let rogue_issuer = Issuer::new(rogue_params, rogue_key);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = end_entity(&packed_dn())
        .signed_by(&key, &rogue_issuer)
        .unwrap()
        .der()
        .to_vec();
    let response = packed_response(&p256_of(&key), &[leaf, rogue]);
    refused(
        verify(&response, &root.anchors()),
        AttestationFormat::Packed,
        "not a CA",
    );
}

#[test]
fn packed_leaf_requirements() {
    let root = Ca::root("Vendor Root");
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();

    let mut no_ou = packed_dn();
    no_ou.retain(|(ty, _)| *ty != DnType::OrganizationalUnitName);
    let leaf = root.issue(&end_entity(&no_ou), &key);
    refused(
        verify(&packed_response(&p256_of(&key), &[leaf]), &root.anchors()),
        AttestationFormat::Packed,
        "OU",
    );

    let mut ca_leaf = end_entity(&packed_dn());
    ca_leaf.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let leaf = root.issue(&ca_leaf, &key);
    refused(
        verify(&packed_response(&p256_of(&key), &[leaf]), &root.anchors()),
        AttestationFormat::Packed,
        "CA",
    );

    // Expired at `now`: verified, untrusted.
    let mut expired = end_entity(&packed_dn());
    expired.not_after = rcgen::date_time_ymd(2025, 1, 1);
    let leaf = root.issue(&expired, &key);
    let reason = untrusted(verify(
        &packed_response(&p256_of(&key), &[leaf]),
        &root.anchors(),
    ));
    assert!(reason.contains("valid from"), "{reason}");
}

// ------------------------------------------------------------------- tpm

/// TPMT_PUBLIC for an ECC P-256 key (TPM 2.0 Part 2 §12.2.4).
fn tpm_ecc_pub_area(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut area = Vec::new();
    area.extend_from_slice(&0x0023u16.to_be_bytes()); // type: TPM_ALG_ECC
    area.extend_from_slice(&0x000bu16.to_be_bytes()); // nameAlg: SHA-256
    area.extend_from_slice(&0x0004_0072u32.to_be_bytes()); // objectAttributes
    area.extend_from_slice(&0u16.to_be_bytes()); // authPolicy: empty
    area.extend_from_slice(&0x0010u16.to_be_bytes()); // symmetric: NULL
    area.extend_from_slice(&0x0018u16.to_be_bytes()); // scheme: ECDSA
    area.extend_from_slice(&0x000bu16.to_be_bytes()); //   with SHA-256
    area.extend_from_slice(&0x0003u16.to_be_bytes()); // curveID: NIST P-256
    area.extend_from_slice(&0x0010u16.to_be_bytes()); // kdf: NULL
    for coordinate in [x, y] {
        area.extend_from_slice(&(coordinate.len() as u16).to_be_bytes());
        area.extend_from_slice(coordinate);
    }
    area
}

/// TPMT_PUBLIC for an RSA key with the default exponent.
fn tpm_rsa_pub_area(modulus: &[u8]) -> Vec<u8> {
    let mut area = Vec::new();
    area.extend_from_slice(&0x0001u16.to_be_bytes()); // type: TPM_ALG_RSA
    area.extend_from_slice(&0x000bu16.to_be_bytes()); // nameAlg: SHA-256
    area.extend_from_slice(&0x0006_0472u32.to_be_bytes()); // objectAttributes
    area.extend_from_slice(&0u16.to_be_bytes()); // authPolicy: empty
    area.extend_from_slice(&0x0010u16.to_be_bytes()); // symmetric: NULL
    area.extend_from_slice(&0x0010u16.to_be_bytes()); // scheme: NULL
    area.extend_from_slice(&((modulus.len() * 8) as u16).to_be_bytes()); // keyBits
    area.extend_from_slice(&0u32.to_be_bytes()); // exponent: default 65537
    area.extend_from_slice(&(modulus.len() as u16).to_be_bytes());
    area.extend_from_slice(modulus);
    area
}

/// TPMS_ATTEST of type TPM_ST_ATTEST_CERTIFY (TPM 2.0 Part 2 §10.12.12).
fn tpm_cert_info(extra_data: &[u8], pub_area: &[u8]) -> Vec<u8> {
    let mut info = Vec::new();
    info.extend_from_slice(&0xff54_4347u32.to_be_bytes()); // magic
    info.extend_from_slice(&0x8017u16.to_be_bytes()); // type
    info.extend_from_slice(&[0x00, 0x04, 0x00, 0x0b, 0xaa, 0xbb]); // qualifiedSigner
    info.extend_from_slice(&(extra_data.len() as u16).to_be_bytes());
    info.extend_from_slice(extra_data);
    info.extend_from_slice(&[0x01; 17]); // clockInfo
    info.extend_from_slice(&[0x02; 8]); // firmwareVersion
    let mut name = 0x000bu16.to_be_bytes().to_vec();
    name.extend_from_slice(&Sha256::digest(pub_area));
    info.extend_from_slice(&(name.len() as u16).to_be_bytes());
    info.extend_from_slice(&name);
    info.extend_from_slice(&0u16.to_be_bytes()); // qualifiedName
    info
}

fn aik_params() -> CertificateParams {
    let mut params = end_entity(&[]);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(vec![2, 23, 133, 8, 3])];
    params
}

#[derive(Clone)]
struct TpmCase {
    ceremony: Ceremony,
    pub_area: Vec<u8>,
    cert_info: Vec<u8>,
    aik_key: p256::ecdsa::SigningKey,
    chain: Vec<Vec<u8>>,
}

impl TpmCase {
    fn response(&self) -> RegistrationResponseJson {
        self.response_signed_by(&self.aik_key)
    }

    fn response_signed_by(&self, key: &p256::ecdsa::SigningKey) -> RegistrationResponseJson {
        let sig = es256(key, &self.cert_info);
        self.ceremony.response(
            "tpm",
            vec![
                ("ver", Value::Text("2.0".into())),
                ("alg", cbor::integer(-7)),
                (
                    "x5c",
                    x5c(&self.chain.iter().map(Vec::as_slice).collect::<Vec<_>>()),
                ),
                ("sig", bytes(&sig)),
                ("certInfo", bytes(&self.cert_info)),
                ("pubArea", bytes(&self.pub_area)),
            ],
        )
    }
}

fn tpm_case(ceremony: Ceremony, pub_area: Vec<u8>, root: &Ca, aik: CertificateParams) -> TpmCase {
    let intermediate = root.intermediate("TPM Vendor Intermediate");
    let aik_keypair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let aik_der = intermediate.issue(&aik, &aik_keypair);
    let extra_data: Vec<u8> = Sha256::digest(ceremony.signed()).to_vec();
    let cert_info = tpm_cert_info(&extra_data, &pub_area);
    TpmCase {
        ceremony,
        pub_area,
        cert_info,
        aik_key: p256_of(&aik_keypair),
        chain: vec![aik_der, intermediate.der.clone()],
    }
}

fn ecc_coordinates(authn: &SoftAuthenticator) -> (Vec<u8>, Vec<u8>) {
    match authn.public_key().unwrap().params() {
        crate::cose::KeyParams::Ec2 { x, y } => (x.to_vec(), y.to_vec()),
        _ => unreachable!("an ES256 credential"),
    }
}

#[test]
fn tpm_ecc() {
    let (authn, _, _) = credential();
    let (x, y) = ecc_coordinates(&authn);
    let root = Ca::root("TPM Vendor Root");
    let case = tpm_case(
        Ceremony::new(&authn),
        tpm_ecc_pub_area(&x, &y),
        &root,
        aik_params(),
    );

    let registration = verify(&case.response(), &root.anchors()).unwrap();
    assert_eq!(registration.attestation.format, AttestationFormat::Tpm);
    assert_eq!(registration.attestation.kind, AttestationKind::AttCa);
    assert_eq!(
        registration.attestation.trusted_anchor(),
        Some(root.sha256().as_str())
    );
    untrusted(verify(&case.response(), &TrustAnchors::new()));

    // The signature over certInfo by another key.
    let other = p256::ecdsa::SigningKey::from_bytes(&[9u8; 32].into()).unwrap();
    refused(
        verify(&case.response_signed_by(&other), &root.anchors()),
        AttestationFormat::Tpm,
        "signature over certInfo",
    );

    // extraData for another ceremony (another clientDataHash).
    let mut other_extra = case.clone();
    other_extra.cert_info = tpm_cert_info(&[0u8; 32], &case.pub_area);
    refused(
        verify(&other_extra.response(), &root.anchors()),
        AttestationFormat::Tpm,
        "extraData",
    );

    // certInfo naming another public area.
    let other_area = tpm_ecc_pub_area(&y, &x);
    let mut wrong_name = case.clone();
    wrong_name.cert_info = tpm_cert_info(&Sha256::digest(case.ceremony.signed()), &other_area);
    refused(
        verify(&wrong_name.response(), &root.anchors()),
        AttestationFormat::Tpm,
        "Name of pubArea",
    );

    // A pubArea holding another key than the credential's.
    let swapped = tpm_case(Ceremony::new(&authn), other_area, &root, aik_params());
    refused(
        verify(&swapped.response(), &root.anchors()),
        AttestationFormat::Tpm,
        "not the credential key",
    );

    // Wrong magic.
    let mut bad_magic = case.clone();
    bad_magic.cert_info[0] = 0;
    refused(
        verify(&bad_magic.response(), &root.anchors()),
        AttestationFormat::Tpm,
        "TPM_GENERATED_VALUE",
    );

    // Truncated and padded structures.
    let mut short = case.clone();
    short.pub_area.pop();
    refused(
        verify(&short.response(), &root.anchors()),
        AttestationFormat::Tpm,
        "pubArea",
    );
    let mut long = case.clone();
    long.cert_info.push(0);
    refused(
        verify(&long.response(), &root.anchors()),
        AttestationFormat::Tpm,
        "follow",
    );
}

#[test]
fn tpm_aik_certificate_requirements() {
    let (authn, _, _) = credential();
    let (x, y) = ecc_coordinates(&authn);
    let root = Ca::root("TPM Vendor Root");
    let area = tpm_ecc_pub_area(&x, &y);

    let mut with_subject = aik_params();
    with_subject
        .distinguished_name
        .push(DnType::CommonName, "not empty");
    let case = tpm_case(Ceremony::new(&authn), area.clone(), &root, with_subject);
    refused(
        verify(&case.response(), &root.anchors()),
        AttestationFormat::Tpm,
        "subject must be empty",
    );

    let mut no_eku = aik_params();
    no_eku.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let case = tpm_case(Ceremony::new(&authn), area.clone(), &root, no_eku);
    refused(
        verify(&case.response(), &root.anchors()),
        AttestationFormat::Tpm,
        "tcg-kp-AIKCertificate",
    );

    let mut ca = aik_params();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let case = tpm_case(Ceremony::new(&authn), area, &root, ca);
    refused(
        verify(&case.response(), &root.anchors()),
        AttestationFormat::Tpm,
        "CA",
    );
}

/// An RSA credential (the specification's test-vector key: the product of
/// the Mersenne primes 2^1279 - 1 and 2^2203 - 1) attested by a TPM.
#[test]
fn tpm_rsa() {
    use rsa::BigUint;
    let one = BigUint::from(1u8);
    let p = (BigUint::from(1u8) << 1279usize) - &one;
    let q = (BigUint::from(1u8) << 2203usize) - &one;
    let n = (p * q).to_bytes_be();
    let cose = cbor::encode(&Value::Map(vec![
        (cbor::integer(1), cbor::integer(3)),
        (cbor::integer(3), cbor::integer(-257)),
        (cbor::integer(-1), bytes(&n)),
        (cbor::integer(-2), bytes(&[1, 0, 1])),
    ]))
    .unwrap();
    let mut auth_data = Sha256::digest(RP_ID).to_vec();
    auth_data.push(0x45); // UP, UV, AT
    auth_data.extend_from_slice(&[0, 0, 0, 0]);
    auth_data.extend_from_slice(&AAGUID);
    auth_data.extend_from_slice(&[0, 4, 1, 2, 3, 4]);
    auth_data.extend_from_slice(&cose);

    let root = Ca::root("TPM Vendor Root");
    let case = tpm_case(
        Ceremony::with_auth_data(auth_data.clone()),
        tpm_rsa_pub_area(&n),
        &root,
        aik_params(),
    );
    let registration = verify(&case.response(), &root.anchors()).unwrap();
    assert_eq!(registration.algorithm, CoseAlgorithm::Rs256);
    assert!(registration.attestation.is_trusted());

    // Another modulus in the public area.
    let mut other = n.clone();
    other[10] ^= 1;
    let case = tpm_case(
        Ceremony::with_auth_data(auth_data),
        tpm_rsa_pub_area(&other),
        &root,
        aik_params(),
    );
    refused(
        verify(&case.response(), &root.anchors()),
        AttestationFormat::Tpm,
        "modulus",
    );
}

// ----------------------------------------------------------------- apple

fn apple_nonce_extension(nonce: &[u8]) -> CustomExtension {
    // SEQUENCE { [1] EXPLICIT OCTET STRING nonce }
    let octets = der_tlv(&[0x04], nonce);
    let tagged = der_tlv(&[0xa1], &octets);
    let value = der_tlv(&[0x30], &tagged);
    CustomExtension::from_oid_content(&[1, 2, 840, 113635, 100, 8, 2], value)
}

fn apple_response(
    ceremony: &Ceremony,
    nonce: &[u8],
    subject_key: &KeyPair,
    intermediate: &Ca,
) -> RegistrationResponseJson {
    let mut params = end_entity(&[(DnType::CommonName, "credential")]);
    params.custom_extensions.push(apple_nonce_extension(nonce));
    let leaf = intermediate.issue(&params, subject_key);
    ceremony.response("apple", vec![("x5c", x5c(&[&leaf, &intermediate.der]))])
}

#[test]
fn apple_anonymous() {
    let (authn, keypair, _) = credential();
    let root = Ca::root("Apple WebAuthn Root CA (test)");
    let intermediate = root.intermediate("Apple WebAuthn CA 1 (test)");
    let ceremony = Ceremony::new(&authn);
    let nonce = Sha256::digest(ceremony.signed());

    let response = apple_response(&ceremony, &nonce, &keypair, &intermediate);
    let registration = verify(&response, &root.anchors()).unwrap();
    assert_eq!(registration.attestation.format, AttestationFormat::Apple);
    assert_eq!(registration.attestation.kind, AttestationKind::AnonCa);
    assert_eq!(
        registration.attestation.trusted_anchor(),
        Some(root.sha256().as_str())
    );
    untrusted(verify(&response, &TrustAnchors::new()));

    // A nonce for another ceremony.
    let response = apple_response(&ceremony, &[0u8; 32], &keypair, &intermediate);
    refused(
        verify(&response, &root.anchors()),
        AttestationFormat::Apple,
        "nonce",
    );

    // A certificate for another key.
    let other = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let response = apple_response(&ceremony, &nonce, &other, &intermediate);
    refused(
        verify(&response, &root.anchors()),
        AttestationFormat::Apple,
        "not the credential public key",
    );
}

// ----------------------------------------------------------- android-key

/// DER tag-length-value with a definite length.
fn der_tlv(tag: &[u8], content: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// An AuthorizationList: purpose [1] SET OF INTEGER, origin [702] INTEGER,
/// allApplications [600] NULL, each explicitly tagged.
fn authorization_list(purpose: Option<u8>, origin: Option<u8>, all_applications: bool) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(purpose) = purpose {
        let set = der_tlv(&[0x31], &der_tlv(&[0x02], &[purpose]));
        body.extend(der_tlv(&[0xa1], &set));
    }
    // Another entry (algorithm [2] INTEGER EC = 3) that must be skipped.
    body.extend(der_tlv(&[0xa2], &der_tlv(&[0x02], &[3])));
    if all_applications {
        body.extend(der_tlv(&[0xbf, 0x84, 0x58], &[0x05, 0x00]));
    }
    if let Some(origin) = origin {
        body.extend(der_tlv(&[0xbf, 0x85, 0x3e], &der_tlv(&[0x02], &[origin])));
    }
    der_tlv(&[0x30], &body)
}

fn key_description(challenge: &[u8], software: Vec<u8>, tee: Vec<u8>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(der_tlv(&[0x02], &[100])); // attestationVersion
    body.extend(der_tlv(&[0x0a], &[1])); // attestationSecurityLevel: TEE
    body.extend(der_tlv(&[0x02], &[100])); // keymasterVersion
    body.extend(der_tlv(&[0x0a], &[1])); // keymasterSecurityLevel: TEE
    body.extend(der_tlv(&[0x04], challenge));
    body.extend(der_tlv(&[0x04], &[]));
    body.extend(software);
    body.extend(tee);
    der_tlv(&[0x30], &body)
}

struct Android {
    root: Ca,
    intermediate: Ca,
    authn: SoftAuthenticator,
    keypair: KeyPair,
    signing: p256::ecdsa::SigningKey,
}

impl Android {
    fn new() -> Android {
        let (authn, keypair, signing) = credential();
        let root = Ca::root("Android Keystore Root (test)");
        let intermediate = root.intermediate("Android Keystore Intermediate (test)");
        Android {
            root,
            intermediate,
            authn,
            keypair,
            signing,
        }
    }

    fn response(
        &self,
        description: Vec<u8>,
        subject_key: &KeyPair,
        corrupt_sig: bool,
    ) -> RegistrationResponseJson {
        let ceremony = Ceremony::new(&self.authn);
        let mut params = end_entity(&[(DnType::CommonName, "Android Keystore Key")]);
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 11129, 2, 1, 17],
                description,
            ));
        let leaf = self.intermediate.issue(&params, subject_key);
        let mut signed = ceremony.signed();
        if corrupt_sig {
            signed[0] ^= 1;
        }
        let sig = es256(&self.signing, &signed);
        ceremony.response(
            "android-key",
            vec![
                ("alg", cbor::integer(-7)),
                ("sig", bytes(&sig)),
                ("x5c", x5c(&[&leaf, &self.intermediate.der])),
            ],
        )
    }

    fn cdh(&self) -> [u8; 32] {
        Ceremony::new(&self.authn).client_data_hash
    }
}

#[test]
fn android_key_tee_enforced() {
    let a = Android::new();
    let good = key_description(
        &a.cdh(),
        authorization_list(None, None, false),
        authorization_list(Some(2), Some(0), false),
    );
    let response = a.response(good.clone(), &a.keypair, false);
    let registration = verify(&response, &a.root.anchors()).unwrap();
    assert_eq!(
        registration.attestation.format,
        AttestationFormat::AndroidKey
    );
    assert_eq!(registration.attestation.kind, AttestationKind::Basic);
    assert_eq!(
        registration.attestation.trusted_anchor(),
        Some(a.root.sha256().as_str())
    );
    untrusted(verify(&response, &TrustAnchors::new()));

    // The statement signature over other data.
    refused(
        verify(
            &a.response(good.clone(), &a.keypair, true),
            &a.root.anchors(),
        ),
        AttestationFormat::AndroidKey,
        "signature",
    );
    // A certificate for another key than the credential.
    let other = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    refused(
        verify(&a.response(good, &other, false), &a.root.anchors()),
        AttestationFormat::AndroidKey,
        // The credential key signs, so the other key's certificate fails
        // the signature check first or the key comparison.
        "",
    );
    // The attestation challenge of another ceremony.
    let wrong_challenge = key_description(
        &[0u8; 32],
        authorization_list(None, None, false),
        authorization_list(Some(2), Some(0), false),
    );
    refused(
        verify(
            &a.response(wrong_challenge, &a.keypair, false),
            &a.root.anchors(),
        ),
        AttestationFormat::AndroidKey,
        "attestationChallenge",
    );
    // allApplications in either list.
    let all_apps = key_description(
        &a.cdh(),
        authorization_list(None, None, true),
        authorization_list(Some(2), Some(0), false),
    );
    refused(
        verify(&a.response(all_apps, &a.keypair, false), &a.root.anchors()),
        AttestationFormat::AndroidKey,
        "allApplications",
    );
    // A key imported rather than generated (origin 2), or not for signing
    // (purpose 0: encrypt).
    for (purpose, origin, words) in [(2, 2, "origin"), (0, 0, "sign purpose")] {
        let description = key_description(
            &a.cdh(),
            authorization_list(None, None, false),
            authorization_list(Some(purpose), Some(origin), false),
        );
        refused(
            verify(
                &a.response(description, &a.keypair, false),
                &a.root.anchors(),
            ),
            AttestationFormat::AndroidKey,
            words,
        );
    }
}

#[test]
fn android_key_software_enforced_only_when_allowed() {
    let a = Android::new();
    let software = key_description(
        &a.cdh(),
        authorization_list(Some(2), Some(0), false),
        authorization_list(None, None, false),
    );
    let response = a.response(software, &a.keypair, false);
    refused(
        verify(&response, &a.root.anchors()),
        AttestationFormat::AndroidKey,
        "TEE-enforced",
    );
    let registration = verify_with(&response, &a.root.anchors(), true).unwrap();
    assert!(registration.attestation.is_trusted());
}

#[test]
fn android_key_extension_is_required_and_well_formed() {
    let a = Android::new();
    for (description, words) in [
        (vec![0x30, 0x00], "attestationVersion"),
        (vec![0x04, 0x00], "KeyDescription"),
        (vec![0x30, 0x05, 0x02], "invalid DER"),
    ] {
        refused(
            verify(
                &a.response(description, &a.keypair, false),
                &a.root.anchors(),
            ),
            AttestationFormat::AndroidKey,
            words,
        );
    }
}

// ---------------------------------------------------------- trust anchors

#[test]
fn trust_anchors_from_pem() {
    let one = Ca::root("One");
    let two = Ca::root("Two");
    let pem = |der: &[u8]| {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    };
    let bundle = format!("# vendor roots\n{}{}", pem(&one.der), pem(&two.der));
    let anchors = TrustAnchors::from_pem(&bundle).unwrap();
    assert_eq!(anchors.fingerprints(), vec![one.sha256(), two.sha256()]);

    assert!(matches!(
        TrustAnchors::from_pem("nothing here"),
        Err(Error::TrustAnchor { index: 0, .. })
    ));
    let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    match TrustAnchors::from_pem(&format!("{}{key}", pem(&one.der))) {
        Err(Error::TrustAnchor { index: 1, reason }) => assert!(reason.contains("PRIVATE KEY")),
        other => panic!("{other:?}"),
    }
    let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    match TrustAnchors::from_pem(&format!("{}{garbage}", pem(&one.der))) {
        Err(Error::TrustAnchor { index: 1, reason }) => assert!(reason.contains("DER")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_format_and_malformed_statements() {
    let (authn, _, _) = credential();
    let ceremony = Ceremony::new(&authn);
    assert_eq!(
        verify(
            &ceremony.response("android-safetynet", vec![]),
            &TrustAnchors::new()
        ),
        Err(Error::UnsupportedAttestationFormat(
            "android-safetynet".into()
        ))
    );
    assert_eq!(
        verify(&ceremony.response("Packed", vec![]), &TrustAnchors::new()),
        Err(Error::UnsupportedAttestationFormat("Packed".into()))
    );
    refused(
        verify(
            &ceremony.response("none", vec![("sig", bytes(&[1]))]),
            &TrustAnchors::new(),
        ),
        AttestationFormat::None,
        "empty",
    );
    refused(
        verify(
            &ceremony.response("packed", vec![("alg", cbor::integer(-7))]),
            &TrustAnchors::new(),
        ),
        AttestationFormat::Packed,
        "sig is missing",
    );
    refused(
        verify(
            &ceremony.response(
                "packed",
                vec![
                    ("alg", cbor::integer(-7)),
                    ("sig", bytes(&[0])),
                    ("x5c", x5c(&[&[0x30, 0x00]])),
                ],
            ),
            &TrustAnchors::new(),
        ),
        AttestationFormat::Packed,
        "x5c[0]",
    );
    // Self attestation claiming another algorithm than the credential's.
    refused(
        verify(
            &ceremony.response(
                "packed",
                vec![("alg", cbor::integer(-8)), ("sig", bytes(&[0; 64]))],
            ),
            &TrustAnchors::new(),
        ),
        AttestationFormat::Packed,
        "not the credential's algorithm",
    );
}
