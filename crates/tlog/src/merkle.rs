//! RFC 6962 Merkle tree hashing, proof generation over stored subtree hashes, and
//! RFC 9162 proof verification.

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Decode a hash written in standard base64, as checkpoints, tlog-proofs and
/// the HTTP API write them. The error says what is wrong, for the caller to
/// prefix with which hash it was.
pub fn hash_from_base64(s: &str) -> std::result::Result<Hash, String> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|e| format!("is not valid base64: {e}"))?;
    Hash::try_from(raw.as_slice()).map_err(|_| format!("must be 32 bytes, got {}", raw.len()))
}

/// RFC 6962 leaf hash: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Stored hashes of complete, aligned subtrees: the hash of leaves
/// `[index << level, (index+1) << level)`.
pub trait HashSource {
    /// The hash of the complete subtree of height `level` at position `index` in its level
    /// (level 0 holds the leaf hashes). Implementations return
    /// [`Error::MissingSubtree`] for a subtree they do not hold.
    fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash>;

    /// Many subtree hashes at once, in the order asked. A source with a
    /// round trip per read (a database server) answers them in one; the
    /// proofs and tree hashes here ask for all they need at once.
    fn subtree_hashes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Hash>> {
        wanted
            .iter()
            .map(|&(level, index)| self.subtree_hash(level, index))
            .collect()
    }
}

/// Runs `f` twice: first against a source that only notes which subtree
/// hashes it reads (which subtrees a proof needs depends on sizes and
/// indexes alone, never on hash values), then against those hashes,
/// fetched from `src` in one [`HashSource::subtree_hashes`] call.
fn prefetched<T>(src: &dyn HashSource, f: impl Fn(&dyn HashSource) -> Result<T>) -> Result<T> {
    struct Noting(std::cell::RefCell<Vec<(u8, u64)>>);
    impl HashSource for Noting {
        fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash> {
            self.0.borrow_mut().push((level, index));
            Ok([0; 32])
        }
    }
    struct Fetched(std::collections::HashMap<(u8, u64), Hash>);
    impl HashSource for Fetched {
        fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash> {
            self.0
                .get(&(level, index))
                .copied()
                .ok_or(Error::MissingSubtree { level, index })
        }
    }
    let noting = Noting(Default::default());
    f(&noting)?;
    let mut wanted = noting.0.into_inner();
    wanted.sort_unstable();
    wanted.dedup();
    let hashes = src.subtree_hashes(&wanted)?;
    if hashes.len() != wanted.len() {
        return Err(Error::Source(format!(
            "asked for {} subtree hashes, got {}",
            wanted.len(),
            hashes.len()
        )));
    }
    f(&Fetched(wanted.into_iter().zip(hashes).collect()))
}

/// When leaf number `n` (0-based; the tree currently has `n` leaves) with leaf hash `leaf`
/// is appended, return every complete subtree hash that becomes available: `(0, n, leaf)`
/// and then parents `(level, index, hash)` as long as the new node completes a pair.
/// Reads the left siblings from `src`.
pub fn hashes_to_store(n: u64, leaf: Hash, src: &dyn HashSource) -> Result<Vec<(u8, u64, Hash)>> {
    let mut out = vec![(0u8, n, leaf)];
    let (mut level, mut index, mut hash) = (0u8, n, leaf);
    while index & 1 == 1 {
        let left = src.subtree_hash(level, index - 1)?;
        hash = node_hash(&left, &hash);
        level += 1;
        index >>= 1;
        out.push((level, index, hash));
    }
    Ok(out)
}

/// RFC 6962 Merkle Tree Hash of the first `size` leaves; `size == 0` gives [`empty_root`].
pub fn tree_hash(size: u64, src: &dyn HashSource) -> Result<Hash> {
    if size == 0 {
        return Ok(empty_root());
    }
    prefetched(src, |src| range_hash(0, size, src))
}

/// RFC 6962 `PATH(index, D[size])`: the audit path for leaf `index` in the tree of the
/// first `size` leaves, from the leaf's sibling up to the child of the root.
pub fn inclusion_proof(index: u64, size: u64, src: &dyn HashSource) -> Result<Vec<Hash>> {
    if index >= size {
        return Err(Error::IndexOutOfRange { index, size });
    }
    prefetched(src, |src| {
        let mut out = Vec::with_capacity(inclusion_proof_len(index, size));
        path(index, 0, size, src, &mut out)?;
        Ok(out)
    })
}

