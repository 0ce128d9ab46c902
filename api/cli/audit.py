"""``cobuild audit``: checkpoints, whole-store verification, evidence bundles, consistency.

The store is found as the engine finds it (``Settings.event_store``: the PostgreSQL URL,
or the SQLite file); signing key and signer state in ``<home>/keys/``.  ``db`` below is that
file path or URL.  The helper functions take paths so they can be called without click; the
commands only parse arguments and print.  Exit codes everywhere: 0 verified, 1 tampered,
2 cannot check.

Signing holds the store's ``signer`` lease (``workflows.audit.signing``), which the API's
on-demand checkpoint takes too.  A signer that finds the lease held waits for it
(``--wait``, a minute by default: the other signer is almost always done within a second,
and cron then gets a checkpoint of the newer head rather than a failure), and gives up with
one line and exit status 2 if it is still held.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from api.cli.common import root
from workflows.audit import merkle, verifier
from workflows.audit.recorder import AuditLog, connect_sqlite
from workflows.audit.verify import verify_store
from workflows.audit.bundle import BundleError, build_bundle
from workflows.audit.evidence import evidence_problems
from workflows.audit.checkpoint import (
    KeyDirectory,
    SignerRefused,
    store_checkpoint_postgres,
    store_checkpoint_sqlite,
)
from workflows.audit.signing import CheckpointSigner, SignerBusy
from workflows.audit.verifier import (
    EXIT_CANNOT_CHECK,
    EXIT_OK,
    EXIT_TAMPERED,
    CannotCheck,
    Checkpoint,
    NoteError,
    VerifierKey,
    open_checkpoint,
)
from workflows.store.settings import Settings
from workflows.store.leases import Lease

__all__ = ["SignerBusy", "audit", "export_bundle", "lease_settings", "make_checkpoint",
           "run_consistency", "run_verify", "signer_lease"]

SIGNER_WAIT = 60.0

Store = Path | str  # a SQLite file, or a postgresql:// URL


def _is_postgres(db: Store) -> bool:
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


@contextmanager
def open_log(db: Store) -> Iterator[tuple[AuditLog, Callable[[int, bytes, str], None]]]:
    """The store's log and how to record a signed checkpoint in it."""
    if _is_postgres(db):
        import psycopg

        from workflows.audit.recorder_postgres import connect_postgres, postgres_snapshot, postgres_sql

        sql = postgres_sql()
        try:
            conn = connect_postgres(str(db))
        except psycopg.Error as e:
            raise CannotCheck(f"cannot connect to the PostgreSQL store: {e}") from None
        try:
            yield (AuditLog(postgres_snapshot(conn), sql),
                   lambda s, r, n: store_checkpoint_postgres(conn, s, r, n, sql))
        finally:
            conn.close()
        return
    lite = connect_sqlite(db)
    try:
        yield AuditLog.from_connection(lite), lambda s, r, n: store_checkpoint_sqlite(lite, s, r, n)
    finally:
        lite.close()


@dataclass
class Outcome:
    code: int
    lines: list[str]


def _pinned_key(keys_dir: Path, vkey: str | None) -> VerifierKey:
    """An explicit --vkey (text or file) wins; otherwise the key directory's public key."""
    if vkey:
        p = Path(vkey)
        return VerifierKey.parse(p.read_text(encoding="utf-8") if p.is_file() else vkey)
    keys = KeyDirectory(keys_dir)
    if not keys.vkey_path.is_file():
        raise CannotCheck(f"no verifier key: give --vkey or create one with `audit checkpoint` ({keys.vkey_path})")
    return VerifierKey.parse(keys.vkey_path.read_text(encoding="utf-8"))


def lease_settings(db: Store) -> Settings:
    """Settings that key the lease by this store, as the engine's processes key theirs: the
    PostgreSQL database, or a lock file beside the SQLite file."""
    if _is_postgres(db):
        return Settings(home=Path("var").resolve(), database_url=str(db))  # home: unused there
    path = Path(db).resolve()
    return Settings(home=path.parent, database_url=f"sqlite:///{path}")


