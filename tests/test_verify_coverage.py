"""verify/coverage.py: the list of every checkable claim of both texts, joined with the registry, and the
generated table in docs/verify.md that cannot go stale."""

import dataclasses
import subprocess
import sys

import pytest

from verify.__main__ import main
from verify.claims import CLAIMS, Claim, Criterion
from verify.coverage import (BEGIN, DOCS, END, ENTRIES, REASONS, TEXTS, Entry, check_coverage, coverage_counts,
                             coverage_problems, coverage_rows, coverage_table_markdown, docs_block,
                             replace_docs_block, write_docs_block)

#: the entries waiting for a claim of issue 15: when one is filled in (judged_by instead of a planned
#: reason), take it out of this set
PLANNED: set = set()

REGENERATE = "run `python -m verify coverage --write`"


def _named_claims():
    """The registered claims that ENTRIES name: a registry with no problem of its own, whatever else is
    being registered meanwhile."""
    named = {cid for e in ENTRIES for cid in e.judged_by}
    return {cid: c for cid, c in CLAIMS.items() if cid in named}


def _fake_claim(cid, kind="paper", module=None):
    def measure(data, profile):
        return []

    if module is not None:
        measure.__module__ = module
    return Claim(cid, "nowhere", "A statement.", "sec. 9", "q", "1", Criterion("within", 0.1, reason="test"),
                 measure, kind=kind)


def _entry(**kw):
    base = dict(key="paper/made-up", text="paper", where="sec. 9", quote="something", judged_by=("rug.diagonal",))
    return Entry(**(base | kw))


# ------------------------------------------------------------------------------------------ the registry
def test_the_docs_block_is_the_generated_table():
    assert docs_block(DOCS.read_text(encoding="utf-8")) == coverage_table_markdown(), \
        f"docs/verify.md's coverage block is stale: {REGENERATE}"


def test_the_registry_is_covered_but_for_planned_claims():
    wrong = [p.message for p in coverage_problems() if p.kind != "planned_arrived"]
    assert not wrong, "\n".join(wrong)


def test_the_planned_entries_are_these():
    assert {e.key for e in ENTRIES if e.planned} == PLANNED, \
        "a planned entry was filled in or added: update PLANNED (and the docs: " + REGENERATE + ")"


def test_no_registered_claim_waits_for_a_planned_entry():
    """Fails as soon as a claim of issue 15 is registered that no entry names yet: fill it into its
    planned entry (judged_by), take that entry out of PLANNED, and regenerate the docs."""
    arrived = [p.message for p in coverage_problems() if p.kind == "planned_arrived"]
    assert not arrived, "\n".join(arrived)


def test_every_registered_claim_named_by_an_entry_is_real_and_every_text_is_there():
    for e in ENTRIES:
        assert e.text in TEXTS and e.where and e.quote
        assert all(cid in CLAIMS for cid in e.judged_by), e.key
    assert {e.text for e in ENTRIES} == set(TEXTS)
    assert len({e.key for e in ENTRIES}) == len(ENTRIES)


# ------------------------------------------------------------------------------------------ the check
def test_a_made_up_claim_id_is_refused():
    entries = ENTRIES + (_entry(judged_by=("rug.diagonal", "made.up_claim")),)
    problems = coverage_problems(_named_claims(), entries)
    assert [(p.kind, p.subject) for p in problems] == [("unknown_id", "paper/made-up")]
    with pytest.raises(ValueError, match=r"1 wrong: .*'made\.up_claim' is not registered"):
        check_coverage(_named_claims(), entries)
    check_coverage(_named_claims(), ENTRIES)  # the same registry without it passes


