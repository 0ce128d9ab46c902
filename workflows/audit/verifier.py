#!/usr/bin/env python3
"""Offline verifier for cobuild audit evidence: bundles and consistency proofs.

This file is deliberately self-contained (standard library + ``cryptography``) so it can
be handed to a third party as a single file and run without the cobuild code base, its
database or eventsourcing.  It repeats the small amount of RFC 9162 verification code
that ``workflows/audit/merkle.py`` also has; both are tested against the same vectors.

Usage::

    python verifier.py bundle BUNDLE.json --vkey VKEY [--require-complete]
                       [--since OLD.note --consistency PROOF.json]
    python verifier.py consistency OLD.note NEW.note PROOF.json --vkey VKEY

``VKEY`` is the log's verifier key (``<name>+<key id hex>+<base64(0x01 || public key)>``),
given literally or as a file holding it.  It must come from a trusted channel, never from
the bundle itself.

Exit codes: 0 verified, 1 verification failed (evidence of tampering), 2 cannot check
(usage, I/O, unknown format, no pinned key).

What a bundle proves (format ``cobuild-audit-bundle/v1``):

* the checkpoint is signed by the pinned key and names the pinned log;
* every event's leaf header commits to its stored state bytes (SHA-256) and is included
  at its leaf index in the checkpoint's tree;
* the events are the aggregate's versions 1..n in log order, without gaps;
* with ``completeness.method == "aggregate-head"``, that no event of the aggregate is left
  out: the checkpoint also commits (an extension line ``cobuild-audit-heads/v1 <count>
  <base64 root>``) to the *aggregate index* at its tree size, an RFC 9162 tree over one
  entry per aggregate, sorted by aggregate id, each holding the version, notification id
  and leaf hash of that aggregate's latest event.  The bundle carries this aggregate's entry and its
  inclusion proof; the entry must name the bundle's last event, and versions 1..n before
  it are all there, so nothing before, between or after them is missing.  The proof
  names no other record and grows with log(number of aggregates);
* bundles of the first format (``completeness.method == "log-headers"``, every leaf
  header of the tree) still verify: their headers must hash to the checkpoint root and
  the leaves naming this aggregate must be exactly the bundle's events.

Without a completeness proof the verifier says "completeness NOT proven"; with
``--require-complete`` that is a failure (exit 1).  docs/audit.md has the reasoning.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import struct
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

BUNDLE_FORMAT = "cobuild-audit-bundle/v1"
LEAF_TAG = b"cobuild-audit-leaf/v1\x00"
# An entry of the aggregate index: HEAD_TAG || originator id as the leaf encodes it ||
# u64 version || u64 notification id || leaf hash of the aggregate's latest event.  The
# tag keeps entries apart from log leaves; the leaf hash (over a state hash and a time in
# microseconds) makes a neighbour's entry unguessable from its hash in a proof.
HEAD_TAG = b"cobuild-audit-head/v1\x00"
# The checkpoint extension line committing to the aggregate index at the tree size.
HEADS_EXTENSION = "cobuild-audit-heads/v1"
HASH_LEN = 32
EXIT_OK, EXIT_TAMPERED, EXIT_CANNOT_CHECK = 0, 1, 2


class ProofError(Exception):
    """A Merkle proof does not verify or is malformed."""


class NoteError(Exception):
    """A signed note or checkpoint does not verify or is malformed."""


class CannotCheck(Exception):
    """The input cannot be checked at all (format, I/O, missing key)."""


# ---------------------------------------------------------------- RFC 9162 verification


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
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
            r = _node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _node_hash(r, p)
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


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
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
            fr = _node_hash(c, fr)
            sr = _node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = _node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof too short")
    if fr != root1:
        raise ProofError(f"consistency proof does not match the old root (size {size1})")
    if sr != root2:
        raise ProofError(f"consistency proof does not match the new root (size {size2})")


def _root_of_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    frontier: dict[int, bytes] = {}
    for i, h in enumerate(leaves):
        level, index = 0, i
        while index & 1:
            h = _node_hash(frontier.pop(level), h)
            level += 1
            index >>= 1
        frontier[level] = h
    levels = sorted(frontier)
    h = frontier[levels[0]]
    for lvl in levels[1:]:
        h = _node_hash(frontier[lvl], h)
    return h


# ---------------------------------------------------------------- leaf header (v1)


@dataclass(frozen=True)
class Leaf:
    notification_id: int
    originator_id: str
    originator_version: int
    topic: str
    recorded_at_us: int
    state_sha256: bytes


def _oid_end(data: bytes, start: int) -> int:
    """End of the encoded originator id (0x01 || 16 bytes, or 0x02 || u16 n || n bytes) at ``start``."""
    kind = data[start]
    if kind == 1:
        end = start + 17
    elif kind == 2:
        (n,) = struct.unpack_from(">H", data, start + 1)
        end = start + 3 + n
    else:
        raise ValueError(f"unknown originator id kind {kind}")
    if end > len(data):
        raise ValueError("originator id runs past the end")
    return end


def encode_originator_id(originator_id: uuid.UUID | str) -> bytes:
    """An originator id as leaves and aggregate index entries encode it."""
    if isinstance(originator_id, uuid.UUID):
        return b"\x01" + originator_id.bytes
    raw = str(originator_id).encode("utf-8")
    return b"\x02" + struct.pack(">H", len(raw)) + raw


def originator_key(data: bytes) -> bytes:
    """The encoded originator id of a v1 leaf header: the aggregate index's sort key."""
    start = len(LEAF_TAG) + 8
    return data[start:_oid_end(data, start)]


