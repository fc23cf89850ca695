"""Parity fixtures for StyleGAN1's growth schedule, fade-in reals and losses, computed by
NVlabs/stylegan's own TensorFlow functions.

Usage (TensorFlow 2, numpy, safetensors; no PyTorch):
``python tools/parity/stylegan1_step.py REFERENCE_CHECKOUT -o tests/stylegan/parity/stylegan1
[--commit SHA]``

The full training graph needs ``dnnlib.tflib``, which does not import on TensorFlow 2; the maker
runs the reference's functions that define a fade-in step, from the checkout's source, in
``tf.compat.v1`` graph mode:

- ``train.py`` runs as a module (its settings are module-level) with its one-GPU line chosen:
  of "Number of GPUs (choose one)", ``-1gpu`` is uncommented and ``-8gpu`` commented out, the
  run gankit's defaults describe; ``sched``, ``submit_config.num_gpus`` and ``D_loss``
  (``r1_gamma``) are read from it;
- ``training/training_loop.py`` ``training_schedule`` with those settings, at ``KIMG`` points of
  a 1024x1024 run (``lod``, resolution, minibatch, learning rates);
- ``process_reals`` (its ``FadeLOD`` and ``UpscaleLOD``) on a fixed uint8 batch at 16x16 in the
  fade-in of 16x16, ``lod`` = ``LOD`` of a 32x32 network;
- ``training/loss.py`` ``D_logistic_simplegp`` and ``G_logistic_nonsaturating`` with stand-in
  networks: G returns fixed images; D is ``sum(a * x + b * x**2)`` over C, H, W with fixed
  ``a``, ``b`` (a ``[N, 1]`` score, the shape ``D_basic`` returns), differentiable, so that the
  R1 term runs. Recorded: each loss tensor as returned (D's is ``[N, N]``: the ``[N, 1]``
  logistic terms plus the ``[N]`` R1 term broadcast) and the gradients of its mean, what
  ``training_loop.py`` registers with ``tflib.Optimizer`` (``tf.reduce_mean(D_loss)``, lines
  182-183; the mean of the broadcast matrix is the per-sample mean of both terms), with respect
  to ``a`` and ``b``.

Run-time patches: ``metrics.metric_base`` (imported by ``train.py`` for its metric list) is an
empty stand-in; ``tf`` is ``tf.compat.v1``; ``autosummary`` returns its value (it only logs);
``tflib.lerp`` and ``misc.adjust_dynamic_range`` are the checkout's own functions, read from
``dnnlib/tflib/tfutil.py`` and ``training/misc.py``.

``stylegan1.safetensors``: ``reals`` (uint8), ``processed``, ``fakes``, ``a``, ``b``,
``loss_d``, ``loss_g``, ``grad_d.a`` /
``.b``, ``grad_g.a`` / ``.b`` (w.r.t. D's ``a``, ``b``; G's loss reaches them through D too);
``stylegan1.json``: the settings, ``lod`` and the schedule table.
"""

from __future__ import annotations

import ast
import json
import sys
import types
from pathlib import Path

import numpy as np
from maker import arguments, write_source

REPO = "https://github.com/NVlabs/stylegan"
RESOLUTION_LOG2 = 10
KIMG = [0, 300, 599, 600, 750, 900, 1199, 1200, 1800, 2100, 3000, 3900, 4500, 6600, 8000, 9500]
KIMG += [9600, 10000]
BATCH, SIDE, NET_SIDE, LOD = 4, 16, 32, 1.3


def functions(path: Path, names: tuple[str, ...], ns: dict) -> None:
    """Execute the top-level functions ``names`` of ``path`` in ``ns``."""
    tree = ast.parse(path.read_text(encoding="utf-8-sig"), str(path))
    chosen = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    assert {n.name for n in chosen} == set(names), f"{path} lacks some of {names}"
    exec(compile(ast.Module(chosen, []), str(path), "exec"), ns)


def tf1():
    import tensorflow as tf

    v1 = tf.compat.v1
    v1.disable_eager_execution()
    tf.config.experimental.enable_op_determinism()
    v1.set_random_seed(1)
    return v1


def settings(checkout: Path) -> types.ModuleType:
    """The checkout's ``train.py`` run as a module, with its "Number of GPUs (choose one)" line
    ``-1gpu`` chosen instead of ``-8gpu`` (gankit's defaults are the one-GPU run)."""
    sys.path.insert(0, str(checkout))
    metrics = types.ModuleType("metrics")
    metrics.metric_base = types.SimpleNamespace(fid50k=None)
    sys.modules.setdefault("metrics", metrics)
    sys.modules.setdefault("metrics.metric_base", metrics.metric_base)
    path = checkout / "train.py"
    source = path.read_text(encoding="utf-8-sig")
    for old, new in (("#desc += '-1gpu';", "desc += '-1gpu';"), ("desc += '-8gpu';", "#")):
        assert source.count(old) == 1, f"train.py: no single {old!r} line"
        source = source.replace(old, new)
    train = types.ModuleType("train")
    exec(compile(source, str(path), "exec"), train.__dict__)
    return train


