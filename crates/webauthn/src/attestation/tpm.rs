//! `tpm` (§8.3): a TPM 2.0 certifies the credential key (`pubArea`) with
//! its attestation identity key (AIK); `certInfo` is the TPMS_ATTEST it
//! signed.
//!
//! Structures are read as TPM 2.0 Part 2 defines them, big-endian, every
//! length checked and nothing left over: TPMT_PUBLIC (§12.2.4) for
//! `pubArea` and TPMS_ATTEST (§10.12.12) for `certInfo`. `sig` is the raw
//! signature (DER ECDSA or PKCS#1 v1.5), which is what Windows and the
//! specification's test vectors send despite §8.3 naming TPMT_SIGNATURE.

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::{certs, Attestation, AttestationKind, Inputs, Statement};
use crate::cose::KeyParams;
use crate::Result;

const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
const TPM_ST_ATTEST_CERTIFY: u16 = 0x8017;
const TPM_ALG_RSA: u16 = 0x0001;
const TPM_ALG_SHA1: u16 = 0x0004;
const TPM_ALG_SHA256: u16 = 0x000b;
const TPM_ALG_SHA384: u16 = 0x000c;
const TPM_ALG_SHA512: u16 = 0x000d;
const TPM_ALG_NULL: u16 = 0x0010;
const TPM_ALG_ECC: u16 = 0x0023;
const TPM_ECC_NIST_P256: u16 = 0x0003;
/// An RSA exponent of 0 in TPMS_RSA_PARMS means the default, 2^16 + 1.
const RSA_DEFAULT_EXPONENT: [u8; 3] = [0x01, 0x00, 0x01];

/// tcg-kp-AIKCertificate: the EKU an AIK certificate must carry.
const OID_TCG_KP_AIK_CERTIFICATE: &str = "2.23.133.8.3";

pub(super) fn verify(mut stmt: Statement, inputs: &Inputs<'_>) -> Result<Attestation> {
    let ver = stmt.text("ver")?;
    if ver != "2.0" {
        return Err(stmt.fail(format!("ver is {ver:?}, expected \"2.0\"")));
    }
    let alg = stmt.int("alg")?;
    let x5c = stmt.x5c()?;
    let sig = stmt.bytes("sig")?;
    let cert_info = stmt.bytes("certInfo")?;
    let pub_area = stmt.bytes("pubArea")?;

    // The public area must hold exactly the credential public key.
    let public = Public::parse(&pub_area).map_err(|e| stmt.fail(format!("pubArea: {e}")))?;
    public
        .check_matches(inputs.credential.public_key.params())
        .map_err(|e| stmt.fail(e))?;

    // The AIK certificate and its signature over certInfo.
    let chain = stmt.chain(&x5c)?;
    let aik = &chain[0];
    check_aik(aik).map_err(|e| stmt.fail(format!("AIK certificate: {e}")))?;
    aik.check_aaguid(&inputs.credential.aaguid.0)
        .map_err(|e| stmt.fail(e))?;
    stmt.verify_by_certificate(alg, aik, "AIK", &cert_info, &sig, "signature over certInfo")?;

    // certInfo must certify this pubArea for this ceremony.
    let attest = Attest::parse(&cert_info).map_err(|e| stmt.fail(format!("certInfo: {e}")))?;
    let expected_extra = statement_hash(alg, &inputs.signed_data())
        .ok_or_else(|| stmt.fail(format!("no hash is defined for alg {alg}")))?;
    if attest.extra_data != expected_extra {
        return Err(
            stmt.fail("certInfo extraData is not the hash of authenticatorData || clientDataHash")
        );
    }
    let mut expected_name = public.name_alg.to_be_bytes().to_vec();
    expected_name.extend(name_hash(public.name_alg, &pub_area).ok_or_else(|| {
        stmt.fail(format!(
            "pubArea nameAlg {:#06x} is not supported",
            public.name_alg
        ))
    })?);
    if attest.attested_name != expected_name {
        return Err(stmt.fail("certInfo attested name is not the Name of pubArea"));
    }

    stmt.certified(AttestationKind::AttCa, &chain, &x5c, inputs)
}

