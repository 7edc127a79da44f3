"""numerics.io: writes are atomic (a failed write leaves the old file and no temporary), JSON is clean."""

import json
import math

import pytest
import torch

from numerics.io import atomic_write_text, load_weights, read_json, save_weights, write_json


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "w.safetensors"
    save_weights(target, {"a": torch.arange(3.0)})
    with pytest.raises(Exception):
        save_weights(target, {"a": "not a tensor"})
    assert torch.equal(load_weights(target)["a"], torch.arange(3.0))
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_text_and_json(tmp_path):
    atomic_write_text(tmp_path / "t.txt", "héllo")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    write_json(tmp_path / "d.json", {"x": torch.tensor([1.5]), "nan": math.nan, "inf": math.inf})
    d = read_json(tmp_path / "d.json")
    assert d == {"x": [1.5], "nan": None, "inf": None}  # every non-finite number is null (one encoder)
    json.loads((tmp_path / "d.json").read_text())  # strict JSON: no NaN tokens


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_weights(tmp_path / "missing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_weights(tmp_path / "bad.safetensors")
