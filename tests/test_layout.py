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


def test_numerics_imports_neither_theory_nor_verify():
    modules = "numerics, numerics.__main__, numerics.sae, numerics.experiments, numerics.plots"
    assert _loaded_after_import(modules, ("theory", "verify")) == ""


def test_numerics_and_verify_export_documented_names():
    import numerics
    import verify

    for mod in (numerics, verify):
        for name in mod.__all__:
            assert getattr(mod, name).__doc__, f"{mod.__name__}.{name}"
