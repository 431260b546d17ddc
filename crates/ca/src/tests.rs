use std::path::Path;
use std::process::{Command, Output};

use countersign_attest::x509::{inspect, pem_to_der, verify_chain, Role, X509Error};
use ed25519_dalek::SigningKey;
use time::macros::datetime;
use x509_parser::oid_registry::{
    OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_SUBJECT_ALT_NAME,
    OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
};
use x509_parser::parse_x509_certificate;

use super::*;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00:00 UTC);
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const HANDLE: &str = "release-bot";

fn new_ca(name: &str) -> (CertificateAuthority, String) {
    CertificateAuthority::generate(name, NOW, Duration::days(365)).unwrap()
}

fn workload_key() -> [u8; 32] {
    SigningKey::generate(&mut OsRng).verifying_key().to_bytes()
}

fn request(key: &[u8; 32]) -> IssueRequest<'_> {
    IssueRequest {
        identity: HANDLE,
        public_key: key,
        not_before: NOW,
        not_after: NOW + Duration::minutes(10),
        oidc_issuer: ISSUER,
    }
}

/// Replace the first occurrence of `needle` in `der` by `replacement`.
fn tamper(der: &[u8], needle: &[u8], replacement: &[u8]) -> Vec<u8> {
    assert_eq!(needle.len(), replacement.len());
    let at = der
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present");
    let mut out = der.to_vec();
    out[at..at + needle.len()].copy_from_slice(replacement);
    out
}

#[test]
fn issued_certificate_verifies_inside_its_window_and_says_what_was_asked() {
    let (ca, _) = new_ca("Countersign Test CA");
    let key = workload_key();
    let issued = ca.issue(&request(&key)).unwrap();

    assert_eq!(issued.not_before, NOW);
    assert_eq!(issued.not_after, NOW + Duration::minutes(10));
    assert_eq!(pem_to_der(&issued.pem).unwrap(), issued.der);

    for at in [NOW, NOW + Duration::minutes(5), NOW + Duration::minutes(10)] {
        let info = verify_chain(&issued.der, ca.certificate_der(), at).unwrap();
        assert_eq!(info.identity.as_deref(), Some(HANDLE));
        assert_eq!(info.subject_cn.as_deref(), Some(HANDLE));
        assert_eq!(info.oidc_issuer.as_deref(), Some(ISSUER));
        assert_eq!(info.serial, issued.serial);
        assert_eq!(info.public_key, key);
        assert!(info.code_signing);
        assert!(!info.is_ca);
    }
    assert_eq!(inspect(&issued.der).unwrap().serial, issued.serial);
    assert!(issued.serial.len() <= 32 && issued.serial.len() >= 2);
    assert!(issued
        .serial
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));

    let other = ca.issue(&request(&key)).unwrap();
    assert_ne!(other.serial, issued.serial, "serials are random");
}

#[test]
fn verification_fails_just_outside_the_window() {
    let (ca, _) = new_ca("Countersign Test CA");
    let issued = ca.issue(&request(&workload_key())).unwrap();

    let before = NOW - Duration::seconds(1);
    match verify_chain(&issued.der, ca.certificate_der(), before) {
        Err(X509Error::NotYetValid {
            role: Role::Leaf,
            not_before,
            at,
        }) => {
            assert_eq!(not_before, NOW);
            assert_eq!(at, before);
        }
        other => panic!("expected NotYetValid, got {other:?}"),
    }

    let after = NOW + Duration::minutes(10) + Duration::seconds(1);
    match verify_chain(&issued.der, ca.certificate_der(), after) {
        Err(X509Error::Expired {
            role: Role::Leaf,
            not_after,
            ..
        }) => assert_eq!(not_after, NOW + Duration::minutes(10)),
        other => panic!("expected Expired, got {other:?}"),
    }
}

