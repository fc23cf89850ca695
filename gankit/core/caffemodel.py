"""Reading the weights of a Caffe ``.caffemodel`` without Caffe.

A ``.caffemodel`` is a serialized ``caffe.NetParameter`` protocol buffer. Only the few fields
that carry weights are declared here, with the numbers of BVLC/caffe
``src/caffe/proto/caffe.proto``: ``NetParameter.layer = 100`` (and the deprecated
``layers = 2`` of ``V1LayerParameter``), ``LayerParameter.name = 1, type = 2, blobs = 7``
(``V1LayerParameter.name = 4, blobs = 6``), ``BlobProto.shape = 7, data = 5 [packed],
double_data = 8 [packed]`` with the legacy ``num, channels, height, width = 1..4``, and
``BlobShape.dim = 1 [packed]``. The message classes are built at run time from a
``FileDescriptorProto`` (no generated code); every other field of the file is skipped by the
parser as unknown. Nothing in the file is executed: protobuf is data only.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from gankit.core.errors import CheckpointError

_FIELDS: dict[str, list[tuple[str, int, str, str]]] = {
    # message: (field, number, type, label); type is a scalar name or a message name
    "BlobShape": [("dim", 1, "int64", "repeated")],
    "BlobProto": [
        ("num", 1, "int32", "optional"),
        ("channels", 2, "int32", "optional"),
        ("height", 3, "int32", "optional"),
        ("width", 4, "int32", "optional"),
        ("data", 5, "float", "repeated"),
        ("shape", 7, "BlobShape", "optional"),
        ("double_data", 8, "double", "repeated"),
    ],
    "LayerParameter": [
        ("name", 1, "string", "optional"),
        ("type", 2, "string", "optional"),
        ("blobs", 7, "BlobProto", "repeated"),
    ],
    "V1LayerParameter": [
        ("name", 4, "string", "optional"),
        ("blobs", 6, "BlobProto", "repeated"),
    ],
    "NetParameter": [
        ("name", 1, "string", "optional"),
        ("layers", 2, "V1LayerParameter", "repeated"),
        ("layer", 100, "LayerParameter", "repeated"),
    ],
}


@cache
def _net_parameter() -> Any:
    """The ``caffe.NetParameter`` subset as a message class, built from a descriptor."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="gankit_caffe_subset.proto", package="caffe", syntax="proto2"
    )
    for message, fields in _FIELDS.items():
        m = proto.message_type.add(name=message)
        for name, number, kind, label in fields:
            f = m.field.add(
                name=name, number=number, label=getattr(field, f"LABEL_{label.upper()}")
            )
            if kind in _FIELDS:
                f.type, f.type_name = field.TYPE_MESSAGE, f".caffe.{kind}"
            else:
                f.type = getattr(field, f"TYPE_{kind.upper()}")
                if label == "repeated":
                    f.options.packed = True
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("caffe.NetParameter"))


def _blob_array(blob: Any) -> np.ndarray:
    """A blob's values in its shape (``shape.dim``, else the legacy 4-D fields)."""
    values = np.array(blob.data if len(blob.data) else blob.double_data, dtype=np.float32)
    if blob.HasField("shape"):
        shape = tuple(int(d) for d in blob.shape.dim)
    else:
        shape = (blob.num, blob.channels, blob.height, blob.width)
    if int(np.prod(shape)) != values.size:
        raise ValueError(f"a blob of shape {shape} holds {values.size} values")
    return values.reshape(shape)


def read_caffemodel(path: str | os.PathLike[str]) -> dict[str, list[np.ndarray]]:
    """``{layer name: [blob arrays]}`` of the layers of ``path`` that carry weights, in order.

    A file that is not a ``NetParameter`` with weights is refused with one line.
    """
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such Caffe model file")
    net = _net_parameter()()
    try:
        net.ParseFromString(path.read_bytes())
        layers = list(net.layer) + list(net.layers)
        weights = {layer.name: [_blob_array(b) for b in layer.blobs] for layer in layers}
    except (DecodeError, ValueError, RuntimeError, OSError) as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise CheckpointError(
            f"{path}: not a readable Caffe model (.caffemodel protobuf)"
            + (f": {first}" if first else "")
        ) from None
    weights = {name: blobs for name, blobs in weights.items() if blobs}
    if not weights:
        raise CheckpointError(f"{path}: not a Caffe model with weights (no layer holds blobs)")
    return weights