@pytest.mark.parametrize("kind", ["paper", "exact"])
def test_an_uncovered_claim_of_the_paper_is_refused(kind):
    claims = _named_claims() | {"fake.uncovered": _fake_claim("fake.uncovered", kind)}
    problems = coverage_problems(claims, ENTRIES)
    assert [(p.kind, p.subject) for p in problems] == [("uncovered", "fake.uncovered")]
    with pytest.raises(ValueError, match=r"1 wrong: claim 'fake\.uncovered' .* is named by no entry"):
        check_coverage(claims, ENTRIES)
    # naming it in an entry covers it
    check_coverage(claims, ENTRIES + (_entry(judged_by=("fake.uncovered",)),))


@pytest.mark.parametrize("kind", ["sanity", "info"])
def test_toolkit_claims_need_no_entry(kind):
    check_coverage(_named_claims() | {"fake.toolkit": _fake_claim("fake.toolkit", kind)}, ENTRIES)


def test_a_claim_in_a_planned_module_is_told_apart_from_a_wrong_entry():
    planned = _entry(key="paper/planned-here", judged_by=(), planned="pairs",
                     reason="planned: a test, verify/comparisons/pairs.py")
    entries = ENTRIES + (planned,)
    claims = _named_claims() | {"pairs.fake": _fake_claim("pairs.fake", module="verify.comparisons.pairs")}
    problems = coverage_problems(claims, entries)
    assert [(p.kind, p.subject) for p in problems] == [("planned_arrived", "pairs.fake")]
    assert "paper/planned-here" in problems[0].message
    with pytest.raises(ValueError) as err:
        check_coverage(claims, entries)
    assert "planned claim(s) now registered" in str(err.value) and "wrong" not in str(err.value)
    # with a wrong entry as well, both are listed, the wrong one first
    both = r"1 wrong: .*made\.up.* \| 1 planned claim\(s\) now registered: .*pairs\.fake"
    with pytest.raises(ValueError, match=both):
        check_coverage(claims, entries + (_entry(judged_by=("made.up",)),))
    # filling the planned entry in resolves it
    filled = tuple(dataclasses.replace(e, judged_by=("pairs.fake",), reason="", planned="")
                   if e.key == "paper/planned-here" else e for e in entries)
    check_coverage(claims, filled)


@pytest.mark.parametrize("kw, words", [
    (dict(reason="not built: nothing"), "not both or neither"),
    (dict(judged_by=()), "not both or neither"),
    (dict(judged_by=(), reason="because I say so"), "a reason starts with one of"),
    (dict(judged_by=(), reason="planned: later"), "names its module in planned"),
    (dict(judged_by=(), reason="not built: x", planned="pairs"), "names its module in planned"),
    (dict(judged_by=(), reason="planned: later", planned="nosuchmodule"), "does not exist"),
    (dict(text="the-other-paper"), "text must be one of"),
    (dict(where=" "), "must not be empty"),
    (dict(judged_by=("rug.diagonal", "rug.diagonal")), "named twice"),
    (dict(key=ENTRIES[0].key), "used twice"),
])
def test_malformed_entries_are_refused(kw, words):
    entries = ENTRIES + (_entry(**kw),)
    problems = coverage_problems(_named_claims(), entries)
    assert problems and all(p.kind == "malformed" for p in problems)
    with pytest.raises(ValueError, match=words):
        check_coverage(_named_claims(), entries)


def test_every_reason_is_one_of_the_four():
    for e in ENTRIES:
        assert (e.status == "judged") == (not e.reason)
        if e.reason:
            assert e.reason.startswith(REASONS), e.key


# ------------------------------------------------------------------------------------------ rows and table
def test_rows_join_the_registry():
    rows = coverage_rows()
    assert [r["key"] for r in rows] == [e.key for e in ENTRIES]
    for r, e in zip(rows, ENTRIES):
        assert r["status"] == e.status and [j["id"] for j in r["judged_by"]] == list(e.judged_by)
        for j in r["judged_by"]:
            c = CLAIMS[j["id"]]
            assert j["registered"] and j["kind"] == c.kind and j["comparison"] == c.comparison
            assert j["regime"] == c.regime.describe()
    rows = coverage_rows({}, (_entry(),))
    assert rows[0]["judged_by"] == [{"id": "rug.diagonal", "registered": False}]
    assert "(not registered)" in coverage_table_markdown({}, (_entry(),))


