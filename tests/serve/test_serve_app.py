"""The web app: model pool logic directly, HTTP file-serving rules, then a real browser run."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")

from serve_browser import browser_page  # noqa: E402
from toy_models import make_models  # noqa: E402

from gankit.cli import main as cli_main  # noqa: E402
from gankit.core.errors import BadInputError, UsageError  # noqa: E402
from gankit.serve.pool import ModelPool, parse_model_args  # noqa: E402

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("toys"))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    yy, xx = np.mgrid[0:96, 0:128]
    arr = np.stack([xx * 2, yy * 2.5, (xx + yy)], -1).clip(0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


def test_pool_describes_without_loading_and_caches(toys, photo):
    pool = ModelPool(
        parse_model_args([str(toys["serve_toy_i2i"]), f"gen={toys['serve_toy_latent']}"])
    )
    assert pool.names("toy", "image2image") == ["serve_toy_i2i"]
    assert pool.names("toy", "latent") == ["gen"]
    assert pool.loads == 0
    before, after = pool.image_file("serve_toy_i2i", str(photo))
    assert after.size == before.size == (128, 96)
    pool.image_file("serve_toy_i2i", str(photo))
    assert pool.loads == 1
    a = np.asarray(pool.generate("gen", seed=3, count=2, truncation=0.5))
    b = np.asarray(pool.generate("gen", seed=3, count=2, truncation=0.5))
    c = np.asarray(pool.generate("gen", seed=3, count=2, truncation=1.0))
    assert a.shape == (20, 38, 3) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert pool.loads == 2
    import torch

    from gankit.core.images import tensor_to_pil
    from gankit.core.seed import latents_for_seeds

    z = latents_for_seeds([5], 16)  # the toy declares no convention: torch.Generator's
    with torch.no_grad():
        expect = tensor_to_pil(pool.get("gen")(z, truncation=0.5)[0].clamp(-1, 1))
    got = pool.generate("gen", seed=5, count=1, truncation=0.5)
    assert np.array_equal(np.asarray(got), np.asarray(expect))


def _singan_folder(root: Path) -> Path:
    """A tiny SinGAN pyramid (found by registry name, random weights) saved under ``root``."""
    import torch

    from gankit.core import registry
    from gankit.core.checkpoint import save_pretrained
    from gankit.core.errors import ConfigError

    try:
        arch = registry.get("singan_pyramid")
    except ConfigError:
        pytest.skip("singan_pyramid is not registered in this tree")
    config = registry.config_from_dict(
        arch.config_cls, {"shapes": [[8, 8], [12, 10]], "channels": [4, 4]}
    )
    torch.manual_seed(0)
    pyramid = registry.build(arch.name, config)
    with torch.no_grad():  # the DCGAN init gives near-constant images: GIF frames would merge
        for m in pyramid.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.normal_(m.weight, 0.0, 0.3)
    save_pretrained(pyramid, root / "singan")
    return root / "singan"


@pytest.fixture(scope="module")
def singan(tmp_path_factory):
    return _singan_folder(tmp_path_factory.mktemp("singan"))


def test_singan_pyramid_is_served_as_a_sampler(singan, tmp_path):
    """A real SinGAN pyramid gets a seeded Generate tab and an Animate tab (GIF) as is."""
    pool = ModelPool(parse_model_args([str(singan)]), max_frames=8)
    assert pool.names(None, "sampler") == ["singan"]
    assert pool.served("singan").info.animate
    a = np.asarray(pool.generate("singan", seed=1, count=2))
    assert a.shape == (16, 26, 3)
    assert np.array_equal(a, np.asarray(pool.generate("singan", seed=1, count=2)))
    gif = pool.animate("singan", seed=3, frames=5, out_dir=tmp_path / "gifs", fps=5)
    assert gif.parent == tmp_path / "gifs"
    with Image.open(gif) as im:
        assert (im.n_frames, im.size, im.info["duration"]) == (5, (10, 12), 200)
        im.seek(4)
        last = np.asarray(im.convert("RGB"))
    again = pool.animate("singan", seed=3, frames=5, out_dir=tmp_path / "gifs")
    other = pool.animate("singan", seed=4, frames=5, out_dir=tmp_path / "gifs")
    for path, same in [(again, True), (other, False)]:
        with Image.open(path) as im:
            im.seek(4)
            assert np.array_equal(np.asarray(im.convert("RGB")), last) == same
    assert pool.loads == 1
    for kwargs, message in [({"frames": 1}, "between 2 and 8"), ({"frames": 9}, "between 2")]:
        with pytest.raises(BadInputError, match=message):
            pool.animate("singan", seed=0, out_dir=tmp_path, **kwargs)


def test_only_animating_samplers_get_an_animate_tab(toys, singan):
    pool = ModelPool(parse_model_args([str(toys["serve_toy_latent"]), str(singan)]))
    assert not pool.served("serve_toy_latent").info.animate
    with pytest.raises(BadInputError, match="cannot animate"):
        pool.animate("serve_toy_latent", seed=0, frames=4, out_dir=Path("unused"))


def test_style_mixing_of_a_real_stylegan2(toys):
    """The tree's StyleGAN2 generator (plus ``z_dim``) is a latent model with truncation and
    style mixing; the mix differs from both parents and crossover is checked."""
    if "serve_toy_stylegan" not in toys:
        pytest.skip("no StyleGAN2 generator registered in this tree")
    pool = ModelPool(parse_model_args([str(toys["serve_toy_stylegan"])]))
    info = pool.served("serve_toy_stylegan").info
    assert (info.kind, info.z_dim, info.truncation) == ("latent", 16, True)
    assert info.mixing == 4
    grid = np.asarray(pool.mix("serve_toy_stylegan", 0, 1, 2, 0.7)).astype(int)
    assert grid.shape == (12, 32, 3)
    a, b, m = grid[2:10, 2:10], grid[2:10, 12:20], grid[2:10, 22:30]
    assert np.abs(a - b).max() > 0 and np.abs(m - a).max() > 0 and np.abs(m - b).max() > 0
    assert np.array_equal(grid, np.asarray(pool.mix("serve_toy_stylegan", 0, 1, 2, 0.7)))
    with pytest.raises(BadInputError, match="crossover must be between 1 and 3"):
        pool.mix("serve_toy_stylegan", 0, 1, 4)
    assert pool.generate("serve_toy_stylegan", 3, 2, 0.5).size == (22, 12)


def test_sizes_fit_the_network_by_padding(toys, tmp_path):
    """Large uploads shrink to ``max_side``; a network's size multiple is met by padding and
    cropping back (as on the command line), so the output has the input's size."""
    from PIL import Image as PILImage

    pool = ModelPool(parse_model_args([str(toys["serve_toy_i2i"])]), max_side=200)
    assert pool._fit(PILImage.new("RGB", (301, 203))).size == (200, 135)
    assert pool.image_to_image("serve_toy_i2i", PILImage.new("RGB", (33, 21))).size == (33, 21)
    import torch

    from gankit.core import registry
    from gankit.core.checkpoint import save_pretrained

    torch.manual_seed(0)
    save_pretrained(registry.build("pix2pix_unet_128", ngf=2), tmp_path / "unet")
    unet = ModelPool(parse_model_args([str(tmp_path / "unet")]))
    assert unet.served("unet").info.size_multiple == 128
    assert unet.image_to_image("unet", PILImage.new("RGB", (101, 61))).size == (101, 61)


