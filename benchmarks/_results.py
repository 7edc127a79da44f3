"""benchmarks/RESULTS.md is shared: each benchmark owns one section between its own markers
(``<!-- NAME:begin -->`` ... ``<!-- NAME:end -->``) and rewrites only that section."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = ("# Benchmark results\n\nEach section is written by the script it names (`--write`); see "
          "[README.md](README.md) for how to run them and what they measure.\n")


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(name: str, text: str, path: Path = RESULTS) -> Path:
    """Put ``text`` between NAME's markers (replacing what was there, or appending); keep the rest."""
    begin, end = markers(name)
    body = f"{begin}\n{text.strip()}\n{end}"
    old = path.read_text() if path.exists() else HEADER
    i, j = old.find(begin), old.find(end)
    if i >= 0 and j > i:
        new = old[:i] + body + old[j + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(new if new.endswith("\n") else new + "\n")
    return path


def cpu_kind(model: str) -> str:
    """The CPU kind a section of RESULTS.md is kept for: "Intel Xeon", "AMD EPYC", else the model name.
    Each kind keeps its own figures, side by side (a speed target must hold on every kind)."""
    low = model.lower()
    if "xeon" in low:
        return "Intel Xeon"
    if "epyc" in low:
        return "AMD EPYC"
    return model.strip() or "unknown CPU"


def section_name(base: str, model: str) -> str:
    """The marker name of benchmark ``base``'s section for this CPU kind, e.g. "bench_rug:amd-epyc"."""
    slug = "".join(c if c.isalnum() else "-" for c in cpu_kind(model).lower()).strip("-")
    return f"{base}:{slug}"


def cpu_info() -> dict:
    """The machine as the results record it: lscpu's model name, the CPU count, python, the UTC date."""
    import datetime
    import os
    import platform
    import subprocess

    model, cpus = "unknown", str(os.cpu_count())
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            key, _, val = line.partition(":")
            if key.strip() == "Model name":
                model = val.strip()
            elif key.strip() == "CPU(s)":
                cpus = val.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        date = subprocess.run(["date", "-u"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")
    return {"cpu": model, "cores": cpus, "nproc": cpus, "python": platform.python_version(), "date": date}


def matmul_rate(a, b, *, reps: int = 5, sync=None) -> tuple[float, float]:
    """The noise check every benchmark runs before and after: median seconds of ``a @ b`` (square n x n
    numpy arrays or torch tensors, one warm-up call) over ``reps`` calls, and the implied GFLOP/s.
    ``sync`` (e.g. torch.cuda.synchronize) is called after each product, so that a GPU is timed too."""
    def once():
        t0 = time.perf_counter()
        a @ b
        if sync is not None:
            sync()
        return time.perf_counter() - t0

    once()
    med = statistics.median(once() for _ in range(reps))
    n = a.shape[0]
    return med, 2.0 * n**3 / med / 1e9