/// RFC 6962 `PROOF(old_size, D[new_size])`: the consistency proof between the trees of the
/// first `old_size` and the first `new_size` leaves. Empty if `old_size` is 0 or equals
/// `new_size`.
pub fn consistency_proof(old_size: u64, new_size: u64, src: &dyn HashSource) -> Result<Vec<Hash>> {
    if old_size > new_size {
        return Err(Error::SizeOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    prefetched(src, |src| {
        let mut out = Vec::new();
        subproof(old_size, 0, new_size, true, src, &mut out)?;
        Ok(out)
    })
}

/// Verifies that `leaf` is the leaf hash at `index` in the tree of size `size` with root
/// `root`, following RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<()> {
    if index >= size {
        return Err(Error::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(Error::BadProofLength {
            expected,
            actual: proof.len(),
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(Error::InclusionProofMismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 || r != *root {
        return Err(Error::InclusionProofMismatch);
    }
    Ok(())
}

/// Verifies that the tree of size `old_size` with root `old_root` is a prefix of the tree of
/// size `new_size` with root `new_root`, following RFC 9162 §2.1.4.2.
///
/// Edge cases: equal sizes need an empty proof and equal roots; `old_size == 0` needs an
/// empty proof and `old_root == empty_root()` (the only root a tree of size 0 can have).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<()> {
    if old_size > new_size {
        return Err(Error::SizeOrder { old_size, new_size });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(Error::BadProofLength {
                expected: 0,
                actual: proof.len(),
            });
        }
        let ok = if old_size == new_size {
            old_root == new_root
        } else {
            *old_root == empty_root()
        };
        return if ok {
            Ok(())
        } else {
            Err(Error::ConsistencyProofMismatch)
        };
    }
    let expected = consistency_proof_len(old_size, new_size);
    if proof.len() != expected {
        return Err(Error::BadProofLength {
            expected,
            actual: proof.len(),
        });
    }

    // RFC 9162 §2.1.4.2 step 2: a power-of-two old tree is itself the first node.
    let seed = old_size.is_power_of_two().then_some(old_root);
    let mut path = seed.into_iter().chain(proof.iter());
    let Some(first) = path.next() else {
        return Err(Error::ConsistencyProofMismatch);
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in path {
        if sn == 0 {
            return Err(Error::ConsistencyProofMismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 || fr != *old_root || sr != *new_root {
        return Err(Error::ConsistencyProofMismatch);
    }
    Ok(())
}

/// Number of hashes in the inclusion proof of `index` in a tree of `size` (index < size).
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (inner, border) = decompose_inclusion(index, size);
    (inner + border) as usize
}

/// Splits an inclusion proof into the part below the point where the paths to `index` and
/// to the last leaf diverge (`inner`) and the part along the right border (`border`).
fn decompose_inclusion(index: u64, size: u64) -> (u32, u32) {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

/// Number of hashes in the consistency proof between sizes `0 < old < new`.
fn consistency_proof_len(old: u64, new: u64) -> usize {
    let (inner, border) = decompose_inclusion(old - 1, new);
    let shift = old.trailing_zeros();
    let seed = u32::from(!old.is_power_of_two());
    (seed + inner.saturating_sub(shift) + border) as usize
}

/// The largest power of two strictly smaller than `n` (for `n >= 2`).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH of the `len >= 1` leaves starting at `start`. Complete aligned subtrees are read from
/// the source; anything else is split RFC 6962-style, so at most O(log n) reads.
fn range_hash(start: u64, len: u64, src: &dyn HashSource) -> Result<Hash> {
    if len.is_power_of_two() && start & (len - 1) == 0 {
        let level = len.trailing_zeros() as u8;
        return src.subtree_hash(level, start >> level);
    }
    if len < 2 {
        // len == 0 never reaches here from the public functions; a lone leaf is aligned.
        return Err(Error::MissingSubtree {
            level: 0,
            index: start,
        });
    }
    let k = split_point(len);
    let left = range_hash(start, k, src)?;
    let right = range_hash(start + k, len - k, src)?;
    Ok(node_hash(&left, &right))
}

/// RFC 6962 PATH(m, D[start..start+n]), appended to `out` deepest first.
fn path(m: u64, start: u64, n: u64, src: &dyn HashSource, out: &mut Vec<Hash>) -> Result<()> {
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path(m, start, k, src, out)?;
        out.push(range_hash(start + k, n - k, src)?);
    } else {
        path(m - k, start + k, n - k, src, out)?;
        out.push(range_hash(start, k, src)?);
    }
    Ok(())
}

/// RFC 6962 SUBPROOF(m, D[start..start+n], b), appended to `out` deepest first.
fn subproof(
    m: u64,
    start: u64,
    n: u64,
    complete: bool,
    src: &dyn HashSource,
    out: &mut Vec<Hash>,
) -> Result<()> {
    if m == n {
        if !complete {
            out.push(range_hash(start, n, src)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, start, k, complete, src, out)?;
        out.push(range_hash(start + k, n - k, src)?);
    } else {
        subproof(m - k, start + k, n - k, false, src, out)?;
        out.push(range_hash(start, k, src)?);
    }
    Ok(())
}

/// Whole tree kept in memory (levels of complete subtree hashes). Used by audits and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of the complete subtree at level `l`, index `i`;
    /// invariant: `levels[l].len() == size >> l`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash (see [`leaf_hash`]) and every subtree hash it completes.
    pub fn push(&mut self, leaf: Hash) {
        let mut level = 0usize;
        let mut hash = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                return;
            };
            row.push(hash);
            if row.len() % 2 == 1 {
                return;
            }
            let [.., left, right] = row.as_slice() else {
                return;
            };
            hash = node_hash(left, right);
            level += 1;
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |row| row.len() as u64)
    }

    /// Root of the whole tree ([`empty_root`] when empty).
    pub fn root(&self) -> Hash {
        // Bit `l` of the size is set exactly when level `l` has an odd number of nodes; its
        // last node is then one of the perfect subtrees the tree decomposes into. Fold them
        // from the smallest (rightmost) to the largest (leftmost).
        let mut acc: Option<Hash> = None;
        for row in &self.levels {
            if row.len() % 2 == 1 {
                if let Some(h) = row.last() {
                    acc = Some(match acc {
                        None => *h,
                        Some(right) => node_hash(h, &right),
                    });
                }
            }
        }
        acc.unwrap_or_else(empty_root)
    }
}

impl HashSource for MemoryTree {
    fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or(Error::MissingSubtree { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::HashMap;

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    // Test vectors published in transparency-dev/merkle, file proof/verify_test.go
    // (https://github.com/transparency-dev/merkle/blob/main/proof/verify_test.go), originally
    // from the Certificate Transparency reference implementation: the leaves, the roots of the
    // trees of sizes 1..=8, and known inclusion and consistency proofs.
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    /// (leaf number, 1-based as in the source file; tree size; proof)
    const INCLUSION: &[(u64, u64, &[&str])] = &[
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            3,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            2,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    /// (old size, new size, proof)
    const CONSISTENCY: &[(u64, u64, &[&str])] = &[
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

    fn vector_tree() -> MemoryTree {
        let mut t = MemoryTree::new();
        for l in LEAVES {
            t.push(leaf_hash(&hex::decode(l).unwrap()));
        }
        t
    }

    fn hashes(v: &[&str]) -> Vec<Hash> {
        v.iter().map(|s| h(s)).collect()
    }

    fn flip(proof: &[Hash], i: usize, mask: u8) -> Vec<Hash> {
        let mut p = proof.to_vec();
        p[i][0] ^= mask;
        p
    }

    // transparency-dev/merkle rfc6962/rfc6962_test.go
    #[test]
    fn rfc6962_hasher_vectors() {
        assert_eq!(
            empty_root(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            leaf_hash(b""),
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        assert_eq!(
            leaf_hash(b"L123456"),
            h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
        );
        let (a, b) = (leaf_hash(b"Hello"), leaf_hash(b"World"));
        assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
        assert_ne!(node_hash(&a, &b), leaf_hash(&[a, b].concat()));
    }

    #[test]
    fn published_roots() {
        let full = vector_tree();
        assert_eq!(tree_hash(0, &full).unwrap(), empty_root());
        assert_eq!(MemoryTree::new().root(), empty_root());
        assert_eq!(MemoryTree::new().size(), 0);
        let mut growing = MemoryTree::new();
        for (i, l) in LEAVES.iter().enumerate() {
            growing.push(leaf_hash(&hex::decode(l).unwrap()));
            let size = i as u64 + 1;
            assert_eq!(growing.size(), size);
            assert_eq!(growing.root(), h(ROOTS[i]), "MemoryTree root, size {size}");
            assert_eq!(
                tree_hash(size, &full).unwrap(),
                h(ROOTS[i]),
                "tree_hash {size}"
            );
            assert_eq!(tree_hash(size, &growing).unwrap(), h(ROOTS[i]));
        }
    }

    #[test]
    fn published_inclusion_proofs() {
        let tree = vector_tree();
        for &(leaf, size, proof) in INCLUSION {
            let index = leaf - 1;
            let proof = hashes(proof);
            let root = h(ROOTS[size as usize - 1]);
            let lh = leaf_hash(&hex::decode(LEAVES[index as usize]).unwrap());
            assert_eq!(inclusion_proof(index, size, &tree).unwrap(), proof);
            verify_inclusion(index, size, &lh, &proof, &root).unwrap();

            // Corruptions, after transparency-dev's corruptInclusionProof.
            let some = h(SOME_HASH);
            let mut probes: Vec<(u64, u64, Hash, Vec<Hash>, Hash)> = vec![
                (index.wrapping_sub(1), size, lh, proof.clone(), root),
                (index + 1, size, lh, proof.clone(), root),
                (index ^ 2, size, lh, proof.clone(), root),
                (index, size * 2, lh, proof.clone(), root),
                (index, size / 2, lh, proof.clone(), root),
                (index, size, leaf_hash(b"WrongLeaf"), proof.clone(), root),
                (index, size, lh, proof.clone(), empty_root()),
                (index, size, lh, proof.clone(), some),
                (
                    index,
                    size,
                    lh,
                    [proof.clone(), vec![[0; 32]]].concat(),
                    root,
                ),
                (index, size, lh, [proof.clone(), vec![root]].concat(), root),
                (
                    index,
                    size,
                    lh,
                    [vec![[0; 32]], proof.clone()].concat(),
                    root,
                ),
                (index, size, lh, [vec![root], proof.clone()].concat(), root),
            ];
            for i in 0..proof.len() {
                probes.push((index, size, lh, flip(&proof, i, 8), root));
            }
            if !proof.is_empty() {
                probes.push((index, size, lh, proof[..proof.len() - 1].to_vec(), root));
            }
            if proof.len() > 1 {
                let mut p = vec![proof[0], some];
                p.extend_from_slice(&proof[1..]);
                probes.push((index, size, lh, p, root));
            }
            for (n, (i, s, l, p, r)) in probes.iter().enumerate() {
                assert!(
                    verify_inclusion(*i, *s, l, p, r).is_err(),
                    "probe {n} verified for vector ({leaf}, {size})"
                );
            }
        }
    }

    #[test]
    fn published_consistency_proofs() {
        let tree = vector_tree();
        for &(old, new, proof) in CONSISTENCY {
            let proof = hashes(proof);
            let (r1, r2) = (h(ROOTS[old as usize - 1]), h(ROOTS[new as usize - 1]));
            assert_eq!(consistency_proof(old, new, &tree).unwrap(), proof);
            verify_consistency(old, new, &r1, &r2, &proof).unwrap();
            if proof.is_empty() {
                continue;
            }
            // Corruptions, after transparency-dev's corruptConsistencyProof.
            let wrong = leaf_hash(b"WrongRoot");
            let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
                (old - 1, new, r1, r2, proof.clone()),
                (old + 1, new, r1, r2, proof.clone()),
                (old ^ 2, new, r1, r2, proof.clone()),
                (old, new * 2, r1, r2, proof.clone()),
                (old, new / 2, r1, r2, proof.clone()),
                (old, new, wrong, r2, proof.clone()),
                (old, new, r1, wrong, proof.clone()),
                (old, new, r2, r1, proof.clone()),
                (old, new, r1, r2, vec![]),
                (old, new, r1, r2, [proof.clone(), vec![[0; 32]]].concat()),
                (old, new, r1, r2, [proof.clone(), vec![r1]].concat()),
                (old, new, r1, r2, [proof.clone(), vec![r2]].concat()),
                (old, new, r1, r2, [vec![[0; 32]], proof.clone()].concat()),
                (old, new, r1, r2, [vec![r1], proof.clone()].concat()),
                (old, new, r1, r2, [vec![r2], proof.clone()].concat()),
                (old, new, r1, r2, [vec![proof[0]], proof.clone()].concat()),
                (old, new, r1, r2, proof[..proof.len() - 1].to_vec()),
            ];
            for i in 0..proof.len() {
                probes.push((old, new, r1, r2, flip(&proof, i, 16)));
            }
            for (n, (o, s, a, b, p)) in probes.iter().enumerate() {
                assert!(
                    verify_consistency(*o, *s, a, b, p).is_err(),
                    "probe {n} verified for vector ({old}, {new})"
                );
            }
        }
    }

    #[test]
    fn consistency_edge_cases() {
        let (r1, r2) = (leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2"));
        let e = empty_root();
        verify_consistency(0, 0, &e, &e, &[]).unwrap();
        verify_consistency(0, 5, &e, &r2, &[]).unwrap();
        verify_consistency(3, 3, &r1, &r1, &[]).unwrap();
        assert_eq!(
            verify_consistency(0, 5, &r1, &r2, &[]),
            Err(Error::ConsistencyProofMismatch)
        );
        assert_eq!(
            verify_consistency(3, 3, &r1, &r2, &[]),
            Err(Error::ConsistencyProofMismatch)
        );
        assert_eq!(
            verify_consistency(3, 3, &r1, &r1, &[e]),
            Err(Error::BadProofLength {
                expected: 0,
                actual: 1
            })
        );
        assert_eq!(
            verify_consistency(0, 1, &e, &e, &[e]),
            Err(Error::BadProofLength {
                expected: 0,
                actual: 1
            })
        );
        assert_eq!(
            verify_consistency(2, 1, &r1, &r2, &[]),
            Err(Error::SizeOrder {
                old_size: 2,
                new_size: 1
            })
        );
        assert!(matches!(
            verify_consistency(1, 2, &r1, &r2, &[]),
            Err(Error::BadProofLength { expected: 1, .. })
        ));
        let tree = vector_tree();
        assert_eq!(
            consistency_proof(5, 3, &tree),
            Err(Error::SizeOrder {
                old_size: 5,
                new_size: 3
            })
        );
        assert_eq!(consistency_proof(0, 8, &tree).unwrap(), Vec::<Hash>::new());
        assert_eq!(consistency_proof(8, 8, &tree).unwrap(), Vec::<Hash>::new());
    }

    #[test]
    fn inclusion_edge_cases() {
        let tree = vector_tree();
        let l = leaf_hash(b"data");
        verify_inclusion(0, 1, &l, &[], &l).unwrap();
        assert_eq!(
            verify_inclusion(0, 0, &l, &[], &l),
            Err(Error::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            verify_inclusion(2, 1, &l, &[], &l),
            Err(Error::IndexOutOfRange { index: 2, size: 1 })
        );
        assert_eq!(
            verify_inclusion(0, 1, &l, &[], &empty_root()),
            Err(Error::InclusionProofMismatch)
        );
        assert_eq!(
            inclusion_proof(8, 8, &tree),
            Err(Error::IndexOutOfRange { index: 8, size: 8 })
        );
        // Huge sizes and indexes must not overflow or panic.
        let p = vec![l; 64];
        assert!(verify_inclusion(u64::MAX - 1, u64::MAX, &l, &p, &l).is_err());
        assert!(verify_inclusion(0, u64::MAX, &l, &p[..63], &l).is_err());
        assert!(verify_inclusion((1 << 63) + 5, u64::MAX, &l, &p, &l).is_err());
        assert!(verify_consistency(u64::MAX - 1, u64::MAX, &l, &l, &p).is_err());
        assert!(verify_consistency(1 << 63, u64::MAX, &l, &l, &p).is_err());
        assert!(verify_consistency(3, u64::MAX, &l, &l, &p).is_err());
    }

    #[test]
    fn missing_subtrees_are_errors() {
        let tree = vector_tree();
        assert!(matches!(
            tree_hash(9, &tree),
            Err(Error::MissingSubtree { .. })
        ));
        assert!(matches!(
            inclusion_proof(0, 9, &tree),
            Err(Error::MissingSubtree { .. })
        ));
        assert!(matches!(
            consistency_proof(3, 9, &tree),
            Err(Error::MissingSubtree { .. })
        ));
        assert_eq!(
            tree.subtree_hash(3, 1),
            Err(Error::MissingSubtree { level: 3, index: 1 })
        );
        assert_eq!(
            tree.subtree_hash(200, u64::MAX),
            Err(Error::MissingSubtree {
                level: 200,
                index: u64::MAX
            })
        );
        assert_eq!(tree.subtree_hash(3, 0).unwrap(), h(ROOTS[7]));
        // hashes_to_store propagates a missing sibling.
        assert!(hashes_to_store(9, [0; 32], &tree).is_err());
    }

    #[test]
    fn hashes_to_store_example() {
        let mut tree = MemoryTree::new();
        let l: Vec<Hash> = (0u8..4).map(|i| leaf_hash(&[i])).collect();
        for x in &l[..3] {
            tree.push(*x);
        }
        let got = hashes_to_store(3, l[3], &tree).unwrap();
        let n01 = node_hash(&l[0], &l[1]);
        let n23 = node_hash(&l[2], &l[3]);
        assert_eq!(
            got,
            vec![(0, 3, l[3]), (1, 1, n23), (2, 0, node_hash(&n01, &n23))]
        );
        assert_eq!(hashes_to_store(2, l[2], &tree).unwrap(), vec![(0, 2, l[2])]);
    }

    // --- Naive reference implementation of RFC 6962 §2.1 over a slice of leaf hashes. ---

    fn ref_split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn ref_mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = ref_split(n);
                node_hash(&ref_mth(&d[..k]), &ref_mth(&d[k..]))
            }
        }
    }

    fn ref_path(m: usize, d: &[Hash]) -> Vec<Hash> {
        let n = d.len();
        if n <= 1 {
            return vec![];
        }
        let k = ref_split(n);
        if m < k {
            [ref_path(m, &d[..k]), vec![ref_mth(&d[k..])]].concat()
        } else {
            [ref_path(m - k, &d[k..]), vec![ref_mth(&d[..k])]].concat()
        }
    }

    fn ref_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![ref_mth(d)] };
        }
        let k = ref_split(n);
        if m <= k {
            [ref_subproof(m, &d[..k], b), vec![ref_mth(&d[k..])]].concat()
        } else {
            [ref_subproof(m - k, &d[k..], false), vec![ref_mth(&d[..k])]].concat()
        }
    }

    /// A HashSource that is a plain map, filled only through `hashes_to_store`.
    #[derive(Default)]
    struct MapSource(HashMap<(u8, u64), Hash>);

    impl HashSource for MapSource {
        fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash> {
            self.0
                .get(&(level, index))
                .copied()
                .ok_or(Error::MissingSubtree { level, index })
        }
    }

    #[test]
    fn property_all_sizes_up_to_70() {
        const N: usize = 70;
        let leaves: Vec<Hash> = (0..N as u64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut tree = MemoryTree::new();
        let mut map = MapSource::default();
        let mut roots = vec![empty_root()];
        for (i, l) in leaves.iter().enumerate() {
            for (level, index, hash) in hashes_to_store(i as u64, *l, &map).unwrap() {
                assert!(map.0.insert((level, index), hash).is_none(), "stored twice");
            }
            tree.push(*l);
            let root = ref_mth(&leaves[..=i]);
            assert_eq!(tree.root(), root, "MemoryTree root at size {}", i + 1);
            roots.push(root);
        }
        // The map holds exactly the complete subtrees that MemoryTree holds.
        let mut count = 0;
        for level in 0..8u8 {
            for index in 0..(N as u64 >> level) {
                assert_eq!(
                    map.subtree_hash(level, index).unwrap(),
                    tree.subtree_hash(level, index).unwrap()
                );
                count += 1;
            }
        }
        assert_eq!(map.0.len(), count);

        let sources: [&dyn HashSource; 2] = [&tree, &map];
        for size in 0..=N as u64 {
            let root = roots[size as usize];
            for src in sources {
                assert_eq!(tree_hash(size, src).unwrap(), root, "tree_hash({size})");
            }
            for index in 0..size {
                let want = ref_path(index as usize, &leaves[..size as usize]);
                for src in sources {
                    assert_eq!(inclusion_proof(index, size, src).unwrap(), want);
                }
                let leaf = &leaves[index as usize];
                verify_inclusion(index, size, leaf, &want, &root).unwrap();
                let other = &leaves[(index as usize + 1) % N];
                assert!(verify_inclusion(index, size, other, &want, &root).is_err());
                if index + 1 < size {
                    assert!(verify_inclusion(index + 1, size, leaf, &want, &root).is_err());
                }
            }
            for old in 0..=size {
                let want = if old == 0 || old == size {
                    vec![]
                } else {
                    ref_subproof(old as usize, &leaves[..size as usize], true)
                };
                for src in sources {
                    assert_eq!(consistency_proof(old, size, src).unwrap(), want);
                }
                let old_root = roots[old as usize];
                verify_consistency(old, size, &old_root, &root, &want)
                    .unwrap_or_else(|e| panic!("consistency {old} -> {size}: {e}"));
                if old > 0 && old < size {
                    let bad_old = roots[old as usize - 1];
                    assert!(verify_consistency(old, size, &bad_old, &root, &want).is_err());
                    let bad_new = roots[size as usize - 1];
                    assert!(verify_consistency(old, size, &old_root, &bad_new, &want).is_err());
                    for i in 0..want.len() {
                        let p = flip(&want, i, 1);
                        assert!(verify_consistency(old, size, &old_root, &root, &p).is_err());
                    }
                }
            }
        }
    }

    /// Counts reads so we can check the O(log^2 n) bound.
    struct Counting<'a> {
        inner: &'a MemoryTree,
        reads: Cell<u32>,
    }

    impl HashSource for Counting<'_> {
        fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash> {
            self.reads.set(self.reads.get() + 1);
            self.inner.subtree_hash(level, index)
        }
    }

    /// Counts single reads and batches.
    struct Batching<'a> {
        inner: &'a MemoryTree,
        singles: Cell<u32>,
        batches: Cell<u32>,
    }

    impl HashSource for Batching<'_> {
        fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash> {
            self.singles.set(self.singles.get() + 1);
            self.inner.subtree_hash(level, index)
        }
        fn subtree_hashes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Hash>> {
            self.batches.set(self.batches.get() + 1);
            wanted
                .iter()
                .map(|&(l, i)| self.inner.subtree_hash(l, i))
                .collect()
        }
    }

    #[test]
    fn a_proof_or_root_asks_its_source_once() {
        let mut tree = MemoryTree::new();
        for i in 0u32..777 {
            tree.push(leaf_hash(&i.to_be_bytes()));
        }
        let src = Batching {
            inner: &tree,
            singles: Cell::new(0),
            batches: Cell::new(0),
        };
        let root = tree_hash(777, &src).unwrap();
        assert_eq!(root, tree.root());
        let proof = inclusion_proof(300, 777, &src).unwrap();
        verify_inclusion(300, 777, &leaf_hash(&300u32.to_be_bytes()), &proof, &root).unwrap();
        let old_root = tree_hash(500, &tree).unwrap();
        let proof = consistency_proof(500, 777, &src).unwrap();
        verify_consistency(500, 777, &old_root, &root, &proof).unwrap();
        assert_eq!((src.batches.get(), src.singles.get()), (3, 0));
        // A subtree the source lacks is still an error, not a made-up hash.
        let short = MemoryTree::new();
        let src = Batching {
            inner: &short,
            singles: Cell::new(0),
            batches: Cell::new(0),
        };
        assert!(inclusion_proof(3, 10, &src).is_err());
    }

    #[test]
    fn reads_are_polylogarithmic() {
        let mut tree = MemoryTree::new();
        for i in 0u32..1000 {
            tree.push(leaf_hash(&i.to_be_bytes()));
        }
        let src = Counting {
            inner: &tree,
            reads: Cell::new(0),
        };
        let mut worst = 0;
        for size in [1u64, 2, 3, 511, 512, 513, 777, 999, 1000] {
            let bits = 64 - size.leading_zeros();
            let bound = bits * bits + 1;
            src.reads.set(0);
            tree_hash(size, &src).unwrap();
            assert!(src.reads.get() <= bits, "tree_hash({size}) read too much");
            for index in (0..size).step_by(37).chain([size - 1]) {
                src.reads.set(0);
                inclusion_proof(index, size, &src).unwrap();
                worst = worst.max(src.reads.get());
                assert!(src.reads.get() <= bound, "inclusion {index}/{size}");
            }
            for old in (1..size).step_by(41) {
                src.reads.set(0);
                consistency_proof(old, size, &src).unwrap();
                assert!(src.reads.get() <= bound, "consistency {old}/{size}");
            }
        }
        assert!(worst > 0);
    }
}
