"""numerics.fwht_plan: the pass structure of the pure-torch transform, its measured search and wisdom
file, the rounding bound every plan (and the compiled backend) must meet, and "auto"'s dispatch.

The reference is the dense Sylvester matrix in float64 (tests/reference.py), independent of the code.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics import fwht

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import dense_hadamard  # noqa: E402

hmod = sys.modules["numerics.hadamard"]
plan_mod = sys.modules["numerics.fwht_plan"]
Plan = plan_mod.Plan

U32 = 2.0**-24  # unit roundoff of float32


def gamma(d: int, u: float = U32) -> float:
    return d * u / (1 - d * u)


def rounding_bound(x: torch.Tensor, additions: int) -> np.ndarray:
    """|fl(H x) - H x| <= gamma_D ||x||_1 per row (see numerics/fwht_plan.py), D = additions on a path."""
    return gamma(additions) * x.double().abs().sum(-1, keepdim=True).numpy()


def run_with(plan: Plan, x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    hmod._run_plan(x, out, plan, x.shape[0], x.shape[1], 1)
    return out


@pytest.fixture
def wisdom(tmp_path, monkeypatch):
    """Tuning on, with a wisdom file of this test's own and nothing remembered from before."""
    path = tmp_path / "wisdom.json"
    monkeypatch.setenv("PERSIAN_RUG_WISDOM", str(path))
    monkeypatch.setenv("PERSIAN_RUG_FWHT_TUNE", "1")
    plan_mod.forget_wisdom()
    yield path
    plan_mod.forget_wisdom()


# ----------------------------------------------------------------------------- the plans


@pytest.mark.parametrize("k", range(0, 31))
def test_candidates_split_every_bit(k):
    cands = plan_mod.candidate_plans(k)
    assert len(cands) == len(set(cands)) and len(cands) <= 60  # a short search
    assert plan_mod.fixed_plan(k).groups in cands
    for g in cands:
        assert sum(g) == k
        assert all(1 <= b <= plan_mod.MAX_GROUP_BITS for b in g)
        assert list(g) == sorted(g, reverse=True)
        assert g.count(1) <= 1 or k == 1 and g == (1,)


@pytest.mark.parametrize("bad", [-1, 31, 2.5, "10", True])
def test_bad_k_is_refused(bad):
    for f in (plan_mod.fixed_plan, plan_mod.candidate_plans, lambda k: plan_mod.measured_plan(k, torch.float32, None)):
        with pytest.raises(ValueError, match="k must be an integer"):
            f(bad)


@given(st.integers(1, 10), st.data())
def test_every_candidate_plan_is_the_transform_within_its_rounding_bound(k, data):
    n = 2**k
    groups = data.draw(st.sampled_from(plan_mod.candidate_plans(k)))
    chunk = data.draw(st.sampled_from([n, 3 * n, plan_mod.MAX_CHUNK_ELEMS]))  # one row, ragged chunks, one chunk
    seed = data.draw(st.integers(0, 2**31 - 1))
    x = torch.randn(5, n, generator=torch.Generator().manual_seed(seed)) * 10.0 ** data.draw(st.integers(-3, 3))
    y = run_with(Plan(groups, chunk), x)
    exact = x.double().numpy() @ dense_hadamard(n)
    additions = sum(2**b - 1 for b in groups)
    assert (np.abs(y.double().numpy() - exact) <= rounding_bound(x, additions)).all()


def test_the_bound_can_fail():
    # a plan that skips a pass is off by O(||x||), far above the bound: the check above can tell
    x = torch.randn(3, 64)
    y = run_with(Plan((3, 2), 1 << 22), x[:, :32].contiguous())  # a 32-point transform of...
    wrong = torch.cat([y, y], dim=1)  # ...pretending to be the 64-point one
    exact = x.double().numpy() @ dense_hadamard(64)
    assert not (np.abs(wrong.double().numpy() - exact) <= rounding_bound(x, 63)).all()


@pytest.mark.parametrize("k", [1, 5, 10, 12])
def test_fht_cpu_within_the_radix2_bound(k):
    pytest.importorskip("fht_cpu")
    n = 2**k
    x = torch.randn(4, n, generator=torch.Generator().manual_seed(k))
    y = fwht(x, backend="fht_cpu")
    exact = x.double().numpy() @ dense_hadamard(n)
    assert (np.abs(y.double().numpy() - exact) <= rounding_bound(x, k)).all()  # k add/sub stages