#[test]
fn ca_certificate_profile() {
    let (ca, key_pem) = new_ca("Countersign Test CA");
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(ca
        .certificate_pem()
        .starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(
        pem_to_der(ca.certificate_pem()).unwrap(),
        ca.certificate_der()
    );

    let info = inspect(ca.certificate_der()).unwrap();
    assert!(info.is_ca);
    assert!(!info.code_signing);
    assert_eq!(info.subject_cn.as_deref(), Some("Countersign Test CA"));
    assert_eq!(info.not_before, NOW - Duration::minutes(1));
    assert_eq!(info.not_after, NOW + Duration::days(365));
    assert_eq!(info.fingerprint, ca.fingerprint());
    assert_eq!(ca.fingerprint().len(), 64);

    let (_, cert) = parse_x509_certificate(ca.certificate_der()).unwrap();
    assert_eq!(
        cert.subject().to_string(),
        "CN=Countersign Test CA, O=Countersign"
    );
    assert_eq!(cert.issuer().as_raw(), cert.subject().as_raw());
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign());
    assert!(!ku.value.digital_signature());
    assert!(cert
        .get_extension_unique(&OID_X509_EXT_SUBJECT_KEY_IDENTIFIER)
        .unwrap()
        .is_some());

    // The private key never shows in Debug output.
    let debug = format!("{ca:?}");
    assert!(debug.contains(&ca.fingerprint()));
    assert!(!debug.contains("PRIVATE"));
}

#[test]
fn leaf_certificate_profile() {
    let (ca, _) = new_ca("Countersign Test CA");
    let issued = ca.issue(&request(&workload_key())).unwrap();
    let (_, cert) = parse_x509_certificate(&issued.der).unwrap();
    let (_, ca_cert) = parse_x509_certificate(ca.certificate_der()).unwrap();

    assert_eq!(cert.subject().to_string(), "CN=release-bot");
    assert_eq!(cert.issuer().as_raw(), ca_cert.subject().as_raw());
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert!(!san.critical, "the subject is not empty");
    assert_eq!(
        format!("{:?}", san.value.general_names),
        r#"[URI("urn:countersign:identity:release-bot")]"#
    );
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.digital_signature() && !ku.value.key_cert_sign());
    let eku = cert.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.code_signing && !eku.value.any);
    assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);

    let ski = |c: &x509_parser::certificate::X509Certificate<'_>| {
        c.get_extension_unique(&OID_X509_EXT_SUBJECT_KEY_IDENTIFIER)
            .unwrap()
            .unwrap()
            .value
            .to_vec()
    };
    let aki = cert
        .get_extension_unique(&OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER)
        .unwrap()
        .unwrap();
    // AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier }, and the
    // SubjectKeyIdentifier is an OCTET STRING: the identifier bytes agree.
    let ca_ski = ski(&ca_cert);
    assert!(aki.value.ends_with(&ca_ski[2..]));

    let issuer_ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "1.3.6.1.4.1.57264.1.8")
        .unwrap();
    assert!(!issuer_ext.critical);
    let mut expected = vec![0x0c, u8::try_from(ISSUER.len()).unwrap()];
    expected.extend_from_slice(ISSUER.as_bytes());
    assert_eq!(issuer_ext.value, expected.as_slice());

    assert_eq!(cert.validity().not_before.to_datetime(), issued.not_before);
    assert_eq!(cert.validity().not_after.to_datetime(), issued.not_after);
}

#[test]
fn long_handle_leaves_the_subject_empty_and_the_san_critical() {
    let (ca, _) = new_ca("Countersign Test CA");
    let key = workload_key();
    let handle = format!("ci-{}", "x".repeat(100));
    let long_issuer = format!("https://issuer.example/{}", "p".repeat(300));
    let issued = ca
        .issue(&IssueRequest {
            identity: &handle,
            oidc_issuer: &long_issuer,
            ..request(&key)
        })
        .unwrap();
    let info = verify_chain(&issued.der, ca.certificate_der(), NOW).unwrap();
    assert_eq!(info.subject_cn, None);
    assert_eq!(info.identity.as_deref(), Some(handle.as_str()));
    assert_eq!(info.oidc_issuer.as_deref(), Some(long_issuer.as_str()));

    let (_, cert) = parse_x509_certificate(&issued.der).unwrap();
    assert_eq!(cert.subject().iter_rdn().count(), 0);
    let san = cert
        .get_extension_unique(&OID_X509_EXT_SUBJECT_ALT_NAME)
        .unwrap()
        .unwrap();
    assert!(san.critical);
}

#[test]
fn a_leaf_from_another_ca_fails() {
    let (ca, _) = new_ca("Countersign Test CA");
    let (stranger, _) = new_ca("Some Other CA");
    let (twin, _) = new_ca("Countersign Test CA");
    let key = workload_key();

    let foreign = stranger.issue(&request(&key)).unwrap();
    assert!(matches!(
        verify_chain(&foreign.der, ca.certificate_der(), NOW),
        Err(X509Error::WrongIssuer { .. })
    ));

    // Same name, different key: only the signature tells them apart.
    let impostor = twin.issue(&request(&key)).unwrap();
    assert!(matches!(
        verify_chain(&impostor.der, ca.certificate_der(), NOW),
        Err(X509Error::BadSignature)
    ));
}

