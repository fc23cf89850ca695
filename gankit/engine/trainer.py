"""The training loop every family shares.

Checkpoints every N steps, at the end and on SIGINT/SIGTERM; exact resume of models, optimisers,
schedulers, EMA, AMP scaler, every RNG and the data order; a NaN/inf guard; JSONL and TensorBoard
logs, a progress bar and sample grids; FID every ``fid_every`` steps (off by default);
multi-process training under ``torchrun``.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from gankit.core.checkpoint import check_model_output
from gankit.core.device import resolve_device
from gankit.core.errors import (
    BadInputError,
    CheckpointError,
    ConfigError,
    TrainingDivergedError,
)
from gankit.core.images import save_grid
from gankit.core.seed import cuda_devices, rng_state, seed_everything, set_rng_state
from gankit.engine.context import TrainContext
from gankit.engine.data import batches
from gankit.engine.logs import MetricsLogger, plot_losses, warn
from gankit.engine.recipe import Recipe
from gankit.engine.run_checkpoints import CheckpointManager
from gankit.engine.run_folder import MODEL_REMEDY, run_lock
from gankit.engine.speed import apply_speed_options

if TYPE_CHECKING:
    from gankit.metrics.monitor import FIDMonitor

DEFAULT_MAX_STEPS = 1000
DEFAULT_SAMPLE_EVERY = 500


@dataclass
class TrainerConfig:
    """Engine settings shared by every family (``--trainer.FIELD`` on the command line)."""

    # 0: the recipe's schedule, its epochs x steps per epoch (Pix2Pix's 100 + 100 epochs,
    # SinGAN's scales x iterations), or 1000 steps for a recipe that states no epochs. Any other
    # value is the run's last step, whatever the family.
    max_steps: int = 0
    max_minutes: float = 0.0
    checkpoint_every: int = 500
    # 0: once per epoch for a recipe that states epochs, else every 500 steps.
    sample_every: int = 0
    log_every: int = 10
    keep_checkpoints: int = 2
    precision: str = "fp32"
    grad_accum: int = 1
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    # Adam's fused kernel (CPU, CUDA) wherever a recipe builds Adam through ``ctx.adam``.
    fused_adam: bool = True
    # The recipe's networks in channels-last (engine/speed.py); unset: the recipe's measured
    # choice, ``Recipe.prefers_channels_last`` (on, but for Pix2Pix in fp32).
    channels_last: bool | None = None
    # The recipe's networks behind torch.compile (engine/speed.py).
    compile: bool = False
    progress: bool = True
    tensorboard: bool = True
    # FID of ``fid_samples`` generated images against ``fid_real`` every ``fid_every`` steps,
    # logged as ``fid`` (JSONL + TensorBoard); 0 turns it off. ``fid_real`` is a folder, glob or
    # ``.npz`` of ``mu``/``sigma``; ``fid_inception`` a local copy of the FID Inception weights.
    fid_every: int = 0
    fid_real: str = ""
    fid_samples: int = 1000
    fid_inception: str = ""

    def __post_init__(self) -> None:
        for name in ("checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_steps", "sample_every"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"trainer.{name} must be >= 1, or 0 for the recipe's schedule, got "
                    f"{getattr(self, name)}"
                )
        if self.fid_every < 0:
            raise ValueError(f"trainer.fid_every must be >= 0 (0 = off), got {self.fid_every}")
        if self.fid_every > 0:
            if not self.fid_real:
                raise ValueError(
                    "trainer.fid_every needs trainer.fid_real: a folder, glob or .npz of real "
                    "images to compare with"
                )
            if self.fid_samples < 2:
                raise ValueError(f"trainer.fid_samples must be >= 2, got {self.fid_samples}")


class _StopSignal:
    """Turns SIGINT/SIGTERM into a flag checked between steps (the step finishes, then saves)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopSignal:
        if _in_main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        del frame
        self.received = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _distributed_env() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