def _signer(db: Store, keys_dir: Path, origin: str | None = None) -> CheckpointSigner:
    return CheckpointSigner(lease_settings(db), KeyDirectory(keys_dir), origin)


def signer_lease(db: Store, wait: float = SIGNER_WAIT) -> Lease:
    """The store's ``signer`` lease, waiting up to ``wait`` seconds for another signer."""
    return _signer(db, Path()).lease(wait)


def make_checkpoint(db: Store, keys_dir: Path, origin: str | None = None, wait: float = SIGNER_WAIT) -> str:
    """Sign the current tree head (creating the log key on first use) and store it."""
    if not _is_postgres(db) and not Path(db).is_file():
        raise FileNotFoundError(f"no event store at {db}")
    with open_log(db) as (log, store):
        return _signer(db, keys_dir, origin).sign(log, store, wait)


def _inside(path: Path, folders: Sequence[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(folder.resolve()) for folder in folders)


def operator_folders(db: Store, keys_dir: Path) -> list[Path]:
    """The operator's data folder: where the store, its keys and the signer's state live.
    A checkpoint kept there is the operator's word, not an evaluator's."""
    folders = [keys_dir.parent]
    if not _is_postgres(db):
        folders.append(Path(db).parent)
    return folders


def checkpoint_files_in(folders: Sequence[str]) -> list[str]:
    """The checkpoint notes (``*.note``) an evaluator keeps in the folders they name."""
    found: list[str] = []
    for folder in folders:
        path = Path(folder)
        if not path.is_dir():
            raise CannotCheck(f"no checkpoint folder {folder}")
        found.extend(str(p) for p in sorted(path.glob("*.note")) if p.is_file())
    return found


def run_verify(db: Store, keys_dir: Path, checkpoint_files: Sequence[str] = (), vkey: str | None = None,
               require_checkpoint: bool = False, checkpoint_dirs: Sequence[str] = ()) -> Outcome:
    """Verify the store against its log and the checkpoints an evaluator kept.

    External checkpoints are only the ones given (``checkpoint_files``, the ``*.note`` files
    of ``checkpoint_dirs``) that lie outside the operator's data folder.  The signer's state
    and checkpoints inside the data folder are checked too, but the operator can rewrite
    the log and re-sign them, so they never satisfy ``require_checkpoint``."""
    files = [*checkpoint_files, *checkpoint_files_in(checkpoint_dirs)]
    try:
        key: VerifierKey | None = _pinned_key(keys_dir, vkey)
    except CannotCheck:
        if files:
            raise
        key = None
    operator_data = operator_folders(db, keys_dir)
    external: list[tuple[str, Checkpoint]] = []
    operator: list[tuple[str, Checkpoint]] = []
    lines: list[str] = []
    for f in files:
        try:
            text = Path(f).read_text(encoding="utf-8")
        except OSError as e:
            raise CannotCheck(f"cannot read checkpoint {f}: {e}") from None
        assert key is not None
        try:
            cp = open_checkpoint(text, key)
        except NoteError as e:
            return Outcome(EXIT_TAMPERED, [f"TAMPERED: checkpoint {f}: {e}"])
        if _inside(Path(f), operator_data):
            operator.append((f"checkpoint {f} (operator's data folder)", cp))
            lines.append(f"note: checkpoint {f} is in the operator's data folder, so it is not counted as external")
        else:
            external.append((f"checkpoint {f}", cp))
    last = KeyDirectory(keys_dir).last_signed() if key is not None else None
    if last is not None and key is not None:
        try:
            operator.append(("signer state (operator's data folder)", open_checkpoint(last.note, key)))
        except NoteError as e:
            return Outcome(EXIT_TAMPERED, [f"TAMPERED: signer state: {e}"])
    if require_checkpoint and not external:
        raise CannotCheck("--require-checkpoint: give a checkpoint you kept outside the operator's data folder "
                          "(--checkpoint FILE or --checkpoints DIR)")
    if key is None:
        lines.append("note: no verifier key found, signatures of stored checkpoints not checked")
    result = verify_store(db, external_checkpoints=external, vkey=key, operator_checkpoints=operator)
    lines.insert(0, result.summary())
    lines.extend(f"  {p}" for p in result.problems[1:20])
    return Outcome(result.exit_code, lines)


def export_bundle(db: Store, keys_dir: Path, aggregate_id: str, checkpoint_file: str | None = None,
                  origin: str | None = None) -> dict[str, Any]:
    """Bundle against the given checkpoint, or against a freshly signed one."""
    if checkpoint_file:
        note = Path(checkpoint_file).read_text(encoding="utf-8")
    else:
        note = make_checkpoint(db, keys_dir, origin)
    key = _pinned_key(keys_dir, None)
    with open_log(db) as (log, _):
        return build_bundle(log, aggregate_id, note, key)


def run_consistency(db: Store, keys_dir: Path, old: str, new: str, vkey: str | None = None) -> tuple[int, dict]:
    """OLD and NEW are checkpoint note files or tree sizes; the proof comes from the store."""
    try:
        with open_log(db) as (log, _):
            heads = []
            for arg in (old, new):
                if arg.isdigit():
                    size, root = log.head(int(arg))
                    heads.append((size, root, "store"))
                else:
                    key = _pinned_key(keys_dir, vkey)
                    try:
                        cp = open_checkpoint(Path(arg).read_text(encoding="utf-8"), key)
                    except OSError as e:
                        raise CannotCheck(f"cannot read {arg}: {e}") from None
                    except NoteError as e:
                        return EXIT_TAMPERED, {"verified": False, "error": f"checkpoint {arg}: {e}"}
                    heads.append((cp.size, cp.root, arg))
            (size1, root1, _), (size2, root2, _) = heads
            current = log.tree_size()
            if size2 > current:
                return EXIT_TAMPERED, {"verified": False,
                                       "error": f"the store has {current} leaves, fewer than tree size {size2}"}
            proof = log.consistency_proof(size1, size2) if 0 < size1 <= size2 else []
    except ValueError as e:
        raise CannotCheck(str(e)) from None
    out = {"from_size": size1, "to_size": size2, "from_root": _b64(root1), "to_root": _b64(root2),
           "proof": [_b64(p) for p in proof]}
    try:
        merkle.verify_consistency(size1, size2, root1, root2, proof)
    except merkle.ProofError as e:
        out.update(verified=False, error=str(e))
        return EXIT_TAMPERED, out
    out["verified"] = True
    return EXIT_OK, out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------- click layer


def _paths() -> tuple[Store, Path]:
    settings = root().settings
    return settings.event_store, settings.keys_folder


def _fail(ctx: click.Context, message: str, code: int = EXIT_CANNOT_CHECK) -> None:
    prefix = "cannot check" if code == EXIT_CANNOT_CHECK else "TAMPERED"
    click.echo(f"{prefix}: {message}", err=True)
    ctx.exit(code)


@click.group("audit")
def audit() -> None:
    """Verifiable history: checkpoints, verification, evidence bundles."""


@audit.command("checkpoint")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the signed note to this file.")
@click.option("--wait", type=click.FloatRange(min=0), default=SIGNER_WAIT, show_default=True,
              help="Seconds to wait while another signer runs, then sign the newer head (0: refuse at once).")
@click.pass_context
def checkpoint_cmd(ctx: click.Context, out: str | None, wait: float) -> None:
    """Sign the current tree head (refuses if it does not extend the last one signed)."""
    db, keys = _paths()
    try:
        note = make_checkpoint(db, keys, root().settings.audit_origin, wait=wait)
    except SignerRefused as e:
        _fail(ctx, str(e), EXIT_TAMPERED)
    except SignerBusy as e:
        click.echo(f"cannot sign: {e}", err=True)
        ctx.exit(EXIT_CANNOT_CHECK)
    except (FileNotFoundError, CannotCheck, ValueError) as e:
        _fail(ctx, str(e))
    if out:
        Path(out).write_text(note, encoding="utf-8")
    click.echo(note, nl=False)


@audit.command("verify")
@click.option("--checkpoint", "checkpoints", multiple=True, type=click.Path(dir_okay=False),
              help="A checkpoint note you kept outside the operator's data folder (repeatable).")
@click.option("--checkpoints", "checkpoint_dirs", multiple=True, type=click.Path(file_okay=False),
              help="A folder of checkpoint notes (*.note) you kept (repeatable).")
@click.option("--vkey", help="Pinned verifier key (text or file); default: <COBUILD_HOME>/keys/log.vkey.")
@click.option("--require-checkpoint", is_flag=True,
              help="Fail (exit 2) unless a checkpoint from outside the operator's data folder is given.")
@click.pass_context
def verify_cmd(ctx: click.Context, checkpoints: tuple[str, ...], checkpoint_dirs: tuple[str, ...],
               vkey: str | None, require_checkpoint: bool) -> None:
    """Verify the whole event store against its Merkle log and checkpoints."""
    db, keys = _paths()
    try:
        outcome = run_verify(db, keys, checkpoints, vkey, require_checkpoint, checkpoint_dirs)
    except CannotCheck as e:
        _fail(ctx, str(e))
    for line in outcome.lines:
        click.echo(line)
    tampered_files = evidence_problems(cobuild_home())
    for line in tampered_files:
        click.echo(line)
    ctx.exit(EXIT_TAMPERED if tampered_files else outcome.code)


@audit.command("bundle")
@click.argument("aggregate_id")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False),
              help="Prove against this checkpoint instead of signing a fresh one.")
