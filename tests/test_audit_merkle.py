"""RFC 9162 tree math: published vectors, and stored-node proofs against the RFC recursion."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.audit_support import MERKLE_VECTORS as VECTORS
from workflows.audit import merkle
from workflows.audit import verifier


def _vector_files(kind: str) -> list:
    return sorted((VECTORS / kind).rglob("*.json"))


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


IMPLEMENTATIONS = [
    pytest.param((merkle.verify_inclusion, merkle.verify_consistency, merkle.ProofError), id="merkle"),
    pytest.param(
        (verifier.verify_inclusion, verifier.verify_consistency, verifier.ProofError), id="verifier"
    ),
]


def test_vectors_present():
    assert len(_vector_files("inclusion")) + len(_vector_files("consistency")) >= 190


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("path", _vector_files("inclusion"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_inclusion_vector(path, impl):
    verify_inclusion, _, error = impl
    v = json.loads(path.read_text())
    args = (v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), [_b64(p) for p in v["proof"] or []], _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(error):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("path", _vector_files("consistency"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_consistency_vector(path, impl):
    _, verify_consistency, error = impl
    v = json.loads(path.read_text())
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), [_b64(p) for p in v["proof"] or []])
    if v["wantErr"]:
        with pytest.raises(error):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


# ---------------------------------------------------------------- reference recursion (RFC text)


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return merkle.leaf_hash(d[0])
    k = merkle.split_point(n)
    return merkle.node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = merkle.split_point(n)
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], flag: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if flag else [ref_mth(d)]
    k = merkle.split_point(n)
    if m <= k:
        return ref_subproof(m, d[:k], flag) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def stored_tree(n: int) -> tuple[list[bytes], dict[int, bytes], merkle.Frontier]:
    data = [f"leaf {i}".encode() for i in range(n)]
    nodes: dict[int, bytes] = {}
    f = merkle.Frontier()
    for item in data:
        for level, index, h in f.append(merkle.leaf_hash(item)):
            nodes[merkle.node_key(level, index)] = h
    return data, nodes, f


def test_rfc6962_reference_roots():
    # RFC 6962 reference inputs and roots from transparency-dev/merkle testonly/constants.go.
    inputs = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
              b"\x50\x51\x52\x53\x54\x55\x56\x57", b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"]
    f = merkle.Frontier()
    for item in inputs:
        f.append(merkle.leaf_hash(item))
    assert f.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert merkle.EMPTY_ROOT.hex().startswith("e3b0c442")


def test_node_key_roundtrip():
    for level in range(6):
        for index in range(40):
            assert merkle.node_coords(merkle.node_key(level, index)) == (level, index)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(min_value=1, max_value=n), st.integers(min_value=0, max_value=n - 1))))
def test_stored_node_proofs_match_reference(sizes):
    n, m, index = sizes
    data, nodes, frontier = stored_tree(n)
    get = lambda level, i: nodes[merkle.node_key(level, i)]  # noqa: E731
    assert len(nodes) == merkle.perfect_node_count(n)
    root_n = merkle.tree_root(get, n)
    assert root_n == ref_mth(data) == frontier.root()
    root_m = merkle.tree_root(get, m)
    assert root_m == ref_mth(data[:m])

    path = merkle.inclusion_proof(get, index, n)
    assert path == ref_path(index, data)
    merkle.verify_inclusion(index, n, merkle.leaf_hash(data[index]), path, root_n)
    verifier.verify_inclusion(index, n, merkle.leaf_hash(data[index]), path, root_n)

    proof = merkle.consistency_proof(get, m, n)
    assert proof == (ref_subproof(m, data, True) if m < n else [])
    merkle.verify_consistency(m, n, root_m, root_n, proof)
    verifier.verify_consistency(m, n, root_m, root_n, proof)
    if m < n:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(m, n, root_m, merkle.leaf_hash(b"forged"), proof)