def test_counts_add_up():
    counts = coverage_counts()
    assert sum(c["entries"] for c in counts.values()) == len(ENTRIES)
    for c in counts.values():
        assert c["judged"] + c["planned"] + c["not judged"] == c["entries"]
        assert c["judged elsewhere"] + c["not built"] + c["not checkable"] == c["not judged"]
    assert sum(c["planned"] for c in counts.values()) == len(PLANNED)


def test_the_table_has_one_row_per_entry_and_escapes_pipes():
    table = coverage_table_markdown()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(ENTRIES)
    assert all(line.count(" | ") == 4 for line in rows)
    odd = coverage_table_markdown(_named_claims(), (_entry(quote="|x| <= 1"),))
    line = next(line for line in odd.splitlines() if line.startswith("| `"))
    assert "\\|x\\| <= 1" in line and line.replace("\\|", "").count("|") == 6
    # kinds other than paper are shown
    assert "`rug.projector` (exact)" in table and "`bounds.welch` (sanity)" in table


def test_the_block_is_replaced_between_its_markers_only():
    doc = f"head\n{BEGIN}\nold\n{END}\ntail\n"
    new = replace_docs_block(doc, "NEW")
    assert new == f"head\n{BEGIN}\nNEW\n{END}\ntail\n" and docs_block(new) == "NEW"
    assert replace_docs_block(new, "NEW") == new
    for bad in ("no markers", f"{BEGIN}{BEGIN}{END}", f"{END}x{BEGIN}", f"{BEGIN}x{END}{END}"):
        with pytest.raises(ValueError, match="coverage"):
            replace_docs_block(bad, "NEW")


# ------------------------------------------------------------------------------------------ the CLI
def test_cli_prints_the_table(capsys):
    rc = main(["coverage"])
    out, err = capsys.readouterr()
    problems = coverage_problems()
    assert out == coverage_table_markdown() + "\n"
    assert rc == (1 if problems else 0)
    assert len(err.splitlines()) == len(problems)


def test_cli_writes_the_block_of_a_copy(tmp_path, capsys):
    page = tmp_path / "verify.md"
    text = DOCS.read_text(encoding="utf-8")
    stale = replace_docs_block(text, "stale")
    page.write_text(stale, encoding="utf-8")
    main(["coverage", "--write", "--docs", str(page)])
    assert "rewrote" in capsys.readouterr().out
    new = page.read_text(encoding="utf-8")
    assert docs_block(new) == coverage_table_markdown()
    b, e = new.index(BEGIN), new.index(END)
    assert new[:b] == stale[:stale.index(BEGIN)] and new[e:] == stale[stale.index(END):]
    assert [p.name for p in tmp_path.iterdir()] == ["verify.md"]  # no temporary file left behind
    main(["coverage", "--write", "--docs", str(page)])
    assert "unchanged" in capsys.readouterr().out
    assert write_docs_block(page) is False


@pytest.mark.parametrize("case", ["missing", "no markers", "docs without write", "bad option"])
def test_cli_bad_input_is_one_line_and_exit_2(case, tmp_path, capsys):
    page = tmp_path / "page.md"
    argv = {"missing": ["coverage", "--write", "--docs", str(tmp_path / "nope.md")],
            "no markers": ["coverage", "--write", "--docs", str(page)],
            "docs without write": ["coverage", "--docs", str(page)],
            "bad option": ["coverage", "--wrte"]}[case]
    page.write_text("# a page without the block\n", encoding="utf-8")
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert page.read_text(encoding="utf-8") == "# a page without the block\n"


def test_python_m_verify_coverage_runs():
    out = subprocess.run([sys.executable, "-m", "verify", "coverage"], capture_output=True, text=True)
    assert out.returncode in (0, 1) and "Traceback" not in out.stderr
    assert out.stdout.strip() == coverage_table_markdown()
