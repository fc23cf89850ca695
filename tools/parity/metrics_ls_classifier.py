"""Linear-separability fixtures computed by NVlabs/stylegan's own code (TensorFlow 1 graph).

Usage: ``python tools/parity/metrics_ls_classifier.py REFERENCE_CHECKOUT -o
tests/metrics/parity/separability [--commit SHA]`` (a Python with TensorFlow 2.x).

- Builds the attribute classifiers' two possible build functions, ``D_basic``
  (training/networks_stylegan.py) and ``D_paper`` (training/networks_progan.py), at 16 px with
  8 feature maps, inside ``tf.variable_scope(reuse=AUTO_REUSE)`` as ``dnnlib.tflib.Network``
  builds them, assigns seeded variables and runs one minibatch of 4 images (the reference's
  ``minibatch_per_gpu``). Writes the variables, the images and the logits.
- Calls ``conditional_entropy`` of metrics/linear_separability.py on seeded 2 x 2 tables.

Run-time patches: ``tensorflow`` is ``tensorflow.compat.v1`` with v2 behaviour off (the code is
TF1); ``dnnlib`` is a stub holding ``EasyDict`` (``dict``, for a G_style default argument) and
``dnnlib.tflib`` with only ``lerp``/``lerp_clip`` (the networks use no other part; the real
package needs TF1-only modules); ``metrics.metric_base``, ``training.misc`` and
``sklearn.svm`` are empty stubs, imported by linear_separability.py but not used by
``conditional_entropy``.
"""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np
from maker import arguments, write_source

REPO = "https://github.com/NVlabs/stylegan"
RES = 16
FMAP = {"fmap_base": 512, "fmap_max": 8}


def _patch_imports() -> object:
    import tensorflow.compat.v1 as tf

    tf.disable_v2_behavior()
    sys.modules["tensorflow"] = tf
    tflib = types.ModuleType("dnnlib.tflib")
    tflib.lerp = lambda a, b, t: a + (b - a) * t
    tflib.lerp_clip = lambda a, b, t: a + (b - a) * tf.clip_by_value(t, 0.0, 1.0)
    dnnlib = types.ModuleType("dnnlib")
    dnnlib.tflib = tflib
    dnnlib.EasyDict = dict  # a G_style default argument; never used by the discriminators
    sys.modules.update({"dnnlib": dnnlib, "dnnlib.tflib": tflib})
    base = types.ModuleType("metrics.metric_base")
    base.MetricBase = object
    sys.modules["metrics.metric_base"] = base
    sys.modules["training.misc"] = types.ModuleType("training.misc")
    sys.modules["sklearn"] = types.ModuleType("sklearn")
    sys.modules["sklearn.svm"] = types.ModuleType("sklearn.svm")
    return tf


def _logits(tf: object, func: str, images: np.ndarray, rng: np.random.Generator) -> dict:
    module = "training.networks_stylegan" if func == "D_basic" else "training.networks_progan"
    build = getattr(importlib.import_module(module), func)
    graph = tf.Graph()
    with graph.as_default(), tf.variable_scope("D", reuse=tf.AUTO_REUSE):
        out = build(tf.constant(images), tf.zeros([len(images), 0]), 3, RES, **FMAP)
        variables = [v for v in tf.global_variables() if not v.name.endswith("/lod:0")]
        values = [rng.standard_normal(v.shape.as_list()).astype(np.float32) for v in variables]
        values = [v * 0.1 if len(v.shape) == 1 else v for v in values]  # biases
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            for var, value in zip(variables, values, strict=True):
                sess.run(var.assign(value))
            logits = sess.run(out)
    names = [v.name[len("D/") : -len(":0")] for v in variables]
    return {
        f"{func}_names": np.array(names),
        f"{func}_logits": logits,
        **{f"{func}_var{i}": v for i, v in enumerate(values)},
    }


def main() -> None:
    args = arguments(__doc__).parse_args()
    sys.path.insert(0, str(args.checkout))
    tf = _patch_imports()
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (4, 3, RES, RES)).astype(np.float32)
    out = {"images": images}
    for func in ("D_basic", "D_paper"):
        out.update(_logits(tf, func, images, rng))
    ls = importlib.import_module("metrics.linear_separability")
    tables = rng.integers(0, 50, (12, 2, 2)).astype(np.float64)
    tables[0, 1] = 0  # one row empty, as when the SVM predicts one class
    tables[1] = np.diag([7.0, 5.0])  # perfect prediction
    out["tables"] = tables
    out["conditional_entropy"] = np.array([ls.conditional_entropy(t) for t in tables])
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "ls_nvlabs.npz", **out)
    write_source(
        args,
        REPO,
        "training/networks_stylegan.py D_basic, training/networks_progan.py D_paper, "
        "metrics/linear_separability.py conditional_entropy",
        "metrics_ls_classifier.py",
    )


if __name__ == "__main__":
    main()
