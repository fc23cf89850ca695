"""The Gradio web app behind ``gankit serve``: one tab per family that has a model.

Tabs are built per model *kind* (see :mod:`gankit.runtime.protocol`), never per family: an
image-to-image family gets "Image" (upload, style choice, before/after) and "Video" tabs; a
latent generator or sampler family a "Generate" tab with seed, count and, when the model
takes it, a truncation slider, plus a "Mix" tab for generators that can mix styles and an
"Animate" tab (a GIF) for samplers that can animate. Requests go
through Gradio's queue with a concurrency limit; uploads land in this app's own temporary folder
(``GRADIO_TEMP_DIR``), the only place files are served from (Gradio docs, "File access": only
the cache and ``allowed_paths`` are served, and we allow none). That folder is bounded: an upload
is deleted once the requests it was uploaded for have used it, and uploads that would take the
folder past its cap are refused (:class:`TempFolder`). Fonts are the browser's own, so the page
works offline.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gankit.core.errors import GankitError
from gankit.serve.pool import GONE, VIDEO_EXTENSIONS, ModelPool

SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
MONO_FONTS = ["ui-monospace", "monospace"]
IMAGE_HEIGHT = 320
UPLOAD_ROUTE = "/gradio_api/upload"
RESULTS_KEPT_S = 3600
"""Results (and uploads no request used) are deleted this long after they were written, checked
every ``RESULTS_SWEEP_S`` (Gradio's ``delete_cache``)."""
RESULTS_SWEEP_S = 600


class TempFolder:
    """The server's temporary folder: Gradio's uploads and results, and this app's own outputs.

    Gradio keeps every upload until the server stops (or ``delete_cache`` ages it out), so 120
    concurrent 19 MB uploads held 2.2 GB. Here each upload is counted as it is answered (Gradio
    names an upload by its content's hash, so the same photo uploaded twice is one file counted
    twice) and deleted when as many requests have used it; an upload that would take the folder
    past ``max_bytes`` is refused with HTTP 507 before a byte is written.
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.gradio = root / "gradio"
        self.max_bytes = max_bytes
        self._uses: dict[str, int] = {}
        self._reserved = 0
        self._lock = threading.Lock()

    def size(self) -> int:
        """Bytes held under the folder now."""
        total = 0
        for folder, _, files in os.walk(self.root):
            for name in files:
                try:
                    total += os.lstat(os.path.join(folder, name)).st_size
                except FileNotFoundError:
                    pass
        return total

    def admit(self, size: int) -> str | None:
        """Reserve room for an upload of ``size`` bytes, or say why there is none."""
        with self._lock:
            used = self.size() + self._reserved
            if used + size > self.max_bytes:
                return (
                    f"the server's upload folder is full ({used / 2**20:.1f} of "
                    f"{self.max_bytes / 2**20:.1f} MB in use, this upload is "
                    f"{size / 2**20:.1f} MB); try again when running requests have finished"
                )
            self._reserved += size
            return None

    def release(self, size: int) -> None:
        with self._lock:
            self._reserved -= size

    def uploaded(self, paths: list[str]) -> None:
        """Count one use to come for each uploaded file."""
        with self._lock:
            for path in paths:
                key = os.path.realpath(path)
                self._uses[key] = self._uses.get(key, 0) + 1

    def used(self, path: str | None) -> None:
        """A request has used ``path``: delete it when it was an upload and no use is left."""
        if not path:
            return
        key = os.path.realpath(path)
        with self._lock:
            left = self._uses.get(key, 0) - 1
            if left < 0:
                return
            if left:
                self._uses[key] = left
                return
            del self._uses[key]
            Path(key).unlink(missing_ok=True)
            parent = Path(key).parent
            if parent != self.gradio and parent.is_relative_to(self.gradio):
                try:
                    parent.rmdir()
                except OSError:
                    pass

    def middleware(self) -> Any:
        """Gradio's upload route, wrapped: refuse past the cap, count what was stored."""
        from starlette.middleware import Middleware

        return Middleware(_UploadGate, folder=self)


class _UploadGate:
    """ASGI middleware in front of Gradio's ``/gradio_api/upload`` (see :class:`TempFolder`)."""

    def __init__(self, app: Callable[..., Awaitable[None]], folder: TempFolder) -> None:
        self.app = app
        self.folder = folder

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].endswith(UPLOAD_ROUTE)
        ):
            await self.app(scope, receive, send)
            return
        from starlette.datastructures import Headers
        from starlette.responses import PlainTextResponse

        length = Headers(scope=scope).get("content-length", "")
        if not length.isdigit():
            await PlainTextResponse(
                "an upload must state its size (Content-Length)", status_code=411
            )(scope, receive, send)
            return
        size = int(length)
        refusal = self.folder.admit(size)
        if refusal is not None:
            await PlainTextResponse(refusal, status_code=507)(scope, receive, send)
            return
        status, body = 0, bytearray()

        async def counted(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200:
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    try:
                        paths = json.loads(bytes(body))
                    except ValueError:
                        paths = []
                    self.folder.uploaded([p for p in paths if isinstance(p, str)])
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            self.folder.release(size)


def _gr_error(err: GankitError) -> Exception:
    import gradio as gr

    return gr.Error(str(err), print_exception=False)


def _image_upload(temp: TempFolder, **kwargs: Any) -> Any:
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
            path = getattr(payload, "path", None)
            name = getattr(payload, "orig_name", None) or "the upload"
            if path and not os.path.exists(path):
                raise gr.Error(f"{name}: {GONE}", print_exception=False) from None
            temp.used(path)
            why = (
                "too large (possible decompression bomb)"
                if isinstance(err, Image.DecompressionBombError)
                else "not a readable image file"
            )
            raise gr.Error(f"{name}: {why}", print_exception=False) from None

    field.preprocess = preprocess
    return field


def _image_section(
    gr: Any, pool: ModelPool, family: str, names: list[str], temp: TempFolder
) -> None:
    with gr.Tab("Image", elem_id=f"{family}-image-tab"):
        style = gr.Dropdown(
            names, value=names[0], label="Model / style", elem_id=f"{family}-image-model"
        )
        with gr.Row():
            inp = _image_upload(
                temp,
                sources=["upload", "clipboard"],
                label="Input",
                format="png",
                height=IMAGE_HEIGHT,
                elem_id=f"{family}-image-input",
            )
            out = gr.Image(
                type="pil",
                label="Result",
                format="png",
                interactive=False,
                height=IMAGE_HEIGHT,
                elem_id=f"{family}-image-output",
            )
        compare = gr.ImageSlider(
            type="pil",
            label="Before / after",
            interactive=False,
            max_height=IMAGE_HEIGHT,
            elem_id=f"{family}-image-compare",
        )
        run = gr.Button("Run", variant="primary", elem_id=f"{family}-image-run")

        def fn(name: str, path: str | None) -> tuple[Any, Any, Any]:
            try:
                before, after = pool.image_file(name, path)
            except GankitError as err:
                raise _gr_error(err) from None
            finally:
                temp.used(path)
            # The upload is gone: the input field gets the image as used, so that another
            # style can be run on it without uploading again.
            return after, (before, after), before

        run.click(fn, [style, inp], [out, compare, inp], api_name=f"{family}_image")


def _video_section(
    gr: Any, pool: ModelPool, family: str, names: list[str], work: Path, temp: TempFolder
) -> None:
    with gr.Tab("Video", elem_id=f"{family}-video-tab"):
        gr.Markdown(f"Every frame is processed (at most {pool.max_frames}); the sound is kept.")
        style = gr.Dropdown(
            names, value=names[0], label="Model / style", elem_id=f"{family}-video-model"
        )
        with gr.Row():
            inp = gr.Video(sources=["upload"], label="Input video", elem_id=f"{family}-video-input")
            out = gr.Video(label="Result", interactive=False, elem_id=f"{family}-video-output")
        run = gr.Button("Run", variant="primary", elem_id=f"{family}-video-run")

        def fn(name: str, path: str | None) -> str:
            try:
                return str(pool.video_file(name, path, work))
            except GankitError as err:
                raise _gr_error(err) from None
            finally:
                temp.used(path)

        run.click(fn, [style, inp], [out], api_name=f"{family}_video")


def _latent_section(gr: Any, pool: ModelPool, family: str, names: list[str]) -> None:
    with gr.Tab("Generate", elem_id=f"{family}-generate-tab"):
        model = gr.Dropdown(
            names, value=names[0], label="Model", elem_id=f"{family}-generate-model"
        )
        with gr.Row():
            seed = gr.Number(
                0, precision=0, minimum=0, label="Seed", elem_id=f"{family}-generate-seed"
            )
            count = gr.Slider(
                1, 16, value=4, step=1, label="Images", elem_id=f"{family}-generate-count"
            )
            any_trunc = any(pool.served(n).info.truncation for n in names)
            trunc = gr.Slider(
                0.0,
                1.0,
                value=0.7 if any_trunc else 1.0,
                step=0.05,
                label="Truncation psi (models that support it)",
                visible=any_trunc,
                elem_id=f"{family}-generate-truncation",
            )
        out = gr.Image(
            type="pil",
            label="Samples",
            format="png",
            interactive=False,
            height=IMAGE_HEIGHT,
            elem_id=f"{family}-generate-output",
        )
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
        gr.Markdown(
            "Style mixing: the first *crossover* style layers (coarse: pose, shape) "
            "come from seed A, the rest (colours, texture) from seed B."
        )
        model = gr.Dropdown(names, value=names[0], label="Model", elem_id=f"{family}-mix-model")
        with gr.Row():
            seed_a = gr.Number(
                0, precision=0, minimum=0, label="Seed A", elem_id=f"{family}-mix-seed-a"
            )
            seed_b = gr.Number(
                1, precision=0, minimum=0, label="Seed B", elem_id=f"{family}-mix-seed-b"
            )
            cross = gr.Slider(
                1,
                layers - 1,
                value=max(1, min(4, layers - 1)),
                step=1,
                label="Crossover layer",
                elem_id=f"{family}-mix-crossover",
            )
            trunc = gr.Slider(
                0.0,
                1.0,
                value=0.7,
                step=0.05,
                label="Truncation psi",
                elem_id=f"{family}-mix-truncation",
            )
        out = gr.Image(
            type="pil",
            label="A | B | mix",
            format="png",
            interactive=False,
            height=IMAGE_HEIGHT,
            elem_id=f"{family}-mix-output",
        )
        run = gr.Button("Mix", variant="primary", elem_id=f"{family}-mix-run")

        def fn(name: str, a: float | None, b: float | None, c: float, psi: float) -> Any:
            try:
                return pool.mix(name, int(a or 0), int(b or 0), int(c), float(psi))
            except GankitError as err:
                raise _gr_error(err) from None

        run.click(fn, [model, seed_a, seed_b, cross, trunc], [out], api_name=f"{family}_mix")


def _animate_section(gr: Any, pool: ModelPool, family: str, names: list[str], work: Path) -> None:
    with gr.Tab("Animate", elem_id=f"{family}-animate-tab"):
        gr.Markdown("A seeded random walk in the model's noise space, shown as a looping GIF.")
        model = gr.Dropdown(names, value=names[0], label="Model", elem_id=f"{family}-animate-model")
        with gr.Row():
            seed = gr.Number(
                0, precision=0, minimum=0, label="Seed", elem_id=f"{family}-animate-seed"
            )
            frames = gr.Slider(
                2,
                min(pool.max_frames, 120),
                value=min(24, pool.max_frames),
                step=1,
                label="Frames",
                elem_id=f"{family}-animate-frames",
            )
            fps = gr.Slider(
                1, 30, value=10, step=1, label="Frames per second", elem_id=f"{family}-animate-fps"
            )
        out = gr.Image(
            type="filepath",
            label="Animation",
            interactive=False,
            height=IMAGE_HEIGHT,
            elem_id=f"{family}-animate-output",
        )
        run = gr.Button("Animate", variant="primary", elem_id=f"{family}-animate-run")

        def fn(name: str, s: float | None, n: float, rate: float) -> str:
            try:
                return str(pool.animate(name, int(s or 0), int(n), work, float(rate)))
            except GankitError as err:
                raise _gr_error(err) from None

        run.click(fn, [model, seed, frames, fps], [out], api_name=f"{family}_animate")


def build_app(pool: ModelPool, temp: TempFolder, concurrency: int = 1, queue_size: int = 16) -> Any:
    """The ``gr.Blocks`` app for ``pool``'s models (not yet launched).

    Videos and animations are written inside Gradio's folder, so that Gradio serves them without
    a copy and ages them out like its own results."""
    import gradio as gr

    families = sorted({m.family for m in pool.models.values()})
    work = temp.gradio
    with gr.Blocks(
        title="gankit", analytics_enabled=False, delete_cache=(RESULTS_SWEEP_S, RESULTS_KEPT_S)
    ) as demo:
        gr.Markdown("# gankit\nRun trained GANs. Models load on first use.")
        with gr.Tabs():
            for family in families:
                with gr.Tab(family, elem_id=f"tab-{family}"), gr.Tabs():
                    i2i = pool.names(family, "image2image")
                    latent = pool.names(family, "latent", "sampler")
                    if i2i:
                        _image_section(gr, pool, family, i2i, temp)
                        _video_section(gr, pool, family, i2i, work / "videos", temp)
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
    """A launched app and its temporary folder (removed by :meth:`close`).

    The folder is made inside ``GRADIO_TEMP_DIR`` when that is set (else the system's temporary
    folder) and holds at most ``max_temp_mb``."""

    def __init__(
        self,
        pool: ModelPool,
        host: str = "127.0.0.1",
        port: int | None = 7860,
        concurrency: int = 1,
        queue_size: int = 16,
        max_temp_mb: float = 1024.0,
    ):
        if not pool.models:
            from gankit.core.errors import UsageError

            raise UsageError("no models to serve; pass --models DIR [DIR ...]")
        self._previous_temp = os.environ.get("GRADIO_TEMP_DIR")
        if self._previous_temp:
            Path(self._previous_temp).mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix="gankit-serve-", dir=self._previous_temp))
        self.temp = TempFolder(self.work, int(max_temp_mb * 2**20))
        os.environ["GRADIO_TEMP_DIR"] = str(self.temp.gradio)
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        self.pool = pool
        self.demo = build_app(pool, self.temp, concurrency, queue_size)
        self.host, self.port = host, port

    def launch(self, block: bool = True) -> str:
        """Start serving; returns the local URL (at once when ``block`` is false)."""
        import gradio as gr

        theme = gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)
        _, url, _ = self.demo.launch(
            server_name=self.host,
            server_port=self.port,
            share=False,
            inbrowser=False,
            prevent_thread_lock=not block,
            quiet=not block,
            show_error=True,
            ssr_mode=False,
            max_file_size=self.pool.max_upload_bytes,
            allowed_paths=[],
            theme=theme,
            footer_links=[],
            mcp_server=False,
            app_kwargs={"middleware": [self.temp.middleware()]},
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


__all__ = ["Server", "TempFolder", "build_app", "VIDEO_EXTENSIONS"]
