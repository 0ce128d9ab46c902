"""The house rules that import contracts cannot state (those are in setup.cfg, checked by
lint-imports): where the environment is read, where the parts are built, and that commands
are called by name."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("domain", "workflows", "projections", "api")


def modules() -> dict[str, ast.Module]:
    return {str(path.relative_to(ROOT)): ast.parse(path.read_text(encoding="utf-8"))
            for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def places(found: dict[str, ast.Module], wanted) -> set[str]:
    return {name for name, tree in found.items() if any(wanted(node) for node in ast.walk(tree))}


def test_only_the_settings_read_the_environment():
    """Everything else is handed complete settings by the composition root."""
    def reads_environment(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
                and isinstance(node.value, ast.Name) and node.value.id == "os")

    assert places(modules(), reads_environment) == {"workflows/store/settings.py"}


def test_the_entry_points_take_their_parts_from_the_composition_root():
    """Settings are read and the engine opened in api/root.py only; the demo and the
    generator open their own engines (their own clocks) on the settings they are given."""
    def settings_from_env(node: ast.AST) -> bool:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "from_env" and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "Settings")

    def open_engine(node: ast.AST) -> bool:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "open_engine")

    found = modules()
    assert places(found, settings_from_env) == {"api/root.py"}
    assert places(found, open_engine) == {"api/root.py", "workflows/demo.py", "workflows/generate.py"}


def test_commands_are_called_by_name():
    """No method is looked up from a string built at run time (``getattr(x, f"_{...}")``):
    a reader, a type checker and a search can follow every call."""
    def dispatch_by_string(node: ast.AST) -> bool:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "getattr" and len(node.args) >= 2
                and not isinstance(node.args[1], ast.Constant))

    allowed = {
        # Field copies: an aggregate's fields by the names its answer schema lists, an
        # event's by the names a projection reads, a record's parties, a plan's dates.
        "api/http/commitments.py", "api/http/tasks.py", "projections/facts.py",
        "workflows/core.py", "workflows/generate.py",
    }
    assert places(modules(), dispatch_by_string) <= allowed
