"""The training core (numerics.core), the kernel registry (numerics.kernels) and the config idiom
(numerics.config.RunConfig): against independent computations (numpy's two-pass standard deviation, the
rule written out), over whole ranges with hypothesis."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics import TrainConfig
from numerics.config import RunConfig
from numerics.core import MeanSE, WindowRule, make_adam
from numerics.kernels import KERNEL_CHOICES, KERNELS, StepKernel, choose_kernel


# ---- MeanSE ---------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.floats(1e-6, 1e6), st.floats(-1e3, 1e3),
       st.integers(0, 2**31 - 1))
def test_meanse_equals_the_two_pass_formula_whatever_the_batches(sizes, scale, shift, seed):
    rng = np.random.default_rng(seed)
    data = rng.normal(shift, scale, size=(3, sum(sizes)))
    if data.shape[1] < 2:
        return
    acc = MeanSE()
    at = 0
    for n in sizes:
        acc.add(torch.from_numpy(data[:, at:at + n]))
        at += n
    mean, se = acc.result()
    want_mean = data.mean(1)
    want_se = data.std(1, ddof=1) / math.sqrt(data.shape[1])
    np.testing.assert_allclose(mean, want_mean, rtol=1e-12, atol=1e-12 * scale)
    # a variance of samples with mean m and spread s is known to about n eps |m| / s relative, by either
    # algorithm (the deviations from the mean carry that rounding): the tolerance scales with it
    np.testing.assert_allclose(se, want_se, rtol=1e-10 * (1 + abs(shift) / scale), atol=1e-12 * scale)


def test_meanse_is_stable_where_the_raw_moments_cancel():
    """Losses 1e8 + O(1): E l^2 - (E l)^2 loses every digit in float64; Chan's update does not."""
    x = 1e8 + torch.arange(1000, dtype=torch.float64) % 7
    acc = MeanSE()
    for part in x.split(64):
        acc.add(part)
    mean, se = acc.result()
    assert mean == pytest.approx(float(x.mean()), rel=1e-15)
    assert se == pytest.approx(float(x.std() / math.sqrt(1000)), rel=1e-9)


def test_meanse_needs_two_samples():
    acc = MeanSE()
    acc.add(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="at least 2 samples"):
        acc.result()


# ---- WindowRule -----------------------------------------------------------------------------------------
def _rule_by_hand(losses: np.ndarray, window: int, min_steps: int):
    """The paper's rule written out: the step at which each instance stops (None: never)."""
    K = losses.shape[1]
    stopped = [None] * K
    means = []
    for end in range(window, losses.shape[0] + 1, window):
        means.append(losses[end - window:end].mean(0))
        for k in range(K):
            if stopped[k] is None and not np.isfinite(means[-1][k]):
                stopped[k] = end
            elif stopped[k] is None and len(means) >= 2 and end >= min_steps and means[-1][k] >= means[-2][k]:
                stopped[k] = end
    return stopped


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 8), st.integers(0, 60), st.integers(0, 2**31 - 1))
def test_window_rule_is_the_paper_rule(window, K, min_steps, seed):
    rng = np.random.default_rng(seed)
    steps = window * 12
    losses = np.exp(-np.linspace(0, 3, steps))[:, None] + 0.05 * rng.random((steps, K))
    losses[rng.integers(steps), rng.integers(K)] = np.nan  # one diverged instance, maybe
    rule = WindowRule(K, window, min_steps=min_steps)
    stopped = [None] * K
    for s in range(steps):
        rule.record(torch.from_numpy(losses[s]))
        if rule.window_done:
            _, stop, diverged = rule.close([k for k in range(K) if stopped[k] is None])
            assert set(diverged) <= set(stop)
            for k in stop:
                stopped[k] = rule.step
    assert stopped == _rule_by_hand(losses, window, min_steps)


