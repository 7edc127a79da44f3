"""Every command shown in README.md and docs/ runs (issue 16): the fenced shell blocks are extracted and
executed at tiny sizes, the sizes shrunk by flags appended or replaced here (the docs are not edited);
the python blocks that are not doctests run with a table of size substitutions; the doctests of every
page run as doctests. A command the docs print with its output (``$ command`` then output lines) must
print exactly that output.

Shrinking rules (``shrink``): ``--profile quick|paper`` -> ``tiny`` with one cheap stage (the tiny
report end to end is tests/test_verify.py's), ``--ns``/``--nd`` of training commands -> 16/4 (32/8 for
appendix H), ``--max-steps`` and ``--batch`` capped, ``fit-rug --ns`` -> 1024; ``--executor slurm`` commands
lose the options the one-node test cluster cannot meet (GPUs, a partition, memory, the options file) and
are skipped where sbatch is absent. Commands that cannot run
here are listed in SKIP with the reason.
"""

from __future__ import annotations

import doctest
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))

#: commands shown but not run here, and why (matched as a substring of the command)
SKIP = {
    "python -m doctest docs/theory.md": "the same doctests run in tests/test_docs.py",
    "python -m verify stability": "runs the whole profile from three root seeds; tests/test_verify.py runs it "
                                  "at the tiny profile",
    "pip install": "installation, done by .ci/run",
    "python -m pytest": "this test suite itself",
}


def fenced_blocks(path: Path, languages) -> list[tuple[int, str]]:
    """(first line number, text) of every fenced block of ``path`` in one of ``languages``."""
    out, lang, buf, start = [], None, [], 0
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if lang is None:
            m = re.match(r"^```(\w+)\s*$", line)
            if m:
                lang, buf, start = m.group(1), [], i + 1
        elif line.startswith("```"):
            if lang in languages:
                out.append((start, "\n".join(buf)))
            lang = None
        else:
            buf.append(line)
    return out