def decode_leaf(data: bytes) -> Leaf:
    """Decode a v1 leaf header; see workflows/audit/recorder.py for the layout."""
    try:
        if not data.startswith(LEAF_TAG):
            raise ValueError("unknown leaf format tag")
        pos = len(LEAF_TAG)
        (nid,) = struct.unpack_from(">Q", data, pos)
        pos += 8
        kind = data[pos]
        pos += 1
        if kind == 1:
            oid = str(uuid.UUID(bytes=data[pos : pos + 16]))
            pos += 16
        elif kind == 2:
            (n,) = struct.unpack_from(">H", data, pos)
            pos += 2
            oid = data[pos : pos + n].decode("utf-8")
            pos += n
        else:
            raise ValueError(f"unknown originator id kind {kind}")
        (version,) = struct.unpack_from(">Q", data, pos)
        pos += 8
        (n,) = struct.unpack_from(">H", data, pos)
        pos += 2
        topic = data[pos : pos + n].decode("utf-8")
        pos += n
        (recorded_at,) = struct.unpack_from(">Q", data, pos)
        pos += 8
        sha = data[pos : pos + 32]
        pos += 32
        if len(sha) != 32 or pos != len(data):
            raise ValueError("leaf header has wrong length")
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"malformed leaf header: {e}") from None
    return Leaf(nid, oid, version, topic, recorded_at, sha)


def encode_head(key: bytes, version: int, notification_id: int, leaf_hash: bytes) -> bytes:
    """The aggregate index entry of an aggregate (``key``: its id as leaves encode it)
    whose latest event is ``version`` at ``notification_id``, with that leaf's hash."""
    return HEAD_TAG + key + struct.pack(">QQ", version, notification_id) + leaf_hash


def decode_head(data: bytes) -> tuple[bytes, int, int, bytes]:
    """(encoded originator id, version, notification id, leaf hash) of an aggregate index entry."""
    try:
        if not data.startswith(HEAD_TAG):
            raise ValueError("unknown format tag")
        end = _oid_end(data, len(HEAD_TAG))
        if len(data) != end + 16 + HASH_LEN:
            raise ValueError("wrong length")
        version, nid = struct.unpack_from(">QQ", data, end)
    except (struct.error, IndexError, ValueError) as e:
        raise ValueError(f"malformed aggregate index entry: {e}") from None
    return data[len(HEAD_TAG):end], version, nid, data[end + 16:]


# ---------------------------------------------------------------- signed notes / checkpoints


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        try:
            # Names cannot contain "+", the base64 key can.
            name, hex_id, b64 = text.strip().split("+", 2)
            raw = base64.b64decode(b64, validate=True)
            key_id = bytes.fromhex(hex_id)
        except (ValueError, binascii.Error):
            raise CannotCheck("verifier key is not of the form <name>+<key id hex>+<base64 key>") from None
        if len(raw) != 33 or raw[0] != 1 or len(key_id) != 4 or not name:
            raise CannotCheck("verifier key is not an Ed25519 signed-note key")
        vk = cls(name, key_id, raw[1:])
        if note_key_id(name, vk.public_key) != key_id:
            raise CannotCheck("verifier key id does not match its name and public key")
        return vk


def note_key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]


