"""The dependency rule: theory imports neither torch nor numerics nor verify."""

import subprocess
import sys


def test_theory_imports_no_torch_and_no_sibling():
    code = (
        "import sys, theory, theory.symbolic, theory.__main__\n"
        "bad = [m for m in ('torch', 'numerics', 'verify') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_are_exported():
    import theory

    for name in theory.__all__:
        assert getattr(theory, name).__doc__, name


def test_numerics_imports_neither_theory_nor_verify():
    code = (
        "import sys, numerics, numerics.__main__, numerics.sae, numerics.experiments, numerics.plots\n"
        "bad = [m for m in ('theory', 'verify') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_numerics_and_verify_export_documented_names():
    import numerics
    import verify

    for mod in (numerics, verify):
        for name in mod.__all__:
            assert getattr(mod, name).__doc__, f"{mod.__name__}.{name}"