# ----------------------------------------------------------------------------- the search


def test_search_keeps_the_fastest(wisdom):
    fast = (4, 4, 2)
    calls = []

    def run(plan):
        calls.append(plan)
        # the fast groups win at any chunk, and most at 2^18 elements
        time.sleep((0 if plan.groups == fast else 0.002) + (0 if plan.chunk_elems == 1 << 18 else 0.001))

    plan = plan_mod.measured_plan(10, torch.float32, run)
    assert plan == Plan(fast, 1 << 18)
    # every candidate timed, then the chunks of the best three, then the fixed rule
    assert {p.groups for p in calls} == set(plan_mod.candidate_plans(10))
    entry = json.loads(wisdom.read_text())[plan_mod._key(10, torch.float32)]
    assert entry["groups"] == list(fast) and entry["chunk_elems"] == 1 << 18
    assert entry["ms_per_2^22"] < entry["fixed_rule_ms_per_2^22"]

    # remembered: in memory, then from the file, never searched again
    def refuse(plan):
        raise AssertionError("searched again")

    assert plan_mod.measured_plan(10, torch.float32, refuse) == plan
    plan_mod.forget_wisdom()
    assert plan_mod.measured_plan(10, torch.float32, refuse) == plan
    # another size or dtype is another entry
    assert plan_mod.measured_plan(11, torch.float32, lambda p: None).groups in plan_mod.candidate_plans(11)
    assert plan_mod.measured_plan(10, torch.float64, lambda p: None).groups in plan_mod.candidate_plans(10)
    assert len(json.loads(wisdom.read_text())) == 3


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"%s": {"groups": [9, 1], "chunk_elems": 5}}',
                                     '{"%s": {"groups": [3, 3], "chunk_elems": 65536}}'])
def test_damaged_or_foreign_wisdom_is_measured_again(wisdom, content):
    key = plan_mod._key(10, torch.float32)
    wisdom.write_text(content.replace("%s", key))  # bad groups, unknown chunk, or groups of another n
    searched = []
    plan = plan_mod.measured_plan(10, torch.float32, searched.append)
    assert searched and sum(plan.groups) == 10
    assert json.loads(wisdom.read_text())[key]["groups"] == list(plan.groups)


