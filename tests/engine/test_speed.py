import copy

import pytest
import torch
from torch import nn

from gankit.core.errors import UsageError
from gankit.engine import Recipe, TrainContext, TrainerConfig
from gankit.engine.speed import apply_speed_options, to_channels_last


class _ConvRecipe(Recipe):
    stateful = ("net", "opt")

    def setup(self, ctx: TrainContext) -> None:
        super().setup(ctx)
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 3)
        )
        self.opt = ctx.adam(self.net.parameters(), lr=1e-2)

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        return {"loss": self.ctx.optimize(self.opt, lambda x: self.net(x).square().mean(), batch)}


def _two_recipes() -> tuple[_ConvRecipe, _ConvRecipe]:
    recipes = (_ConvRecipe(), _ConvRecipe())
    for r in recipes:
        r.setup(TrainContext(torch.device("cpu")))
    return recipes


def _steps(recipe: _ConvRecipe, n: int) -> list[float]:
    g = torch.Generator().manual_seed(1)
    return [recipe.train_step(torch.randn(2, 3, 10, 10, generator=g), i)["loss"] for i in range(n)]


def test_channels_last_puts_conv_weights_in_nhwc_and_trains_the_same():
    eager, fast = _two_recipes()
    apply_speed_options(fast, channels_last=True, compile=False)
    weight = fast.net[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    torch.testing.assert_close(_steps(fast, 3), _steps(eager, 3), rtol=1e-5, atol=1e-6)
    for a, b in zip(fast.net.parameters(), eager.net.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_channels_last_unset_asks_the_recipe():
    assert TrainerConfig().channels_last is None
    for precision, nhwc in (("fp32", False), ("bf16", True)):
        recipe = _ConvRecipe()
        recipe.prefers_channels_last = lambda p: p != "fp32"
        recipe.setup(TrainContext(torch.device("cpu"), precision))
        apply_speed_options(recipe, None, compile=False)
        weight = recipe.net[0].weight
        assert weight.is_contiguous(memory_format=torch.channels_last) is nhwc
    recipe = _ConvRecipe()
    recipe.setup(TrainContext(torch.device("cpu")))
    apply_speed_options(recipe, None, compile=False)
    assert recipe.net[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_channels_last_leaves_other_ranks_as_they_are():
    net = nn.Module()
    net.weight = nn.Parameter(torch.randn(1, 4, 3, 3, 3))  # StyleGAN's modulated conv weight
    net.conv = nn.Conv2d(3, 4, 3)
    net.register_buffer("kernel", torch.ones(4, 4))
    before = net.weight.detach().clone()
    to_channels_last(net)
    assert net.weight.is_contiguous() and torch.equal(net.weight, before)
    assert net.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not net.conv.weight.is_contiguous() and net.kernel.is_contiguous()


def test_compile_is_refused_for_a_step_that_differentiates_twice():
    recipe = _ConvRecipe()
    recipe.differentiates_twice = lambda: True
    recipe.setup(TrainContext(torch.device("cpu")))
    with pytest.raises(UsageError, match="twice"):
        apply_speed_options(recipe, None, compile=True)
    assert recipe.net._compiled_call_impl is None
    apply_speed_options(recipe, None, compile=False)  # the rest still applies


@pytest.mark.slow
def test_compile_runs_the_step_compiled_and_matches_eager():
    eager, fast = _two_recipes()
    keys = list(copy.deepcopy(fast.net).state_dict())
    apply_speed_options(fast, channels_last=False, compile=True)
    assert fast.net._compiled_call_impl is not None
    torch.testing.assert_close(_steps(fast, 2), _steps(eager, 2), rtol=1e-5, atol=1e-6)
    for a, b in zip(fast.net.parameters(), eager.net.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert list(fast.net.state_dict()) == keys
