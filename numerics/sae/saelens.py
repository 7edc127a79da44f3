"""Interop with SAELens: :func:`save_saelens` writes an instance in SAELens' on-disk format,
:func:`load_saelens` reads a standard SAELens SAE back into a :class:`SparseAutoencoder`; the file names
and the config format written (``SAELENS_CFG``, ``SAELENS_WEIGHTS``, ``SAELENS_FORMAT``).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .._validation import check_int
from ..io import load_weights, read_json, save_weights, write_json
from .model import SparseAutoencoder

#: the file names of SAELens' on-disk format (a folder holding both)
SAELENS_CFG, SAELENS_WEIGHTS = "cfg.json", "sae_weights.safetensors"
#: the SAELens config format written (its version 6 layout)
SAELENS_FORMAT = "6.0.0"


def save_saelens(model: SparseAutoencoder, out_dir, instance: int = 0, *, hook_name: str = "toy",
                 model_name: str = "persian-rug toy data"):
    r"""Write instance ``instance`` of ``model`` in SAELens' on-disk format: ``cfg.json`` and
    ``sae_weights.safetensors`` with W_enc (h, J), W_dec (J, h), b_enc (J,), b_dec (h,), the standard
    architecture f = ReLU((x - b_dec) W_enc + b_enc), x_hat = f W_dec + b_dec.

    This model is c = ReLU(W_e x + b_e), x_hat = D_hat c with unit-norm columns and no decoder bias, so
    W_enc = W_e^T, W_dec = D_hat^T (rows of unit norm, as SAELens expects) and b_dec = 0: the two compute
    the same codes and reconstructions. The L1 coefficient and the sizes go in the config (``l1_coefficient``
    under ``metadata``). Returns the folder."""
    if not isinstance(model, SparseAutoencoder):
        raise ValueError(f"model must be a SparseAutoencoder, got {type(model).__name__}")
    instance = check_int(instance, "instance", low=0, high=model.instances - 1)
    out = Path(out_dir)
    with torch.no_grad():
        tensors = {"W_enc": model.W_e[instance].T.contiguous(),
                   "W_dec": model.dictionary()[instance].T.contiguous(),
                   "b_enc": model.b_e[instance].clone(),
                   "b_dec": torch.zeros(model.h, dtype=model.W_e.dtype)}
    # SAELens 6's layout: the sizes at the top, everything else under "metadata"; "sae_lens_version" there
    # marks the file as that format (without it SAELens reads the file as a pre-6.0 config and drops the
    # metadata). Loaded by SAELens 6.54.12's SAE.load_from_disk with the same codes and reconstructions
    # (checked by hand, docs/sae.md; tests/test_sae.py repeats it where sae_lens is installed).
    cfg = {"architecture": "standard", "d_in": model.h, "d_sae": model.J,
           "dtype": str(model.W_e.dtype).removeprefix("torch."), "device": "cpu",
           "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "none",
           "metadata": {"sae_lens_version": SAELENS_FORMAT, "hook_name": hook_name, "model_name": model_name,
                        "l1_coefficient": float(model.alpha[instance]),
                        "exported_by": "persian-rug numerics.sae.save_saelens"}}
    save_weights(out / SAELENS_WEIGHTS, {k: v.detach().cpu() for k, v in tensors.items()})
    write_json(out / SAELENS_CFG, cfg)
    return out


def load_saelens(sae_dir) -> SparseAutoencoder:
    """Read a standard SAELens SAE folder (``cfg.json`` + ``sae_weights.safetensors``) into a one-instance
    :class:`SparseAutoencoder`, so that numerics' metrics (MMCS, dead latents) apply to it. Refused (a
    ValueError naming the folder) for other architectures and for a nonzero b_dec, which this model has no
    place for.

    SAELens decodes with W_dec as it is, x_hat = f W_dec; this model decodes with unit-norm columns. ReLU is
    positively homogeneous, so the row norms n_j = |W_dec[j]| move into the encoder: W_e[j] = n_j W_enc[:, j],
    b_e[j] = n_j b_enc[j], D[:, j] = W_dec[j] / n_j. The reconstructions are SAELens' exactly, and the codes
    are SAELens' codes times n_j (codes for a unit-norm dictionary; the same when the rows are unit norm, as
    SAELens trains them). A zero row gives a latent that never fires."""
    d = Path(sae_dir)
    for name in (SAELENS_CFG, SAELENS_WEIGHTS):
        if not (d / name).is_file():
            raise ValueError(f"sae_dir {str(d)!r} has no {name}: not a SAELens SAE folder")
    cfg = read_json(d / SAELENS_CFG)
    if not isinstance(cfg, dict) or cfg.get("architecture", "standard") != "standard":
        raise ValueError(f"sae_dir {str(d)!r}: only the standard architecture can be read, got "
                         f"{cfg.get('architecture') if isinstance(cfg, dict) else cfg!r}")
    w = load_weights(d / SAELENS_WEIGHTS)
    missing = {"W_enc", "W_dec", "b_enc"} - set(w)
    if missing:
        raise ValueError(f"sae_dir {str(d)!r}: the weights lack {', '.join(sorted(missing))}")
    h, J = w["W_enc"].shape
    if tuple(w["W_dec"].shape) != (J, h) or tuple(w["b_enc"].shape) != (J,):
        raise ValueError(f"sae_dir {str(d)!r}: W_dec must be ({J}, {h}) and b_enc ({J},)")
    if "b_dec" in w and bool((w["b_dec"] != 0).any()):
        raise ValueError(f"sae_dir {str(d)!r}: b_dec is nonzero; this model has no decoder bias")
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    alpha = meta.get("l1_coefficient", cfg.get("l1_coefficient", 0.0))  # 6.x: in metadata; older: at the top
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha < 0:
        raise ValueError(f"sae_dir {str(d)!r}: l1_coefficient must be a finite number >= 0, got {alpha!r}")
    alpha = float(alpha)
    dtype = "float64" if w["W_enc"].dtype == torch.float64 else "float32"
    model = SparseAutoencoder(h, J, [alpha], dtype=dtype)
    norms = torch.linalg.vector_norm(w["W_dec"].double(), dim=1)
    scale = norms.to(w["W_enc"].dtype)
    with torch.no_grad():
        model.W_e.copy_((w["W_enc"] * scale).T[None])
        model.b_e.copy_((w["b_enc"] * scale)[None])
        dead = norms == 0
        model.b_e[0, dead] = -1.0  # no direction to decode: the latent never fires
        model.D.copy_(torch.where(dead[None, :], 1.0, w["W_dec"].T / torch.where(dead, 1.0, scale))[None])
    return model