#[test]
fn tampering_breaks_the_signature() {
    let (ca, _) = new_ca("Countersign Test CA");
    let issued = ca.issue(&request(&workload_key())).unwrap();

    // Rename the identity inside the SubjectAltName.
    let forged = tamper(
        &issued.der,
        b"identity:release-bot",
        b"identity:release-bat",
    );
    assert_eq!(
        inspect(&forged).unwrap().identity.as_deref(),
        Some("release-bat"),
        "the forgery parses; only the signature catches it"
    );
    assert!(matches!(
        verify_chain(&forged, ca.certificate_der(), NOW),
        Err(X509Error::BadSignature)
    ));

    // Flip a bit in the signature (the last bytes of the DER).
    let mut bad_signature = issued.der.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last - 5] ^= 0x01;
    assert!(matches!(
        verify_chain(&bad_signature, ca.certificate_der(), NOW),
        Err(X509Error::BadSignature)
    ));

    // A tampered CA certificate fails its self-signature.
    // (The name appears twice, as issuer and subject; change both.)
    let bad_ca = tamper(
        &tamper(ca.certificate_der(), b"Test CA", b"Test CB"),
        b"Test CA",
        b"Test CB",
    );
    assert!(matches!(
        verify_chain(&issued.der, &bad_ca, NOW),
        Err(X509Error::CaBadSignature)
    ));

    // Trailing bytes are refused.
    let mut trailing = issued.der.clone();
    trailing.push(0);
    assert!(matches!(
        verify_chain(&trailing, ca.certificate_der(), NOW),
        Err(X509Error::Certificate {
            role: Role::Leaf,
            ..
        })
    ));
    assert!(matches!(
        inspect(&trailing),
        Err(X509Error::TrailingBytes(1))
    ));
}

#[test]
fn a_ca_certificate_is_not_a_leaf_and_a_leaf_is_not_a_ca() {
    let (ca, _) = new_ca("Countersign Test CA");
    assert!(matches!(
        verify_chain(ca.certificate_der(), ca.certificate_der(), NOW),
        Err(X509Error::LeafIsCa)
    ));

    let issued = ca.issue(&request(&workload_key())).unwrap();
    assert!(matches!(
        verify_chain(&issued.der, &issued.der, NOW),
        Err(X509Error::CaNotSelfIssued { .. })
    ));
}

#[test]
fn load_round_trips_and_rejects_a_mismatched_key() {
    let (ca, key_pem) = new_ca("Countersign Test CA");
    let loaded = CertificateAuthority::load(&key_pem, ca.certificate_pem()).unwrap();
    assert_eq!(loaded.fingerprint(), ca.fingerprint());
    assert_eq!(loaded.certificate_der(), ca.certificate_der());
    assert_eq!(loaded.certificate_pem(), ca.certificate_pem());

    // A certificate from the loaded CA verifies against the original.
    let issued = loaded.issue(&request(&workload_key())).unwrap();
    verify_chain(&issued.der, ca.certificate_der(), NOW).unwrap();

    let (_, other_key_pem) = new_ca("Countersign Test CA");
    assert!(matches!(
        CertificateAuthority::load(&other_key_pem, ca.certificate_pem()),
        Err(Error::KeyMismatch)
    ));
    assert!(matches!(
        CertificateAuthority::load("not a key", ca.certificate_pem()),
        Err(Error::Key(_))
    ));
    assert!(matches!(
        CertificateAuthority::load(&key_pem, "not a certificate"),
        Err(Error::Certificate(X509Error::Pem(_)))
    ));

    // A workload's own key and leaf certificate do not make a CA.
    let workload = SigningKey::generate(&mut OsRng);
    let workload_pem = countersign_attest::keys::signing_key_to_pem(&workload).unwrap();
    let leaf = ca
        .issue(&request(&workload.verifying_key().to_bytes()))
        .unwrap();
    assert!(matches!(
        CertificateAuthority::load(&workload_pem, &leaf.pem),
        Err(Error::UnusableCa(_))
    ));
    // The key as ed25519-dalek encodes it loads too: it is plain PKCS#8.
    let dalek_pem = countersign_attest::keys::signing_key_to_pem(
        &countersign_attest::keys::signing_key_from_pem(&key_pem).unwrap(),
    )
    .unwrap();
    CertificateAuthority::load(&dalek_pem, ca.certificate_pem()).unwrap();
}