def shell_commands(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) from a shell block: ``$ cmd`` lines with the lines after them as
    their output, or bare command lines (no output shown). Comments and [optional] parts are dropped."""
    lines = text.splitlines()
    prompted = any(line.startswith("$ ") for line in lines)
    out = []
    for line in lines:
        if prompted:
            if line.startswith("$ "):
                out.append((line[2:].strip(), []))
            elif out:
                out[-1][1].append(line)
            continue
        cmd = re.sub(r"\s+#.*$", "", line).strip()
        if cmd and not cmd.startswith("#"):
            out.append((cmd, []))
    cleaned = []
    for cmd, expected in out:
        cmd = re.sub(r"\s*\[[^\]]*\]", "", cmd)  # [--resume] [--device cuda]: optional parts
        cleaned.append((cmd, expected))
    return cleaned


def _set(args: list[str], flag: str, value: str) -> list[str]:
    if flag in args:
        args[args.index(flag) + 1] = value
        return args
    return args + [flag, value]


def _cap(args: list[str], flag: str, value: int) -> list[str]:
    if flag in args:
        i = args.index(flag) + 1
        args[i] = str(min(int(args[i]), value))
        return args
    return args + [flag, str(value)]


def shrink(cmd: str) -> str:
    """The command at tiny sizes (see the module doc)."""
    if not cmd.startswith("python -m "):
        return cmd
    head, _, tail = cmd.partition(";")
    args = shlex.split(head)
    if "--executor" in args and args[args.index("--executor") + 1] == "slurm":
        # the test cluster (.ci/slurm-up) has one CPU-only node and one partition: drop what asks for more
        for flag in ("--gpus-per-job", "--slurm-config", "--partition", "--mem-gb"):
            if flag in args:
                i = args.index(flag)
                del args[i:i + 2]
    if args[2:4] == ["verify", "report"]:
        args = _set(args, "--profile", "tiny")
        if "--only" in args:
            args = _set(args, "--only", "rug_properties")
        else:
            args += ["--only", "rug_properties"]
        args = [a for i, a in enumerate(args) if not (args[i - 1] == "--redo")] if "--redo" in args else args
        args = [a for a in args if a != "--redo"]
    elif args[2] == "numerics":
        sub = args[3]
        if sub in ("train", "sweep") and "--config" not in args:
            args = _set(args, "--ns", "16")
        if sub == "broken-symmetry":
            args = _set(_set(args, "--ns", "32"), "--nd", "8")
        if sub in ("train", "sweep", "toy-models", "broken-symmetry"):
            args = _cap(_cap(args, "--max-steps", 100), "--batch", 64) if sub != "toy-models" else \
                _cap(args, "--max-steps", 100)
            args = _set(args, "--device", "cpu")
        if sub == "fit-rug":
            args = _cap(args, "--ns", 1024)
    out = shlex.join(args)
    return out + (";" + tail if tail else "")


def same_output(got: list[str], expected: list[str], rel: float = 1e-9) -> bool:
    """Line by line, token by token; numbers compared to ``rel`` (the docs print full-precision floats,
    whose last digit may differ between CPUs and library versions)."""
    if len(got) != len(expected):
        return False
    for g, e in zip(got, expected):
        gt, et = re.split(r"[\s,]+", g.strip()), re.split(r"[\s,]+", e.strip())
        if len(gt) != len(et):
            return False
        for a, b in zip(gt, et):
            if a == b:
                continue
            try:
                x, y = float(a.rstrip(",")), float(b.rstrip(","))
            except ValueError:
                return False
            if not abs(x - y) <= rel * max(abs(x), abs(y)):
                return False
    return True


def _doc_cases():
    cases = []
    for page in PAGES:
        for line, text in fenced_blocks(page, ("sh", "bash", "console", "shell")):
            cmds = shell_commands(text)
            if cmds:
                cases.append(pytest.param(page, cmds, id=f"{page.relative_to(ROOT)}:{line}"))
    return cases


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "docs").symlink_to(ROOT / "docs")  # commands that read docs/... find it
    g = torch.Generator().manual_seed(0)  # a model file of another tool, in ARENA's layout (W: n_d x n_s)
    torch.save({"W": torch.randn(2, 4, 16, generator=g) / 2, "b_final": torch.zeros(2, 16)}, tmp_path / "arena_model.pt")
    (tmp_path / "run.toml").write_text('n_s = 16\nn_d = 4\np = 0.1\nbatch = 32\nmax_steps = 100\ndevice = "cpu"\n')
    return tmp_path


@pytest.mark.parametrize("page, commands", _doc_cases())
def test_every_documented_command_runs(page, commands, workdir):
    ran = 0
    for cmd, expected in commands:
        if any(s in cmd for s in SKIP):
            continue
        if "--executor slurm" in cmd and shutil.which("sbatch") is None:
            continue  # no SLURM here: tests/test_executor.py says so; CI starts a cluster (.ci/slurm-up)
        run = shrink(cmd)
        # absolute scratch paths in the docs (/tmp/...) go to this test's directory
        run = run.replace("/tmp/", f"{workdir}/tmp_")
        proc = subprocess.run(["bash", "-c", run.replace("python -m", f"{sys.executable} -m")], cwd=workdir,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
        shows_exit = "exit $?" in cmd
        if not shows_exit:
            assert proc.returncode == 0, f"{page.name}: {run}\n{proc.stdout[-2000:]}"
        assert "Traceback" not in proc.stdout, f"{page.name}: {run}\n{proc.stdout[-2000:]}"
        if expected and run == cmd.replace("/tmp/", f"{workdir}/tmp_"):  # output shown, sizes not shrunk
            got = proc.stdout.replace(f"{workdir}/tmp_", "/tmp/").strip().splitlines()
            assert same_output(got, [e for e in expected if e.strip()]), f"{page.name}: {cmd}\n" + "\n".join(got)
        ran += 1
    assert ran or all(any(s in c for s in SKIP) for c, _ in commands)


#: python blocks that are not doctests: the sizes they use, and tiny ones (the docs keep the real sizes)
SUBSTITUTIONS = [
    ('run_report("quick", "report")', 'run_report("tiny", "report", only=["rug_properties"], progress=False)'),
    ("fit_rug(65536, 0.25, 0.05, method=\"fit\")", "fit_rug(1024, 0.25, 0.05, method=\"fit\", progress=False)"),
    ("TrainConfig(n_s=512, r=0.25, p=[0.01, 0.045])",
     "TrainConfig(n_s=32, r=0.25, p=[0.01, 0.045], max_steps=100, batch=64, device='cpu')"),
    ('"runs/two")', '"runs/two", progress=False)'),
    ("SAEDataConfig()", "SAEDataConfig(h=8, G=16)"),
    ("alphas=[0.01, 0.03, 0.1, 0.3, 1.0]", "alphas=[0.1]"),
    ("ratios=[0.5, 1.0, 2.0, 4.0]", "ratios=[1.0]"),
    ("steps=10_000", "steps=20"),
    ("eval_samples=8192", "eval_samples=64"),
    ("progress=True", "progress=False"),
]


def _python_cases():
    cases = []
    for page in PAGES:
        for line, text in fenced_blocks(page, ("python",)):
            if ">>>" not in text:
                cases.append(pytest.param(page, text, id=f"{page.relative_to(ROOT)}:{line}"))
    return cases


@pytest.mark.parametrize("page, code", _python_cases())
def test_every_documented_python_block_runs(page, code, workdir, monkeypatch):
    for old, new in SUBSTITUTIONS:
        code = code.replace(old, new)
    monkeypatch.chdir(workdir)
    from verify.claims import CLAIMS, COMPARISONS

    saved = dict(CLAIMS), dict(COMPARISONS)  # a block may register an example comparison: undo it after
    try:
        exec(compile(code, f"{page.name}", "exec"), {"__name__": "__doc_block__"})
    finally:
        for registry, before in zip((CLAIMS, COMPARISONS), saved):
            registry.clear()
            registry.update(before)


@pytest.mark.parametrize("page", [p for p in PAGES if ">>>" in p.read_text()], ids=lambda p: p.name)
def test_every_doctest_runs(page):
    if page.name in ("theory.md", "api.md"):
        pytest.skip("run by tests/test_docs.py")
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {page.name} failed"


def test_outputs_compare_numbers_to_a_tolerance():
    assert same_output(["0.01,0.014321361844319789"], ["0.01,0.01432136184431979"])
    assert not same_output(["0.01,0.0143"], ["0.01,0.0144"])
    assert not same_output(["a b"], ["a c"]) and not same_output(["x"], ["x", "y"])


def test_shrinking_is_what_the_module_says():
    assert shrink("python -m verify report --profile quick --out report") == \
        "python -m verify report --profile tiny --out report --only rug_properties"
    assert shrink("python -m numerics train --ns 512 --r 0.25 --p 0.045 --out runs/fig3") == \
        "python -m numerics train --ns 16 --r 0.25 --p 0.045 --out runs/fig3 --max-steps 100 --batch 64 --device cpu"
    assert shrink("python -m theory loss --a 1 --b 0 --sigma -0.1 --p 0.1; echo \"exit $?\"").endswith('; echo "exit $?"')
    cmds = shell_commands("$ python -m theory bound --p 1 --r 0.5\np  1.0\n$ cat x\n")
    assert cmds == [("python -m theory bound --p 1 --r 0.5", ["p  1.0"]), ("cat x", [])]
