//! WebAuthn Level 3 relying-party verification
//! (<https://www.w3.org/TR/webauthn-3/>) as pure functions of bytes, with a
//! challenge the caller chooses.
//!
//! # Why this crate exists
//!
//! Countersign signs statements with passkeys: the challenge of a signing
//! assertion is SHA-256 of the DSSE pre-authentication encoding of the
//! statement being approved, so the authenticator's signature covers the
//! statement itself. `webauthn-rs` generates and keeps the challenge inside
//! its ceremony state and offers no way to verify an assertion against a
//! challenge the relying party derived, so it cannot express that. This crate
//! takes the expected challenge as plain bytes of any length
//! ([`verify_assertion`]) and otherwise follows §7.1 and §7.2 of the
//! specification, built on `ciborium` (CBOR), `x509-parser` (certificates)
//! and the RustCrypto signature crates (`p256`, `p384`, `rsa`,
//! `ed25519-dalek`).
//!
//! # What it checks
//!
//! - Parsing ([`authdata`], [`client_data`], [`cose`], [`json`]): every
//!   length is checked, hostile input is an [`Error`], never a panic, and
//!   trailing bytes are refused. The credential public key keeps the exact
//!   CBOR bytes it arrived in, so a stored key is what the authenticator
//!   sent.
//! - Registration ([`verify_registration`]): ceremony type
//!   `webauthn.create`, the challenge, the origin against the
//!   [`RelyingParty`], no cross-origin use, rpIdHash, UP, UV when required, no
//!   BS without BE, attested credential data present and consistent with
//!   `rawId`, a supported algorithm (EdDSA, ES256, RS256), and the attestation
//!   statement of format `none`, `packed` (self and full), `tpm`,
//!   `android-key`, `apple` or `fido-u2f`, including the certificate chain up
//!   to the caller's [`TrustAnchors`] at the caller's `now`.
//! - Assertion ([`verify_assertion`]): ceremony type `webauthn.get`, the
//!   caller's challenge, origin, no cross-origin use, rpIdHash, UP, UV when
//!   required, no BS without BE, and the signature over
//!   `authenticatorData || SHA-256(clientDataJSON)` with the stored key.
//! - Browser options ([`options`]) in the JSON forms that
//!   `PublicKeyCredential.parseCreationOptionsFromJSON()` and
//!   `parseRequestOptionsFromJSON()` accept.
//!
//! # What it deliberately does not do
//!
//! - No IO: no network, no files, no database. Trust anchors arrive as PEM
//!   text the caller read; nothing is fetched (no FIDO Metadata Service, no
//!   revocation lists, no OCSP).
//! - No clock: certificate validity is checked at the `now` the caller
//!   passes.
//! - No storage and no state: it does not generate or remember challenges,
//!   does not store credentials, and does not compare sign counters or
//!   backup-eligibility with stored values; it reports the counter and flags
//!   so the caller can.
//! - No policy: it reports what the response proves (flags, the attestation
//!   format and type, whether the chain reached a trusted root and which one,
//!   the AAGUID). Whether self attestation is acceptable, or what assurance
//!   an untrusted attestation earns, is the caller's decision. An attestation
//!   whose signatures verify but whose chain reaches no trusted root is a
//!   result with [`Trust::Untrusted`], not an error.
//! - No certificate path building or revocation: `x5c` is the path, in
//!   order, ending at a certificate that is a trust anchor or is signed by
//!   one; name constraints, policies and CRLs/OCSP are not evaluated.
//! - No extensions processing beyond skipping the authenticator extension
//!   outputs correctly, and no support for iframes (`crossOrigin`,
//!   `topOrigin`), the `appid` extension, `android-safetynet` or `compound`
//!   attestation.
//!
//! The `testkit` feature adds a software authenticator (module `testkit`) that
//! produces exactly what a browser sends, so other crates' tests can go
//! through the real verification path.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod assertion;
pub mod attestation;
pub mod authdata;
mod b64;
mod cbor;
pub mod client_data;
pub mod cose;
mod crypto;
pub mod json;
pub mod options;
pub mod origin;
pub mod registration;
pub mod trust;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

#[cfg(test)]
mod tests;