/// §8.3.1: version 3, empty subject, EKU tcg-kp-AIKCertificate, not a CA.
/// The SubjectAltName's TPM manufacturer attributes are not checked: the
/// vendor list changes, and the chain to a TPM vendor's root already says
/// who made the TPM.
fn check_aik(aik: &certs::Cert<'_>) -> std::result::Result<(), String> {
    aik.require_v3()?;
    if aik.x509.subject().iter().next().is_some() {
        return Err(format!(
            "the subject must be empty, it is {:?}",
            aik.x509.subject().to_string()
        ));
    }
    let eku = aik
        .x509
        .extended_key_usage()
        .map_err(|e| format!("extendedKeyUsage: {e}"))?;
    let has_aik_eku = eku.is_some_and(|eku| {
        eku.value
            .other
            .iter()
            .any(|oid| oid.to_id_string() == OID_TCG_KP_AIK_CERTIFICATE)
    });
    if !has_aik_eku {
        return Err(format!(
            "extendedKeyUsage lacks tcg-kp-AIKCertificate ({OID_TCG_KP_AIK_CERTIFICATE})"
        ));
    }
    aik.require_not_ca()
}

/// The hash `alg` uses, applied to `data`: what extraData must hold.
fn statement_hash(alg: i64, data: &[u8]) -> Option<Vec<u8>> {
    Some(match alg {
        -7 | -257 | -8 => Sha256::digest(data).to_vec(),
        -35 | -258 => Sha384::digest(data).to_vec(),
        -36 | -259 => Sha512::digest(data).to_vec(),
        -65535 => Sha1::digest(data).to_vec(),
        _ => return None,
    })
}

fn name_hash(name_alg: u16, data: &[u8]) -> Option<Vec<u8>> {
    Some(match name_alg {
        TPM_ALG_SHA1 => Sha1::digest(data).to_vec(),
        TPM_ALG_SHA256 => Sha256::digest(data).to_vec(),
        TPM_ALG_SHA384 => Sha384::digest(data).to_vec(),
        TPM_ALG_SHA512 => Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

/// A big-endian reader that refuses to run past the end.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err(format!(
                "too short for {what}: {n} bytes needed, {} left",
                self.bytes.len()
            ));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u16(&mut self, what: &str) -> std::result::Result<u16, String> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A TPM2B: a 16-bit size, then that many bytes.
    fn sized(&mut self, what: &str) -> std::result::Result<&'a [u8], String> {
        let n = self.u16(what)?;
        self.take(usize::from(n), what)
    }

    fn finish(&self) -> std::result::Result<(), String> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(format!("{} bytes follow the structure", self.bytes.len()))
        }
    }
}

/// The parts of TPMT_PUBLIC that say which key it is.
struct Public {
    name_alg: u16,
    key: PublicKeyArea,
}

enum PublicKeyArea {
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
    Ecc { curve: u16, x: Vec<u8>, y: Vec<u8> },
}

