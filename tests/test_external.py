"""Models trained elsewhere (issue 16): numerics.read_toy_weights reads every layout of the files other tools
write into the one W = W_out W_in the toolkit measures, and verify judges them with the report's claims
(``python -m verify models``): the Persian rug at its exact optimum passes, a random model fails."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import numerics
import theory
from numerics.io import save_weights
from verify.__main__ import main as verify_main
from verify.external import LEFT_OUT, external_records, judge_models


def _factor(K=2, n_d=4, n_s=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(K, n_d, n_s, generator=g, dtype=torch.float64) / n_d ** 0.5


# ---- reading ------------------------------------------------------------------------------------------
def test_arena_state_dict_with_module_prefixes(tmp_path):
    M = _factor()
    b = torch.linspace(-0.2, 0.1, 12, dtype=torch.float64).expand(2, 12).clone()
    torch.save({"model.W": M.float(), "model.b_final": b.float()}, tmp_path / "arena.pt")
    tw = numerics.read_toy_weights(tmp_path / "arena.pt")
    assert (tw.instances, tw.n_s, tw.n_d, tw.p) == (2, 12, 4, None)
    assert "ARENA" in tw.layout
    want = M.float().double().transpose(1, 2) @ M.float().double()
    assert torch.allclose(tw.W, want, atol=1e-12) and tw.W.dtype == torch.float64
    assert torch.allclose(tw.b, b.float().double())


def test_anthropic_layout_is_transposed(tmp_path):
    M = _factor(K=3, n_d=3, n_s=10)
    np.savez(tmp_path / "toy.npz", W=M.transpose(1, 2).numpy(), b_final=np.full(10, -0.1))  # n_s x n_d, one b
    tw = numerics.read_toy_weights(tmp_path / "toy.npz")
    assert (tw.instances, tw.n_s, tw.n_d) == (3, 10, 3) and "Anthropic" in tw.layout
    assert torch.allclose(tw.W, M.transpose(1, 2) @ M, atol=1e-12)
    assert torch.allclose(tw.b, torch.full((3, 10), -0.1, dtype=torch.float64))  # one bias for every instance


def test_a_run_of_this_toolkit_reads_as_its_model(tmp_path):
    cfg = numerics.TrainConfig(n_s=16, r=0.25, p=[0.05, 0.1], max_steps=30, batch=32, device="cpu", tied=False)
    numerics.train(cfg, tmp_path / "run", progress=False)
    run = numerics.load_run(tmp_path / "run")
    tw = numerics.read_toy_weights(tmp_path / "run")  # the directory; the weights file reads the same
    with torch.no_grad():
        assert torch.allclose(tw.W, run.model.W().double(), atol=1e-6)
        assert torch.allclose(tw.b, run.model.bias()[:, 0].double())
    assert tw.p == (0.05, 0.1) and tw.n_d == 4 and tw.layout == "W_out W_in"


def test_a_square_w_is_the_product_itself(tmp_path):
    W = torch.eye(8, dtype=torch.float64) * 0.9
    save_weights(tmp_path / "w.safetensors", {"W": W})
    tw = numerics.read_toy_weights(tmp_path / "w.safetensors")
    assert tw.n_d is None and torch.equal(tw.W[0], W) and torch.equal(tw.b, torch.zeros(1, 8, dtype=torch.float64))


@pytest.mark.parametrize("tensors, match", [
    ({"X": torch.ones(3)}, "neither W nor W_in and W_out"),
    ({"W": torch.ones(2, 3, dtype=torch.int64)}, "W must be a real float"),
    ({"W": torch.full((2, 5), float("nan"))}, "NaN or infinity"),
    ({"W": torch.ones(2, 2, 3, 5)}, "W must have 2 or 3 axes"),
    ({"W": torch.ones(2, 5), "b": torch.ones(7)}, "b must hold n_s = 5"),
    ({"W": torch.ones(2, 5), "p": torch.tensor([0.1, 2.0])}, "p must hold 1 or 1"),
    ({"W": torch.ones(2, 5), "p": torch.tensor(2.0)}, r"stored p must lie in \(0, 1\]"),
    ({"W_in": torch.ones(2, 5), "W_out": torch.ones(4, 2)}, "do not compose"),
    ({"W": torch.ones(1, 1)}, "n_s must be at least 2"),
])
def test_bad_files_are_refused_naming_the_file(tmp_path, tensors, match):
    save_weights(tmp_path / "bad.safetensors", tensors)
    with pytest.raises(ValueError, match=match) as info:
        numerics.read_toy_weights(tmp_path / "bad.safetensors")
    assert "bad.safetensors" in str(info.value)


def test_other_bad_inputs(tmp_path):
    (tmp_path / "x.txt").write_text("W")
    (tmp_path / "junk.pt").write_text("not a pickle")
    torch.save({"a.W": torch.ones(2, 5), "b.W": torch.ones(2, 5)}, tmp_path / "two.pt")
    torch.save([torch.ones(2)], tmp_path / "list.pt")
    (tmp_path / "empty").mkdir()
    for name, match in (("x.txt", "suffix must be one of"), ("junk.pt", "not a readable torch state dict"),
                        ("two.pt", "two tensors named 'W'"), ("list.pt", "dict of tensors"),
                        ("empty", "without weights.safetensors"), ("missing.npz", "does not exist")):
        with pytest.raises(ValueError, match=match):
            numerics.read_toy_weights(tmp_path / name)


def test_sizes_too_large_are_refused_before_the_product(tmp_path):
    save_weights(tmp_path / "big.safetensors", {"W": torch.zeros(2, 20000)})  # 320 kB on disk, 3 GiB as W^T W
    with pytest.raises(ValueError, match="n_s = 20000 is above max_ns = 16384"):
        numerics.read_toy_weights(tmp_path / "big.safetensors")
    assert numerics.read_toy_weights(tmp_path / "big.safetensors", max_ns=20000).n_s == 20000


# ---- judging ------------------------------------------------------------------------------------------
N_S, R, P = 1024, 0.25, 0.1  # p n_s = 102: inside the Gaussian regime of the claims


def _rug_arena_file(path, seeds=(0, 1, 2)):
    """The Persian rug a R (R = H_S H_S^T / n_d) at the exact optimal (a, b) of its own S, in ARENA's layout:
    W = sqrt(a / n_d) H_S^T, so that W^T W = a R."""
    n_d = int(R * N_S)
    Ms, bs = [], []
    for s in seeds:
        S = theory.rug_columns(N_S, n_d, seed=s)
        opt = theory.rug_optimal_ab(P, N_S, S)
        H = numerics.hadamard(N_S, dtype=torch.float64)[:, torch.as_tensor(S)]
        Ms.append((opt.a / n_d) ** 0.5 * H.T)
        bs.append(torch.full((N_S,), opt.b, dtype=torch.float64))
    torch.save({"W": torch.stack(Ms), "b_final": torch.stack(bs)}, path)
    return path


def _status(summary):
    return {c["id"]: c["status"] for c in summary["claims"]}


def test_the_rug_at_its_optimum_passes_and_a_random_model_fails(tmp_path):
    rug = judge_models([_rug_arena_file(tmp_path / "rug.pt")], tmp_path / "rug", p=P, progress=False)
    st = _status(rug)
    assert st["bounds.welch"] == "sanity" and st["bounds.exact_mmse_below_trained"] == "sanity"
    assert st["bounds.trained_not_below_Lstar"] == "pass" and st["bounds.large_ns_at_optimum"] == "pass"
    assert st["bounds.trained_matches_rug"] == "pass"
    # the rug attains the Welch bound exactly (sigma / Welch sigma = 1 for every model)
    welch = next(c for c in rug["claims"] if c["id"] == "bounds.welch")
    assert [pt["estimate"]["value"] for pt in welch["points"]] == pytest.approx([1.0] * 3, abs=1e-9)
    assert set(LEFT_OUT).isdisjoint(st)  # the held-out check has nothing to measure
    assert "symmetry.lambda_shrinks" in rug["external"]["not_judged"]  # one n_s: no trends
    assert rug["counts"]["pass"] == 3 and sum(rug["counts"].values()) == len(rug["claims"])

    g = torch.Generator().manual_seed(0)
    M = torch.randn(3, N_S, int(R * N_S), generator=g, dtype=torch.float64) / (R * N_S) ** 0.5
    np.savez(tmp_path / "random.npz", W=M.numpy(), b_final=np.full((3, N_S), -0.05))
    bad = judge_models([tmp_path / "random.npz"], tmp_path / "random", p=P, progress=False)
    st = _status(bad)
    assert st["bounds.large_ns_at_optimum"] == "fail" and st["bounds.trained_matches_rug"] == "fail"
    assert st["bounds.welch"] == "sanity"  # a theorem: it holds for every rank-n_d model
    page = (tmp_path / "random" / "README.md").read_text()
    assert page.startswith("# The Persian Rug, checked on models trained elsewhere") and "Anthropic" in page


def test_two_sizes_judge_the_trends(tmp_path):
    for n_s in (32, 64):
        save_weights(tmp_path / f"m{n_s}.safetensors", {"W": _factor(K=2, n_d=n_s // 4, n_s=n_s, seed=n_s),
                                                        "p": torch.tensor(0.2, dtype=torch.float64)})
    with warnings.catch_warnings():  # the rugs' exactly equal statistics once made matplotlib warn of a singular axis
        warnings.simplefilter("error")
        summary = judge_models([tmp_path / "m32.safetensors", tmp_path / "m64.safetensors"], tmp_path / "out",
                               progress=False)
    ids = _status(summary)
    assert "symmetry.lambda_shrinks" in ids and "bounds.approaches_optimum" in ids
    assert summary["external"]["not_judged"] == ["symmetry.fig8_large_p_first"]  # a contrast of two p
    assert [f["p"] for f in summary["external"]["files"]] == [[0.2], [0.2]]


def test_records_label_seeds_per_configuration(tmp_path):
    save_weights(tmp_path / "a.safetensors", {"W": _factor(K=3, n_d=4, n_s=16)})
    recs, files = external_records([tmp_path / "a.safetensors"], p=0.1, mmse_rows=0, progress=False)
    assert [r["seed"] for r in recs] == [0, 1, 2] and files[0]["r"] == 0.25
    assert all(r["loss"] == r["exact_loss"] and r["loss_se"] == 0.0 for r in recs)


def test_arguments_are_checked(tmp_path):
    save_weights(tmp_path / "w.safetensors", {"W": torch.eye(8, dtype=torch.float64)})
    with pytest.raises(ValueError, match="p is required"):
        external_records([tmp_path / "w.safetensors"], r=0.5, progress=False)
    with pytest.raises(ValueError, match="r is required"):
        external_records([tmp_path / "w.safetensors"], p=0.1, progress=False)
    for kw, match in (({"p": 0.0}, "p must be"), ({"p": True}, "p must be"), ({"r": 1.5}, "r must be")):
        with pytest.raises(ValueError, match=match):
            external_records([tmp_path / "w.safetensors"], **kw)
    with pytest.raises(ValueError, match="at least one"):
        external_records([], p=0.1)


def test_the_cli(tmp_path, capsys):
    save_weights(tmp_path / "m.safetensors", {"W": _factor(K=2, n_d=4, n_s=16)})
    assert verify_main(["models", str(tmp_path / "m.safetensors"), "--p", "0.1", "--out", str(tmp_path / "o"),
                        "--quiet"]) == 0
    assert capsys.readouterr().out.strip().endswith("README.md")
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["profile"]["name"] == "external"
    for argv in (["models", str(tmp_path / "m.safetensors")],  # no p anywhere
                 ["models", str(tmp_path / "nope.pt"), "--p", "0.1"],
                 ["models", str(tmp_path / "m.safetensors"), "--p", "0.1", "--seed", "-1"]):
        assert verify_main(argv + ["--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("python -m verify models: error:")
