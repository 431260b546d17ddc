//! A software authenticator and browser for tests (feature `testkit`).
//!
//! [`SoftAuthenticator`] holds one credential (ES256 on P-256, or EdDSA on
//! Ed25519) and answers registrations and assertions with the JSON a
//! browser's `PublicKeyCredential.toJSON()` produces: the same
//! `clientDataJSON` member order as Chromium, a CTAP2-canonical attestation
//! object and COSE key, the convenience members (`authenticatorData`,
//! `publicKey`, `publicKeyAlgorithm`, `transports`). Server tests can feed
//! the result through the real verification path, and the flags and counter
//! are plain fields, so a test can produce what a misbehaving authenticator
//! would.
//!
//! [`TestAttestationCa`] makes a root and a `packed` attestation
//! certificate (rcgen) for attestation that chains to a trust anchor.
//!
//! Nothing here is for production: keys live in memory unprotected.

use ciborium::value::Value;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use ed25519_dalek::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;
use rand_core::CryptoRngCore;
use sha2::{Digest as _, Sha256};

use crate::authdata::Flags;
use crate::client_data::client_data_hash;
use crate::cose::{CoseAlgorithm, CosePublicKey};
use crate::json::{
    AssertionResponseJson, AttestationResponseJson, AuthenticationResponseJson,
    RegistrationResponseJson,
};
use crate::trust::TrustAnchors;
use crate::{b64, cbor, Base64UrlBytes};

/// Why the test kit could not produce something (a key that cannot be
/// made, rcgen failing).
#[derive(Debug, thiserror::Error)]
#[error("testkit: {0}")]
pub struct TestkitError(String);

fn fail(e: impl std::fmt::Display) -> TestkitError {
    TestkitError(e.to_string())
}

/// The credential's private key.
#[derive(Clone)]
enum SoftKey {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
}

/// Which attestation statement a registration carries.
#[derive(Clone, Copy)]
pub enum TestAttestation<'a> {
    /// `fmt: "none"`, an empty statement (what browsers send when the
    /// options asked for no attestation).
    None,
    /// `packed` self attestation: signed by the credential key.
    PackedSelf,
    /// `packed` full attestation: `signing_key` signs (ES256) and `x5c`
    /// (leaf first) certifies it.
    Packed {
        signing_key: &'a p256::ecdsa::SigningKey,
        x5c: &'a [Vec<u8>],
    },
}

/// The flags a [`SoftAuthenticator`] sets; any combination, including
/// invalid ones such as BS without BE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestFlags {
    pub user_present: bool,
    pub user_verified: bool,
    pub backup_eligible: bool,
    pub backup_state: bool,
}

impl Default for TestFlags {
    /// A user-verifying security key: UP and UV, not backed up.
    fn default() -> Self {
        TestFlags {
            user_present: true,
            user_verified: true,
            backup_eligible: false,
            backup_state: false,
        }
    }
}

/// A software authenticator holding one credential.
#[derive(Clone)]
pub struct SoftAuthenticator {
    key: SoftKey,
    credential_id: Vec<u8>,
    user_handle: Option<Vec<u8>>,
    /// The AAGUID in attested credential data (all zeros by default).
    pub aaguid: [u8; 16],
    pub flags: TestFlags,
    /// The signature counter; a registration reports it as is, an
    /// assertion first adds [`counter_step`](Self::counter_step).
    pub sign_count: u32,
    /// 1 by default (a security key); 0 models a synced passkey, whose
    /// counter stays 0.
    pub counter_step: u32,
    /// Authenticator extension outputs (a CBOR map's bytes) to append with
    /// the ED flag, if any.
    pub extensions: Option<Vec<u8>>,
    /// What `getTransports()` reports.
    pub transports: Vec<String>,
    /// `authenticatorAttachment`.
    pub attachment: Option<String>,
}

