"""Import of junyanz files: state dicts saved by the reference's own networks convert to networks
that compute the reference's outputs."""

from __future__ import annotations

import pytest
import torch

from gankit.core.checkpoint import from_pretrained
from gankit.core.errors import CheckpointError
from gankit.families.pix2pix.convert import convert, convert_state_dict, detect
from pix2pix.reference_nets import NAMES, reference_net

ARCH = {
    "unet_256-batch": "pix2pix_unet_256",
    "unet_128-instance": "pix2pix_unet_128",
    "unet_6levels-none": "pix2pix_unet_256",
    "resnet_9blocks-instance": "pix2pix_resnet_9blocks",
    "resnet_9blocks-none-dropout": "pix2pix_resnet_9blocks",
    "resnet_6blocks-batch-dropout": "pix2pix_resnet_6blocks",
    "basic-batch": "pix2pix_patchgan",
    "n_layers5-instance": "pix2pix_patchgan",
    "n_layers2-none": "pix2pix_patchgan",
    "pixel-batch": "pix2pix_pixelgan",
}


def test_every_fixture_network_is_checked():
    assert sorted(ARCH) == NAMES


@pytest.mark.parametrize("name", sorted(ARCH))
def test_converted_networks_reproduce_the_reference(name, tmp_path):
    ref = reference_net(name)
    path = tmp_path / "latest_net_X.pth"
    torch.save(ref.state, path)
    ours = from_pretrained(convert(path, tmp_path / "model"))
    assert ours.arch_name == ARCH[name]
    assert (ref.output(ours) - ref.y).abs().max().item() < 1e-5


@pytest.mark.parametrize(
    "name", ["unet_128-instance", "resnet_9blocks-instance", "n_layers5-instance"]
)
def test_old_instance_norm_files_with_running_stats_load(name):
    """Files of PyTorch < 0.4 hold InstanceNorm running statistics the reference drops."""
    ref = reference_net(name)
    assert ref.old_stats
    ours = convert_state_dict({**ref.state, **ref.old_stats})
    assert ours.config.norm == "instance"
    assert (ref.output(ours) - ref.y).abs().max().item() < 1e-5


def test_batchnorm_files_without_num_batches_tracked_load():
    """The published models were saved by PyTorch < 0.4.1, before BatchNorm had that buffer."""
    ref = reference_net("unet_256-batch")
    state = {k: v for k, v in ref.state.items() if not k.endswith("num_batches_tracked")}
    assert len(state) < len(ref.state)
    assert (ref.output(convert_state_dict(state)) - ref.y).abs().max().item() < 1e-5


def test_detection_reads_sizes_norm_and_dropout():
    name, cfg = detect(reference_net("unet_128-instance").state)
    assert (name, cfg.input_nc, cfg.output_nc, cfg.ngf, cfg.norm, cfg.num_downs) == (
        "pix2pix_unet_128",
        1,
        3,
        1,
        "instance",
        7,
    )
    assert detect(reference_net("unet_6levels-none").state)[1].num_downs == 6
    name, cfg = detect(reference_net("resnet_9blocks-none-dropout").state)
    assert (name, cfg.output_nc, cfg.ngf, cfg.norm, cfg.use_dropout) == (
        "pix2pix_resnet_9blocks",
        1,
        2,
        "none",
        True,
    )
    assert detect(reference_net("resnet_9blocks-instance").state)[1].use_dropout is False
    assert detect(reference_net("resnet_6blocks-batch-dropout").state)[1].norm == "batch"
    assert detect(reference_net("n_layers2-none").state)[1].n_layers == 2
    assert detect(reference_net("n_layers5-instance").state)[1].n_layers == 5


def test_data_parallel_prefix_and_wrapper_are_accepted(tmp_path):
    ref = reference_net("pixel-batch")
    path = tmp_path / "d.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state.items()}}, path)
    ours = from_pretrained(convert(path, tmp_path / "m"))
    assert (ref.output(ours) - ref.y).abs().max().item() < 1e-5


def test_wrong_files_say_what_was_found(tmp_path):
    junk = tmp_path / "junk.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, junk)
    with pytest.raises(CheckpointError, match="not a junyanz .* fc.weight"):
        convert(junk, tmp_path / "o")
    text = tmp_path / "text.pth"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="text.pth"):
        convert(text, tmp_path / "o")
    truncated = reference_net("pixel-batch").state
    truncated.pop("net.2.weight")
    with pytest.raises(CheckpointError, match="net.2.weight"):
        convert_state_dict(truncated)
    assert not (tmp_path / "o").exists()


def test_convert_records_the_direction_and_old_folders_still_load(tmp_path, capsys):
    import json

    from gankit.cli import main
    from gankit.core.errors import UsageError

    torch.save(reference_net("unet_256-batch").state, tmp_path / "g.pth")
    assert (
        main(
            [
                "pix2pix",
                "convert",
                str(tmp_path / "g.pth"),
                "-o",
                str(tmp_path / "m"),
                "--direction",
                "BtoA",
            ]
        )
        == 0
    )
    g = from_pretrained(tmp_path / "m")
    assert (g.config.direction, g.config.image_size) == ("BtoA", (256, 256))
    assert convert_state_dict(torch.load(tmp_path / "g.pth")).config.direction == "AtoB"
    torch.save(reference_net("pixel-batch").state, tmp_path / "d.pth")
    with pytest.raises(UsageError, match="discriminator"):
        convert(tmp_path / "d.pth", tmp_path / "d", direction="BtoA")
    # A folder written before direction/image_size existed: AtoB at 256 x 256 as before.
    cfg_path = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["architecture"] = "pix2pix_unet_256"
    for key in ("direction", "image_size"):
        del cfg["config"][key]
    cfg_path.write_text(json.dumps(cfg))
    old = from_pretrained(tmp_path / "m")
    assert (old.config.direction, old.config.image_size) == ("AtoB", (256, 256))