impl Public {
    fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        let mut r = Reader { bytes };
        let key_type = r.u16("type")?;
        let name_alg = r.u16("nameAlg")?;
        let _object_attributes = r.u32("objectAttributes")?;
        let _auth_policy = r.sized("authPolicy")?;
        let key = match key_type {
            TPM_ALG_RSA => {
                skip_symmetric(&mut r)?;
                skip_scheme(&mut r, "scheme")?;
                let _key_bits = r.u16("keyBits")?;
                let exponent = r.u32("exponent")?;
                let modulus = r.sized("unique (RSA modulus)")?;
                let exponent = if exponent == 0 {
                    RSA_DEFAULT_EXPONENT.to_vec()
                } else {
                    strip_zeros(&exponent.to_be_bytes()).to_vec()
                };
                PublicKeyArea::Rsa {
                    modulus: strip_zeros(modulus).to_vec(),
                    exponent,
                }
            }
            TPM_ALG_ECC => {
                skip_symmetric(&mut r)?;
                skip_scheme(&mut r, "scheme")?;
                let curve = r.u16("curveID")?;
                skip_scheme(&mut r, "kdf")?;
                let x = r.sized("unique x")?.to_vec();
                let y = r.sized("unique y")?.to_vec();
                PublicKeyArea::Ecc { curve, x, y }
            }
            other => return Err(format!("key type {other:#06x} is neither RSA nor ECC")),
        };
        r.finish()?;
        Ok(Public { name_alg, key })
    }

    fn check_matches(&self, credential: &KeyParams) -> std::result::Result<(), String> {
        match (&self.key, credential) {
            (PublicKeyArea::Rsa { modulus, exponent }, KeyParams::Rsa { n, e }) => {
                if modulus != n {
                    return Err("pubArea's RSA modulus is not the credential key's".into());
                }
                if exponent != e {
                    return Err("pubArea's RSA exponent is not the credential key's".into());
                }
                Ok(())
            }
            (PublicKeyArea::Ecc { curve, x, y }, KeyParams::Ec2 { x: cx, y: cy }) => {
                if *curve != TPM_ECC_NIST_P256 {
                    return Err(format!(
                        "pubArea's curve {curve:#06x} is not the credential key's P-256"
                    ));
                }
                // Compared as integers: a TPM may drop leading zero octets.
                if strip_zeros(x) != strip_zeros(cx) || strip_zeros(y) != strip_zeros(cy) {
                    return Err("pubArea's ECC point is not the credential key".into());
                }
                Ok(())
            }
            _ => Err("pubArea holds a different key type than the credential key".into()),
        }
    }
}

/// TPMT_SYM_DEF_OBJECT: an algorithm, then key bits and mode unless NULL.
fn skip_symmetric(r: &mut Reader<'_>) -> std::result::Result<(), String> {
    if r.u16("symmetric")? != TPM_ALG_NULL {
        r.take(4, "symmetric keyBits and mode")?;
    }
    Ok(())
}

/// A TPMT_*_SCHEME / TPMT_KDF_SCHEME: a scheme, then its hash unless NULL.
fn skip_scheme(r: &mut Reader<'_>, what: &str) -> std::result::Result<(), String> {
    if r.u16(what)? != TPM_ALG_NULL {
        r.take(2, what)?;
    }
    Ok(())
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The parts of TPMS_ATTEST (with TPMS_CERTIFY_INFO) that are checked.
struct Attest {
    extra_data: Vec<u8>,
    attested_name: Vec<u8>,
}

impl Attest {
    fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        let mut r = Reader { bytes };
        // Magic and type come first so that a structure of another kind is
        // named as such rather than failing somewhere in its body.
        let magic = r.u32("magic")?;
        if magic != TPM_GENERATED_VALUE {
            return Err(format!("magic is {magic:#010x}, not TPM_GENERATED_VALUE"));
        }
        let attest_type = r.u16("type")?;
        if attest_type != TPM_ST_ATTEST_CERTIFY {
            return Err(format!(
                "type is {attest_type:#06x}, not TPM_ST_ATTEST_CERTIFY"
            ));
        }
        let _qualified_signer = r.sized("qualifiedSigner")?;
        let extra_data = r.sized("extraData")?.to_vec();
        // TPMS_CLOCK_INFO: clock (8), resetCount (4), restartCount (4),
        // safe (1); then firmwareVersion (8). The specification says to
        // ignore them: a TPM may obfuscate them.
        r.take(17, "clockInfo")?;
        r.take(8, "firmwareVersion")?;
        let attested_name = r.sized("attested name")?.to_vec();
        let _qualified_name = r.sized("attested qualifiedName")?;
        r.finish()?;
        Ok(Attest {
            extra_data,
            attested_name,
        })
    }
}