impl SoftAuthenticator {
    /// A new credential with a random key.
    pub fn generate(
        algorithm: CoseAlgorithm,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, TestkitError> {
        loop {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            // A P-256 seed is out of range with probability about 2^-32;
            // draw again rather than fail.
            if let Ok(authenticator) = Self::from_seed(algorithm, seed) {
                return Ok(authenticator);
            }
        }
    }

    /// A credential whose key and id derive from `seed`, for reproducible
    /// tests. RS256 is not offered: no test needs an RSA authenticator, and
    /// RSA key generation is slow.
    pub fn from_seed(algorithm: CoseAlgorithm, seed: [u8; 32]) -> Result<Self, TestkitError> {
        let key = match algorithm {
            CoseAlgorithm::Es256 => {
                SoftKey::Es256(p256::ecdsa::SigningKey::from_bytes(&seed.into()).map_err(fail)?)
            }
            CoseAlgorithm::EdDsa => SoftKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(&seed)),
            CoseAlgorithm::Rs256 => {
                return Err(TestkitError(
                    "the software authenticator makes ES256 and EdDSA credentials".into(),
                ))
            }
        };
        let mut id_input = b"countersign-webauthn testkit credential id".to_vec();
        id_input.extend_from_slice(&seed);
        let credential_id = Sha256::digest(&id_input)[..16].to_vec();
        Ok(SoftAuthenticator {
            key,
            credential_id,
            user_handle: None,
            aaguid: [0; 16],
            flags: TestFlags::default(),
            sign_count: 0,
            counter_step: 1,
            extensions: None,
            transports: vec!["usb".into()],
            attachment: Some("cross-platform".into()),
        })
    }

    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }

    pub fn algorithm(&self) -> CoseAlgorithm {
        match self.key {
            SoftKey::Es256(_) => CoseAlgorithm::Es256,
            SoftKey::EdDsa(_) => CoseAlgorithm::EdDsa,
        }
    }

    /// The credential public key as the authenticator encodes it.
    pub fn public_key(&self) -> Result<CosePublicKey, TestkitError> {
        match &self.key {
            SoftKey::Es256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    return Err(TestkitError("P-256 point has no coordinates".into()));
                };
                CosePublicKey::encode_ec2(&(*x).into(), &(*y).into()).map_err(fail)
            }
            SoftKey::EdDsa(key) => {
                CosePublicKey::encode_okp(key.verifying_key().as_bytes()).map_err(fail)
            }
        }
    }

    /// The DER SubjectPublicKeyInfo a browser reports as `publicKey`.
    fn spki(&self) -> Result<Vec<u8>, TestkitError> {
        let der = match &self.key {
            SoftKey::Es256(key) => key.verifying_key().to_public_key_der().map_err(fail)?,
            SoftKey::EdDsa(key) => key.verifying_key().to_public_key_der().map_err(fail)?,
        };
        Ok(der.as_bytes().to_vec())
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            SoftKey::Es256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            SoftKey::EdDsa(key) => key.sign(message).to_bytes().to_vec(),
        }
    }

    /// Authenticator data for `rp_id` with the current flags and counter,
    /// and attested credential data when `attested`.
    pub fn authenticator_data(&self, rp_id: &str, attested: bool) -> Result<Vec<u8>, TestkitError> {
        let flags = Flags {
            user_present: self.flags.user_present,
            user_verified: self.flags.user_verified,
            backup_eligible: self.flags.backup_eligible,
            backup_state: self.flags.backup_state,
            attested_credential_data: attested,
            extension_data: self.extensions.is_some(),
        };
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        data.push(flags.to_byte());
        data.extend_from_slice(&self.sign_count.to_be_bytes());
        if attested {
            data.extend_from_slice(&self.aaguid);
            let id_len = u16::try_from(self.credential_id.len()).map_err(fail)?;
            data.extend_from_slice(&id_len.to_be_bytes());
            data.extend_from_slice(&self.credential_id);
            data.extend_from_slice(self.public_key()?.cose_bytes());
        }
        if let Some(extensions) = &self.extensions {
            data.extend_from_slice(extensions);
        }
        Ok(data)
    }

    /// Register the credential (`navigator.credentials.create()` and
    /// `toJSON()`), remembering `user_handle` for discoverable sign-in.
    pub fn register(
        &mut self,
        rp_id: &str,
        origin: &str,
        challenge: &[u8],
        user_handle: &[u8],
        attestation: TestAttestation<'_>,
    ) -> Result<RegistrationResponseJson, TestkitError> {
        let client_data = client_data_json("webauthn.create", challenge, origin);
        self.register_with_client_data(rp_id, client_data, user_handle, attestation)
    }

    /// [`register`](Self::register) with `clientDataJSON` bytes the test
    /// wrote itself (to model a client that sends something odd).
    pub fn register_with_client_data(
        &mut self,
        rp_id: &str,
        client_data: Vec<u8>,
        user_handle: &[u8],
        attestation: TestAttestation<'_>,
    ) -> Result<RegistrationResponseJson, TestkitError> {
        self.user_handle = Some(user_handle.to_vec());
        let auth_data = self.authenticator_data(rp_id, true)?;
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&client_data_hash(&client_data));
        let text = |s: &str| Value::Text(s.into());
        let (fmt, statement) = match attestation {
            TestAttestation::None => ("none", Vec::new()),
            TestAttestation::PackedSelf => (
                "packed",
                vec![
                    (text("alg"), cbor::integer(self.algorithm().id())),
                    (text("sig"), Value::Bytes(self.sign(&signed))),
                ],
            ),
            TestAttestation::Packed { signing_key, x5c } => {
                let signature: p256::ecdsa::Signature =
                    p256::ecdsa::signature::Signer::sign(signing_key, &signed);
                (
                    "packed",
                    vec![
                        (text("alg"), cbor::integer(-7)),
                        (
                            text("sig"),
                            Value::Bytes(signature.to_der().as_bytes().to_vec()),
                        ),
                        (
                            text("x5c"),
                            Value::Array(x5c.iter().cloned().map(Value::Bytes).collect()),
                        ),
                    ],
                )
            }
        };
        let object = Value::Map(vec![
            (text("fmt"), text(fmt)),
            (text("attStmt"), Value::Map(statement)),
            (text("authData"), Value::Bytes(auth_data.clone())),
        ]);
        let attestation_object = cbor::encode(&object).map_err(fail)?;
        Ok(RegistrationResponseJson {
            id: b64::encode(&self.credential_id),
            raw_id: Base64UrlBytes(self.credential_id.clone()),
            credential_type: "public-key".into(),
            response: AttestationResponseJson {
                client_data_json: Base64UrlBytes(client_data),
                attestation_object: Base64UrlBytes(attestation_object),
                authenticator_data: Some(Base64UrlBytes(auth_data)),
                transports: self.transports.clone(),
                public_key: Some(Base64UrlBytes(self.spki()?)),
                public_key_algorithm: Some(self.algorithm().id()),
            },
            authenticator_attachment: self.attachment.clone(),
            client_extension_results: serde_json::Map::new(),
        })
    }

    /// Answer an assertion request (`navigator.credentials.get()` and
    /// `toJSON()`) for `challenge`, counting the signature.
    pub fn assert(
        &mut self,
        rp_id: &str,
        origin: &str,
        challenge: &[u8],
    ) -> Result<AuthenticationResponseJson, TestkitError> {
        let client_data = client_data_json("webauthn.get", challenge, origin);
        self.assert_with_client_data(rp_id, client_data)
    }

    /// [`assert`](Self::assert) with `clientDataJSON` bytes the test wrote.
    pub fn assert_with_client_data(
        &mut self,
        rp_id: &str,
        client_data: Vec<u8>,
    ) -> Result<AuthenticationResponseJson, TestkitError> {
        self.sign_count = self.sign_count.wrapping_add(self.counter_step);
        let auth_data = self.authenticator_data(rp_id, false)?;
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&client_data_hash(&client_data));
        let signature = self.sign(&signed);
        Ok(AuthenticationResponseJson {
            id: b64::encode(&self.credential_id),
            raw_id: Base64UrlBytes(self.credential_id.clone()),
            credential_type: "public-key".into(),
            response: AssertionResponseJson {
                client_data_json: Base64UrlBytes(client_data),
                authenticator_data: Base64UrlBytes(auth_data),
                signature: Base64UrlBytes(signature),
                user_handle: self.user_handle.clone().map(Base64UrlBytes),
            },
            authenticator_attachment: self.attachment.clone(),
            client_extension_results: serde_json::Map::new(),
        })
    }
}

