"""Seeding and capture/restore of every random number generator, for exact resume."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states as tensors and plain values."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    npst = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            npst["keys"].numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def cuda_devices() -> list[int]:
    """Every CUDA device, for ``torch.random.fork_rng`` around work that must not move the RNG."""
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


SEED_CONVENTIONS = ("torch", "numpy")
"""How a seed becomes a latent: ``torch.Generator().manual_seed(seed)`` (gankit's DCGAN,
WGAN-GP and PGGAN) or ``numpy.random.RandomState(seed).randn`` (NVlabs' StyleGAN scripts)."""


def seed_convention(model: Any) -> str:
    """The convention a latent generator (module or ONNX export) declares; ``torch`` if none."""
    return str(getattr(model, "seed_convention", None) or "torch")


def latents_for_seeds(
    seeds: Sequence[int], z_dim: int, convention: str = "torch", device: torch.device | str = "cpu"
) -> torch.Tensor:
    """One standard normal latent per seed, ``[len(seeds), z_dim]``, float32 on ``device``.

    Each row depends on its seed alone, so seed 7 gives the same image whatever else is in the
    batch. The ``numpy`` convention is stylegan2-ada-pytorch generate.py's
    ``np.random.RandomState(seed).randn(1, G.z_dim)`` (NVlabs/stylegan pretrained_example.py
    likewise), so StyleGAN seeds name the same images as NVlabs' tools.
    """
    if convention == "torch":
        rows = [torch.randn(z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        z = torch.stack(rows) if rows else torch.empty(0, z_dim)
    elif convention == "numpy":
        arr = (
            np.stack([np.random.RandomState(int(s) % 2**32).randn(z_dim) for s in seeds])
            if len(seeds)
            else np.empty((0, z_dim))
        )
        z = torch.from_numpy(arr).float()
    else:
        raise ValueError(f"seed convention must be one of {SEED_CONVENTIONS}, got {convention!r}")
    return z.to(device)


def model_latents(
    model: Any, seeds: Sequence[int], device: torch.device | str = "cpu"
) -> torch.Tensor:
    """:func:`latents_for_seeds` with ``model``'s ``z_dim`` and :func:`seed_convention`: the one
    way the CLI, the Python API, the web app, the ONNX backend and training grids turn seeds
    into latents."""
    return latents_for_seeds(seeds, int(model.z_dim), seed_convention(model), device)
