"""Multi-process training through the engine: two gloo ranks end with identical parameters."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from pix2pix.synthetic import write_aligned

SCRIPT = """
import dataclasses, os, sys
sys.path.insert(0, {tests!r})
from safetensors.torch import save_file
from gankit.engine import Trainer, TrainerConfig
from gankit.families.pix2pix.config import TrainConfig
from gankit.families.pix2pix.recipe import Pix2PixRecipe
cfg = TrainConfig(data={data!r}, generator="resnet_6blocks", ngf=4, ndf=4, load_size=36,
                  crop_size=32, batch_size=1,
                  trainer=TrainerConfig(max_steps=3, progress=False, tensorboard=False,
                                        device="cpu"))
recipe = Pix2PixRecipe(cfg)
Trainer(recipe, {run!r}, cfg.trainer).run()
params = {{"G." + k: p.detach().contiguous() for k, p in recipe.G.named_parameters()}}
params.update({{"D." + k: p.detach().contiguous() for k, p in recipe.D.named_parameters()}})
save_file(params, os.path.join({out!r}, "rank" + os.environ["RANK"] + ".safetensors"))
"""


@pytest.mark.ddp
@pytest.mark.slow
def test_two_gloo_ranks_train_identical_parameters(tmp_path):
    data = write_aligned(tmp_path / "data", 4)
    script = tmp_path / "ddp.py"
    script.write_text(
        SCRIPT.format(
            tests=os.path.dirname(os.path.dirname(__file__)),
            data=str(data),
            run=str(tmp_path / "run"),
            out=str(tmp_path),
        )
    )
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
    ]
    proc = subprocess.run(
        cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert a.keys() == b.keys()
    assert all((a[k] - b[k]).abs().max() == 0 for k in a)  # averaged gradients, same steps
    assert (tmp_path / "run" / "model" / "model.safetensors").exists()
