"""Import of tamarott/SinGAN runs: equivalence on state dicts built here in the reference layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.core.checkpoint import from_pretrained
from gankit.core.errors import CheckpointError
from gankit.families.singan.convert import convert


class RefBlock(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__()
        self.add_module("conv", nn.Conv2d(cin, cout, 3))
        self.add_module("norm", nn.BatchNorm2d(cout))
        self.add_module("LeakyRelu", nn.LeakyReLU(0.2, inplace=True))


class RefGenerator(nn.Module):
    """The reference GeneratorConcatSkip2CleanAdd: padded inputs, y cropped to the output."""

    def __init__(self, nfc):
        super().__init__()
        self.head = RefBlock(3, nfc)
        self.body = nn.Sequential()
        for i in range(3):
            self.body.add_module(f"block{i + 1}", RefBlock(nfc, nfc))
        self.tail = nn.Sequential(nn.Conv2d(nfc, 3, 3), nn.Tanh())

    def forward(self, x, y):
        x = self.tail(self.body(self.head(x)))
        ind = int((y.shape[2] - x.shape[2]) / 2)
        return x + y[:, :, ind : (y.shape[2] - ind), ind : (y.shape[3] - ind)]


def _randomize(g: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in g.state_dict().items():
            if t.dtype.is_floating_point:
                v = torch.rand(t.shape, generator=gen) * 0.2 - 0.1
                t.copy_(v.abs() + 0.5 if name.endswith("running_var") else v)


SHAPES = [(20, 26), (26, 34), (34, 45)]
WIDTHS = [8, 8, 16]


def _reference_run(root, zs_nonzero=False, border_noise=False):
    gens = []
    for k, c in enumerate(WIDTHS):
        g = RefGenerator(c)
        _randomize(g, k)
        g.eval()
        gens.append(g)
        (root / str(k)).mkdir(parents=True)
        torch.save(g.state_dict(), root / str(k) / "netG.pth")
    gen = torch.Generator().manual_seed(9)
    z0 = nn.ZeroPad2d(5)(torch.randn(1, 1, *SHAPES[0], generator=gen).expand(1, 3, *SHAPES[0]))
    if border_noise:  # animation.py's 'animation_train': z* drawn at the padded size
        z0 = torch.randn(1, 1, *z0.shape[-2:], generator=gen).expand(1, 3, -1, -1)
    zs = [z0] + [
        torch.full((1, 3, h + 10, w + 10), 1.0 if zs_nonzero else 0.0) for h, w in SHAPES[1:]
    ]
    torch.save(zs, root / "Zs.pth")
    torch.save([1, torch.tensor(0.07), torch.tensor(0.03)], root / "NoiseAmp.pth")
    reals = [torch.rand(1, 3, h, w, generator=gen) * 2 - 1 for h, w in SHAPES]
    torch.save(reals, root / "reals.pth")
    torch.save(gens, root / "Gs.pth")  # pickled modules: must never be needed
    return gens, zs, reals


def test_converted_generators_match_reference_outputs(tmp_path):
    ref_dir = tmp_path / "TrainedModels" / "img" / "scale_factor=0.750000,alpha=10"
    gens, zs, reals = _reference_run(ref_dir)
    model = from_pretrained(convert(ref_dir, tmp_path / "model"))
    assert model.config.shapes == [list(s) for s in SHAPES]
    assert model.config.channels == WIDTHS
    assert torch.allclose(model.noise_amp, torch.tensor([1.0, 0.07, 0.03]))
    for k, ref in enumerate(gens):
        gen = torch.Generator().manual_seed(100 + k)
        prev = torch.rand(2, 3, *SHAPES[k], generator=gen) * 2 - 1
        z = torch.randn(2, 3, *SHAPES[k], generator=gen)
        noisy = 0.1 * z + prev
        with torch.no_grad():
            expected = ref(nn.ZeroPad2d(5)(noisy), nn.ZeroPad2d(5)(prev))
            got = model.generators[k](noisy, prev)
        assert (expected - got).abs().max() < 1e-5
        assert torch.equal(model.reals[k], reals[k])
    # the coarsest reconstruction: reference G0(Z_opt padded, zeros padded)
    with torch.no_grad():
        expected = gens[0](zs[0], torch.zeros_like(zs[0]))
        got = model.reconstruct(last=0)
    assert (expected - got).abs().max() < 1e-5


def test_convert_errors_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="reals.pth: missing"):
        convert(tmp_path, tmp_path / "out")
    bad = tmp_path / "bad"
    _reference_run(bad, zs_nonzero=True)
    with pytest.raises(CheckpointError, match="not zero"):
        convert(bad, tmp_path / "out")
    broken = tmp_path / "broken"
    _reference_run(broken)
    (broken / "1" / "netG.pth").write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="netG.pth"):
        convert(broken, tmp_path / "out")


def test_animation_run_keeps_z_star_border(tmp_path):
    """A run of animation.py (TrainedModels/<img>/scale_factor=..._noise_padding) has noise in
    z*'s border: the import keeps it (border_noise) and reconstructs as the reference does."""
    ref_dir = tmp_path / "scale_factor=0.750000_noise_padding"
    gens, zs, _ = _reference_run(ref_dir, border_noise=True)
    model = from_pretrained(convert(ref_dir, tmp_path / "model"))
    assert model.config.border_noise and torch.equal(model.z_rec, zs[0])
    with torch.no_grad():
        expected = gens[0](zs[0], torch.zeros_like(zs[0]))
        got = model.reconstruct(last=0)
    assert (expected - got).abs().max() < 1e-5
    plain = from_pretrained(
        convert(
            _reference_run(tmp_path / "plain")[0] and tmp_path / "plain", tmp_path / "plain_model"
        )
    )
    assert not plain.config.border_noise
