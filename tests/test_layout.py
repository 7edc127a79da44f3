"""The dependency rule: theory imports neither torch nor numerics nor verify."""

import subprocess
import sys


def _loaded_after_import(modules: str, forbidden: tuple[str, ...]) -> str:
    """Import ``modules`` in a fresh interpreter; the forbidden modules that came with them, comma-separated."""
    code = (
        f"import sys, {modules}\n"
        f"bad = [m for m in {forbidden!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_theory_imports_no_torch_and_no_sibling():
    assert _loaded_after_import("theory, theory.symbolic, theory.__main__", ("torch", "numerics", "verify")) == ""


def test_public_names_are_exported():
    import theory

    for name in theory.__all__:
        assert getattr(theory, name).__doc__, name


def _modules(package: str) -> list[str]:
    """Every module of ``package`` (subpackages included), by walking its folder."""
    import importlib
    import pkgutil

    pkg = importlib.import_module(package)
    return [package] + [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.")]


def test_numerics_imports_neither_theory_nor_verify():
    modules = _modules("numerics")
    assert len(modules) > 20 and "numerics.sae.train" in modules and "numerics.kernels" in modules
    assert _loaded_after_import(", ".join(modules), ("theory", "verify")) == ""


def test_theory_imports_nothing_outside_it_in_any_module():
    assert _loaded_after_import(", ".join(_modules("theory")), ("torch", "numerics", "verify")) == ""


#: a module over this many lines must be one concept and say so at the top ("One concept ...")
MAX_LINES = 400


def test_modules_are_small_or_say_they_are_one_concept():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    big = []
    for package in ("theory", "numerics", "verify"):
        for path in sorted((root / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if text.count("\n") > MAX_LINES and "One concept" not in text[:3000]:
                big.append(f"{path.relative_to(root)} ({text.count(chr(10))} lines)")
    assert big == [], "split these, or state their one concept at the top: " + ", ".join(big)


def test_numerics_and_verify_export_documented_names():
    import numerics
    import verify

    for mod in (numerics, verify):
        for name in mod.__all__:
            assert getattr(mod, name).__doc__, f"{mod.__name__}.{name}"


def test_star_imports_of_theory_and_symbolic_do_not_collide():
    # the numerical names and the sympy ones (which end in _sym) live side by side after both star imports
    numeric, symbolic = {}, {}
    exec("from theory import *", numeric)
    exec("from theory.symbolic import *", symbolic)
    shared = {name for name in set(numeric) & set(symbolic) if not (name.startswith("__") and name.endswith("__"))}
    assert shared == set()

    import theory.symbolic

    assert [name for name in theory.symbolic.__all__ if len(name) == 1] == []


def test_theory_modules_import_no_private_name_of_a_sibling():
    # shared private helpers live in the private modules (_numeric, _validation, _cli), whose names are
    # public to their siblings: no theory module reaches for another's underscore name
    import ast
    from pathlib import Path

    import theory

    bad = []
    for path in sorted(Path(theory.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("theory")):
                bad += [f"{path.name}: from {'.' * node.level}{node.module or ''} import {alias.name}"
                        for alias in node.names if alias.name.startswith("_")]
    assert bad == []