def run(checkout: Path) -> tuple[dict[str, np.ndarray], dict]:
    train = settings(checkout)
    import dnnlib

    tf = tf1()
    ns: dict = {"np": np, "tf": tf, "dnnlib": dnnlib, "autosummary": lambda name, value: value}
    helpers: dict = {"tf": tf, "np": np}
    functions(checkout / "dnnlib" / "tflib" / "tfutil.py", ("lerp",), helpers)
    functions(checkout / "training" / "misc.py", ("adjust_dynamic_range",), helpers)
    ns["tflib"] = types.SimpleNamespace(lerp=helpers["lerp"])
    ns["misc"] = types.SimpleNamespace(adjust_dynamic_range=helpers["adjust_dynamic_range"])
    loop = checkout / "training" / "training_loop.py"
    functions(loop, ("training_schedule", "process_reals"), ns)
    loss = checkout / "training" / "loss.py"
    functions(loss, ("fp32", "G_logistic_nonsaturating", "D_logistic_simplegp"), ns)

    num_gpus = train.submit_config.num_gpus
    dataset = types.SimpleNamespace(resolution_log2=RESOLUTION_LOG2)
    table = []
    for kimg in KIMG:
        s = ns["training_schedule"](kimg * 1000, dataset, num_gpus, **train.sched)
        table.append(
            {
                "kimg": kimg,
                "lod": float(s.lod),
                "resolution": int(s.resolution),
                "minibatch": int(s.minibatch),
                "G_lrate": float(s.G_lrate),
                "D_lrate": float(s.D_lrate),
            }
        )

    rng = np.random.RandomState(3)
    reals = rng.randint(0, 256, (BATCH, 3, SIDE, SIDE)).astype(np.uint8)
    fakes = rng.uniform(-1, 1, (BATCH, 3, SIDE, SIDE)).astype(np.float32)
    a = (rng.randn(3, SIDE, SIDE) * 0.05).astype(np.float32)
    b = (rng.randn(3, SIDE, SIDE) * 0.05).astype(np.float32)
    z_dim = 4
    reals_in = tf.constant(reals)
    processed = ns["process_reals"](reals_in, tf.constant(LOD), False, [0, 255], [-1, 1])
    var_a, var_b = tf.Variable(a), tf.Variable(b)

    class StandInD:
        def get_output_for(self, x, labels, is_training):
            score = var_a * x + var_b * tf.square(x)
            return tf.reduce_sum(score, axis=[1, 2, 3], keepdims=False)[:, None]

    class StandInG:
        input_shapes = [[None, z_dim]]

        def get_output_for(self, latents, labels, is_training):
            return tf.constant(fakes)

    training_set = types.SimpleNamespace(get_random_labels_tf=lambda n: tf.zeros([n, 0]))
    g, d = StandInG(), StandInD()
    opt = types.SimpleNamespace(apply_loss_scaling=lambda x: x, undo_loss_scaling=lambda x: x)
    reals_net = tf.constant(reals.astype(np.float32) / 127.5 - 1)
    r1_gamma = train.D_loss.r1_gamma
    loss_d = ns["D_logistic_simplegp"](
        g, d, opt, training_set, BATCH, reals_net, tf.zeros([BATCH, 0]), r1_gamma=r1_gamma
    )
    loss_g = ns["G_logistic_nonsaturating"](g, d, opt, training_set, BATCH)
    # training_loop.py:182-183 hands its optimisers tf.reduce_mean of each loss tensor.
    grad_d = tf.gradients(tf.reduce_mean(loss_d), [var_a, var_b])
    grad_g = tf.gradients(tf.reduce_mean(loss_g), [var_a, var_b])
    config = tf.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    with tf.Session(config=config) as session:
        session.run(tf.global_variables_initializer())
        out = session.run(
            {
                "processed": processed,
                "loss_d": loss_d,
                "loss_g": loss_g,
                "grad_d": grad_d,
                "grad_g": grad_g,
            }
        )
    tensors = {"reals": reals, "fakes": fakes, "a": a, "b": b}
    tensors |= {k: out[k] for k in ("processed", "loss_d", "loss_g")}
    for which in ("d", "g"):
        tensors[f"grad_{which}.a"], tensors[f"grad_{which}.b"] = out[f"grad_{which}"]
    meta = {
        "num_gpus": num_gpus,
        "sched": {k: v for k, v in train.sched.items()},
        "r1_gamma": r1_gamma,
        "resolution_log2": RESOLUTION_LOG2,
        "lod": LOD,
        "net_side": NET_SIDE,
        "schedule": table,
    }
    return tensors, meta


def main() -> None:
    args = arguments(__doc__).parse_args()
    from safetensors.numpy import save_file

    tensors, meta = run(args.checkout.resolve())
    args.out.mkdir(parents=True, exist_ok=True)
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    save_file(tensors, str(args.out / "stylegan1.safetensors"))
    text = json.dumps(meta, indent=1, default=lambda o: {str(k): v for k, v in o.items()})
    (args.out / "stylegan1.json").write_text(text + "\n")
    write_source(
        args,
        REPO,
        "train.py settings; training/training_loop.py training_schedule, process_reals; "
        "training/loss.py D_logistic_simplegp, G_logistic_nonsaturating (stand-in networks)",
        "stylegan1_step.py",
    )


if __name__ == "__main__":
    main()