#[test]
fn refuses_windows_outside_the_ca_validity() {
    let (ca, _) = new_ca("Countersign Test CA");
    let key = workload_key();
    let ca_not_before = NOW - Duration::minutes(1);
    let ca_not_after = NOW + Duration::days(365);

    for (not_before, not_after) in [
        (ca_not_before - Duration::seconds(1), NOW),
        (
            ca_not_after - Duration::minutes(1),
            ca_not_after + Duration::seconds(1),
        ),
    ] {
        match ca.issue(&IssueRequest {
            not_before,
            not_after,
            ..request(&key)
        }) {
            Err(Error::OutsideCaValidity {
                ca_not_before: b,
                ca_not_after: a,
                ..
            }) => assert_eq!((b, a), (ca_not_before, ca_not_after)),
            other => panic!("expected OutsideCaValidity, got {other:?}"),
        }
    }
    // The CA's own window, exactly, is fine.
    ca.issue(&IssueRequest {
        not_before: ca_not_before,
        not_after: ca_not_after,
        ..request(&key)
    })
    .unwrap();

    for not_after in [
        NOW,
        NOW - Duration::seconds(1),
        NOW + Duration::milliseconds(500),
    ] {
        assert!(
            matches!(
                ca.issue(&IssueRequest {
                    not_after,
                    ..request(&key)
                }),
                Err(Error::InvalidValidity(_))
            ),
            "not_after {not_after}"
        );
    }
}

#[test]
fn times_are_truncated_to_whole_seconds_in_utc() {
    let (ca, _) = new_ca("Countersign Test CA");
    let key = workload_key();
    let issued = ca
        .issue(&IssueRequest {
            not_before: (NOW + Duration::milliseconds(700)).to_offset(time::macros::offset!(+2)),
            not_after: NOW + Duration::seconds(90) + Duration::milliseconds(999),
            ..request(&key)
        })
        .unwrap();
    assert_eq!(issued.not_before, NOW);
    assert_eq!(issued.not_after, NOW + Duration::seconds(90));
    assert_eq!(issued.not_before.offset(), UtcOffset::UTC);
}

#[test]
fn refuses_bad_requests() {
    let (ca, _) = new_ca("Countersign Test CA");
    let key = workload_key();
    for identity in ["", "has space", ".hidden", "uni\u{e9}", &"x".repeat(129)] {
        assert!(
            matches!(
                ca.issue(&IssueRequest {
                    identity,
                    ..request(&key)
                }),
                Err(Error::InvalidIdentity(_))
            ),
            "identity {identity:?}"
        );
    }
    for oidc_issuer in ["", "https://a b", "https://a\n", &"x".repeat(1025)] {
        assert!(
            matches!(
                ca.issue(&IssueRequest {
                    oidc_issuer,
                    ..request(&key)
                }),
                Err(Error::InvalidOidcIssuer(_))
            ),
            "issuer {oidc_issuer:?}"
        );
    }
    // The identity point has small order: it would "verify" forgeries.
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    assert!(matches!(
        ca.issue(&request(&identity_point)),
        Err(Error::InvalidPublicKey(_))
    ));

    assert!(matches!(
        CertificateAuthority::generate("", NOW, Duration::days(1)),
        Err(Error::InvalidCommonName(_))
    ));
    assert!(matches!(
        CertificateAuthority::generate(&"c".repeat(65), NOW, Duration::days(1)),
        Err(Error::InvalidCommonName(_))
    ));
    assert!(matches!(
        CertificateAuthority::generate("CA", NOW, Duration::ZERO),
        Err(Error::InvalidValidity(_))
    ));
    assert!(matches!(
        CertificateAuthority::generate("CA", NOW, Duration::days(365 * 9000)),
        Err(Error::InvalidValidity(_))
    ));
}

#[test]
fn der_utf8_string_lengths() {
    assert_eq!(der_utf8_string("").unwrap(), vec![0x0c, 0]);
    assert_eq!(der_utf8_string(&"a".repeat(127)).unwrap()[..2], [0x0c, 127]);
    assert_eq!(
        der_utf8_string(&"a".repeat(128)).unwrap()[..3],
        [0x0c, 0x81, 128]
    );
    assert_eq!(
        der_utf8_string(&"a".repeat(300)).unwrap()[..4],
        [0x0c, 0x82, 0x01, 0x2c]
    );
}