def test_unwritable_wisdom_still_gives_a_plan(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("PERSIAN_RUG_WISDOM", str(blocker / "wisdom.json"))  # its folder is a file
    monkeypatch.setenv("PERSIAN_RUG_FWHT_TUNE", "1")
    plan_mod.forget_wisdom()
    try:
        plan = plan_mod.measured_plan(8, torch.float32, lambda p: None)
        assert sum(plan.groups) == 8
    finally:
        plan_mod.forget_wisdom()


@pytest.mark.parametrize("value", ["0", "false", "OFF", "no"])
def test_tuning_off_is_the_fixed_rule(monkeypatch, tmp_path, value):
    monkeypatch.setenv("PERSIAN_RUG_FWHT_TUNE", value)
    monkeypatch.setenv("PERSIAN_RUG_WISDOM", str(tmp_path / "w.json"))

    def refuse(plan):
        raise AssertionError("searched with tuning off")

    assert not plan_mod.tuning_enabled()
    for k in range(0, 21):
        assert plan_mod.measured_plan(k, torch.float32, refuse) == plan_mod.fixed_plan(k)
    assert not (tmp_path / "w.json").exists()


def test_set_tuning_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("PERSIAN_RUG_FWHT_TUNE", "1")
    try:
        plan_mod.set_tuning(False)
        assert not plan_mod.tuning_enabled()
        plan_mod.set_tuning(True)
        monkeypatch.setenv("PERSIAN_RUG_FWHT_TUNE", "0")
        assert plan_mod.tuning_enabled()
    finally:
        plan_mod.set_tuning(None)
    assert not plan_mod.tuning_enabled()
    with pytest.raises(ValueError, match="enabled"):
        plan_mod.set_tuning("yes")


def test_default_wisdom_path_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("PERSIAN_RUG_WISDOM", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert plan_mod.wisdom_path() == tmp_path / "persian-rug" / "fwht-wisdom.json"


def test_fixed_rule_is_bit_for_bit_what_fwht_computed_before():
    # the pre-tuner transform: ceil(k / 5) balanced passes in 2^22-element chunks; with tuning off fwht
    # computes exactly that (the test session runs with PERSIAN_RUG_FWHT_TUNE=0, see conftest.py)
    x = torch.randn(64, 2**13, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fwht(x, backend="torch"), run_with(Plan((5, 4, 4), 1 << 22), x))


def test_fwht_searches_once_and_stays_within_the_bound(wisdom):
    n = 2**9
    x = torch.randn(16, n, generator=torch.Generator().manual_seed(2))
    y = fwht(x, backend="torch")
    key = plan_mod._key(9, torch.float32)
    entry = json.loads(wisdom.read_text())[key]
    additions = sum(2**b - 1 for b in entry["groups"])
    exact = x.double().numpy() @ dense_hadamard(n)
    assert (np.abs(y.double().numpy() - exact) <= rounding_bound(x, additions)).all()
    # the measured plan is the one used, and a second call computes the same bits
    assert torch.equal(y, run_with(Plan(tuple(entry["groups"]), entry["chunk_elems"]), x))
    assert torch.equal(fwht(x, backend="torch"), y)
    # along another dim (post > 1) the fixed rule is used: no new entry
    fwht(x.T.contiguous(), 0, backend="torch")
    assert list(json.loads(wisdom.read_text())) == [key]


# ----------------------------------------------------------------------------- "auto"


def test_auto_is_fht_cpu_where_installed():
    pytest.importorskip("fht_cpu")
    x = torch.randn(3, 256, dtype=torch.float64)
    assert torch.equal(fwht(x), fwht(x, backend="fht_cpu"))
    x32 = torch.randn(3, 256)
    assert torch.equal(fwht(x32), fwht(x32, backend="fht_cpu"))
    # along another dim, auto is the torch path
    x3 = torch.randn(4, 64, 3)
    assert torch.equal(fwht(x3, 1), fwht(x3, 1, backend="torch"))
    # and in the rug's fused sandwich
    v = torch.rand(256)
    assert torch.equal(hmod.hadamard_sandwich(x32, v), hmod.hadamard_sandwich(x32, v, backend="fht_cpu"))


def test_auto_is_torch_without_fht_cpu(monkeypatch):
    monkeypatch.setattr(hmod, "_fht_cpu_module", False)
    x = torch.randn(3, 256)
    assert torch.equal(fwht(x), fwht(x, backend="torch"))
    v = torch.rand(256)
    assert torch.equal(hmod.hadamard_sandwich(x, v), hmod.hadamard_sandwich(x, v, backend="torch"))
    with torch.enable_grad():
        xg = x.clone().requires_grad_(True)
        (fwht(xg) * v).sum().backward()
    torch.testing.assert_close(xg.grad.double(), torch.from_numpy(v.double().numpy() @ dense_hadamard(256)).expand(3, 256),
                               rtol=0, atol=1e-4)


# ----------------------------------------------------------------------------- the command line


def test_cli_measures_lists_and_clears(tmp_path, monkeypatch, capsys):
    from numerics.__main__ import main

    path = tmp_path / "w.json"
    monkeypatch.setenv("PERSIAN_RUG_WISDOM", str(path))
    monkeypatch.setenv("PERSIAN_RUG_FWHT_TUNE", "0")  # --measure measures even so
    plan_mod.forget_wisdom()
    try:
        assert main(["fwht-plans", "--measure", "6,8", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert listed["wisdom"] == str(path) and listed["tuning"] is False
        keys = [plan_mod._key(6, torch.float32), plan_mod._key(8, torch.float32)]
        assert set(plan_mod.stored_plans()) == set(keys) and all(k in listed for k in keys)
        assert main(["fwht-plans", "--clear", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["cleared"] is True
        assert not path.exists() and plan_mod.stored_plans() == {}
        assert main(["fwht-plans", "--measure", "40"]) == 2
        assert "--measure takes log2 n in [1, 22], got 40" in capsys.readouterr().err
    finally:
        plan_mod.forget_wisdom()
        plan_mod.set_tuning(None)