def test_pool_refuses_bad_uploads(toys, tmp_path):
    pool = ModelPool(parse_model_args([str(toys["serve_toy_i2i"])]), max_upload_mb=0.001)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(BadInputError, match="not an accepted an image type"):
        pool.image_file("serve_toy_i2i", str(text))
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not a png")
    with pytest.raises(BadInputError, match="not a readable image"):
        pool.image_file("serve_toy_i2i", str(fake))
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(big)
    with pytest.raises(BadInputError, match="upload limit"):
        pool.image_file("serve_toy_i2i", str(big))
    with pytest.raises(BadInputError, match="upload an image first"):
        pool.image_file("serve_toy_i2i", None)
    with pytest.raises(BadInputError, match="no model named"):
        pool.generate("nope", 0)
    with pytest.raises(UsageError, match="two models are named"):
        parse_model_args([f"a={toys['serve_toy_i2i']}", f"a={toys['serve_toy_latent']}"])


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 4-frame 32x24 H.264 clip."""
    import av

    src = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(4):
            arr = np.full((24, 32, 3), 40 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return src


def test_video_is_stylised_frame_by_frame(toys, clip, tmp_path):
    import av

    src = clip
    pool = ModelPool(parse_model_args([str(toys["serve_toy_i2i"])]), max_frames=3)
    result = pool.video_file("serve_toy_i2i", str(src), tmp_path / "work")
    with av.open(str(result)) as clip:
        frames = [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (24, 32, 3)


def _clip_with_audio(path, audio_codec):
    """2 s of 16x16 video at 5 fps with a 440 Hz tone in ``audio_codec``."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=5)
        video.width, video.height, video.pix_fmt = 16, 16, "yuv420p"
        audio = out.add_stream(audio_codec, rate=16000)
        audio.layout = "mono"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 20 * i, np.uint8), "rgb24")
            for packet in video.encode(frame):
                out.mux(packet)
        fmt = "fltp" if audio_codec == "aac" else "s16"
        t = np.arange(32000) / 16000
        tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)[None]
        if fmt == "s16":
            tone = (tone * 20000).astype(np.int16)
        for start in range(0, 32000, 1024):
            chunk = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(tone[:, start : start + 1024]), format=fmt, layout="mono"
            )
            chunk.sample_rate, chunk.pts = 16000, start
            for packet in audio.encode(chunk):
                out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                out.mux(packet)
    return path


