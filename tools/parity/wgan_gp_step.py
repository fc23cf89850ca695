"""Training-parity fixtures for WGAN-GP, computed by igul222/improved_wgan_training's own graph.

Usage (in an environment with TensorFlow 2, numpy and safetensors; no PyTorch needed):
``python tools/parity/wgan_gp_step.py REFERENCE_CHECKOUT -o tests/wgan_gp/parity/step
[--commit SHA]``

The authors' ``gan_64x64.py`` is a Python 2 / TensorFlow 1 script that stops at once without
their ImageNet folder, so the maker runs its parts, from the checkout's source, in
``tf.compat.v1`` graph mode:

- ``tflib`` (``__init__``, ``ops/linear``, ``conv2d``, ``deconv2d``, ``batchnorm``,
  ``layernorm``) is loaded from the checkout;
- from ``gan_64x64.py``: its settings (``MODE = 'wgan-gp'``, ``LAMBDA = 10``, ...) and the
  functions ``LeakyReLU``, ``Normalize``, ``DCGANGenerator`` and ``DCGANDiscriminator`` (the
  script's "Baseline (G: DCGAN, D: DCGAN)" choice; layer norm in the critic, as
  ``Normalize`` picks for ``wgan-gp``), then the whole graph-building part of its session
  block, statement for statement: the real-data placeholder, the per-device costs with the
  gradient penalty and the two Adam optimisers (lr 1e-4, beta1 0, beta2 0.9);
- the training loop's order: ``N_CRITIC`` critic steps (``disc_cost``, ``disc_train_op``), then
  one generator step (``gen_train_op``), ``STEPS`` times (the script runs G first from its second
  iteration on, the same sequence).

Run-time patches, nothing else: Python 2 ``print`` statements in ``tflib/__init__.py`` and
``tflib/ops/batchnorm.py`` become calls; ``tf`` is ``tf.compat.v1`` reporting version 1.15 (the
script's ``tf.__version__.startswith('1.')`` branches); ``xrange`` is ``range``;
``BATCH_SIZE`` divides like a Python 2 int (``BATCH_SIZE/len(DEVICES)``);
``DEVICES = ['/cpu:0']``; ``Generator`` / ``Discriminator`` are ``DCGANGenerator`` /
``DCGANDiscriminator`` with ``dim=DIM`` and, for G, its own ``noise`` argument fed from a
placeholder so that the latents are recorded; ``np.random`` (tflib's initialisers) and the
graph's random ops are seeded. One CPU thread and op determinism make reruns byte-identical.

``step.safetensors``: ``init.<name>`` (every tflib parameter, TensorFlow layout: conv filters
``[k, k, in, out]``, deconv filters ``[k, k, out, in]``, linear ``W`` ``[in, out]``),
``step{s}.pixels`` (the ``N_CRITIC`` real batches, uint8 NCHW), ``step{s}.critic{i}.z`` /
``.alpha`` and ``step{s}.g.z`` (the draws), ``step{s}.<name>`` (every parameter after step s);
``step.json``: the sizes and each critic step's ``disc_cost``, Wasserstein part
(``mean D(fake) - mean D(real)``) and ``gradient_penalty``, and each G step's ``gen_cost``.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import sys
import types
from pathlib import Path

import numpy as np
from maker import arguments, write_source

REPO = "https://github.com/igul222/improved_wgan_training"
STEPS, N_CRITIC, BATCH, DIM = 1, 2, 3, 2
TFLIB = ("__init__", "ops/__init__", "ops/linear", "ops/conv2d", "ops/deconv2d")
TFLIB += ("ops/batchnorm", "ops/layernorm")
FUNCTIONS = ("LeakyReLU", "Normalize", "DCGANGenerator", "DCGANDiscriminator")


def py2_prints(source: str) -> str:
    """Python 2 ``print x`` statements as calls (the only Python 2 syntax tflib's files use)."""
    return re.sub(r"^(\s*)print (.+)$", r"\1print(\2)", source, flags=re.M)


class Py2Int(int):
    """An int whose ``/`` floors, as ``BATCH_SIZE/len(DEVICES)`` did under Python 2."""

    def __truediv__(self, other: int) -> Py2Int:
        return Py2Int(int(self) // other)


def tf1():
    """``tf.compat.v1`` in graph mode, seen by the reference as TensorFlow 1.15."""
    import tensorflow as tf

    v1 = tf.compat.v1
    v1.disable_eager_execution()
    tf.config.experimental.enable_op_determinism()

    class TF1(types.ModuleType):
        def __getattr__(self, name: str):
            return getattr(v1, name)

    module = TF1("tensorflow")
    module.__version__ = "1.15.0"
    return module


def load_tflib(checkout: Path, tf) -> types.ModuleType:
    """The checkout's ``tflib`` package (the parts gan_64x64.py's DCGAN networks use)."""
    for part in TFLIB:
        path = checkout / "tflib" / f"{part}.py"
        name = "tflib" + ("" if part == "__init__" else "." + part.replace("/__init__", ""))
        name = name.replace("/", ".")
        module = types.ModuleType(name)
        module.__file__, module.xrange = str(path), range
        if part.endswith("__init__"):
            module.__path__ = [str(path.parent)]
        sys.modules[name] = module
        parent, _, leaf = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], leaf, module)
        exec(compile(py2_prints(path.read_text()), str(path), "exec"), module.__dict__)
        module.tf = tf
    return sys.modules["tflib"]