def test_a_disabled_rule_only_stops_the_diverged():
    rule = WindowRule(2, 2, enabled=False)
    for v in ([1.0, 1.0], [1.0, 1.0], [2.0, float("inf")], [2.0, 1.0]):
        rule.record(torch.tensor(v))
        if rule.window_done:
            means, stop, diverged = rule.close([0, 1])
    assert means[0] == 2.0 and stop == diverged == [1] and len(rule.curve) == 2


def test_make_adam_steps_like_torch_adam():
    a = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    b = torch.nn.Parameter(a.detach().clone())
    for p, opt in ((a, make_adam([a], 0.1)), (b, torch.optim.Adam([b], lr=0.1))):
        for _ in range(5):
            opt.zero_grad()
            (p ** 2).sum().backward()
            opt.step()
    assert torch.allclose(a, b, rtol=1e-6)
    assert not make_adam([a], 0.1, fused=False).defaults.get("fused")


# ---- kernels --------------------------------------------------------------------------------------------
def test_every_registered_kernel_is_a_choice_and_documented():
    assert KERNEL_CHOICES == ("auto", *KERNELS)
    for name, kernel in KERNELS.items():
        assert issubclass(kernel, StepKernel) and kernel.name == name and kernel.__doc__
    assert choose_kernel(TrainConfig(n_s=8, n_d=2, p=0.5), torch.device("cpu")) == "dense"  # the fallback


# ---- RunConfig ------------------------------------------------------------------------------------------
def test_toml_and_json_round_trip_with_any_key(tmp_path):
    cfg = TrainConfig(n_s=32, r=0.25, p=[0.01, 0.05], importance={"kind": "two_group", "alpha": [0.5, 1.0]},
                      extra={"a key with spaces": 1, "dotted.key": "x", "nested": {"k": [1.5, 2.0]}})
    for suffix in (".toml", ".json"):
        path = cfg.save(tmp_path / f"c{suffix}")
        back = TrainConfig.load(path)
        assert back.to_dict() == cfg.to_dict(), suffix
    assert json.loads((tmp_path / "c.json").read_text())["extra"]["dotted.key"] == "x"


@pytest.mark.parametrize("changes, want", [
    (dict(max_steps=50), dict(max_steps=50, n_d=8, r=0.25)),
    (dict(n_s=64), dict(n_s=64, n_d=16, r=0.25)),  # n_d was derived from r: recomputed
    (dict(n_d=4), dict(n_d=4, r=0.125)),  # one of two alternatives: the other follows
    (dict(r=0.5), dict(n_d=16, r=0.5)),
    (dict(p=[0.1, 0.2, 0.3]), dict(instances=3)),  # instances was derived from p
    (dict(max_steps=None), dict(max_steps=100_000)),  # None: a flag not given
])
def test_overrides(changes, want):
    cfg = TrainConfig(n_s=32, r=0.25, p=[0.01, 0.05])
    new = cfg.with_overrides(**changes)
    for k, v in want.items():
        assert getattr(new, k) == v, k
    assert cfg.n_s == 32  # the original is unchanged


def test_overrides_are_checked():
    cfg = TrainConfig(n_s=32, r=0.25)
    with pytest.raises(ValueError, match="unknown config field"):
        cfg.with_overrides(learning_rate=1)
    with pytest.raises(ValueError, match="^batch must be an integer >= 1"):
        cfg.with_overrides(batch=0)


def test_from_dict_names_what_is_missing_or_unknown(tmp_path):
    with pytest.raises(ValueError, match="^n_s is required"):
        TrainConfig.from_dict({"p": 0.1})
    with pytest.raises(ValueError, match="unknown config field"):
        TrainConfig.from_dict({"n_s": 8, "n_d": 2, "nope": 1})
    (tmp_path / "bad.toml").write_text("n_s = 8\nn_d = 0\n")
    with pytest.raises(ValueError, match=r"bad\.toml.*n_d must be"):
        TrainConfig.load(tmp_path / "bad.toml")
    assert issubclass(TrainConfig, RunConfig)