@pytest.mark.parametrize("container,codec", [("mp4", "aac"), ("mkv", "pcm_s16le")])
def test_video_keeps_the_audio_track(toys, tmp_path, container, codec):
    import av

    src = _clip_with_audio(tmp_path / f"clip.{container}", codec)
    pool = ModelPool(parse_model_args([str(toys["serve_toy_i2i"])]), max_frames=5)
    result = pool.video_file("serve_toy_i2i", str(src), tmp_path / "work")
    with av.open(str(result)) as clip:
        assert clip.streams.audio[0].codec_context.name == "aac"
        samples = sum(f.samples for f in clip.decode(audio=0))
    assert 0.8 * 16000 <= samples <= 1.3 * 16000  # 5 frames at 5 fps: about 1 s of sound


def test_cli_serve_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    assert cli_main(["serve"]) == 2  # no --models and nothing to find
    assert cli_main(["serve", "--models", str(tmp_path / "missing"), "--max-temp-mb", "1"]) == 2
    assert "--max-temp-mb must be at least --max-upload-mb" in capsys.readouterr().err
    assert cli_main(["serve", "--models", str(tmp_path / "missing")]) == 2
    assert "no such model folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def server(toys, singan):
    from gankit.serve.app import Server

    pool = ModelPool(parse_model_args([*(str(p) for p in toys.values()), str(singan)]))
    srv = Server(pool, port=None)
    url = srv.launch(block=False)
    yield srv, url.rstrip("/")
    srv.close()


def test_server_binds_localhost_and_serves_no_outside_files(server, tmp_path):
    srv, url = server
    assert url.startswith("http://127.0.0.1:")
    secret = Path.cwd() / "pyproject.toml"
    for target in ("/etc/passwd", str(secret)):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}/gradio_api/file={target}", timeout=10)
        assert err.value.code in (403, 404)
    assert srv.work.exists()


def test_browser_runs_every_tab(server, photo, clip, tmp_path):
    """Upload, run and see the result in the Image, Video, Generate, Mix and SinGAN's Animate
    tabs (Chromium).

    The Image tab's screenshot goes to docs/images/serve-app.png when GANKIT_UPDATE_SCREENSHOTS=1
    (else to the test's temporary folder, so that test runs leave the tree clean).
    """
    srv, url = server
    shots = DOCS_IMAGES if os.environ.get("GANKIT_UPDATE_SCREENSHOTS") == "1" else tmp_path
    with browser_page() as page:
        page.goto(url)
        page.get_by_role("tab", name="toy").click()
        page.locator("#toy-image-input input[type=file]").set_input_files(str(photo))
        page.locator("#toy-image-run").click()
        result = page.locator("#toy-image-output img")
        result.wait_for(state="visible")
        assert result.get_attribute("src")
        assert any((srv.work / "gradio").rglob("*.png")), "uploads/results outside our folder"
        assert not any((srv.work / "gradio").rglob(photo.name)), "the upload was kept"
        # The upload is gone, but the field holds the image as used: a second run needs no upload.
        runs = []
        image_file = srv.pool.image_file

        def counted(name, path):
            try:
                out = image_file(name, path)
            except Exception as err:
                runs.append(repr(err))
                raise
            runs.append("ok")
            return out

        srv.pool.image_file = counted
        try:
            page.locator("#toy-image-input img").wait_for(state="visible")
            page.locator("#toy-image-run").click()
            for _ in range(300):
                if runs:
                    break
                page.wait_for_timeout(100)
        finally:
            srv.pool.image_file = image_file
        assert runs == ["ok"], runs
        page.locator("#toy-image-compare img").first.wait_for(state="visible")
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "serve-app.png"), full_page=True)
        assert (shots / "serve-app.png").stat().st_size > 10_000
        page.get_by_role("tab", name="Video").click()
        page.locator("#toy-video-input input[type=file]").set_input_files(str(clip))
        page.locator("#toy-video-run").click()
        page.locator("#toy-video-output video").wait_for(state="visible")
        page.get_by_role("tab", name="Generate").click()
        page.locator("#toy-generate-run").click()
        page.locator("#toy-generate-output img").wait_for(state="visible")
        assert srv.pool.loads == 2
        if "serve_toy_stylegan" in srv.pool.models:
            page.get_by_role("tab", name="Mix").click()
            page.locator("#toy-mix-run").click()
            page.locator("#toy-mix-output img").wait_for(state="visible")
            assert srv.pool.loads == 3
        loads = srv.pool.loads
        page.get_by_role("tab", name="singan").click()
        page.get_by_role("tab", name="Animate").click()
        page.locator("#singan-animate-run").click()
        gif = page.locator("#singan-animate-output img")
        gif.wait_for(state="visible")
        assert gif.get_attribute("src").endswith(".gif")
        assert srv.pool.loads == loads + 1
