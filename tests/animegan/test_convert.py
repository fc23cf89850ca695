"""Importers: foreign layouts built here, saved as the projects save them, converted, compared."""

from __future__ import annotations

import os

import pytest
import torch
from animegan_foreign import PortGenerator, PtranGeneratorV1, PtranGeneratorV2, randomize

from gankit.core.checkpoint import from_pretrained
from gankit.core.errors import BadInputError, CheckpointError
from gankit.families.animegan.convert import convert


def _roundtrip(tmp_path, foreign, payload, x, **kwargs):
    src = tmp_path / "foreign.pt"
    torch.save(payload, src)
    out = convert(src, tmp_path / "model", **kwargs)
    model = from_pretrained(out)
    with torch.inference_mode():
        return (model(x) - foreign(x)).abs().max().item(), model


def test_bryandlee_port_align_false(tmp_path):
    foreign = randomize(PortGenerator(), 1)
    x = torch.rand(1, 3, 20, 16) * 2 - 1
    diff, model = _roundtrip(
        tmp_path, lambda t: foreign(t, align_corners=False), foreign.state_dict(), x
    )
    assert diff < 1e-5
    assert model.arch_name == "animegan_v2_generator" and not model.config.align_corners


def test_bryandlee_port_align_true(tmp_path):
    foreign = randomize(PortGenerator(), 2)
    x = torch.rand(1, 3, 18, 22) * 2 - 1
    diff, _ = _roundtrip(tmp_path, foreign, foreign.state_dict(), x, align_corners=True)
    assert diff < 1e-5


def test_ptran_v2_checkpoint_dict(tmp_path):
    foreign = randomize(PtranGeneratorV2(), 3)
    payload = {"model_state_dict": foreign.state_dict(), "epoch": 7}
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    diff, model = _roundtrip(tmp_path, foreign, payload, x)
    assert diff < 1e-5
    assert model.config.out_bias


def test_ptran_v1_bare_with_ddp_prefix(tmp_path):
    foreign = randomize(PtranGeneratorV1(), 4)
    payload = {f"module.{k}": v for k, v in foreign.state_dict().items()}
    x = torch.rand(1, 3, 16, 24) * 2 - 1
    diff, model = _roundtrip(tmp_path, foreign, payload, x)
    assert diff < 1e-5
    assert model.arch_name == "animegan_v1_ptran_generator"


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['EVIL_MARK']}",))


def test_malicious_pickle_is_refused_without_running(tmp_path, monkeypatch):
    mark = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARK", str(mark))
    src = tmp_path / "evil.pt"
    torch.save({"block_a.0.1.weight": torch.zeros(1), "x": _Evil()}, src)
    with pytest.raises(CheckpointError, match="can read safely"):
        convert(src, tmp_path / "out")
    assert not mark.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "content,error", [(b"", BadInputError), (b"not a checkpoint at all", CheckpointError)]
)
def test_garbage_files(tmp_path, content, error):
    src = tmp_path / "bad.pt"
    src.write_bytes(content)
    with pytest.raises(error):
        convert(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_layout_names_what_was_found(tmp_path):
    src = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(2, 2)}, src)
    with pytest.raises(CheckpointError, match="encoder.weight"):
        convert(src, tmp_path / "out")


def test_truncated_tensor_shapes_are_reported(tmp_path):
    state = PortGenerator().state_dict()
    state["block_a.0.1.weight"] = torch.zeros(5, 3, 7, 7)
    src = tmp_path / "wrong.pt"
    torch.save(state, src)
    with pytest.raises(CheckpointError, match="do not fit"):
        convert(src, tmp_path / "out")


def test_cli_convert_then_stylize(tmp_path, capsys):
    from animegan_helpers import photo

    from gankit.cli import main

    src = tmp_path / "face_paint_512_v1.pt"
    torch.save(randomize(PortGenerator(), 7).state_dict(), src)
    assert (
        main(["animegan", "convert", str(src), "-o", str(tmp_path / "m"), "--align-corners"]) == 0
    )
    assert from_pretrained(tmp_path / "m").config.align_corners
    photo(20, 28).save(tmp_path / "in.png")
    assert (
        main(
            [
                "animegan",
                "stylize",
                str(tmp_path / "in.png"),
                "--model",
                str(tmp_path / "m"),
                "-o",
                str(tmp_path / "out.png"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert (tmp_path / "out.png").exists()
    assert main(["animegan", "convert", str(tmp_path / "in.png"), "-o", str(tmp_path / "x")]) == 2
    assert "\n" not in capsys.readouterr().err.strip()
