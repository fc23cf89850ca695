import os
import pickle

import pytest
import torch

from gankit.core.errors import CheckpointError
from gankit.core.foreign import load_torch_file, strip_prefix, tensor_dict


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_payloads_never_run(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "raw.pt").write_bytes(pickle.dumps(Payload(marker), protocol=2))
    torch.save({"w": torch.zeros(1), "evil": Payload(marker)}, tmp_path / "zip.pt")
    for name in ("raw.pt", "zip.pt"):
        with pytest.raises(CheckpointError, match="safely") as err:
            load_torch_file(tmp_path / name)
        assert "\n" not in str(err.value) and "weights_only=False" not in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("data", [b"", b"garbage", b"PK\x03\x04" + b"\0" * 64])
def test_non_checkpoints_are_one_line_errors(tmp_path, data):
    (tmp_path / "x.pth").write_bytes(data)
    with pytest.raises(CheckpointError) as err:
        load_torch_file(tmp_path / "x.pth")
    assert "\n" not in str(err.value)


def test_plain_checkpoint_loads_and_helpers(tmp_path):
    torch.save({"module.a": torch.ones(2)}, tmp_path / "ok.pth")
    state = strip_prefix(load_torch_file(tmp_path / "ok.pth"))
    assert torch.equal(tensor_dict(state, "ok")["a"], torch.ones(2))
    with pytest.raises(CheckpointError, match="no such"):
        load_torch_file(tmp_path / "absent.pth")
    with pytest.raises(CheckpointError, match="named tensors"):
        tensor_dict({"a": 1}, "x")
