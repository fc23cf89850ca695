"""Sharded extraction under torch.distributed (two gloo processes) equals one process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.metrics import features

SCRIPT = """
import sys
import numpy as np
import torch
import torch.distributed as dist
from gankit.metrics import features

dist.init_process_group("gloo")
folder, out = sys.argv[1], sys.argv[2]


def ext(x):
    return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


mu, sigma = features.statistics(folder, ext, batch_size=2)
feats = features.extract(folder, ext, batch_size=2)
np.savez(f"{out}/rank{dist.get_rank()}.npz", mu=mu, sigma=sigma, feats=feats.numpy())
dist.destroy_process_group()
"""


def _ext(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


@pytest.mark.ddp
def test_two_processes_give_single_process_statistics_and_order(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(7):  # odd: the shards differ in size
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    script = tmp_path / "shard.py"
    script.write_text(SCRIPT)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={port}",
        str(script),
        str(folder),
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mu, sigma = features.statistics(folder, _ext, batch_size=2)
    feats = features.extract(folder, _ext, batch_size=2).numpy()
    for rank in (0, 1):
        with np.load(tmp_path / f"rank{rank}.npz") as got:
            np.testing.assert_allclose(got["mu"], mu, rtol=1e-10)
            np.testing.assert_allclose(got["sigma"], sigma, rtol=1e-9, atol=1e-12)
            np.testing.assert_array_equal(got["feats"], feats)
