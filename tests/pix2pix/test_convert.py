"""Import of junyanz files: reference-layout state dicts convert to identical outputs."""

from __future__ import annotations

import pytest
import torch

from gankit.core.checkpoint import from_pretrained
from gankit.core.errors import CheckpointError
from gankit.families.pix2pix.convert import convert, convert_state_dict, detect
from pix2pix.reference_layout import RefNLayer, RefPixel, RefResnet, RefUnet, randomise

CASES = {
    "unet_256-batch": (lambda: RefUnet(3, 3, 8, 4, "batch"), "pix2pix_unet_256", 256),
    "unet_128-instance": (lambda: RefUnet(1, 3, 7, 4, "instance"), "pix2pix_unet_128", 128),
    "unet_6levels-none": (lambda: RefUnet(3, 1, 6, 4, "none"), "pix2pix_unet_256", 64),
    "resnet9-instance": (lambda: RefResnet(3, 3, 9, 4, "instance"), "pix2pix_resnet_9blocks", 24),
    "resnet6-batch-dropout": (lambda: RefResnet(3, 3, 6, 4, "batch", dropout=True),
                              "pix2pix_resnet_6blocks", 24),
    "basic-batch": (lambda: RefNLayer(6, 4, 3, "batch"), "pix2pix_patchgan", 40),
    "n_layers5-instance": (lambda: RefNLayer(4, 4, 5, "instance"), "pix2pix_patchgan", 96),
    "pixel-batch": (lambda: RefPixel(6, 4, "batch"), "pix2pix_pixelgan", 16),
}


def _input_for(ref: torch.nn.Module, side: int) -> torch.Tensor:
    first = next(p for p in ref.parameters() if p.dim() == 4)
    return torch.randn(2, first.shape[1], side, side, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("case", sorted(CASES))
def test_converted_networks_reproduce_the_reference(case, tmp_path):
    make, arch, side = CASES[case]
    ref = randomise(make())
    state = ref.state_dict()
    path = tmp_path / "latest_net_X.pth"
    torch.save(state, path)
    out = convert(path, tmp_path / "model")
    ours = from_pretrained(out)
    assert ours.arch_name == arch
    x = _input_for(ref, side)
    with torch.no_grad():
        diff = (ours(x) - ref(x)).abs().max().item()
    assert diff < 1e-5


@pytest.mark.parametrize("make", [lambda old: RefUnet(3, 3, 7, 4, "instance", old=old),
                                  lambda old: RefResnet(3, 3, 6, 4, "instance", old=old),
                                  lambda old: RefNLayer(6, 4, 3, "instance", old=old)])
def test_old_instance_norm_files_with_running_stats_load(make):
    old = randomise(make(True))
    state = old.state_dict()
    assert any(k.endswith("running_mean") for k in state)
    # What the reference computes after dropping the stray statistics.
    modern = make(False).eval()
    modern.load_state_dict({k: v for k, v in state.items()
                            if not k.endswith(("running_mean", "running_var",
                                               "num_batches_tracked"))})
    ours = convert_state_dict(state)
    assert ours.config.norm == "instance"
    x = _input_for(modern, 128)
    with torch.no_grad():
        assert (ours(x) - modern(x)).abs().max().item() < 1e-5


def test_batchnorm_files_without_num_batches_tracked_load():
    """The published models were saved by PyTorch < 0.4.1, before BatchNorm had that buffer."""
    ref = randomise(RefUnet(3, 3, 8, 2, "batch"))
    state = {k: v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    ours = convert_state_dict(state)
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max().item() < 1e-5


def test_detection_reads_sizes_and_dropout():
    name, cfg = detect(RefUnet(1, 3, 8, 8, "batch").state_dict())
    assert (name, cfg.input_nc, cfg.output_nc, cfg.ngf, cfg.norm) == (
        "pix2pix_unet_256", 1, 3, 8, "batch")
    name, cfg = detect(RefResnet(3, 1, 9, 4, "none", dropout=True).state_dict())
    assert (name, cfg.output_nc, cfg.norm, cfg.use_dropout) == (
        "pix2pix_resnet_9blocks", 1, "none", True)
    assert detect(RefResnet(3, 3, 9, 4, "none").state_dict())[1].use_dropout is False
    assert detect(RefNLayer(6, 4, 2, "none").state_dict())[1].n_layers == 2


def test_data_parallel_prefix_and_wrapper_are_accepted(tmp_path):
    ref = randomise(RefPixel(6, 4, "batch"))
    path = tmp_path / "d.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, path)
    ours = from_pretrained(convert(path, tmp_path / "m"))
    x = torch.randn(1, 6, 5, 5)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max().item() < 1e-5


def test_wrong_files_say_what_was_found(tmp_path):
    junk = tmp_path / "junk.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, junk)
    with pytest.raises(CheckpointError, match="not a junyanz .* fc.weight"):
        convert(junk, tmp_path / "o")
    text = tmp_path / "text.pth"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="text.pth"):
        convert(text, tmp_path / "o")
    truncated = RefPixel(6, 4, "batch").state_dict()
    truncated.pop("net.2.weight")
    with pytest.raises(CheckpointError, match="net.2.weight"):
        convert_state_dict(truncated)
    assert not (tmp_path / "o").exists()


def test_convert_records_the_direction_and_old_folders_still_load(tmp_path, capsys):
    import json

    from gankit.cli import main
    from gankit.core.errors import UsageError

    torch.save(randomise(RefUnet(3, 3, 7, 4, "batch")).state_dict(), tmp_path / "g.pth")
    assert main(["pix2pix", "convert", str(tmp_path / "g.pth"), "-o", str(tmp_path / "m"),
                 "--direction", "BtoA"]) == 0
    g = from_pretrained(tmp_path / "m")
    assert (g.config.direction, g.config.image_size) == ("BtoA", (128, 128))
    assert convert_state_dict(torch.load(tmp_path / "g.pth")).config.direction == "AtoB"
    torch.save(randomise(RefPixel(6, 4, "batch")).state_dict(), tmp_path / "d.pth")
    with pytest.raises(UsageError, match="discriminator"):
        convert(tmp_path / "d.pth", tmp_path / "d", direction="BtoA")
    # A folder written before direction/image_size existed: AtoB at 256 x 256 as before.
    cfg_path = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["architecture"] = "pix2pix_unet_256"
    for key in ("direction", "image_size"):
        del cfg["config"][key]
    cfg["config"]["num_downs"] = 7
    cfg_path.write_text(json.dumps(cfg))
    old = from_pretrained(tmp_path / "m")
    assert (old.config.direction, old.config.image_size) == ("AtoB", (256, 256))
