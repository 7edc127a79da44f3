"""A full disk and a read-only folder, for real (issue 16): a small tmpfs is mounted for each test, filled up
or mounted read-only. Every command that writes ends in one line naming the path (exit 2), and an atomic
write leaves the old file and no temporary. Root ignores permission bits, so only a mount makes a folder
read-only for the tests (CI runs as root); the tests skip where mounting is not permitted."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch

from numerics.io import atomic_write_text, load_weights, save_weights, write_json


def _mount(where: Path, *options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=256k",) + options), "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'mount failed'}): root and mount needed")


@pytest.fixture
def small_disk(tmp_path):
    """A 256 kB tmpfs; unmounted after the test."""
    where = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    _mount(where)
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(disk: Path) -> None:
    """Fill the disk to the last byte."""
    with open(disk / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with open(disk / "filler2", "wb", buffering=0) as f:  # whatever a block size left
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass


def test_an_atomic_write_on_a_full_disk_keeps_the_old_file(small_disk):
    save_weights(small_disk / "w.safetensors", {"a": torch.arange(4.0)})
    write_json(small_disk / "s.json", {"old": True})
    _fill(small_disk)
    before = sorted(p.name for p in small_disk.iterdir())
    with pytest.raises(OSError) as info:
        save_weights(small_disk / "w.safetensors", {"a": torch.zeros(100_000)})
    assert info.value.errno == errno.ENOSPC
    with pytest.raises(OSError):
        atomic_write_text(small_disk / "s.json", "x" * 100_000)
    assert sorted(p.name for p in small_disk.iterdir()) == before  # no temporary left behind
    assert torch.equal(load_weights(small_disk / "w.safetensors")["a"], torch.arange(4.0))
    assert json.loads((small_disk / "s.json").read_text()) == {"old": True}


COMMANDS = [
    [sys.executable, "-m", "theory", "curve", "--p", "0.1", "--n", "2000", "--out", "{d}/curve.csv"],
    [sys.executable, "-m", "numerics", "rug", "--ns", "64", "--nd", "16", "--out", "{d}/rug.png"],
    [sys.executable, "-m", "numerics", "train", "--ns", "64", "--r", "0.25", "--p", "0.1", "--max-steps", "20",
     "--batch", "16", "--device", "cpu", "--out", "{d}/run", "--quiet"],
    [sys.executable, "-m", "verify", "report", "--profile", "tiny", "--only", "rug_properties", "--out", "{d}/r",
     "--quiet"],
]
IDS = ["theory-curve", "numerics-rug", "numerics-train", "verify-report"]


def _one_line_naming(proc, disk: Path):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr and str(disk) in lines[0], proc.stderr
    return lines[0]


@pytest.mark.parametrize("argv", COMMANDS, ids=IDS)
def test_a_full_disk_is_one_line(small_disk, argv):
    _fill(small_disk)
    proc = subprocess.run([a.format(d=small_disk) for a in argv], capture_output=True, text=True, timeout=600)
    line = _one_line_naming(proc, small_disk)
    assert "No space left" in line
    assert not [p for p in small_disk.rglob(".*.tmp")]  # atomic writes left no temporary


@pytest.mark.parametrize("argv", COMMANDS, ids=IDS)
def test_a_read_only_folder_is_one_line(tmp_path, argv):
    where = tmp_path / "ro"
    _mount(where, "ro")
    try:
        proc = subprocess.run([a.format(d=where) for a in argv], capture_output=True, text=True, timeout=600)
        line = _one_line_naming(proc, where)
        assert "Read-only file system" in line
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
