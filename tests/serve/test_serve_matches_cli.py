"""The web app renders exactly what the command line renders: same padding to the network's
size multiple, same crop back, same pixels."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from gankit.cli import main as cli_main
from gankit.core import registry
from gankit.core.checkpoint import save_pretrained
from gankit.serve.pool import ModelPool, parse_model_args


def test_web_app_image_equals_cli_output(tmp_path, capsys):
    torch.manual_seed(0)
    model = save_pretrained(registry.build("animegan_v2_generator"), tmp_path / "v2")
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (37, 53, 3), np.uint8)).save(photo)  # odd sides
    assert (
        cli_main(
            [
                "animegan",
                "stylize",
                str(photo),
                "--model",
                str(model),
                "-o",
                str(tmp_path / "out"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    cli_out = [p for p in (tmp_path / "out").iterdir() if p.suffix == ".png"]
    pool = ModelPool(parse_model_args([f"v2={model}"]))
    assert pool.served("v2").info.size_multiple == 4
    _, web = pool.image_file("v2", str(photo))
    with Image.open(cli_out[0]) as cli:
        assert cli.size == web.size == (53, 37)
        assert np.array_equal(np.asarray(cli.convert("RGB")), np.asarray(web))