pub use assertion::{verify_assertion, verify_assertion_response, Assertion, AssertionCheck};
pub use attestation::{Attestation, AttestationFormat, AttestationKind, Trust};
pub use authdata::{Aaguid, AttestedCredentialData, AuthenticatorData, Flags};
pub use b64::Base64UrlBytes;
pub use client_data::CollectedClientData;
pub use cose::{CoseAlgorithm, CosePublicKey};
pub use json::{
    AssertionResponseJson, AttestationResponseJson, AuthenticationResponseJson,
    RegistrationResponseJson,
};
pub use options::{
    AttestationConveyance, AuthenticatorSelection, CreationOptions, CredentialDescriptor,
    CredentialParameter, RequestOptions, ResidentKey, RpEntity, UserEntity, UserVerification,
};
pub use origin::{origin_matches_rp_id, RelyingParty};
pub use registration::{verify_registration, Registration, RegistrationCheck};
pub use trust::TrustAnchors;

/// Why a response, key or trust anchor was refused.
///
/// Each ceremony check has its own variant so that a caller can tell a user
/// "wrong site" from "tampered response" and log the difference. Messages
/// hold no secrets (responses carry none), so they are safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Bytes that do not decode as the structure they must be.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },

    /// `clientDataJSON.type` names the other ceremony (or something else).
    #[error("clientDataJSON type is {found:?}, expected {expected:?}")]
    WrongCeremony {
        expected: &'static str,
        found: String,
    },

    /// `clientDataJSON.challenge` is not the challenge the caller expects.
    #[error("the challenge in clientDataJSON is not the expected challenge")]
    ChallengeMismatch,

    /// `clientDataJSON.origin` is not one the relying party allows.
    #[error("origin {0:?} is not allowed for this relying party")]
    OriginNotAllowed(String),

    /// The ceremony ran in a cross-origin iframe (`crossOrigin: true` or a
    /// `topOrigin`), which this crate never expects.
    #[error("cross-origin ceremony refused (topOrigin {top_origin:?})")]
    CrossOrigin { top_origin: Option<String> },

    /// `rpIdHash` in the authenticator data is not SHA-256 of the RP ID.
    #[error("rpIdHash is not SHA-256 of the RP ID {0:?}")]
    RpIdHashMismatch(String),

    /// The UP flag is clear.
    #[error("the user-present (UP) flag is not set")]
    UserNotPresent,

    /// User verification is required and the UV flag is clear.
    #[error("user verification is required but the user-verified (UV) flag is not set")]
    UserNotVerified,

    /// The BS flag is set while BE is clear, which no authenticator may do.
    #[error("backup state (BS) is set without backup eligibility (BE)")]
    BackupStateWithoutEligibility,

    /// The assertion signature does not verify with the credential key.
    #[error("the signature does not verify with the credential public key")]
    BadSignature,

    /// A COSE algorithm this crate does not verify.
    #[error("COSE algorithm {0} is not supported")]
    UnsupportedAlgorithm(i64),

    /// A COSE_Key that is well-formed CBOR but not a usable key: mismatched
    /// kty/crv/alg, wrong coordinate lengths, a point not on the curve.
    #[error("invalid credential public key: {0}")]
    InvalidKey(String),

    /// The credential id is inconsistent (`id`, `rawId` and the attested
    /// credential data disagree) or too long.
    #[error("credential id: {0}")]
    CredentialId(String),

    /// An attestation statement format this crate does not verify.
    #[error("attestation statement format {0:?} is not supported")]
    UnsupportedAttestationFormat(String),

    /// The attestation statement does not verify: a bad signature, a
    /// certificate that breaks the format's requirements, a nonce or
    /// challenge that is not this ceremony's.
    #[error("{format} attestation: {reason}")]
    Attestation {
        format: AttestationFormat,
        reason: String,
    },

    /// A trust anchor that cannot be used; `index` counts certificates in
    /// the PEM text from 0.
    #[error("trust anchor {index}: {reason}")]
    TrustAnchor { index: usize, reason: String },

    /// A relying party description that cannot match anything.
    #[error("relying party: {0}")]
    RelyingParty(String),
}

impl Error {
    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Malformed {
            what,
            reason: reason.into(),
        }
    }

    pub(crate) fn attestation(format: AttestationFormat, reason: impl Into<String>) -> Self {
        Error::Attestation {
            format,
            reason: reason.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