class Trainer:
    """Runs ``recipe`` in ``run_dir``, resuming from its newest valid checkpoint if there is one.

    ``fid_extractor`` (with an optional cache id ``fid_extractor_id``) replaces the FID Inception
    network of the ``fid_every`` hook: any callable mapping images in [-1, 1] to N x D features.
    """

    def __init__(
        self,
        recipe: Recipe,
        run_dir: str | Path,
        config: TrainerConfig | None = None,
        *,
        fid_extractor: Callable[[torch.Tensor], torch.Tensor] | None = None,
        fid_extractor_id: str | None = None,
    ) -> None:
        self.recipe = recipe
        self.run_dir = Path(run_dir)
        self.config = config or TrainerConfig()
        self.fid_extractor = fid_extractor
        self.fid_extractor_id = fid_extractor_id
        self.step = 0
        self.max_steps = self.config.max_steps
        self.sample_every = self.config.sample_every
        self.stopped_by: str | None = None

    def _init_distributed(self) -> tuple[torch.device, int, int]:
        rank, world, local_rank = _distributed_env()
        device = resolve_device(self.config.device)
        if world > 1:
            if device.type == "cuda":
                device = torch.device("cuda", local_rank)
                torch.cuda.set_device(device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return device, rank, world

    def run(self) -> Path:
        """Train to the run's last step (or ``max_minutes``, or a signal); returns ``run_dir``."""
        dataset, fid = self._start()
        with run_lock(self.run_dir):
            ckpts = self._resume()
            logger = None
            if self.recipe.ctx.is_main:
                logger = MetricsLogger(self.run_dir, self.step, self.config.tensorboard)
            try:
                last_saved = self._loop(dataset, fid, ckpts, logger)
                self._finish(ckpts, logger, last_saved)
            finally:
                if logger is not None:
                    logger.close()
                    try:
                        plot_losses(logger.jsonl, self.run_dir / "losses.png")
                    except OSError as err:
                        warn(f"could not write the loss plot: {err}")
            if self.recipe.ctx.world_size > 1 and dist.is_initialized():
                dist.barrier()
        return self.run_dir

    # Start: refuse bad options, set up the process group and seeds, measure an epoch, turn the
    # recipe's epochs into steps, build the recipe on its device and give every rank its weights.
    def _start(self) -> tuple[torch.utils.data.Dataset | None, FIDMonitor | None]:
        cfg = self.config
        if cfg.fid_every and type(self.recipe).generate is Recipe.generate:
            raise ConfigError(
                f"trainer.fid_every needs a recipe that can generate images, and "
                f"{type(self.recipe).__name__} has no generate(n); set trainer.fid_every 0"
            )
        check_model_output(self.run_dir / "model", remedy=MODEL_REMEDY)
        device, rank, world = self._init_distributed()
        seed_everything(cfg.seed + rank)
        dataset = self.recipe.dataset()
        size = None if dataset is None else len(dataset)
        spe = self.recipe.steps_per_epoch(size, world)
        if spe < 1:
            raise BadInputError(
                f"dataset has {size} item(s), fewer than one batch of "
                f"{self.recipe.batch_size} per process"
            )
        epochs = self.recipe.epochs()
        self.max_steps = cfg.max_steps or (epochs * spe if epochs else DEFAULT_MAX_STEPS)
        self.sample_every = cfg.sample_every or (spe if epochs else DEFAULT_SAMPLE_EVERY)
        ctx = TrainContext(
            device,
            cfg.precision,
            cfg.grad_accum,
            rank,
            world,
            spe,
            self.max_steps,
            fused_adam=cfg.fused_adam,
        )
        self.recipe.setup(ctx)
        apply_speed_options(self.recipe, cfg.channels_last, cfg.compile)
        for module in self.recipe.modules().values():
            ctx.broadcast_module(module)
        return dataset, self._fid_monitor(device) if cfg.fid_every else None

    # Resume: the newest valid checkpoint (corrupt ones skipped with a warning) restores the
    # recipe, the step and this rank's RNG; without one, training starts at step 0.
    def _resume(self) -> CheckpointManager:
        ckpts = CheckpointManager(self.run_dir, self.config.keep_checkpoints)
        resumed = ckpts.load_latest()
        rank = self.recipe.ctx.rank
        if ckpts.skipped and rank == 0:
            used = (
                f"resuming from {ckpts.path(resumed[0])}"
                if resumed is not None
                else "no valid checkpoint is left, so training starts from step 0"
            )
            n = len(ckpts.skipped)
            warn(
                f"skipped {n} corrupt checkpoint{'s' if n > 1 else ''} "
                f"({'; '.join(ckpts.skipped)}); {used}"
            )
        if resumed is not None:
            self.step, state = resumed
            _load_recipe_state(self.recipe, state["recipe"], ckpts.path(self.step))
            set_rng_state(state["rng"][min(rank, len(state["rng"]) - 1)])
        return ckpts

    # Loop: one batch, one recipe step, the NaN guard; then logs, FID, sample grids and
    # checkpoints at their cadences, until the last step, ``max_minutes`` or a signal.
    # Returns the step of the last checkpoint written (-1: none in this session).
    def _loop(
        self,
        dataset: torch.utils.data.Dataset | None,
        fid: FIDMonitor | None,
        ckpts: CheckpointManager,
        logger: MetricsLogger | None,
    ) -> int:
        cfg, ctx = self.config, self.recipe.ctx
        data = batches(
            dataset,
            self.recipe.batch_size,
            cfg.seed,
            self.step,
            ctx.rank,
            ctx.world_size,
            cfg.num_workers,
        )
        start_time = time.monotonic()
        last_saved = self.step if self.step > 0 else -1
        with (
            _StopSignal() as stop,
            _progress(ctx.is_main and cfg.progress, self.max_steps, self.step) as bar,
        ):
            while self.step < self.max_steps:
                batch = next(data)
                losses = self.recipe.train_step(_to_device(batch, ctx.device), self.step)
                self._guard(losses, ckpts)
                self.step += 1
                metrics = dict(losses)
                if fid is not None and self.step % cfg.fid_every == 0:
                    metrics["fid"] = self._fid(fid)
                if logger is not None and (
                    self.step % cfg.log_every == 0
                    or self.step == self.max_steps
                    or "fid" in metrics
                ):
                    logger.log(self.step, metrics)
                bar.update(self.step, losses)
                if ctx.is_main and self.step % self.sample_every == 0:
                    self._sample(logger)
                elapsed_min = (time.monotonic() - start_time) / 60
                if stop.received is not None or (
                    cfg.max_minutes and elapsed_min >= cfg.max_minutes
                ):
                    self.stopped_by = "signal" if stop.received is not None else "max_minutes"
                    break
                if self.step % cfg.checkpoint_every == 0:
                    self._save(ckpts)
                    last_saved = self.step
        return last_saved

    # Finish: a checkpoint of the last step (unless just written), the last sample grid and
    # the exported model folder.
    def _finish(
        self, ckpts: CheckpointManager, logger: MetricsLogger | None, last_saved: int
    ) -> None:
        if last_saved != self.step:
            self._save(ckpts)
        if self.recipe.ctx.is_main:
            if self.step % self.sample_every != 0:
                self._sample(logger)
            self._export()

    def _fid_monitor(self, device: torch.device) -> FIDMonitor:
        """The FID monitor, with the real statistics ready (a bad ``fid_real`` fails here).

        Every rank builds it: under DDP the real statistics are computed collectively (each
        rank reads a shard), and afterwards FID needs no communication.
        """
        from gankit.metrics.monitor import FIDMonitor

        cfg = self.config
        monitor = FIDMonitor(
            cfg.fid_real,
            every=cfg.fid_every,
            n=cfg.fid_samples,
            extractor=self.fid_extractor,
            extractor_id=self.fid_extractor_id,
            inception=cfg.fid_inception or None,
            device=device,
        )
        try:
            with torch.random.fork_rng(devices=cuda_devices()):
                monitor.real_statistics()
        except BadInputError as err:
            raise BadInputError(f"trainer.fid_real: {err}") from None
        return monitor

    def _fid(self, monitor: FIDMonitor) -> float:
        """FID of the recipe's ``generate`` now, inside a forked RNG (exact resume unaffected).

        Every rank computes it (same weights, same seed, so the same number) rather than rank 0
        alone, so no rank waits at the next gradient ``all_reduce`` past its timeout.
        """
        try:
            with torch.random.fork_rng(devices=cuda_devices()):
                return monitor.compute(self.recipe.generate)
        except NotImplementedError:
            raise ConfigError(
                f"trainer.fid_every needs a recipe that can generate images, and "
                f"{type(self.recipe).__name__}.generate is not implemented; set "
                "trainer.fid_every 0"
            ) from None

    def _guard(self, losses: dict[str, float], ckpts: CheckpointManager) -> None:
        for name, value in losses.items():
            if not math.isfinite(value):
                steps = ckpts.steps()
                where = (
                    f"the last good checkpoint is {ckpts.path(steps[-1])}"
                    if steps
                    else "no checkpoint was written yet"
                )
                raise TrainingDivergedError(
                    f"loss {name!r} became {value} at step {self.step + 1}; training stopped and "
                    f"{where} (lower the learning rate, or try fp32, and resume)"
                )

    def _save(self, ckpts: CheckpointManager) -> None:
        world = self.recipe.ctx.world_size
        states = [rng_state()]
        if world > 1:
            gathered: list[Any] = [None] * world
            dist.all_gather_object(gathered, states[0])
            states = gathered
        if self.recipe.ctx.is_main:
            state = {"step": self.step, "recipe": self.recipe.state_dict(), "rng": states}
            try:
                ckpts.save(self.step, state, self._export_model_or_none())
            except OSError as err:
                steps = ckpts.steps()
                kept = f"{ckpts.path(steps[-1])} is intact" if steps else "none was written yet"
                raise CheckpointError(
                    f"could not write the checkpoint of step {self.step} "
                    f"({err.strerror or err}); the last good checkpoint {kept}"
                ) from None
        if world > 1:
            dist.barrier()

    def _export_model_or_none(self) -> Any:
        try:
            return self.recipe.export_model()
        except NotImplementedError:
            return None

    def _sample(self, logger: MetricsLogger | None) -> None:
        with torch.random.fork_rng(devices=cuda_devices()):
            images = self.recipe.sample()
        if images is None:
            return
        path = self.run_dir / "samples" / f"step-{self.step:08d}.png"
        nrow = max(1, math.ceil(math.sqrt(images.shape[0])))
        save_grid(images, path, nrow=nrow)
        if logger is not None:
            from torchvision.utils import make_grid

            logger.image("samples", make_grid(images.detach().float().cpu(), nrow=nrow), self.step)

    def _export(self) -> None:
        from gankit.core.checkpoint import save_pretrained

        model = self._export_model_or_none()
        if model is not None:
            save_pretrained(model, self.run_dir / "model")


def _load_recipe_state(recipe: Recipe, state: dict[str, Any], folder: Path) -> None:
    """Resume ``recipe`` from ``state``; a model built with other sizes fails in one line.

    ``load_state_dict`` reports every mismatched tensor (a hundred lines for a changed width);
    the first says enough, and the remedy is the same for all.
    """
    try:
        recipe.load_state_dict(state)
    except (RuntimeError, ValueError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        if not lines or (
            isinstance(err, RuntimeError) and not lines[0].startswith("Error(s) in loading")
        ):
            raise
        details = lines[1:] or lines
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        raise CheckpointError(
            f"checkpoint {folder} does not fit the model this config builds: "
            f"{details[0].rstrip('.')}{more}; resume with the settings the run was trained "
            "with, or train into a new run folder"
        ) from None


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple | list):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


class _NoBar:
    def update(self, step: int, losses: dict[str, float]) -> None:
        del step, losses

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


class _RichBar(_NoBar):
    def __init__(self, total: int, start: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
        )
        self.task = self.progress.add_task(
            "train", total=total, completed=start, rate="", losses=""
        )
        self.start, self.t0 = start, time.monotonic()

    def __enter__(self) -> _RichBar:
        self.progress.start()
        return self

    def update(self, step: int, losses: dict[str, float]) -> None:
        rate = (step - self.start) / max(time.monotonic() - self.t0, 1e-9)
        text = " ".join(f"{k}={v:.3g}" for k, v in list(losses.items())[:4])
        self.progress.update(self.task, completed=step, rate=f"{rate:.2f} it/s", losses=text)

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()


def _progress(enabled: bool, total: int, start: int) -> _NoBar:
    return _RichBar(total, start) if enabled else _NoBar()