@click.pass_context
def bundle_cmd(ctx: click.Context, aggregate_id: str, checkpoint: str | None) -> None:
    """Print the evidence bundle of one aggregate as JSON (its events, their proofs and the
    proof that none is left out; nothing about other records)."""
    db, keys = _paths()
    try:
        bundle = export_bundle(db, keys, aggregate_id, checkpoint, root().settings.audit_origin)
    except SignerRefused as e:
        _fail(ctx, str(e), EXIT_TAMPERED)
    except SignerBusy as e:
        click.echo(f"cannot sign: {e}", err=True)
        ctx.exit(EXIT_CANNOT_CHECK)
    except (BundleError, NoteError) as e:
        _fail(ctx, str(e), EXIT_TAMPERED if isinstance(e, NoteError) else EXIT_CANNOT_CHECK)
    except (FileNotFoundError, CannotCheck, ValueError) as e:
        _fail(ctx, str(e))
    json.dump(bundle, sys.stdout, indent=1)
    click.echo()


@audit.command("verify-bundle")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--vkey", help="Pinned verifier key (text or file); default: <COBUILD_HOME>/keys/log.vkey.")
@click.option("--require-complete", is_flag=True,
              help="Fail (exit 1) unless the bundle proves that no event of the record is left out.")
@click.pass_context
def verify_bundle_cmd(ctx: click.Context, file: str, vkey: str | None, require_complete: bool) -> None:
    """Verify an evidence bundle offline (uses only workflows/audit/verifier.py)."""
    if not vkey:
        candidate = KeyDirectory(root().settings.keys_folder).vkey_path
        vkey = str(candidate) if candidate.is_file() else None
    args = ["bundle", file] + (["--vkey", vkey] if vkey else []) + (["--require-complete"] if require_complete else [])
    ctx.exit(verifier.run(args))


@audit.command("consistency")
@click.argument("old")
@click.argument("new")
@click.option("--vkey", help="Pinned verifier key for checkpoint notes; default: <COBUILD_HOME>/keys/log.vkey.")
@click.pass_context
def consistency_cmd(ctx: click.Context, old: str, new: str, vkey: str | None) -> None:
    """Prove that tree NEW extends tree OLD (checkpoint note files or tree sizes)."""
    db, keys = _paths()
    try:
        code, out = run_consistency(db, keys, old, new, vkey)
    except (FileNotFoundError, CannotCheck) as e:
        _fail(ctx, str(e))
    click.echo(json.dumps(out, indent=1))
    ctx.exit(code)
