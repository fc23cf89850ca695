"""What a recipe sees of the engine: device, precision, accumulation and distributed helpers."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from gankit.core.device import cpu_has_native_bf16, precision_dtype
from gankit.core.errors import UsageError


class TrainContext:
    """Mixed precision, gradient accumulation and gradient averaging across DDP ranks.

    Gradients are averaged with ``all_reduce`` after backward, as NVlabs' StyleGAN2-ADA training
    loop does, rather than through ``DistributedDataParallel`` wrappers: GAN steps backpropagate
    through a frozen network (D during G's step), which DDP's reducer does not allow.
    """

    def __init__(
        self,
        device: torch.device,
        precision: str = "fp32",
        grad_accum: int = 1,
        rank: int = 0,
        world_size: int = 1,
        steps_per_epoch: int = 1,
        max_steps: int = 1000,
        fused_adam: bool = True,
    ) -> None:
        if grad_accum < 1:
            raise UsageError(f"grad_accum must be >= 1, got {grad_accum}")
        self.device = device
        self.precision = precision
        self.dtype = precision_dtype(precision)
        self.grad_accum = grad_accum
        self.rank = rank
        self.world_size = world_size
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.max_steps = max_steps
        self.fused_adam = fused_adam
        if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
            warnings.warn(
                "this CPU has no native bf16 (AVX-512 BF16 / AMX); bf16 will be slow", stacklevel=2
            )
        enabled = precision == "fp16" and device.type in ("cuda", "mps")
        self.scaler = torch.amp.GradScaler(device.type, enabled=enabled)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def epoch(self, step: int) -> int:
        return step // self.steps_per_epoch

    def optimize(
        self,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[Any], torch.Tensor],
        batch: Any = None,
        shared_graph: bool = False,
    ) -> float:
        """One optimiser step on ``loss_fn(batch)``, accumulated over ``grad_accum`` micro-batches.

        The batch (a tensor or a tuple/list/dict of tensors sharing dim 0) is split into equal
        chunks; each chunk's loss is scaled by 1/k, so the step equals one on the whole batch.
        ``shared_graph``: the batch was computed with gradients in one pass (e.g. G's fakes,
        reused from D's step), so its graph is kept until the last chunk's backward.
        """
        chunks = self._split(batch)
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for i, chunk in enumerate(chunks):
            with self.autocast():
                loss = loss_fn(chunk)
            keep = shared_graph and i < len(chunks) - 1
            self.scaler.scale(loss / len(chunks)).backward(retain_graph=keep)
            total += float(loss.detach())
        self.all_reduce_grads(optimizer)
        self.scaler.step(optimizer)
        self.scaler.update()
        return total / len(chunks)

    def adam(self, params: Any, fused: bool = True, **kwargs: Any) -> torch.optim.Adam:
        """``torch.optim.Adam(params, **kwargs)``, fused where torch has the kernel (CPU, CUDA).

        The fused step reads and writes each tensor once instead of once per arithmetic
        operation: on this project's CPU 2.5x faster for Pix2Pix's 57M parameters
        (``benchmarks/engine_levers.py``), equal to the per-parameter loop to float rounding.
        Off with ``fused=False`` or the engine's ``--trainer.fused_adam false``; the choice
        survives loading an optimiser state saved with another one. A loaded state takes its
        parameter's memory layout (a checkpoint stores tensors contiguous): torch 2.14's fused
        CPU kernel pairs elements by memory order, so NCHW moments against a channels-last
        parameter would update the wrong weights.
        """
        use = fused and self.fused_adam and self.device.type in ("cpu", "cuda")
        optimizer = torch.optim.Adam(params, fused=True if use else None, **kwargs)

        def keep_kernel(opt: torch.optim.Optimizer) -> None:
            for group in opt.param_groups:
                group["fused"] = True if use else None
                group["foreach"] = None
                for p in group["params"]:
                    state = opt.state.get(p, {})
                    for key, value in state.items():
                        if torch.is_tensor(value) and value.shape == p.shape:
                            state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)

        optimizer.register_load_state_dict_post_hook(keep_kernel)
        return optimizer

    def _split(self, batch: Any) -> list[Any]:
        k = self.grad_accum
        if k == 1 or batch is None:
            return [batch]
        if isinstance(batch, torch.Tensor):
            if batch.shape[0] % k:
                raise UsageError(f"batch size {batch.shape[0]} is not divisible by grad_accum {k}")
            return list(batch.chunk(k))
        if isinstance(batch, tuple | list):
            parts = [self._split(b) for b in batch]
            return [type(batch)(p[i] for p in parts) for i in range(k)]
        if isinstance(batch, dict):
            parts = {key: self._split(v) for key, v in batch.items()}
            return [{key: v[i] for key, v in parts.items()} for i in range(k)]
        raise UsageError(f"cannot split a batch of type {type(batch).__name__} for accumulation")

    def all_reduce_grads(self, optimizer: torch.optim.Optimizer) -> None:
        if self.world_size == 1:
            return
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def broadcast_module(self, module: nn.Module) -> None:
        """Make every rank hold rank 0's parameters and buffers."""
        if self.world_size == 1:
            return
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)

    @contextlib.contextmanager
    def frozen(self, *modules: nn.Module) -> Iterator[None]:
        """Temporarily stop gradients into ``modules`` (e.g. D during the generator's step)."""
        flags = [[p.requires_grad for p in m.parameters()] for m in modules]
        for m in modules:
            m.requires_grad_(False)
        try:
            yield
        finally:
            for m, fl in zip(modules, flags, strict=True):
                for p, f in zip(m.parameters(), fl, strict=True):
                    p.requires_grad_(f)
