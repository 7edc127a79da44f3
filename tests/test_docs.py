"""The numbers printed in docs/ are computed: every example in the markdown runs as a doctest."""

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("name", ["theory.md", "api.md"])
def test_doc_examples_run(name):
    result = doctest.testfile(str(DOCS / name), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"


@pytest.mark.parametrize("page, modules", [
    ("api-numerics.md", ["numerics", "numerics.sae", "numerics.core", "numerics.kernels"]),
    ("api-verify.md", ["verify"]),
])
def test_api_pages_name_every_public_name(page, modules):
    """Every name a package exports (its ``__all__``) is mentioned on its API page (issue 17)."""
    import importlib
    import re

    text = (DOCS / page).read_text()
    missing = [f"{mod}.{name}" for mod in modules for name in importlib.import_module(mod).__all__
               if not re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text)]
    assert not missing, f"{page} does not mention {', '.join(missing)}"