// --- Interoperability with OpenSSL ------------------------------------------

const OPENSSL: &str = "/usr/bin/openssl";

fn openssl(dir: &Path, args: &[&str]) -> Output {
    assert!(
        Path::new(OPENSSL).exists(),
        "{OPENSSL} is required for the X.509 interoperability tests; install OpenSSL 3"
    );
    Command::new(OPENSSL)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn openssl_verifies_our_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = new_ca("Countersign Test CA");
    let issued = ca.issue(&request(&workload_key())).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.certificate_pem()).unwrap();
    std::fs::write(dir.path().join("leaf.pem"), &issued.pem).unwrap();

    let verify_at = |at: OffsetDateTime| {
        openssl(
            dir.path(),
            &[
                "verify",
                "-CAfile",
                "ca.pem",
                "-attime",
                &at.unix_timestamp().to_string(),
                "-purpose",
                "any",
                "leaf.pem",
            ],
        )
    };
    let inside = verify_at(NOW + Duration::minutes(5));
    assert!(inside.status.success(), "{}", text(&inside));
    assert!(text(&inside).contains("leaf.pem: OK"));

    let after = verify_at(NOW + Duration::minutes(10) + Duration::seconds(1));
    assert!(!after.status.success(), "{}", text(&after));
    assert!(
        text(&after).contains("certificate has expired"),
        "{}",
        text(&after)
    );

    let shown = openssl(dir.path(), &["x509", "-in", "leaf.pem", "-noout", "-text"]);
    assert!(shown.status.success(), "{}", text(&shown));
    let shown = text(&shown);
    assert!(
        shown.contains("URI:urn:countersign:identity:release-bot"),
        "{shown}"
    );
    assert!(shown.contains("Code Signing"), "{shown}");
    assert!(shown.contains("Digital Signature"), "{shown}");
    assert!(shown.contains("CA:FALSE"), "{shown}");
    assert!(shown.contains("ED25519"), "{shown}");
    assert!(shown.contains("1.3.6.1.4.1.57264.1.8"), "{shown}");
    assert!(shown.contains(ISSUER), "{shown}");

    let fingerprint = openssl(
        dir.path(),
        &["x509", "-in", "ca.pem", "-noout", "-fingerprint", "-sha256"],
    );
    let fingerprint = text(&fingerprint).to_lowercase().replace(':', "");
    assert!(fingerprint.contains(&ca.fingerprint()), "{fingerprint}");
}

#[test]
fn we_verify_and_load_certificates_openssl_made() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = openssl(dir.path(), args);
        assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
    };
    run(&["genpkey", "-algorithm", "ed25519", "-out", "ca.key"]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=OpenSSL CA/O=Countersign",
        "-days",
        "2",
        "-addext",
        "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        "ca.pem",
    ]);
    run(&["genpkey", "-algorithm", "ed25519", "-out", "leaf.key"]);
    run(&[
        "req",
        "-new",
        "-key",
        "leaf.key",
        "-subj",
        "/CN=deploy-bot",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        dir.path().join("leaf.ext"),
        "subjectAltName=URI:urn:countersign:identity:deploy-bot\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=codeSigning\n\
         basicConstraints=CA:FALSE\n\
         1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:https://issuer.example\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);

    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let ca_der = pem_to_der(&read("ca.pem")).unwrap();
    let leaf_der = pem_to_der(&read("leaf.pem")).unwrap();
    let at = inspect(&leaf_der).unwrap().not_before + Duration::seconds(1);
    let info = verify_chain(&leaf_der, &ca_der, at).unwrap();
    assert_eq!(info.identity.as_deref(), Some("deploy-bot"));
    assert_eq!(info.subject_cn.as_deref(), Some("deploy-bot"));
    assert_eq!(info.oidc_issuer.as_deref(), Some("https://issuer.example"));
    assert!(info.code_signing && !info.is_ca);

    // An operator-supplied OpenSSL CA loads and issues verifiable leaves.
    let ca = CertificateAuthority::load(&read("ca.key"), &read("ca.pem")).unwrap();
    let ca_info = inspect(&ca_der).unwrap();
    let issued = ca
        .issue(&IssueRequest {
            not_before: ca_info.not_before,
            not_after: ca_info.not_before + Duration::minutes(10),
            ..request(&workload_key())
        })
        .unwrap();
    verify_chain(&issued.der, &ca_der, ca_info.not_before).unwrap();
}

#[test]
fn the_ca_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CertificateAuthority>();
}
