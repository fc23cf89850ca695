"""The Gradio web app behind ``gankit serve``: one tab per family that has a model.

Tabs are built per model *kind* (see :mod:`gankit.serve.protocol`), never per family: an
image-to-image family gets "Image" (upload, style choice, before/after) and "Video" tabs; a
latent generator or sampler family a "Generate" tab with seed, count and, when the model
takes it, a truncation slider, plus a "Mix" tab for generators that can mix styles and an
"Animate" tab (a GIF) for samplers that can animate. Requests go
through Gradio's queue with a concurrency limit; uploads land in this app's own temporary folder
(``GRADIO_TEMP_DIR``), the only place files are served from (Gradio docs, "File access": only
the cache and ``allowed_paths`` are served, and we allow none). Fonts are the browser's own, so
the page works offline.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gankit.core.errors import GankitError
from gankit.serve.runtime import VIDEO_EXTENSIONS, ModelPool

SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
MONO_FONTS = ["ui-monospace", "monospace"]
IMAGE_HEIGHT = 320


def _gr_error(err: GankitError) -> Exception:
    import gradio as gr

    return gr.Error(str(err), print_exception=False)


def _image_upload(**kwargs: Any) -> Any:
    """An image upload field whose value is the uploaded file's path, refused in one line when
    the file cannot be an image.

    Gradio opens every uploaded image with PIL before our handler runs, and a file that is not
    an image (an HTML or SVG page renamed ``.png``), a truncated one or a decompression bomb
    otherwise comes back as Gradio's multi-line "Could not preprocess input component ..."
    text, server paths included. ``image_mode=None`` keeps Gradio from decoding the pixels: it
    reads the header only, and the pool's own reader (size limit, EXIF, bombs) decodes the file.
    The field's ``preprocess`` is wrapped on the instance: a ``gr.Image`` subclass would make
    Gradio write a ``.pyi`` stub next to this module.
    """
    import gradio as gr
    from PIL import Image

    field = gr.Image(type="filepath", image_mode=None, **kwargs)
    gradio_preprocess = field.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return gradio_preprocess(payload)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            name = getattr(payload, "orig_name", None) or "the upload"
            why = ("too large (possible decompression bomb)"
                   if isinstance(err, Image.DecompressionBombError) else
                   "not a readable image file")
            raise gr.Error(f"{name}: {why}", print_exception=False) from None

    field.preprocess = preprocess
    return field


def _image_section(gr: Any, pool: ModelPool, family: str, names: list[str]) -> None:
    with gr.Tab("Image", elem_id=f"{family}-image-tab"):
        style = gr.Dropdown(names, value=names[0], label="Model / style",
                            elem_id=f"{family}-image-model")
        with gr.Row():
            inp = _image_upload(sources=["upload", "clipboard"], label="Input",
                                height=IMAGE_HEIGHT, elem_id=f"{family}-image-input")
            out = gr.Image(type="pil", label="Result", format="png", interactive=False,
                           height=IMAGE_HEIGHT, elem_id=f"{family}-image-output")
        compare = gr.ImageSlider(type="pil", label="Before / after", interactive=False,
                                 max_height=IMAGE_HEIGHT, elem_id=f"{family}-image-compare")
        run = gr.Button("Run", variant="primary", elem_id=f"{family}-image-run")

        def fn(name: str, path: str | None) -> tuple[Any, Any]:
            try:
                before, after = pool.image_file(name, path)
            except GankitError as err:
                raise _gr_error(err) from None
            return after, (before, after)

        run.click(fn, [style, inp], [out, compare], api_name=f"{family}_image")


def _video_section(gr: Any, pool: ModelPool, family: str, names: list[str],
                   work: Path) -> None:
    with gr.Tab("Video", elem_id=f"{family}-video-tab"):
        gr.Markdown(f"Every frame is processed (at most {pool.max_frames}); the sound is kept.")
        style = gr.Dropdown(names, value=names[0], label="Model / style",
                            elem_id=f"{family}-video-model")
        with gr.Row():
            inp = gr.Video(sources=["upload"], label="Input video",
                           elem_id=f"{family}-video-input")
            out = gr.Video(label="Result", interactive=False, elem_id=f"{family}-video-output")
        run = gr.Button("Run", variant="primary", elem_id=f"{family}-video-run")

        def fn(name: str, path: str | None) -> str:
            try:
                return str(pool.video_file(name, path, work))
            except GankitError as err:
                raise _gr_error(err) from None

        run.click(fn, [style, inp], [out], api_name=f"{family}_video")


def _latent_section(gr: Any, pool: ModelPool, family: str, names: list[str]) -> None:
    with gr.Tab("Generate", elem_id=f"{family}-generate-tab"):
        model = gr.Dropdown(names, value=names[0], label="Model",
                            elem_id=f"{family}-generate-model")
        with gr.Row():
            seed = gr.Number(0, precision=0, minimum=0, label="Seed",
                             elem_id=f"{family}-generate-seed")
            count = gr.Slider(1, 16, value=4, step=1, label="Images",
                              elem_id=f"{family}-generate-count")
            any_trunc = any(pool.served(n).info.truncation for n in names)
            trunc = gr.Slider(0.0, 1.0, value=0.7 if any_trunc else 1.0, step=0.05,
                              label="Truncation psi (models that support it)",
                              visible=any_trunc, elem_id=f"{family}-generate-truncation")
        out = gr.Image(type="pil", label="Samples", format="png", interactive=False,
                       height=IMAGE_HEIGHT, elem_id=f"{family}-generate-output")
        run = gr.Button("Generate", variant="primary", elem_id=f"{family}-generate-run")

        def fn(name: str, s: float | None, n: float, psi: float) -> Any:
            try:
                return pool.generate(name, int(s or 0), int(n), float(psi))
            except GankitError as err:
                raise _gr_error(err) from None

        run.click(fn, [model, seed, count, trunc], [out], api_name=f"{family}_generate")


def _mix_section(gr: Any, pool: ModelPool, family: str, names: list[str]) -> None:
    layers = max(pool.served(n).info.mixing for n in names)
    with gr.Tab("Mix", elem_id=f"{family}-mix-tab"):
        gr.Markdown("Style mixing: the first *crossover* style layers (coarse: pose, shape) "
                    "come from seed A, the rest (colours, texture) from seed B.")
        model = gr.Dropdown(names, value=names[0], label="Model", elem_id=f"{family}-mix-model")
        with gr.Row():
            seed_a = gr.Number(0, precision=0, minimum=0, label="Seed A",
                               elem_id=f"{family}-mix-seed-a")
            seed_b = gr.Number(1, precision=0, minimum=0, label="Seed B",
                               elem_id=f"{family}-mix-seed-b")
            cross = gr.Slider(1, layers - 1, value=max(1, min(4, layers - 1)), step=1,
                              label="Crossover layer", elem_id=f"{family}-mix-crossover")
            trunc = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="Truncation psi",
                              elem_id=f"{family}-mix-truncation")
        out = gr.Image(type="pil", label="A | B | mix", format="png", interactive=False,
                       height=IMAGE_HEIGHT, elem_id=f"{family}-mix-output")
        run = gr.Button("Mix", variant="primary", elem_id=f"{family}-mix-run")

        def fn(name: str, a: float | None, b: float | None, c: float, psi: float) -> Any:
            try:
                return pool.mix(name, int(a or 0), int(b or 0), int(c), float(psi))
            except GankitError as err:
                raise _gr_error(err) from None

        run.click(fn, [model, seed_a, seed_b, cross, trunc], [out], api_name=f"{family}_mix")


def _animate_section(gr: Any, pool: ModelPool, family: str, names: list[str],
                     work: Path) -> None:
    with gr.Tab("Animate", elem_id=f"{family}-animate-tab"):
        gr.Markdown("A seeded random walk in the model's noise space, shown as a looping GIF.")
        model = gr.Dropdown(names, value=names[0], label="Model",
                            elem_id=f"{family}-animate-model")
        with gr.Row():
            seed = gr.Number(0, precision=0, minimum=0, label="Seed",
                             elem_id=f"{family}-animate-seed")
            frames = gr.Slider(2, min(pool.max_frames, 120), value=min(24, pool.max_frames),
                               step=1, label="Frames", elem_id=f"{family}-animate-frames")
            fps = gr.Slider(1, 30, value=10, step=1, label="Frames per second",
                            elem_id=f"{family}-animate-fps")
        out = gr.Image(type="filepath", label="Animation", interactive=False,
                       height=IMAGE_HEIGHT, elem_id=f"{family}-animate-output")
        run = gr.Button("Animate", variant="primary", elem_id=f"{family}-animate-run")

        def fn(name: str, s: float | None, n: float, rate: float) -> str:
            try:
                return str(pool.animate(name, int(s or 0), int(n), work, float(rate)))
            except GankitError as err:
                raise _gr_error(err) from None

        run.click(fn, [model, seed, frames, fps], [out], api_name=f"{family}_animate")


def build_app(pool: ModelPool, work: Path, concurrency: int = 1, queue_size: int = 16) -> Any:
    """The ``gr.Blocks`` app for ``pool``'s models (not yet launched)."""
    import gradio as gr

    families = sorted({m.family for m in pool.models.values()})
    with gr.Blocks(title="gankit", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# gankit\nRun trained GANs. Models load on first use.")
        with gr.Tabs():
            for family in families:
                with gr.Tab(family, elem_id=f"tab-{family}"), gr.Tabs():
                    i2i = pool.names(family, "image2image")
                    latent = pool.names(family, "latent", "sampler")
                    if i2i:
                        _image_section(gr, pool, family, i2i)
                        _video_section(gr, pool, family, i2i, work / "videos")
                    if latent:
                        _latent_section(gr, pool, family, latent)
                    mixing = [n for n in latent if pool.served(n).info.mixing]
                    if mixing:
                        _mix_section(gr, pool, family, mixing)
                    animated = [n for n in latent if pool.served(n).info.animate]
                    if animated:
                        _animate_section(gr, pool, family, animated, work / "animations")
    demo.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    return demo


class Server:
    """A launched app and its temporary folder (removed by :meth:`close`)."""

    def __init__(self, pool: ModelPool, host: str = "127.0.0.1", port: int | None = 7860,
                 concurrency: int = 1, queue_size: int = 16):
        if not pool.models:
            from gankit.core.errors import UsageError

            raise UsageError("no models to serve; pass --models DIR [DIR ...]")
        self.work = Path(tempfile.mkdtemp(prefix="gankit-serve-"))
        self._previous_temp = os.environ.get("GRADIO_TEMP_DIR")
        os.environ["GRADIO_TEMP_DIR"] = str(self.work / "gradio")
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        self.pool = pool
        self.demo = build_app(pool, self.work, concurrency, queue_size)
        self.host, self.port = host, port

    def launch(self, block: bool = True) -> str:
        """Start serving; returns the local URL (at once when ``block`` is false)."""
        import gradio as gr

        theme = gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)
        _, url, _ = self.demo.launch(
            server_name=self.host, server_port=self.port, share=False, inbrowser=False,
            prevent_thread_lock=not block, quiet=not block, show_error=True, ssr_mode=False,
            max_file_size=self.pool.max_upload_bytes, allowed_paths=[], theme=theme,
            footer_links=[], mcp_server=False,
        )
        return url

    def close(self) -> None:
        try:
            self.demo.close()
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
            if self._previous_temp is None:
                os.environ.pop("GRADIO_TEMP_DIR", None)
            else:
                os.environ["GRADIO_TEMP_DIR"] = self._previous_temp


__all__ = ["Server", "build_app", "VIDEO_EXTENSIONS"]
