"""The sizes each report profile runs: ``quick`` (a 2-core CPU, about 10 minutes), ``paper`` (the paper's
sizes, a GPU for the trained models) and ``tiny`` (the end-to-end test, seconds)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from numerics.config import RunConfig

__all__ = ["Profile", "PROFILES", "get_profile", "stage_seed"]


@dataclass(frozen=True)
class Profile(RunConfig):
    """Sizes and training settings of one report profile (every field is recorded in the report).

    lr_factor multiplies the paper's learning rate 3e-3 / sqrt(n_s); the quick profile trains with a
    larger one so that the stopping rule is reached in seconds (the losses it reaches are within the
    noise of the paper's rate: see docs/verify.md).
    """

    name: str
    description: str
    # comparison 1 (fig. 2): loss against r at fixed p
    fig2_p: float = 0.045
    fig2_rs: tuple = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
    fig2_trained_ns: int = 256
    fig2_rug_ns: int = 4096
    # comparisons 2 and 3 (figs 4-12): trained models on a (p, r) grid at several n_s
    grid_ns: tuple = (64, 128, 256)
    grid_ps: tuple = (0.02, 0.045, 0.1)
    grid_rs: tuple = (0.25, 0.5)
    # comparison 4 (fig. 3)
    fig3_ns: int = 512
    # comparison 5 (appendix I, fig. 15): the rug on a (p, r) grid
    scaling_ns: int = 8192
    scaling_ps: tuple = (1e-3, 2e-3, 5e-3, 1e-2)
    scaling_rs: tuple = (0.02, 0.05, 0.1)
    # comparison 6 (appendix F, Welch equality)
    rug_sizes: tuple = ((64, 8), (256, 64), (1024, 100), (4096, 1024))
    lowrank_trials: int = 20
    lowrank_ns: int = 128
    # comparison 7 (the sparse-coding report): SAEs on toy data, L1 coefficient x dictionary ratio
    sae_h: int = 64
    sae_G: int = 128
    sae_alphas: tuple = (0.01, 0.03, 0.1, 0.3, 1.0)
    sae_ratios: tuple = (0.5, 1.0, 2.0, 4.0, 8.0)  # 8: fig. 2's '1-8x' (the quick profile cannot afford it)
    sae_steps: int = 3000
    # fig. 2 at further values of p (sec. 3.1: p sets the slope and length of the initial fall); trained at
    # fig2_trained_ns on fig2_rs, the rug at fig2_rug_ns
    fig2_extra_ps: tuple = (0.01, 0.1)
    fig2_extra_rs: tuple = ()  # the r values at the extra p; () means fig2_rs
    # figs 4-12 over the (p, r) plane: the grid's r values for the heatmaps are grid_rs
    # appendix H (figs 13, 14): two importance groups, 1 and alpha, one instance per alpha
    appendix_h_ns: int = 4096
    appendix_h_nd: int = 1024
    appendix_h_p: float = 0.04
    appendix_h_alphas: tuple = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 0.75, 1.0)
    # the r >= 1/2 question: trained models at several n_s against the rug, L* and the structured solutions
    pairs_ns: tuple = (128, 1024, 8192)
    pairs_p: float = 0.045
    pairs_rs: tuple = (0.5, 0.7, 0.9)
    # stages this profile does not run (too slow for its machine): the report lists them as not run, with
    # the command that runs them
    skip: tuple = ()
    # training
    lr_factor: float = 4.0
    init: str = "transpose"  # ToyModel's initialisation (see docs/training.md)
    batch: int = 1024
    max_steps: int = 20_000
    min_steps: int = 0  # the stopping rule applies from here on (see TrainConfig.min_steps)
    device: str = "auto"
    rug_samples: int | None = None  # fit_rug's n_samples (None: its default)
    ks_samples: int = 2000
    # replication: every trained configuration (and each SAE sweep) is run from `seeds` independent seeds,
    # all derived from the root `seed` (stages use 1000 * seed + offset; see verify.comparisons._common)
    seeds: int = 3
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "Profile":
        """Check the fields a user overrides (ValueError naming the field); lists become tuples."""
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(tuple(x) if isinstance(x, list) else x for x in v))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        checks = (("max_steps", 1, None), ("min_steps", 0, None), ("seeds", 1, 100), ("seed", 0, 10**6),
                  ("batch", 1, None), ("ks_samples", 10, None))
        for name, low, high in checks:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low or (high is not None and v > high):
                raise ValueError(f"{name} must be an integer in [{low}, {high if high is not None else 'inf'}], "
                                 f"got {v!r}")
        if isinstance(self.lr_factor, bool) or not isinstance(self.lr_factor, (int, float)) or \
                not (0 < self.lr_factor < math.inf):
            raise ValueError(f"lr_factor must be a finite number > 0, got {self.lr_factor!r}")
        return self


PROFILES = {
    "quick": Profile(
        name="quick",
        description="2-core CPU, under 10 minutes: every trained configuration from 3 seeds; trained n_s up to "
        "512 (fig. 2 at 128, the grid at 64, 128, 256 and r = 1/4), the rug at n_s = 4096 and 8192, learning "
        "rate 4x the paper's; sparse autoencoders at h = 64, G = 128 (the report's 256, 512 scaled down), "
        "ratios 1/2, 1, 2, for 3000 steps; fig. 2 also at p = 0.01 and 0.1 (r = 0.1); appendix H at "
        "n_s = 256 (8 alphas); the r >= 1/2 stage (pairs) is skipped: its command is on the page",
        fig2_trained_ns=128,
        grid_rs=(0.25,),
        scaling_ps=(7e-4, 1e-3, 1.5e-3, 2e-3, 3e-3, 5e-3),
        scaling_rs=(0.02, 0.03, 0.05, 0.07, 0.1),
        sae_ratios=(0.5, 1.0, 2.0),
        fig2_extra_rs=(0.1,),
        # the r >= 1/2 question (pairs, about 70 s here) does not fit in the 10 minutes: listed as not run,
        # with its command (the paper profile runs it)
        skip=("pairs",),
        appendix_h_ns=256,
        appendix_h_nd=64,
        appendix_h_alphas=(0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0),
        pairs_ns=(64, 128),
    ),
    "paper": Profile(
        name="paper",
        description="the paper's sizes: trained n_s = 128, 1024, 8192 (a GPU) on p = 0.02, 0.045, 0.1 and "
        "r = 0.1, 0.25, 0.5, fig. 2 at n_s = 1024 trained "
        "and 32768 for the rug, the scaling grid at n_s = 32768, the paper's learning rate 3e-3 / sqrt(n_s)",
        fig2_trained_ns=1024,
        fig2_rug_ns=32768,
        grid_ns=(128, 1024, 8192),
        grid_ps=(0.02, 0.045, 0.1),
        grid_rs=(0.1, 0.25, 0.5),  # figs 4-12 over the (p, r) plane, as the paper draws them
        scaling_ns=32768,
        scaling_ps=(1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2),
        scaling_rs=(0.01, 0.02, 0.05, 0.1),
        rug_sizes=((64, 8), (256, 64), (1024, 100), (4096, 1024), (32768, 3277)),
        lowrank_trials=50,
        lowrank_ns=512,
        sae_h=256,
        sae_G=512,
        sae_steps=20_000,
        lr_factor=1.0,
        max_steps=200_000,
        min_steps=10_000,
    ),
    "tiny": Profile(
        name="tiny",
        description="the end-to-end test: everything at toy sizes, numbers not meaningful",
        fig2_rs=(0.25, 0.5),
        fig2_trained_ns=16,
        fig2_rug_ns=256,
        grid_ns=(16, 32),
        grid_ps=(0.05, 0.2),
        grid_rs=(0.5,),
        fig3_ns=32,
        scaling_ns=1024,
        scaling_ps=(5e-3, 1e-2),
        scaling_rs=(0.1,),
        rug_sizes=((16, 4), (64, 16)),
        sae_h=8,
        sae_G=16,
        sae_alphas=(0.03, 0.1, 0.3),
        sae_ratios=(0.5, 1.0, 2.0, 8.0),
        sae_steps=100,
        lowrank_trials=3,
        lowrank_ns=16,
        max_steps=400,
        batch=128,
        rug_samples=8,
        ks_samples=200,
        fig2_extra_ps=(0.1,),
        appendix_h_ns=32,
        appendix_h_nd=8,
        appendix_h_p=0.1,
        appendix_h_alphas=(0.0, 0.1, 0.5, 1.0),
        pairs_ns=(16, 32),
        pairs_rs=(0.5,),
        pairs_p=0.1,
    ),
}


def stage_seed(profile: Profile, offset: int = 0) -> int:
    """The base seed of a stage: independent across root seeds (profile.seed) by a stride of 1000."""
    return 1000 * profile.seed + offset


def get_profile(name: str) -> Profile:
    """The profile called ``name`` ("quick", "paper" or "tiny"); ValueError for any other name."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {name!r}")
    return PROFILES[name]
