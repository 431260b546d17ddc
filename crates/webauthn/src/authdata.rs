//! Authenticator data (§6.1): rpIdHash, flags, signCount, and optionally the
//! attested credential data (§6.5.1) and the extension outputs.

use std::fmt;

use ciborium::value::Value;

use crate::cbor;
use crate::cose::CosePublicKey;
use crate::{Error, Result};

const WHAT: &str = "authenticator data";

/// The fixed part: 32-byte rpIdHash, 1 flags byte, 4-byte signCount.
const FIXED_LEN: usize = 37;

/// Flag bits (§6.1). Bits 1 and 3–5 are reserved and ignored.
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;
const ED: u8 = 0x80;

/// The flags byte of authenticator data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Flags {
    /// UP: the user was present (touched, clicked).
    pub user_present: bool,
    /// UV: the user was verified (PIN, biometric).
    pub user_verified: bool,
    /// BE: the credential may be backed up (synced passkey).
    pub backup_eligible: bool,
    /// BS: the credential is currently backed up.
    pub backup_state: bool,
    /// AT: attested credential data follows.
    pub attested_credential_data: bool,
    /// ED: extension outputs follow.
    pub extension_data: bool,
}

impl Flags {
    pub fn from_byte(byte: u8) -> Self {
        Flags {
            user_present: byte & UP != 0,
            user_verified: byte & UV != 0,
            backup_eligible: byte & BE != 0,
            backup_state: byte & BS != 0,
            attested_credential_data: byte & AT != 0,
            extension_data: byte & ED != 0,
        }
    }

    pub fn to_byte(self) -> u8 {
        let bit = |set: bool, bit: u8| if set { bit } else { 0 };
        bit(self.user_present, UP)
            | bit(self.user_verified, UV)
            | bit(self.backup_eligible, BE)
            | bit(self.backup_state, BS)
            | bit(self.attested_credential_data, AT)
            | bit(self.extension_data, ED)
    }
}

/// An authenticator model's AAGUID (all zeros when the authenticator does not
/// say, as with `fido-u2f` and most `none` attestations).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Aaguid(pub [u8; 16]);

impl Aaguid {
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Aaguid {
    /// The hyphenated UUID form the FIDO Metadata Service uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = hex::encode(self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

impl fmt::Debug for Aaguid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aaguid({self})")
    }
}

/// Attested credential data (§6.5.1): present in registration responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredentialData {
    pub aaguid: Aaguid,
    pub credential_id: Vec<u8>,
    /// The credential public key, with the exact COSE_Key bytes it came in.
    pub public_key: CosePublicKey,
}

/// Parsed authenticator data. The bytes it came from are what signatures
/// cover; callers keep those, this type only reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorData {
    pub rp_id_hash: [u8; 32],
    pub flags: Flags,
    pub sign_count: u32,
    pub attested_credential_data: Option<AttestedCredentialData>,
    /// The authenticator extension outputs: the exact bytes of one CBOR map.
    pub extensions: Option<Vec<u8>>,
}

impl AuthenticatorData {
    /// Parse authenticator data, refusing anything short, inconsistent with
    /// its AT/ED flags, or followed by trailing bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let (fixed, mut rest) = split(bytes, FIXED_LEN, "the 37-byte fixed part")?;
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&fixed[..32]);
        let flags = Flags::from_byte(fixed[32]);
        let sign_count = u32::from_be_bytes([fixed[33], fixed[34], fixed[35], fixed[36]]);

        let attested_credential_data = if flags.attested_credential_data {
            let (aaguid, after) = split(rest, 16, "the AAGUID")?;
            let (id_len, after) = split(after, 2, "the credential id length")?;
            let id_len = usize::from(u16::from_be_bytes([id_len[0], id_len[1]]));
            let (credential_id, after) = split(after, id_len, "the credential id")?;
            let (key, used) = cbor::decode_prefix(after, WHAT)?;
            let (key_bytes, after) = after.split_at(used);
            let public_key = CosePublicKey::from_value(key, key_bytes)?;
            rest = after;
            let mut aaguid_bytes = [0u8; 16];
            aaguid_bytes.copy_from_slice(aaguid);
            Some(AttestedCredentialData {
                aaguid: Aaguid(aaguid_bytes),
                credential_id: credential_id.to_vec(),
                public_key,
            })
        } else {
            None
        };

        let extensions = if flags.extension_data {
            if rest.is_empty() {
                return Err(Error::malformed(
                    WHAT,
                    "the ED flag is set but no extension outputs follow",
                ));
            }
            let (value, used) = cbor::decode_prefix(rest, WHAT)?;
            if !matches!(value, Value::Map(_)) {
                return Err(Error::malformed(
                    WHAT,
                    "the extension outputs are not a CBOR map",
                ));
            }
            let (ext, after) = rest.split_at(used);
            rest = after;
            Some(ext.to_vec())
        } else {
            None
        };

        if !rest.is_empty() {
            return Err(Error::malformed(
                WHAT,
                format!(
                    "{} bytes follow what the flags announce (AT={}, ED={})",
                    rest.len(),
                    flags.attested_credential_data,
                    flags.extension_data
                ),
            ));
        }

        Ok(AuthenticatorData {
            rp_id_hash,
            flags,
            sign_count,
            attested_credential_data,
            extensions,
        })
    }
}

