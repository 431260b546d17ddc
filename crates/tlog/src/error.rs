//! The crate's single error type.

/// Everything that can go wrong in this crate. Every variant names one specific
/// failure; none of them is reachable as a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A leaf index is not inside the tree it is claimed to be in.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The offending leaf index.
        index: u64,
        /// The tree size it was checked against.
        size: u64,
    },

    /// A consistency proof was asked for (or offered) from a larger tree to a smaller one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizeOrder {
        /// The size claimed for the older tree.
        old_size: u64,
        /// The size claimed for the newer tree.
        new_size: u64,
    },

    /// A proof has the wrong number of hashes for the tree sizes and index involved.
    #[error("proof has {actual} hashes, expected {expected}")]
    BadProofLength {
        /// How many hashes the proof must have.
        expected: usize,
        /// How many it has.
        actual: usize,
    },

    /// An inclusion proof of the right shape does not lead to the expected root.
    #[error("inclusion proof does not match the tree root")]
    InclusionProofMismatch,

    /// A consistency proof of the right shape does not reproduce both roots.
    #[error("consistency proof does not match the tree roots")]
    ConsistencyProofMismatch,

    /// A [`crate::HashSource`] does not hold the requested complete subtree.
    #[error("subtree hash at level {level}, index {index} is not available")]
    MissingSubtree {
        /// Height of the subtree (0 = a leaf).
        level: u8,
        /// Index of the subtree among those of its level.
        index: u64,
    },

    /// A [`crate::HashSource`] implementation failed for its own reasons
    /// (for example a storage error in a caller's implementation).
    #[error("hash source failed: {0}")]
    Source(String),

    /// A signed note does not follow the signed-note syntax.
    #[error("malformed signed note: {0}")]
    MalformedNote(String),

    /// A signed note carries more signature lines than this crate accepts.
    #[error("signed note has more than {max} signatures")]
    TooManySignatures {
        /// The limit ([`crate::note::MAX_SIGNATURES`]).
        max: usize,
    },

    /// A key name is empty or contains a space, a `+` or a control character.
    #[error("invalid key name {0:?}: must be non-empty without spaces, '+' or control characters")]
    InvalidKeyName(String),

    /// An encoded signer or verifier key is not well formed.
    #[error("malformed key: {0}")]
    MalformedKey(String),

    /// An encoded key uses a signature type other than Ed25519 (0x01).
    #[error("unsupported signature type 0x{0:02x} (only Ed25519, 0x01, is supported)")]
    UnsupportedSignatureType(u8),

    /// The key id written in an encoded key does not match the key it encodes.
    #[error("key id {claimed:08x} does not match the key (computed {computed:08x})")]
    KeyIdMismatch {
        /// The key id written in the encoding.
        claimed: u32,
        /// The key id computed from name and public key.
        computed: u32,
    },

    /// A signature line names the expected key (name and key id) but does not verify.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    BadSignature {
        /// Key name on the signature line.
        name: String,
        /// Key id on the signature line.
        key_id: u32,
    },

    /// A signed note has no signature at all from the expected key.
    #[error("note has no signature by key {name}+{key_id:08x}")]
    MissingSignature {
        /// Name of the expected key.
        name: String,
        /// Key id of the expected key.
        key_id: u32,
    },

    /// A checkpoint body does not follow the tlog-checkpoint syntax.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),

    /// A checkpoint's origin line is not the name of the key that signs it.
    #[error("checkpoint origin {origin:?} does not match key name {key_name:?}")]
    OriginMismatch {
        /// The checkpoint's origin line.
        origin: String,
        /// The signing or verifying key's name.
        key_name: String,
    },

    /// A tlog-proof text does not follow the c2sp.org/tlog-proof@v1 syntax.
    #[error("malformed tlog-proof: {0}")]
    MalformedProof(String),
}

/// This crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
