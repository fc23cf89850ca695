from __future__ import annotations

import pytest
import torch

from gankit.core import registry
from gankit.core.checkpoint import save_pretrained


@pytest.fixture(scope="session")
def v2_model_dir(tmp_path_factory):
    torch.manual_seed(0)
    return save_pretrained(
        registry.build("animegan_v2_generator"), tmp_path_factory.mktemp("models") / "v2"
    )
