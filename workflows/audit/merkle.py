"""RFC 9162 (Certificate Transparency v2) Merkle tree math, standard library only.

Hashing: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right); the
split point of a tree of n leaves is the largest power of two strictly below n.

Storage model used by the audited recorder: only *perfect* nodes are stored.  A node
``(level, index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)`` and is
perfect once all of them exist, after which it never changes.  Proof generation takes a
``get(level, index) -> bytes`` callable over perfect nodes and rebuilds the ephemeral
right edge of the tree from compact ranges, so it never needs non-perfect nodes.

Edge cases of consistency verification follow transparency-dev/merkle, whose test
vectors this module passes: a proof from size 0 is rejected as meaningless (even to
size 0), and equal sizes need equal roots and an empty proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_LEN = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeGetter = Callable[[int, int], bytes]


class ProofError(Exception):
    """A proof does not verify, or its inputs are malformed."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def node_key(level: int, index: int) -> int:
    """In-order number of a perfect node: a single integer key that never collides."""
    return (index << (level + 1)) + (1 << level) - 1


def node_coords(key: int) -> tuple[int, int]:
    """Inverse of :func:`node_key`: the level is the number of trailing one bits."""
    level = (~key & (key + 1)).bit_length() - 1
    return level, key >> (level + 1)


def perfect_node_count(size: int) -> int:
    return 2 * size - size.bit_count()


class Frontier:
    """The compact range [0, size): one perfect node per set bit of size.

    ``nodes`` maps level -> hash.  Appending a leaf returns the perfect nodes that
    became complete, which is exactly what has to be stored.
    """

    __slots__ = ("size", "nodes")

    def __init__(self, size: int = 0, nodes: dict[int, bytes] | None = None) -> None:
        self.size = size
        self.nodes = dict(nodes or {})

    @staticmethod
    def node_ids(size: int) -> list[tuple[int, int]]:
        return [(lvl, (size >> lvl) - 1) for lvl in range(size.bit_length()) if size >> lvl & 1]

    def copy(self) -> Frontier:
        return Frontier(self.size, self.nodes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        index = self.size
        out = [(0, index, leaf)]
        nodes = self.nodes
        level, h = 0, leaf
        while index & 1:
            h = node_hash(nodes.pop(level), h)
            level += 1
            index >>= 1
            out.append((level, index, h))
        nodes[level] = h
        self.size += 1
        return out

    def root(self) -> bytes:
        if not self.size:
            return EMPTY_ROOT
        levels = sorted(self.nodes)
        h = self.nodes[levels[0]]
        for lvl in levels[1:]:
            h = node_hash(self.nodes[lvl], h)
        return h


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    f = Frontier()
    for leaf in leaves:
        f.append(leaf)
    return f.root()


# ---------------------------------------------------------------- proofs from stored nodes


def subtree_root(get: NodeGetter, begin: int, end: int) -> bytes:
    """Hash of the subtree over leaves [begin, end), as the RFC recursion defines it.

    [begin, end) is always a right-aligned piece of the RFC split, so it decomposes into
    perfect nodes of decreasing size; folding them right to left gives the RFC hash.
    """
    n = end - begin
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        return get(level, begin >> level)
    parts = []
    pos, rem = begin, n
    while rem:
        level = rem.bit_length() - 1
        parts.append(get(level, pos >> level))
        pos += 1 << level
        rem -= 1 << level
    h = parts[-1]
    for p in reversed(parts[:-1]):
        h = node_hash(p, h)
    return h


def tree_root(get: NodeGetter, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_root(get, 0, size)


def inclusion_proof(get: NodeGetter, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, ordered leaf to root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} out of range for tree size {size}")
    out = []
    b, e = 0, size
    while e - b > 1:
        k = split_point(e - b)
        if index < b + k:
            out.append(subtree_root(get, b + k, e))
            e = b + k
        else:
            out.append(subtree_root(get, b, b + k))
            b = b + k
    out.reverse()
    return out


def consistency_proof(get: NodeGetter, size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[size2]) of RFC 9162 §2.1.4.1."""
    if not 0 < size1 <= size2:
        raise ValueError(f"consistency proof needs 0 < size1 <= size2, got {size1}, {size2}")
    out: list[bytes] = []
    # The recursion only ever descends into one branch, so a loop is enough; the
    # hashes of the branches not taken are collected and emitted deepest first.
    siblings: list[bytes] = []
    m, b, e, complete = size1, 0, size2, True
    while m != e - b:
        k = split_point(e - b)
        if m <= k:
            siblings.append(subtree_root(get, b + k, e))
            e = b + k
        else:
            siblings.append(subtree_root(get, b, b + k))
            m -= k
            b = b + k
            complete = False
    if not complete:
        out.append(subtree_root(get, b, e))
    out.extend(reversed(siblings))
    return out


# ---------------------------------------------------------------- verification


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root that ``proof`` leads to from ``leaf`` at ``index``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} out of range for tree size {size}")
    if len(leaf) != HASH_LEN:
        raise ProofError("leaf hash has wrong length")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if len(p) != HASH_LEN:
            raise ProofError("proof element has wrong length")
        if sn == 0:
            raise ProofError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    if len(root) != HASH_LEN:
        raise ProofError("root hash has wrong length")
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the root of tree size {size}")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; raises ProofError unless tree size2 extends tree size1."""
    if size2 < size1:
        raise ProofError(f"size2 {size2} < size1 {size1}")
    if size1 == 0:
        raise ProofError("consistency proof from an empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise ProofError(f"different roots for the same tree size {size1}")
        return
    if len(root1) != HASH_LEN or len(root2) != HASH_LEN:
        raise ProofError("root hash has wrong length")
    if not proof:
        raise ProofError("empty consistency proof")
    for c in proof:
        if len(c) != HASH_LEN:
            raise ProofError("proof element has wrong length")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof too short")
    if fr != root1:
        raise ProofError(f"consistency proof does not match the old root (size {size1})")
    if sr != root2:
        raise ProofError(f"consistency proof does not match the new root (size {size2})")
