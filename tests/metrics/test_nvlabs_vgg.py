"""NVlabs' vgg16.pt: weights read from a TorchScript archive without running it, the LPIPS and
feature modes, and PPL's noise handling as stylegan2-ada-pytorch's."""

from __future__ import annotations

import pickle
import zipfile

import pytest
import torch
import torch.nn.functional as F

from gankit.core.errors import CheckpointError
from gankit.metrics import nvlabs_vgg as nv
from gankit.metrics.cli import generator_callables
from gankit.metrics.ppl import ppl

WIDTHS = (4, 4, 6, 6, 8, 8, 8, 8, 8, 8, 8, 8, 8)


class _Conv(torch.nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(cout, cin, 3, 3) * 0.3)
        self.bias = torch.nn.Parameter(torch.randn(cout) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(F.conv2d(x, self.weight, self.bias, padding=1))


class _Layers(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        chans = (3, *WIDTHS)
        for i in range(13):
            setattr(self, f"conv{i + 1}", _Conv(chans[i], chans[i + 1]))
        self.fc1 = torch.nn.Linear(8 * 49, 16)
        self.fc2 = torch.nn.Linear(16, 16)
        self.fc3 = torch.nn.Linear(16, 10)


class _ScriptedVGG(torch.nn.Module):
    """The archive's parameter layout (``layers.convN``, ``layers.fcN``, ``lpipsN`` of C x 1 x 1)
    with the forward gankit assumes, written independently of gankit's module."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = _Layers()
        self.lpips0 = torch.nn.Parameter(torch.rand(4, 1, 1))
        self.lpips1 = torch.nn.Parameter(torch.rand(6, 1, 1))
        self.lpips2 = torch.nn.Parameter(torch.rand(8, 1, 1))
        self.lpips3 = torch.nn.Parameter(torch.rand(8, 1, 1))
        self.lpips4 = torch.nn.Parameter(torch.rand(8, 1, 1))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        x = (img / 255.0 - mean) / std
        L = self.layers
        x = L.conv2(L.conv1(x))
        x = F.max_pool2d(x, 2)
        x = L.conv4(L.conv3(x))
        x = F.max_pool2d(x, 2)
        x = L.conv7(L.conv6(L.conv5(x)))
        x = F.max_pool2d(x, 2)
        x = L.conv10(L.conv9(L.conv8(x)))
        x = F.max_pool2d(x, 2)
        x = L.conv13(L.conv12(L.conv11(x)))
        x = F.adaptive_avg_pool2d(F.max_pool2d(x, 2), 7).flatten(1)
        return torch.relu(L.fc2(torch.relu(L.fc1(x))))


@pytest.fixture
def archive(tmp_path):
    import warnings

    path = tmp_path / "vgg16.pt"
    module = _ScriptedVGG()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(module), str(path))
    return path, module


def test_weights_come_from_the_archive_without_running_it(archive):
    path, module = archive
    with zipfile.ZipFile(path) as z:
        assert any("/code/" in n for n in z.namelist())  # the code is there, unread
    net = nv.load_archive(path)
    img = torch.rand(2, 3, 64, 64) * 255
    with torch.no_grad():
        torch.testing.assert_close(
            net(img, return_features=True), module(img), rtol=1e-4, atol=1e-4
        )
    assert torch.equal(net.lpips2, module.lpips2.detach().flatten())


def test_lpips_mode_squared_distance_is_lpips(archive):
    """The LPIPS v0.1 formula (lpips package: unit-normalise channels, squared difference,
    learned 1x1 weights, spatial mean, sum over the five taps), written out."""
    path, module = archive
    net = nv.load_archive(path)
    a, b = (torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(s)) for s in (1, 2))
    L = module.layers
    convs = [getattr(L, f"conv{i}") for i in range(1, 14)]

    def taps(x):
        x = (x / 255.0 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
            [0.229, 0.224, 0.225]
        ).view(1, 3, 1, 1)
        out = []
        for i, conv in enumerate(convs, start=1):
            x = conv(x)
            if i in (2, 4, 7, 10, 13):
                out.append(x)
                x = F.max_pool2d(x, 2)
        return out

    with torch.no_grad():
        expected = 0
        for i, (fa, fb) in enumerate(zip(taps(a * 255), taps(b * 255), strict=True)):
            na = fa / (fa.norm(dim=1, keepdim=True) + 1e-10)
            nb = fb / (fb.norm(dim=1, keepdim=True) + 1e-10)
            w = getattr(module, f"lpips{i}").view(1, -1, 1, 1)
            expected = expected + ((na - nb) ** 2 * w).sum(1).mean(dim=(1, 2))
        got = nv.NVlabsLPIPS(net)(a * 2 - 1, b * 2 - 1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_pr_features_are_float16_values_of_8_bit_images(archive):
    net = nv.load_archive(archive[0])
    feats = nv.NVlabsFeatures(net)(torch.rand(2, 3, 300, 300) * 2 - 1)
    assert feats.shape == (2, 16) and torch.equal(feats, feats.half().float())


def test_resize_is_tf1_bilinear():
    """tf.compat.v1.image.resize_bilinear(align_corners=False): the half-pixel-free grid, as the
    grid-sample formulation of published ports writes it."""
    x = torch.rand(2, 3, 300, 260)
    theta = torch.eye(2, 3).unsqueeze(0).repeat(2, 1, 1)
    theta[:, 0, 2] += 1 / x.shape[3] - 1 / 224
    theta[:, 1, 2] += 1 / x.shape[2] - 1 / 224
    grid = F.affine_grid(theta, [2, 3, 224, 224], align_corners=False)
    ref = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    torch.testing.assert_close(nv.tf_resize_bilinear(x, 224), ref, rtol=0, atol=1e-4)


def test_archives_that_ask_for_code_are_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("bad/data.pkl", pickle.dumps(print))
    with pytest.raises(CheckpointError, match="builtins.print"):
        nv.load_archive(bad)
    (tmp_path / "nozip.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="TorchScript"):
        nv.load_archive(tmp_path / "nozip.pt")


class _NoisyGenerator(torch.nn.Module):
    """Images = w plus the noise map it is given, so the noise each image saw is visible."""

    z_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.map = torch.nn.Identity()
        self.register_buffer("stored", torch.zeros(1, 1, 2, 2))
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def noise_inputs(self, n: int, mode: str) -> list[torch.Tensor]:
        assert mode == "const"
        return [self.stored]

    def synthesis(self, ws: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        base = ws[:, :1, None, None].expand(-1, 3, 2, 2)
        return base + noise[0].expand(len(ws), 3, 2, 2)


def test_ppl_noise_is_new_per_batch_and_shared_within_it():
    model = _NoisyGenerator()
    latent_fn, generator_fn = generator_callables(model, "w", "nvlabs")
    seen = []

    def distance(a, b):
        seen.append((a - a[:, :1, :1, :1]).clone())  # the noise part of each image
        torch.testing.assert_close(a - a[:, :1, :1, :1], b - b[:, :1, :1, :1])  # same in a pair
        return ((a - b) ** 2).mean(dim=(1, 2, 3))

    ppl(generator_fn, latent_fn, distance, num_samples=8, batch_size=4, epsilon=1e-2)
    first, second = seen
    torch.testing.assert_close(first[0], first[3])  # one map for the whole batch
    assert (first[0] - second[0]).abs().max() > 0.1  # a new map for the next batch
    _, const_fn = generator_callables(model, "w", "const")
    assert torch.equal(const_fn(torch.ones(2, 4)), torch.ones(2, 3, 2, 2))
