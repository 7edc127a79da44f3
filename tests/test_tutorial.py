"""docs/tutorial.ipynb runs from top to bottom in a fresh kernel (nbclient, the engine under nbmake), in a
scratch directory that sees docs/results the way the docs folder does, and its figures come out inline."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_the_tutorial_runs_and_draws_inline(tmp_path):
    (tmp_path / "results").symlink_to(DOCS / "results")
    nb = nbformat.read(DOCS / "tutorial.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the weights and the rug, shown inline
    text = "".join(o.get("text", "") for o in outputs)
    assert "a* = 1.28" in text and "held-out loss" in text and "best rug at n_s = 256" in text
