import warnings

import pytest
import torch
import toy

from gankit.core.device import cpu_has_native_bf16
from gankit.core.errors import UsageError
from gankit.engine import ExponentialMovingAverage, TrainContext


def test_ema_update_is_the_documented_average():
    model = torch.nn.Linear(2, 2)
    ema = ExponentialMovingAverage(model, decay=0.9)
    before = ema.shadow.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    expected = 0.9 * before + 0.1 * model.weight.detach()
    assert torch.allclose(ema.shadow.weight, expected)
    assert not any(p.requires_grad for p in ema.shadow.parameters())
    state = ema.state_dict()
    other = ExponentialMovingAverage(torch.nn.Linear(2, 2), decay=0.5)
    other.load_state_dict(state)
    assert other.decay == 0.9 and torch.equal(other.shadow.weight, ema.shadow.weight)
    with pytest.raises(ValueError):
        ExponentialMovingAverage(model, decay=1.0)


def test_ema_foreach_update_equals_the_per_parameter_loop_exactly():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(6, 5)
    )
    ema = ExponentialMovingAverage(model, decay=0.999)
    loop = [p.detach().clone() for p in model.parameters()]
    for step in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model(torch.randn(2, 3, 8, 8))  # moves the batch-norm statistics
        decay = 0.9 if step == 1 else None
        ema.update(model, decay)
        for s, p in zip(loop, model.parameters(), strict=True):
            s.lerp_(p.detach(), 1.0 - (0.999 if decay is None else decay))
    assert all(torch.equal(a, b) for a, b in zip(ema.shadow.parameters(), loop, strict=True))
    assert all(
        torch.equal(a, b) for a, b in zip(ema.shadow.buffers(), model.buffers(), strict=True)
    )
    with pytest.raises(ValueError, match="parameters"):
        ema.update(torch.nn.Linear(2, 2))


def test_bf16_autocast_runs_and_warns_only_without_native_support(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ctx = TrainContext(torch.device("cpu"), precision="bf16")
    slow = [w for w in caught if "bf16" in str(w.message)]
    assert bool(slow) != cpu_has_native_bf16()
    with ctx.autocast():
        y = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert y.dtype == torch.bfloat16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = toy.run(tmp_path / "r", max_steps=4, precision="bf16")
    assert trainer.step == 4


def test_bad_precision_and_accumulation_are_usage_errors():
    with pytest.raises(UsageError, match="precision"):
        TrainContext(torch.device("cpu"), precision="int3")
    with pytest.raises(UsageError, match="grad_accum"):
        TrainContext(torch.device("cpu"), grad_accum=0)
    ctx = TrainContext(torch.device("cpu"), grad_accum=3)
    with pytest.raises(UsageError, match="divisible"):
        ctx._split(torch.zeros(4, 2))


def test_frozen_restores_requires_grad():
    ctx = TrainContext(torch.device("cpu"))
    m = torch.nn.Linear(2, 2)
    m.bias.requires_grad_(False)
    with ctx.frozen(m):
        assert not any(p.requires_grad for p in m.parameters())
    assert m.weight.requires_grad and not m.bias.requires_grad


def test_tensorboard_events_written(tmp_path):
    from gankit.engine import Trainer, TrainerConfig

    cfg = TrainerConfig(
        max_steps=3, log_every=1, sample_every=3, progress=True, tensorboard=True, device="cpu"
    )
    Trainer(toy.ToyRecipe(), tmp_path / "r", cfg).run()
    events = list((tmp_path / "r" / "logs" / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_adam_is_fused_on_cpu_matches_the_loop_and_keeps_its_kernel_on_resume():
    torch.manual_seed(0)
    nets = [torch.nn.Conv2d(3, 4, 3) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    fused = TrainContext(torch.device("cpu")).adam(nets[0].parameters(), lr=1e-2, betas=(0.5, 0.9))
    loop = TrainContext(torch.device("cpu"), fused_adam=False).adam(
        nets[1].parameters(), lr=1e-2, betas=(0.5, 0.9)
    )
    assert fused.param_groups[0]["fused"] and not loop.param_groups[0]["fused"]
    start = nets[0].weight.detach().clone()
    for _ in range(5):
        x = torch.randn(2, 3, 6, 6)
        for net, opt in zip(nets, (fused, loop), strict=True):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert (nets[0].weight - start).abs().max() > 1e-3
    fused.load_state_dict(loop.state_dict())
    assert fused.param_groups[0]["fused"] is True
    off = TrainContext(torch.device("cpu")).adam(nets[1].parameters(), fused=False, lr=1e-2)
    assert not off.param_groups[0]["fused"]


def test_fused_adam_resumed_into_a_channels_last_parameter_matches_the_loop():
    def resumed_step(fused: bool) -> torch.Tensor:
        torch.manual_seed(0)
        p = torch.nn.Parameter(
            torch.randn(4, 3, 3, 3).contiguous(memory_format=torch.channels_last)
        )
        ctx = TrainContext(torch.device("cpu"), fused_adam=fused)
        opt = ctx.adam([p], lr=0.1)
        p.grad = torch.randn_like(p)
        opt.step()
        state = opt.state_dict()
        for key in ("exp_avg", "exp_avg_sq"):  # as a checkpoint stores them
            state["state"][0][key] = state["state"][0][key].contiguous()
        opt.load_state_dict(state)
        p.grad = (
            torch.arange(p.numel(), dtype=torch.float32)
            .view(4, 3, 3, 3)
            .contiguous(memory_format=torch.channels_last)
        )
        opt.step()
        return p.detach()

    torch.testing.assert_close(resumed_step(True), resumed_step(False), rtol=1e-6, atol=1e-6)