/// `clientDataJSON` as Chromium writes it: `type`, `challenge`, `origin`,
/// `crossOrigin` in that order, no whitespace.
pub fn client_data_json(ceremony_type: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
    // serde_json escapes the strings; the member order is fixed by hand
    // because it is part of what the signature covers.
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    format!(
        "{{\"type\":{},\"challenge\":{},\"origin\":{},\"crossOrigin\":false}}",
        quote(ceremony_type),
        quote(&b64::encode(challenge)),
        quote(origin)
    )
    .into_bytes()
}

/// A test attestation CA: a self-signed P-256 root and one `packed`
/// attestation certificate it issued (§8.2.1 subject, CA false, the
/// AAGUID extension), valid from 1975 to 4096.
pub struct TestAttestationCa {
    pub root_der: Vec<u8>,
    pub root_pem: String,
    pub leaf_der: Vec<u8>,
    /// The attestation private key the leaf certifies.
    pub leaf_key: p256::ecdsa::SigningKey,
}

impl TestAttestationCa {
    pub fn new(aaguid: [u8; 16]) -> Result<Self, TestkitError> {
        use rcgen::{
            BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa,
            Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
        };

        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(fail)?;
        let mut root = CertificateParams::default();
        root.distinguished_name = DistinguishedName::new();
        root.distinguished_name
            .push(DnType::CommonName, "Countersign Test Attestation Root");
        root.distinguished_name
            .push(DnType::OrganizationName, "Countersign Test");
        root.distinguished_name.push(DnType::CountryName, "AA");
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_cert = root.self_signed(&root_key).map_err(fail)?;
        let issuer = Issuer::new(root, root_key);

        let leaf_keypair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(fail)?;
        let leaf_key =
            p256::ecdsa::SigningKey::from_pkcs8_der(&leaf_keypair.serialize_der()).map_err(fail)?;
        let mut leaf = CertificateParams::default();
        leaf.distinguished_name = DistinguishedName::new();
        leaf.distinguished_name
            .push(DnType::CommonName, "Countersign Test Authenticator");
        leaf.distinguished_name
            .push(DnType::OrganizationName, "Countersign Test");
        leaf.distinguished_name
            .push(DnType::OrganizationalUnitName, "Authenticator Attestation");
        leaf.distinguished_name.push(DnType::CountryName, "AA");
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // id-fido-gen-ce-aaguid: the AAGUID as an OCTET STRING.
        let mut aaguid_der = vec![0x04, 0x10];
        aaguid_der.extend_from_slice(&aaguid);
        leaf.custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4],
                aaguid_der,
            ));
        let leaf_cert = leaf.signed_by(&leaf_keypair, &issuer).map_err(fail)?;

        Ok(TestAttestationCa {
            root_der: root_cert.der().to_vec(),
            root_pem: root_cert.pem(),
            leaf_der: leaf_cert.der().to_vec(),
            leaf_key,
        })
    }

    /// `x5c` for a packed statement: the leaf alone (the root is the trust
    /// anchor, which authenticators do not send).
    pub fn x5c(&self) -> Vec<Vec<u8>> {
        vec![self.leaf_der.clone()]
    }

    /// A `packed` attestation by this CA's leaf.
    pub fn attestation(&self) -> TestAttestation<'_> {
        TestAttestation::Packed {
            signing_key: &self.leaf_key,
            x5c: std::slice::from_ref(&self.leaf_der),
        }
    }

    /// The root as the only trust anchor.
    pub fn trust_anchors(&self) -> Result<TrustAnchors, TestkitError> {
        TrustAnchors::from_pem(&self.root_pem).map_err(fail)
    }
}