def open_note(text: str, key: VerifierKey) -> str:
    """Return the note body if ``key`` signed it; signatures by other keys are ignored."""
    if not text.endswith("\n"):
        raise NoteError("signed note does not end with a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("signed note has no signature block")
    body, sigs = text[: split + 1], text[split + 2 :]
    verified = False
    for line in sigs.splitlines():
        if not line.startswith("\u2014 "):
            raise NoteError("malformed signature line in signed note")
        try:
            name, b64 = line[2:].split(" ")
            blob = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("malformed signature line in signed note") from None
        if name != key.name or blob[:4] != key.key_id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(blob[4:], body.encode())
        except InvalidSignature:
            raise NoteError(f"invalid signature by {key.name} on the checkpoint") from None
        verified = True
    if not verified:
        raise NoteError("no signature from the pinned log key")
    return body


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def heads(self) -> tuple[int, bytes] | None:
        """(entries, root) of the aggregate index this checkpoint commits to, if any."""
        for line in self.extensions:
            parts = line.split(" ")
            if parts[0] != HEADS_EXTENSION:
                continue
            if len(parts) != 3 or not parts[1].isdigit():
                raise NoteError("malformed aggregate index line in the checkpoint")
            try:
                root = base64.b64decode(parts[2], validate=True)
            except binascii.Error:
                raise NoteError("aggregate index root is not base64") from None
            if len(root) != HASH_LEN:
                raise NoteError("aggregate index root has wrong length")
            return int(parts[1]), root
        return None


def heads_line(count: int, root: bytes) -> str:
    return f"{HEADS_EXTENSION} {count} {base64.b64encode(root).decode()}"


def open_checkpoint(text: str, key: VerifierKey) -> Checkpoint:
    body = open_note(text, key)
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise NoteError("checkpoint body needs origin, size and root lines")
    origin, size_s, root_s = lines[:3]
    if origin != key.name:
        raise NoteError(f"checkpoint origin {origin!r} is not the pinned log {key.name!r}")
    if not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
        raise NoteError("checkpoint size is not a decimal number")
    try:
        root = base64.b64decode(root_s, validate=True)
    except binascii.Error:
        raise NoteError("checkpoint root is not base64") from None
    if len(root) != HASH_LEN:
        raise NoteError("checkpoint root has wrong length")
    return Checkpoint(origin, int(size_s), root, tuple(lines[3:]))


# ---------------------------------------------------------------- bundles


@dataclass
class Report:
    ok: bool
    problems: list[str]
    notes: list[str]

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_TAMPERED


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError(f"{what} is not valid base64") from None


def verify_bundle(bundle: Any, key: VerifierKey, since: Checkpoint | None = None,
                  since_proof: Sequence[bytes] | None = None, require_complete: bool = False) -> Report:
    """Check an evidence bundle against a pinned key; raises CannotCheck on unusable input.

    With ``require_complete`` a bundle that does not prove completeness fails."""
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise CannotCheck(f"not a {BUNDLE_FORMAT} bundle")
    oid = bundle.get("originator_id")
    events = bundle.get("events")
    if not isinstance(oid, str) or not isinstance(events, list) or not isinstance(bundle.get("checkpoint"), str):
        raise CannotCheck("bundle lacks originator_id, checkpoint or events")
    problems: list[str] = []
    notes: list[str] = []
    try:
        cp = open_checkpoint(bundle["checkpoint"], key)
    except NoteError as e:
        return Report(False, [f"checkpoint: {e}"], notes)

    if since is not None:
        try:
            verify_consistency(since.size, cp.size, since.root, cp.root, since_proof or [])
            notes.append(f"checkpoint size {cp.size} extends the earlier checkpoint of size {since.size}")
        except ProofError as e:
            problems.append(f"consistency from size {since.size} to {cp.size}: {e}")

    expected_version = 1
    last_leaf_index = -1
    last_nid = -1
    seen: dict[int, bytes] = {}
    withheld = 0
    for pos, ev in enumerate(events):
        label = f"bundle event #{pos}"
        try:
            index = ev["leaf_index"]
            if not isinstance(index, int) or isinstance(index, bool):
                raise ValueError("leaf_index is not an integer")
            label = f"leaf {index}"
            leaf_input = _b64(ev["leaf_input"], "leaf_input")
            leaf = decode_leaf(leaf_input)
            label = (f"leaf {index} (notification {leaf.notification_id}, "
                     f"{leaf.originator_id} v{leaf.originator_version})")
            proof = [_b64(p, "proof element") for p in ev["inclusion_proof"]]
        except (KeyError, TypeError, ValueError) as e:
            problems.append(f"{label}: {e}")
            continue
        for field, value in (("notification_id", leaf.notification_id),
                             ("originator_version", leaf.originator_version), ("topic", leaf.topic)):
            if field in ev and ev[field] != value:
                problems.append(f"{label}: {field} {ev[field]!r} does not match the committed leaf header")
        if leaf.originator_id != oid:
            problems.append(f"{label}: belongs to aggregate {leaf.originator_id}, not {oid}")
        if leaf.originator_version != expected_version:
            problems.append(f"{label}: version gap/reorder: expected v{expected_version}, "
                            f"found v{leaf.originator_version}")
        expected_version = leaf.originator_version + 1
        if index <= last_leaf_index or leaf.notification_id <= last_nid:
            problems.append(f"{label}: not in increasing log order")
        last_leaf_index, last_nid = max(index, last_leaf_index), max(leaf.notification_id, last_nid)
        state = ev.get("state")
        if state is None:
            withheld += 1
        else:
            try:
                state_bytes = _b64(state, "state")
            except ValueError as e:
                problems.append(f"{label}: {e}")
            else:
                if hashlib.sha256(state_bytes).digest() != leaf.state_sha256:
                    problems.append(f"{label}: stored state does not match its committed hash")
        try:
            verify_inclusion(index, cp.size, _leaf_hash(leaf_input), proof, cp.root)
        except ProofError as e:
            problems.append(f"{label}: {e}")
        seen[index] = leaf_input

    if not events:
        problems.append(f"bundle has no events for {oid}")
    if withheld:
        notes.append(f"{withheld} payload(s) withheld or shredded; their headers are proven")

    found = bundle.get("completeness")
    completeness: dict = found if isinstance(found, dict) else {}
    method = completeness.get("method")
    if method == "aggregate-head":
        last = (max(seen), seen[max(seen)]) if seen else None
        _check_head(completeness, cp, oid, last, problems, notes)
    elif method == "log-headers":
        _check_completeness(completeness, cp, oid, seen, problems, notes)
    else:
        unproven = ("completeness NOT proven: versions are contiguous from 1, "
                    "but a later version could have been left out")
        if require_complete:
            problems.append(unproven + " (--require-complete)")
        else:
            notes.append(unproven)

    if not problems:
        notes.insert(0, f"OK: {len(events)} event(s) of {oid} (v1..v{expected_version - 1}) "
                        f"included in {cp.origin} tree size {cp.size}")
    return Report(not problems, problems, notes)


def _check_head(completeness: dict, cp: Checkpoint, oid: str, last: tuple[int, bytes] | None,
                problems: list[str], notes: list[str]) -> None:
    """The aggregate index entry: this aggregate's latest event at the checkpoint is the
    bundle's last event.  With versions 1..n contiguous before it, none is missing."""
    try:
        committed = cp.heads()
    except NoteError as e:
        problems.append(f"completeness: {e}")
        return
    if committed is None:
        problems.append("completeness: the checkpoint commits to no aggregate index")
        return
    count, heads_root = committed
    try:
        position = completeness["index"]
        if not isinstance(position, int) or isinstance(position, bool):
            raise ValueError("index is not an integer")
        entry = _b64(completeness["entry"], "aggregate index entry")
        proof = [_b64(p, "proof element") for p in completeness["proof"]]
        key, version, nid, head_leaf = decode_head(entry)
    except (KeyError, TypeError, ValueError) as e:
        problems.append(f"completeness: {e}")
        return
    try:
        verify_inclusion(position, count, _leaf_hash(entry), proof, heads_root)
    except ProofError as e:
        problems.append(f"completeness: aggregate index entry {position}: {e}")
        return
    if last is None or key != originator_key(last[1]):
        problems.append(f"completeness: the aggregate index entry is not the one of {oid}")
        return
    leaf = decode_leaf(last[1])
    if (leaf.originator_version, leaf.notification_id, _leaf_hash(last[1])) != (version, nid, head_leaf):
        problems.append(f"completeness: the checkpoint's latest event of {oid} is v{version} (notification {nid}), "
                        f"the bundle's last is v{leaf.originator_version} (notification {leaf.notification_id}): "
                        "events are left out")
        return
    notes.append(f"completeness proven: v{version} (notification {nid}) is the latest event of {oid} "
                 f"in the aggregate index of tree size {cp.size}")


def _check_completeness(completeness: dict, cp: Checkpoint, oid: str, seen: dict[int, bytes],
                        problems: list[str], notes: list[str]) -> None:
    headers = completeness.get("headers")
    if not isinstance(headers, list):
        problems.append("completeness: log headers missing")
        return
    if len(headers) != cp.size:
        problems.append(f"completeness: {len(headers)} log headers for a tree of size {cp.size}")
        return
    leaf_hashes = []
    mine = []
    for i, h in enumerate(headers):
        try:
            raw = _b64(h, "log header")
            leaf = decode_leaf(raw)
        except ValueError as e:
            problems.append(f"completeness: leaf {i}: {e}")
            return
        leaf_hashes.append(_leaf_hash(raw))
        if leaf.originator_id == oid:
            mine.append(i)
            if seen.get(i) != raw:
                problems.append(f"completeness: leaf {i} ({oid} v{leaf.originator_version}) "
                                "is in the log but not in the bundle")
    if _root_of_leaf_hashes(leaf_hashes) != cp.root:
        problems.append(f"completeness: log headers do not hash to the checkpoint root of size {cp.size}")
        return
    for i in sorted(set(seen) - set(mine)):
        problems.append(f"completeness: bundle leaf {i} is not a leaf of {oid} in the log headers")
    if not problems:
        notes.append(f"completeness proven: the {cp.size} log headers contain exactly these {len(mine)} events")


# ---------------------------------------------------------------- command line


def _read_text(arg: str) -> str:
    path = Path(arg)
    try:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    except OSError as e:
        raise CannotCheck(f"cannot read {arg}: {e}") from None
    return arg


def _load_key(arg: str | None) -> VerifierKey:
    if not arg:
        raise CannotCheck("no pinned verifier key given (--vkey)")
    return VerifierKey.parse(_read_text(arg))


def _load_proof(path: str) -> list[bytes]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        items = data["proof"] if isinstance(data, dict) else data
        return [_b64(p, "proof element") for p in items]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CannotCheck(f"cannot read consistency proof {path}: {e}") from None


def _open_file_checkpoint(path: str, key: VerifierKey) -> Checkpoint:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise CannotCheck(f"cannot read {path}: {e}") from None
    return open_checkpoint(text, key)


def check_consistency(old_text: str, new_text: str, proof: Sequence[bytes], key: VerifierKey) -> Report:
    try:
        old = open_checkpoint(old_text, key)
        new = open_checkpoint(new_text, key)
    except NoteError as e:
        return Report(False, [f"checkpoint: {e}"], [])
    try:
        verify_consistency(old.size, new.size, old.root, new.root, proof)
    except ProofError as e:
        return Report(False, [f"consistency {old.size} -> {new.size}: {e}"], [])
    return Report(True, [], [f"OK: tree size {new.size} extends tree size {old.size} ({len(proof)} proof hashes)"])


def run(argv: Sequence[str] | None = None, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = argparse.ArgumentParser(prog="verifier.py", description="Offline cobuild audit verifier")
    sub = parser.add_subparsers(dest="command", required=True)
    p_bundle = sub.add_parser("bundle", help="verify an evidence bundle")
    p_bundle.add_argument("bundle")
    p_bundle.add_argument("--vkey", required=False)
    p_bundle.add_argument("--require-complete", action="store_true",
                          help="fail (exit 1) unless the bundle proves that no event is left out")
    p_bundle.add_argument("--since", help="an earlier checkpoint note you hold")
    p_bundle.add_argument("--consistency", help="JSON consistency proof from --since to the bundle's checkpoint")
    p_cons = sub.add_parser("consistency", help="verify that NEW extends OLD")
    p_cons.add_argument("old")
    p_cons.add_argument("new")
    p_cons.add_argument("proof")
    p_cons.add_argument("--vkey", required=False)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return EXIT_CANNOT_CHECK if e.code else EXIT_OK
    try:
        key = _load_key(args.vkey)
        if args.command == "bundle":
            try:
                bundle = json.loads(Path(args.bundle).read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise CannotCheck(f"cannot read bundle {args.bundle}: {e}") from None
            since = proof = None
            if args.since:
                if not args.consistency:
                    raise CannotCheck("--since needs --consistency")
                try:
                    since = _open_file_checkpoint(args.since, key)
                except NoteError as e:
                    raise CannotCheck(f"earlier checkpoint {args.since}: {e}") from None
                proof = _load_proof(args.consistency)
            report = verify_bundle(bundle, key, since, proof, args.require_complete)
        else:
            try:
                old_text = Path(args.old).read_text(encoding="utf-8")
                new_text = Path(args.new).read_text(encoding="utf-8")
            except OSError as e:
                raise CannotCheck(str(e)) from None
            report = check_consistency(old_text, new_text, _load_proof(args.proof), key)
    except CannotCheck as e:
        print(f"cannot check: {e}", file=err)
        return EXIT_CANNOT_CHECK
    for line in report.problems:
        print(f"TAMPERED: {line}", file=out)
    for line in report.notes:
        print(line, file=out)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(run())