def script_parts(path: Path) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """``gan_64x64.py``'s settings and chosen functions, and the graph-building statements of
    its session block (up to the optimisers, before the sampling and data code)."""
    tree = ast.parse(path.read_text(), str(path))
    head: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and all(
            isinstance(t, ast.Name) and t.id.isupper() for t in node.targets
        ):
            head.append(node)
        elif isinstance(node, ast.FunctionDef) and node.name in FUNCTIONS:
            head.append(node)
    session = next(n for n in tree.body if isinstance(n, ast.With))
    graph: list[ast.stmt] = []
    for node in session.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "fixed_noise":
            break
        graph.append(node)
    return head, graph


def run(checkout: Path) -> tuple[dict[str, np.ndarray], dict]:
    tf = tf1()
    lib = load_tflib(checkout, tf)
    head, graph = script_parts(checkout / "gan_64x64.py")
    np.random.seed(1)
    tf.set_random_seed(1)
    ns: dict = {"__name__": "gan_64x64", "tf": tf, "np": np, "lib": lib, "xrange": range}
    exec(compile(ast.Module(head, []), "gan_64x64.py", "exec"), ns)
    assert ns["MODE"] == "wgan-gp"
    noise = tf.placeholder(tf.float32, [BATCH, 128])
    ns["Generator"] = functools.partial(ns["DCGANGenerator"], noise=noise, dim=DIM)
    ns["Discriminator"] = functools.partial(ns["DCGANDiscriminator"], dim=DIM)
    ns.update(BATCH_SIZE=Py2Int(BATCH), DEVICES=["/cpu:0"])
    exec(compile(ast.Module(graph, []), "gan_64x64.py", "exec"), ns)

    params = dict(sorted(lib._params.items()))
    trainable = {k: v for k, v in params.items() if "moving_" not in k}
    config = tf.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    tensors: dict[str, np.ndarray] = {}
    steps = []
    draws = np.random.RandomState(2)
    with tf.Session(config=config) as session:
        session.run(tf.global_variables_initializer())
        for name, value in session.run(trainable).items():
            tensors[f"init.{name}"] = value
        wasserstein = tf.reduce_mean(ns["disc_fake"]) - tf.reduce_mean(ns["disc_real"])
        for s in range(STEPS):
            critic = []
            pixels = draws.randint(0, 256, (N_CRITIC, BATCH, 3, 64, 64)).astype(np.uint8)
            tensors[f"step{s}.pixels"] = pixels
            for i in range(N_CRITIC):
                z = draws.randn(BATCH, 128).astype(np.float32)
                fetched = session.run(
                    [ns["disc_cost"], wasserstein, ns["gradient_penalty"], ns["alpha"]]
                    + [ns["disc_train_op"]],
                    feed_dict={ns["all_real_data_conv"]: pixels[i], noise: z},
                )
                tensors[f"step{s}.critic{i}.z"] = z
                tensors[f"step{s}.critic{i}.alpha"] = fetched[3]
                critic.append(
                    dict(
                        zip(
                            ("disc_cost", "wasserstein", "gp"), map(float, fetched[:3]), strict=True
                        )
                    )
                )
            z = draws.randn(BATCH, 128).astype(np.float32)
            gen_cost, _ = session.run([ns["gen_cost"], ns["gen_train_op"]], feed_dict={noise: z})
            tensors[f"step{s}.g.z"] = z
            for name, value in session.run(trainable).items():
                tensors[f"step{s}.{name}"] = value
            steps.append({"critic": critic, "gen_cost": float(gen_cost)})
    meta = {
        "batch": BATCH,
        "dim": DIM,
        "z_dim": 128,
        "n_critic": N_CRITIC,
        "lambda": ns["LAMBDA"],
        "steps": steps,
    }
    return tensors, meta


def main() -> None:
    args = arguments(__doc__).parse_args()
    from safetensors.numpy import save_file

    tensors, meta = run(args.checkout.resolve())
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(args.out / "step.safetensors")
    )
    (args.out / "step.json").write_text(json.dumps(meta, indent=1) + "\n")
    write_source(
        args,
        REPO,
        f"gan_64x64.py DCGAN G/D, wgan-gp costs, Adam: {STEPS} x ({N_CRITIC} critic + 1 G) steps",
        "wgan_gp_step.py",
    )


if __name__ == "__main__":
    main()
