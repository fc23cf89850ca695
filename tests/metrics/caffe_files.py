"""Caffe ``.caffemodel`` files written byte by byte (protobuf wire format, the field numbers
of BVLC/caffe src/caffe/proto/caffe.proto), independent of gankit's reader, and small FCN-8s
weights in the layout of the FCN-score's deploy.prototxt."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def blob(array: np.ndarray, legacy: bool = False, double: bool = False) -> bytes:
    """BlobProto: shape 7 (BlobShape.dim 1, packed) or num/channels/height/width 1-4;
    data 5 (packed float) or double_data 8 (packed double)."""
    a = np.asarray(array)
    if legacy:
        dims = (1,) * (4 - a.ndim) + a.shape
        head = b"".join(_int_field(i + 1, d) for i, d in enumerate(dims))
    else:
        head = _field(7, _field(1, b"".join(_varint(d) for d in a.shape)))
    if double:
        return head + _field(8, a.astype("<f8").tobytes())
    return head + _field(5, a.astype("<f4").tobytes())


def net(layers: list[tuple[str, str, list[np.ndarray]]], v1: bool = False, **blob_kwargs) -> bytes:
    """NetParameter with ``layer`` 100 (LayerParameter: name 1, type 2, blobs 7) or the
    deprecated ``layers`` 2 (V1LayerParameter: name 4, blobs 6), plus fields gankit skips."""
    body = _field(1, b"fcn8s-test")
    for name, kind, blobs in layers:
        blob_bytes = b"".join(_field(6 if v1 else 7, blob(b, **blob_kwargs)) for b in blobs)
        if v1:
            body += _field(2, _field(4, name.encode()) + _int_field(5, 4) + blob_bytes)
        else:
            extra = _field(3, b"bottom") + _field(4, b"top")  # bottom 3, top 4: skipped
            layer = _field(1, name.encode()) + _field(2, kind.encode()) + extra + blob_bytes
            body += _field(100, layer)
    return body


CONVS = [
    f"conv{s}_{i}" for s, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for i in range(1, n + 1)
]


def fcn8s_weights(
    widths=(2, 3, 4, 5, 6), fc: int = 7, classes: int = 20, seed: int = 0
) -> dict[str, list[np.ndarray]]:
    """Random FCN-8s blobs in Caffe's layouts (conv: out, in, kh, kw; deconv: in, out, kh, kw)."""
    rng = np.random.default_rng(seed)

    def conv(cout, cin, k):
        w = rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))
        return [w.astype(np.float32), (rng.standard_normal(cout) * 0.1).astype(np.float32)]

    out: dict[str, list[np.ndarray]] = {}
    cin, it = 3, iter(CONVS)
    for width, n in zip(widths, (2, 2, 3, 3, 3), strict=True):
        for _ in range(n):
            out[next(it)] = conv(width, cin, 3)
            cin = width
    out["fc6_cs"] = conv(fc, cin, 7)
    out["fc7_cs"] = conv(fc, fc, 1)
    out["score_fr"] = conv(classes, fc, 1)
    out["score_pool4"] = conv(classes, widths[3], 1)
    out["score_pool3"] = conv(classes, widths[2], 1)
    for name, k in (("upscore2", 4), ("upscore_pool4", 4), ("upscore8", 16)):
        out[name] = [(rng.standard_normal((classes, classes, k, k)) * 0.2).astype(np.float32)]
    return out


def write_fcn8s(path, weights=None, **net_kwargs):
    weights = weights or fcn8s_weights()
    kinds = {n: ("Deconvolution" if n.startswith("upscore") else "Convolution") for n in weights}
    layers = [("data", "Input", [])] + [(n, kinds[n], b) for n, b in weights.items()]
    path.write_bytes(net(layers, **net_kwargs))
    return path


def direct_fcn8s(weights: dict[str, list[np.ndarray]], x: torch.Tensor) -> torch.Tensor:
    """deploy.prototxt@9a9c1ce computed with torch.nn.functional and the same weights."""
    t = {k: [torch.from_numpy(b) for b in v] for k, v in weights.items()}

    def conv(name, h, pad=0):
        return F.conv2d(h, t[name][0], t[name][1], padding=pad)

    h, pools, it = x, [], iter(CONVS)
    for n in (2, 2, 3, 3, 3):
        for _ in range(n):
            name = next(it)
            h = torch.relu(conv(name, h, 100 if name == "conv1_1" else 1))
        h = F.max_pool2d(h, 2, 2, ceil_mode=True)  # Caffe pools round up
        pools.append(h)
    h = torch.relu(conv("fc7_cs", torch.relu(conv("fc6_cs", h))))
    up2 = F.conv_transpose2d(conv("score_fr", h), t["upscore2"][0], stride=2)
    s4 = conv("score_pool4", pools[3])[..., 5 : 5 + up2.shape[2], 5 : 5 + up2.shape[3]]
    up4 = F.conv_transpose2d(up2 + s4, t["upscore_pool4"][0], stride=2)
    s3 = conv("score_pool3", pools[2])[..., 9 : 9 + up4.shape[2], 9 : 9 + up4.shape[3]]
    up8 = F.conv_transpose2d(up4 + s3, t["upscore8"][0], stride=8)
    return up8[..., 31 : 31 + x.shape[2], 31 : 31 + x.shape[3]]
