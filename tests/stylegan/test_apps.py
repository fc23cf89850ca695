"""generate / style-mix / interpolate / project on a tiny model, and their CLI verbs."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.core.checkpoint import save_pretrained
from gankit.families.stylegan import apps


@pytest.fixture
def model_dir(tmp_path, tiny_g):
    with torch.no_grad():
        tiny_g.latent_avg.normal_()
    return save_pretrained(tiny_g, tmp_path / "tiny")


def test_quantisation_matches_nvlabs_rounding():
    x = torch.tensor([-1.0, -0.999, 0.0, 0.5, 0.999, 1.0, 2.0]).view(1, 1, 1, 7)
    assert apps.quantize(x).ravel().tolist() == [0, 0, 128, 191, 255, 255, 255]


def test_generate_uses_the_nvlabs_seed_convention(model_dir, tmp_path):
    images = apps.generate(model_dir, [3, 11], tmp_path / "out", truncation=0.5)
    g = apps.load_generator(model_dir, "cpu")
    z = torch.from_numpy(np.random.RandomState(11).randn(1, 32)).float()
    with torch.no_grad():
        want = apps.quantize(g(z, truncation=0.5, noise_mode="const"))[0]
    np.testing.assert_array_equal(images[1], want)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "seed0011.png")), want)
    assert (tmp_path / "out" / "seed0003.png").exists()
    # psi = 1 is no truncation at all
    with torch.no_grad():
        plain = apps.quantize(
            g.synthesis(
                g.mapping(z).unsqueeze(1).repeat(1, g.n_latent, 1), g.noise_inputs(1, "const")
            )
        )[0]
    np.testing.assert_array_equal(apps.generate(model_dir, [11])[0], plain)


def test_style_mix_grid_layout(model_dir, tmp_path):
    g = apps.load_generator(model_dir, "cpu")
    every = f"0-{g.n_latent - 1}"
    path = apps.style_mix(model_dir, [1, 2], [5, 6, 7], tmp_path / "grid.png", every)
    grid = np.asarray(Image.open(path))
    assert grid.shape == (16 * 3, 16 * 4, 3)
    col7 = apps.generate(model_dir, [7])[0]
    row2 = apps.generate(model_dir, [2])[0]
    np.testing.assert_array_equal(grid[:16, 48:64], col7)  # header row: column seeds
    np.testing.assert_array_equal(grid[32:48, :16], row2)  # first column: row seeds
    np.testing.assert_array_equal(grid[32:48, 48:64], col7)  # every layer mixed = column image
    partial = np.asarray(Image.open(apps.style_mix(model_dir, [2], [7], tmp_path / "p.png", "0-1")))
    assert not np.array_equal(partial[16:, 16:], col7)
    assert not np.array_equal(partial[16:, 16:], row2)


@pytest.mark.parametrize("space", ["w", "z"])
def test_interpolate_writes_gif_and_mp4(model_dir, tmp_path, space):
    gif = apps.interpolate(model_dir, [0, 1, 2], tmp_path / "walk.gif", frames=3, space=space)
    with Image.open(gif) as im:
        assert im.n_frames == 9  # 3 transitions (looping back) x 3 frames
        first = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(first, apps.generate(model_dir, [0])[0])
    mp4 = apps.interpolate(
        model_dir, [0, 1], tmp_path / "walk.mp4", frames=4, space=space, loop=False
    )
    with av.open(str(mp4)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5


def _feature_distance():
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.LeakyReLU(0.2), torch.nn.AvgPool2d(2)
    )

    def distance(a, b):
        return (net(a) - net(b)).square().flatten(1).mean(1)

    return distance


def test_projection_reduces_the_distance(model_dir, tmp_path):
    g = apps.load_generator(model_dir, "cpu")
    with torch.no_grad():
        target = g(
            torch.randn(1, 32, generator=torch.Generator().manual_seed(9)), noise_mode="const"
        )
    res = apps.project(
        model_dir,
        target,
        tmp_path / "proj",
        steps=40,
        w_avg_samples=200,
        distance=_feature_distance(),
    )
    assert len(res["losses"]) == 40
    assert min(res["losses"][-5:]) < 0.5 * res["losses"][0]
    assert res["w"].shape == (g.n_latent, 32)
    w = np.load(tmp_path / "proj" / "projected_w.npz")["w"]
    assert w.shape == (1, g.n_latent, 32)
    for name in ("proj.png", "target.png", "proj.mp4"):
        assert (tmp_path / "proj" / name).stat().st_size > 0


def test_cli_verbs(model_dir, tmp_path, capsys):
    assert (
        main(
            [
                "stylegan",
                "generate",
                "--model",
                str(model_dir),
                "--seeds",
                "0-2",
                "--trunc",
                "0.7",
                "-o",
                str(tmp_path / "g"),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [
        "seed0000.png",
        "seed0001.png",
        "seed0002.png",
    ]
    assert (
        main(
            [
                "stylegan",
                "style-mix",
                "--model",
                str(model_dir),
                "--rows",
                "1,2",
                "--cols",
                "3",
                "--layers",
                "0-3",
                "-o",
                str(tmp_path / "m.png"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "stylegan",
                "interpolate",
                "--model",
                str(model_dir),
                "--seeds",
                "0,1",
                "--frames",
                "2",
                "-o",
                str(tmp_path / "w.gif"),
            ]
        )
        == 0
    )
    assert (tmp_path / "m.png").exists() and (tmp_path / "w.gif").exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["generate", "--model", "MISSING", "--seeds", "0"], "no such model"),
        (["generate", "--seeds", "0-x", "--model", "MODEL"], "invalid seed list"),
        (["generate", "--model", "MODEL", "--class", "2"], "unconditional"),
        (["generate", "--model", "MODEL", "--noise-mode", "loud"], "invalid choice"),
        (
            ["style-mix", "--model", "MODEL", "--rows", "1", "--cols", "2", "--layers", "0-99"],
            "out of range",
        ),
        (["interpolate", "--model", "MODEL", "--seeds", "1", "-o", "x.gif"], "at least two"),
        (["interpolate", "--model", "MODEL", "--seeds", "1,2", "-o", "x.avi"], ".gif or .mp4"),
        (["convert", "nothing.pt", "-o", "x"], "no such file"),
        (["generate", "--model", "MODEL", "--truncation-cutoff", "99"], "style layers"),
    ],
)
def test_cli_mistakes_are_one_line_errors(model_dir, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    argv = [str(model_dir) if a == "MODEL" else a for a in argv]
    assert main(["stylegan", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_project_without_lpips_weights_offline_is_a_clear_error(
    model_dir, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    Image.new("RGB", (20, 16), "red").save(tmp_path / "t.png")
    assert (
        main(
            [
                "stylegan",
                "project",
                str(tmp_path / "t.png"),
                "--model",
                str(model_dir),
                "--steps",
                "2",
                "-o",
                str(tmp_path / "p"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "weights" in err and "--weights" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_pickle_given_as_model_points_to_convert(tmp_path, capsys):
    (tmp_path / "net.pkl").write_bytes(b"x")
    assert main(["stylegan", "generate", "--model", str(tmp_path / "net.pkl")]) == 2
    assert "convert" in capsys.readouterr().err


def test_generator_exports_to_onnx_with_truncation_baked_in(model_dir, tmp_path):
    from gankit.runtime.export import export_onnx, verify_export

    path = export_onnx(model_dir, tmp_path / "g.onnx", truncation=0.7)
    g = apps.load_generator(model_dir, "cpu")
    assert verify_export(g, path, truncation=0.7) < 1e-4


def test_stylegan1_models_default_to_nvlabs_truncation(tmp_path, make_tiny, capsys):
    """NVlabs stylegan networks_stylegan.py G_style: psi 0.7 on the first 8 style layers."""
    g = make_tiny("stylegan1", size=64).eval()
    with torch.no_grad():
        g.latent_avg.normal_()
    folder = save_pretrained(g, tmp_path / "sg1")
    assert g.n_latent > 8
    z = torch.from_numpy(np.random.RandomState(5).randn(1, 32)).float()
    with torch.no_grad():
        w = g.mapping(z).unsqueeze(1).repeat(1, g.n_latent, 1)
        ws = w.clone()
        ws[:, :8] = torch.lerp(g.latent_avg.expand_as(w[:, :8]), w[:, :8], 0.7)
        want = apps.quantize(g.synthesis(ws, g.noise_inputs(1, "const")))[0]
    np.testing.assert_array_equal(apps.generate(folder, [5])[0], want)
    with torch.no_grad():
        all_layers = apps.quantize(g(z, truncation=0.5, noise_mode="const"))[0]
    np.testing.assert_array_equal(
        apps.generate(folder, [5], truncation=0.5, truncation_cutoff=g.n_latent)[0], all_layers
    )
    assert (
        main(
            [
                "stylegan",
                "generate",
                "--model",
                str(folder),
                "--seeds",
                "5",
                "--truncation",
                "1",
                "-o",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    with torch.no_grad():
        plain = apps.quantize(g.synthesis(w, g.noise_inputs(1, "const")))[0]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o" / "seed0005.png")), plain)
