"""The sparse-output kernel against the dense and sparse ones, one training step each, at a realistic
fraction of active outputs (issue 19, item 4): preliminary, not yet in RESULTS.md.

    python benchmarks/bench_sparse_out.py [threads] [n_s] [p] [bias]

A trained model at small p has few active outputs (f > 0); at initialisation many more are. The bias is set
to ``bias`` for every output (default -0.05) so that the active fraction is that of a trained model (printed);
the three kernels are timed in alternating blocks of 5 steps, 5 rounds, median.
"""
import time, statistics, torch, sys
from numerics import TrainConfig
from numerics.train import Trainer
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
n_s = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
p = float(sys.argv[3]) if len(sys.argv) > 3 else 0.05
res = {}
trs = {k: Trainer(TrainConfig(n_s=n_s, r=0.25, p=p, batch=1024, kernel=k, device="cpu", max_steps=10**9, stop_rule=False, checkpoint_every=0), torch.device("cpu")) for k in ("dense", "sparse", "sparse_out")}
# bias negative as trained models have (few active outputs): start from b = -0.1 ... use the trainer after some steps
for k, tr in trs.items():
    with torch.no_grad():
        tr.model.b.fill_(float(sys.argv[4]) if len(sys.argv) > 4 else -0.05)
    for _ in range(3): tr.train_step()
times = {k: [] for k in trs}
for rnd in range(5):
    for k, tr in trs.items():
        t = time.perf_counter()
        for _ in range(5): tr.train_step()
        times[k].append((time.perf_counter() - t) / 5)
z = trs["dense"].kernel.z
for k in trs: print(k, f"{1e3*statistics.median(times[k]):.1f} ms", f"ratio dense/this {statistics.median(times['dense'])/statistics.median(times[k]):.2f}")
tr = trs["sparse_out"]
with torch.no_grad():
    x = tr.sample(); tr.kernel(x)
print("active fraction", float((tr.kernel.z != 0).float().mean()))