def test_the_cli_applies_flags_over_a_config_file(tmp_path, capsys):
    from numerics.__main__ import main

    TrainConfig(n_s=16, n_d=4, p=0.1, batch=32, max_steps=400, window=50, device="cpu").save(tmp_path / "c.toml")
    assert main(["train", "--config", str(tmp_path / "c.toml"), "--max-steps", "100", "--seed", "3", "--out",
                 str(tmp_path / "run"), "--quiet", "--json"]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["max_steps"] == 100 and saved["seed"] == 3 and saved["batch"] == 32 and saved["n_d"] == 4


def test_the_sae_cli_applies_flags_over_a_config_file(tmp_path):
    from numerics.__main__ import main
    from numerics.sae import SAEDataConfig, SAESweepConfig

    SAESweepConfig(data=SAEDataConfig(h=8, G=16), alphas=[0.1], ratios=[1.0], steps=40, batch=16,
                   eval_samples=64).save(tmp_path / "s.toml")
    assert main(["sae", "--config", str(tmp_path / "s.toml"), "--steps", "20", "--h", "6", "--out",
                 str(tmp_path / "sw"), "--quiet", "--device", "cpu"]) == 0
    saved = [json.loads(p.read_text()) for p in (tmp_path / "sw").rglob("*.json")]
    configs = [d.get("config", d) for d in saved if isinstance(d, dict) and "steps" in str(d)]
    assert any('"steps": 20' in json.dumps(c) and '"h": 6' in json.dumps(c) and '"G": 16' in json.dumps(c)
               for c in configs), saved


def test_the_report_reads_a_profile_file_and_flags_override_it(tmp_path):
    from verify.__main__ import main
    from verify.profiles import get_profile

    get_profile("tiny").with_overrides(name="mine").save(tmp_path / "p.toml")
    assert main(["report", "--config", str(tmp_path / "p.toml"), "--only", "rug_properties", "--seeds", "2",
                 "--out", str(tmp_path / "r"), "--quiet"]) == 0
    profile = json.loads((tmp_path / "r" / "summary.json").read_text())["profile"]
    assert profile["seeds"] == 2 and profile["name"].startswith("mine") and profile["grid_ns"] == [16, 32]
    assert main(["report", "--config", str(tmp_path / "p.toml"), "--seeds", "0", "--out", str(tmp_path / "x"),
                 "--quiet"]) == 2


def test_a_config_saved_before_the_config_idiom_still_loads():
    """docs/results/appendix-h-4096/config.json was written by the TrainConfig of before RunConfig."""
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "docs" / "results" / "appendix-h-4096" / "config.json"
    cfg = TrainConfig.load(path)
    assert (cfg.n_s, cfg.n_d) == (4096, 1024) and cfg.importance["kind"] == "two_group"
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_the_sparse_output_kernel_says_what_it_needs():
    for kw, match in ((dict(activation="linear"), "'sparse_out' needs the ReLU"),
                      (dict(p=0.3), r"'sparse_out' needs every p <= 0.25"),
                      (dict(device="cuda"), "'sparse_out' runs on the CPU")):
        with pytest.raises(ValueError, match=f"^kernel {match}"):
            TrainConfig(n_s=8, n_d=2, kernel="sparse_out", **{"p": 0.1, **kw})
    assert choose_kernel(TrainConfig(n_s=4096, r=0.25, p=0.01), torch.device("cpu")) == "sparse"  # not auto's pick


def test_the_core_refuses_bad_input():
    with pytest.raises(ValueError, match="window must be"):
        WindowRule(2, 0)
    with pytest.raises(ValueError, match="instances must be"):
        WindowRule(0, 5)
    acc = MeanSE()
    with pytest.raises(ValueError, match="per_sample must be a real"):
        acc.add([1.0, 2.0])
    acc.add(torch.ones(2, 3))
    with pytest.raises(ValueError, match="keep the shape"):
        acc.add(torch.ones(3, 3))
    with pytest.raises(ValueError, match="keep the shape"):
        acc.add(torch.ones(3))