/// Split off `n` bytes, or say which part was cut short.
fn split<'a>(bytes: &'a [u8], n: usize, part: &str) -> Result<(&'a [u8], &'a [u8])> {
    if bytes.len() < n {
        return Err(Error::malformed(
            WHAT,
            format!(
                "too short for {part}: {n} bytes needed, {} left",
                bytes.len()
            ),
        ));
    }
    Ok(bytes.split_at(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(flags: u8) -> Vec<u8> {
        let mut data = vec![0xab; 32];
        data.push(flags);
        data.extend_from_slice(&[0, 0, 1, 2]);
        data
    }

    fn reason(bytes: &[u8]) -> String {
        match AuthenticatorData::parse(bytes) {
            Err(Error::Malformed { reason, .. }) => reason,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn assertion_authenticator_data() {
        let parsed = AuthenticatorData::parse(&fixed(0x1d)).unwrap();
        assert_eq!(parsed.rp_id_hash, [0xab; 32]);
        assert_eq!(parsed.sign_count, 258);
        assert_eq!(
            parsed.flags,
            Flags {
                user_present: true,
                user_verified: true,
                backup_eligible: true,
                backup_state: true,
                attested_credential_data: false,
                extension_data: false,
            }
        );
        assert_eq!(parsed.flags.to_byte(), 0x1d);
        // Reserved bits are ignored.
        assert!(AuthenticatorData::parse(&fixed(0x23)).is_ok());
        assert!(reason(&fixed(0x01)[..36]).contains("37-byte"));
        let mut long = fixed(0x01);
        long.push(0);
        assert!(reason(&long).contains("1 bytes follow"));
    }

    #[test]
    fn attested_credential_data_lengths_are_checked() {
        assert!(reason(&fixed(0x41)).contains("AAGUID"));
        let mut data = fixed(0x41);
        data.extend_from_slice(&[0; 16]);
        assert!(reason(&data).contains("credential id length"));
        data.extend_from_slice(&[0x01, 0x00]); // 256-byte id, absent
        data.extend_from_slice(&[7; 10]);
        assert!(reason(&data).contains("credential id"));
    }

    #[test]
    fn extensions_are_one_cbor_map() {
        let mut data = fixed(0x81);
        assert!(reason(&data).contains("no extension outputs"));
        data.extend_from_slice(&[0xa1, 0x61, b'x', 0xf5]); // {"x": true}
        let parsed = AuthenticatorData::parse(&data).unwrap();
        assert_eq!(
            parsed.extensions.as_deref(),
            Some(&[0xa1, 0x61, b'x', 0xf5][..])
        );
        data.push(0x00);
        assert!(reason(&data).contains("follow"));
        let mut not_a_map = fixed(0x81);
        not_a_map.push(0x80);
        assert!(reason(&not_a_map).contains("not a CBOR map"));
    }

    #[test]
    fn aaguid_display() {
        let aaguid = Aaguid([
            0xcb, 0x69, 0x48, 0x1e, 0x8f, 0xf7, 0x40, 0x39, 0x93, 0xec, 0x0a, 0x27, 0x29, 0xa1,
            0x54, 0xa8,
        ]);
        assert_eq!(aaguid.to_string(), "cb69481e-8ff7-4039-93ec-0a2729a154a8");
        assert!(Aaguid::default().is_zero());
    }
}
