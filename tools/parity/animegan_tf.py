"""Parity fixtures for AnimeGAN, computed by the TensorFlow originals themselves.

Usage: ``python tools/parity/animegan_tf.py REFERENCE_CHECKOUT -o tests/animegan/parity/v2
[--commit SHA]`` with a checkout of TachibanaYoshino/AnimeGANv2 (``AnimeGANv2.py``) or of
TachibanaYoshino/AnimeGAN (``AnimeGAN.py``, v1); the version is read from the checkout. It needs
TensorFlow 2 (the TF1 code runs through ``tf.compat.v1`` in graph mode) and NumPy; no PyTorch.

What runs, all of it the reference's own code:

1. ``tools/ops.py``'s loss functions on fixed tensors (``inputs.safetensors``: photo, colour
   style, grey style, grey smoothed style, a "generated" image and four logit maps):
   ``con_sty_loss`` (VGG19 ``conv4_4`` before the ReLU, content L1 and Gram style L1),
   ``color_loss`` (``rgb2yuv`` + L1/Huber), ``total_variation_loss`` (v2), ``generator_loss``
   and ``discriminator_loss`` with ``lsgan``; the discriminator loss is also called with three of
   its four inputs at their targets, which isolates each term's weight as the file hard-codes it.
   ``tools/vgg19.py`` ``Vgg19`` loads ``vgg19.npy``: a synthetic file in the original's layout
   (``{"conv1_1": [W (3, 3, in, out), b], ...}``) at narrow widths (``VGG_WIDTHS``), seeded, so
   the fixture stays a few KB and gankit's importer reads the same file.
2. One D step and one G step of the reference's training model (``AnimeGANv2``/``AnimeGAN``
   class: ``build_model`` and the ``sess.run`` calls of its ``train``) on the first image of
   each fixed batch. The
   initial weights are drawn here, variable by variable in creation order, from
   ``numpy.random.default_rng([SEED, i])`` (``standard_normal`` in float64, times ``std``, plus
   ``mean``, cast to float32; the list with each rule is in ``steps.json``), so the test rebuilds
   them without a multi-MB file. Spectral norm's ``u`` starts at the weight's top singular vector
   (see the test for why). Recorded: G's output, the four D logit maps, every loss term, and per
   trainable variable the gradient of its step and its value after the step, each through
   ``PROJECTIONS`` Gaussian projections (vectors drawn like the weights, seed ``[SEED + 1, i]``)
   plus its L2 norm; and the spectral-norm vectors after the steps. The loss weights are the
   reference's per-dataset ones (``train.py`` comments, ``DATASET``), as its author trains.

Run-time patches (TF 2 has no ``tf.contrib`` and no TF1 API at ``tensorflow``):

- ``sys.modules["tensorflow"]`` is ``tf.compat.v1`` with eager execution disabled;
- ``tensorflow.contrib.layers`` is provided with ``conv2d``, ``separable_conv2d``,
  ``layer_norm``, ``instance_norm`` and ``variance_scaling_initializer`` built from
  ``tf.compat.v1`` ops as TF 1.15's contrib defined them (``layer_norm``: moments over all axes
  but the batch, per-channel ``beta``/``gamma``, epsilon 1e-12; ``instance_norm``: moments over
  H, W, epsilon 1e-6 unless given; no bias where a ``normalizer_fn`` is given);
- ``tools/utils.py`` and ``tools/data_loader.py`` are replaced by stubs (they import OpenCV and
  ``tf.contrib.slim``; ``build_model`` needs only ``check_folder`` and the image count);
- the losses' module-level functions are wrapped to keep the tensors they return (the terms
  ``build_model`` adds up); nothing in the computation changes;
- ``tools/ops.spectral_norm`` is wrapped so that the applications sharing one kernel read ``u``
  in the order the graph builds them (a control dependency on the previous application): the
  reference leaves the order of D's four ``u`` updates within one ``sess.run`` open, which made
  reruns differ by ~1e-7; sessions run on one thread with oneDNN off. A rerun then reproduces the
  files byte for byte.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import types
from argparse import Namespace
from pathlib import Path

import numpy as np
from maker import arguments, write_source
from safetensors.numpy import save_file

SEED = 20201120
PROJECTIONS = 4
BATCH = 2
"""Images per fixed tensor of the loss functions (per-image Gram matrices, batch means)."""
STEP_BATCH = 1
"""Images per training step: the first of each fixed batch (keeps v1's full-width G fast)."""
SIZE = 20
"""A multiple of 4 (the generators), odd after three VGG pools (TF ``SAME`` pooling pads)."""
VGG_WIDTHS = ((4, 4), (6, 6), (8, 8, 8, 8), (8, 8, 8, 8), (4, 4, 4, 4))
D_CH = 16
"""``--ch`` of the reference's ``train.py``: D's base width (64 there; 16 keeps the run fast)."""
DATASET = {
    # train.py comments per dataset; tools/ops.py's discriminator_loss hard-codes Shinkai's
    "v2": dict(
        dataset="Shinkai",
        epoch=101,
        init_epoch=10,
        init_lr=2e-4,
        g_lr=2e-5,
        d_lr=4e-5,
        g_adv_weight=300.0,
        d_adv_weight=300.0,
        con_weight=1.2,
        sty_weight=2.0,
        color_weight=10.0,
        tv_weight=1.0,
    ),
    # train.py defaults at the newest v1 commit
    "v1": dict(
        dataset="Hayao",
        epoch=101,
        init_epoch=5,
        init_lr=1e-4,
        g_lr=8e-5,
        d_lr=16e-5,
        g_adv_weight=300.0,
        d_adv_weight=300.0,
        con_weight=1.5,
        sty_weight=3.0,
        color_weight=10.0,
    ),
}
REPOS = {
    "v2": "https://github.com/TachibanaYoshino/AnimeGANv2",
    "v1": "https://github.com/TachibanaYoshino/AnimeGAN",
}


def tf1_modules():
    """Install the TF1 API as ``tensorflow`` and a ``tensorflow.contrib`` (see the docstring)."""
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # plain Eigen kernels: the same sums every run
    import tensorflow as tf2

    tf2.config.experimental.enable_op_determinism()
    tf = tf2.compat.v1
    tf.disable_eager_execution()

    zeros = tf.zeros_initializer()

    def _apply(outputs, out_ch, normalizer_fn, biases_initializer, activation_fn):
        if normalizer_fn is not None:
            outputs = normalizer_fn(outputs)
        elif biases_initializer is not None:
            b = tf.get_variable("biases", [out_ch], initializer=biases_initializer)
            outputs = tf.nn.bias_add(outputs, b)
        return activation_fn(outputs) if activation_fn is not None else outputs

    def conv2d(
        inputs,
        num_outputs,
        kernel_size,
        stride=1,
        padding="SAME",
        activation_fn=tf.nn.relu,
        normalizer_fn=None,
        weights_initializer=None,
        biases_initializer=zeros,
        scope=None,
    ):
        with tf.variable_scope(scope, default_name="Conv"):
            in_ch = inputs.get_shape().as_list()[-1]
            w = tf.get_variable(
                "weights",
                [kernel_size, kernel_size, in_ch, num_outputs],
                initializer=weights_initializer,
            )
            y = tf.nn.conv2d(inputs, w, [1, stride, stride, 1], padding)
            return _apply(y, num_outputs, normalizer_fn, biases_initializer, activation_fn)

    def separable_conv2d(
        inputs,
        num_outputs,
        kernel_size,
        depth_multiplier=1,
        stride=1,
        padding="SAME",
        activation_fn=tf.nn.relu,
        normalizer_fn=None,
        weights_initializer=None,
        biases_initializer=zeros,
        scope=None,
    ):
        with tf.variable_scope(scope, default_name="SeparableConv2d"):
            in_ch = inputs.get_shape().as_list()[-1]
            dw = tf.get_variable(
                "depthwise_weights",
                [kernel_size, kernel_size, in_ch, depth_multiplier],
                initializer=weights_initializer,
            )
            pw = tf.get_variable(
                "pointwise_weights",
                [1, 1, in_ch * depth_multiplier, num_outputs],
                initializer=weights_initializer,
            )
            y = tf.nn.separable_conv2d(inputs, dw, pw, [1, stride, stride, 1], padding)
            return _apply(y, num_outputs, normalizer_fn, biases_initializer, activation_fn)

    def _norm(inputs, axes, epsilon, scope, default_name):
        with tf.variable_scope(scope, default_name=default_name):
            ch = inputs.get_shape().as_list()[-1]
            beta = tf.get_variable("beta", [ch], initializer=tf.zeros_initializer())
            gamma = tf.get_variable("gamma", [ch], initializer=tf.ones_initializer())
            mean, variance = tf.nn.moments(inputs, axes, keep_dims=True)
            return tf.nn.batch_normalization(inputs, mean, variance, beta, gamma, epsilon)

    def layer_norm(inputs, center=True, scale=True, scope=None):
        assert center and scale
        return _norm(inputs, [1, 2, 3], 1e-12, scope, "LayerNorm")

    def instance_norm(inputs, center=True, scale=True, epsilon=1e-6, scope=None):
        assert center and scale
        return _norm(inputs, [1, 2], epsilon, scope, "InstanceNorm")

    def variance_scaling_initializer(factor=2.0, mode="FAN_IN", uniform=False):
        return tf.variance_scaling_initializer(
            factor, mode.lower(), "uniform" if uniform else "truncated_normal"
        )

    contrib = types.ModuleType("tensorflow.contrib")
    contrib.layers = types.SimpleNamespace(
        conv2d=conv2d,
        separable_conv2d=separable_conv2d,
        layer_norm=layer_norm,
        instance_norm=instance_norm,
        variance_scaling_initializer=variance_scaling_initializer,
    )
    tf.contrib = contrib
    sys.modules["tensorflow"] = tf
    sys.modules["tensorflow.contrib"] = contrib
    return tf


def single_thread(tf):
    """One thread: ops run in one order, so the four spectral-norm ``u`` updates of D's step (which
    the reference's graph leaves unordered) and every reduction happen the same way each run."""
    return tf.ConfigProto(inter_op_parallelism_threads=1, intra_op_parallelism_threads=1)


def stub_tools(batch: int) -> None:
    """``tools.utils`` / ``tools.data_loader`` without OpenCV (see the docstring)."""
    utils = types.ModuleType("tools.utils")
    utils.os = os

    def check_folder(log_dir):
        os.makedirs(log_dir, exist_ok=True)
        return log_dir

    utils.check_folder = check_folder
    utils.str2bool = lambda x: x.lower() in ("true",)
    loader = types.ModuleType("tools.data_loader")

    class ImageGenerator:
        def __init__(self, image_dir, size, batch_size, num_cpus=16):
            self.num_images = batch

    loader.ImageGenerator = ImageGenerator
    sys.modules["tools.utils"] = utils
    sys.modules["tools.data_loader"] = loader


def synthetic_vgg19(rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """``vgg19.npy``'s layout at ``VGG_WIDTHS``; He-scaled weights, small biases."""
    data, in_ch = {}, 3
    for b, widths in enumerate(VGG_WIDTHS):
        for i, out in enumerate(widths):
            w = rng.standard_normal((3, 3, in_ch, out)) * np.sqrt(2.0 / (9 * in_ch))
            bias = rng.standard_normal(out) * 0.1
            data[f"conv{b + 1}_{i + 1}"] = [w.astype(np.float32), bias.astype(np.float32)]
            in_ch = out
    return data


def draw(seed: list[int], shape: list[int], mean: float, std: float) -> np.ndarray:
    """The rule the test repeats: ``mean + std * standard_normal`` (float64) as float32."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return (mean + std * x).astype(np.float32)


def init_rule(name: str, shape: list[int]) -> dict[str, float]:
    """Weights at He scale (D: the reference's N(0, 0.02)), norms' gamma near 1, offsets small."""
    leaf = name.rsplit("/", 1)[1].split(":")[0]
    if leaf == "gamma":
        return {"mean": 1.0, "std": 0.1}
    if leaf in ("beta", "bias", "biases"):
        return {"mean": 0.0, "std": 0.1}
    if leaf == "kernel":
        return {"mean": 0.0, "std": 0.02}
    fan_in = int(np.prod(shape[:-1])) if leaf != "w" else int(np.prod(shape[:2]))
    return {"mean": 0.0, "std": float(np.sqrt(2.0 / fan_in))}


def top_left_singular(kernel: np.ndarray) -> np.ndarray:
    """``u`` (1, out) at the fixed point of ``tools/ops.spectral_norm``'s power iteration."""
    w = kernel.reshape(-1, kernel.shape[-1]).astype(np.float64)
    _, _, vt = np.linalg.svd(w, full_matrices=False)
    return vt[:1].astype(np.float32)


class Spy:
    """Keeps the arguments and results of the wrapped loss functions, by name, in call order."""

    def __init__(self) -> None:
        self.seen: dict[str, list] = {}

    def wrap(self, module, name: str) -> None:
        original = getattr(module, name)

        def recorded(*args, **kwargs):
            out = original(*args, **kwargs)
            self.seen.setdefault(name, []).append((args, out))
            return out

        setattr(module, name, recorded)


def chain_spectral_norm(tf, ops) -> None:
    """Order the ``u`` reads/updates of one kernel's spectral-norm applications (docstring)."""
    original, last = ops.spectral_norm, {}

    def ordered(w, iteration=1):
        previous = last.get(w.name)
        with tf.control_dependencies([previous] if previous is not None else []):
            out = original(w, iteration)
        last[w.name] = out
        return out

    ops.spectral_norm = ordered


def fixed_tensors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """NHWC images in [-1, 1] (the grey ones with three equal channels) and logit maps."""

    def image():
        return rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32)

    def grey():
        return np.repeat(rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 1)), 3, -1).astype(np.float32)

    t = {"photo": image(), "style": image(), "gray": grey(), "smooth": grey(), "fake": image()}
    for k in ("real", "gray", "fake", "smooth"):
        t[f"logit_{k}"] = rng.normal(0.3, 0.8, (BATCH, SIZE // 4, SIZE // 4, 1)).astype(np.float32)
    return t


def loss_functions(tf, ops, vgg, t: dict[str, np.ndarray], version: str):
    """Part 1: the reference's loss functions on the fixed tensors."""
    c = {k: tf.constant(v) for k, v in t.items()}
    con, sty = ops.con_sty_loss(vgg, c["photo"], c["gray"], c["fake"])
    vgg.build(c["photo"])
    features = vgg.conv4_4_no_activation
    zero = {k: tf.zeros_like(c[f"logit_{k}"]) for k in ("real", "gray", "fake", "smooth")}
    at_target = dict(zero, real=tf.ones_like(c["logit_real"]))
    d_terms = {}
    for k in ("real", "gray", "fake", "smooth"):
        args = dict(at_target, **{k: c[f"logit_{k}"]})
        d_terms[f"d_{k}"] = ops.discriminator_loss(
            "lsgan", args["real"], args["gray"], args["fake"], args["smooth"]
        )
    scalars = {
        "content": con,
        "style": sty,
        "content_only": ops.con_loss(vgg, c["photo"], c["fake"]),
        "color": ops.color_loss(c["photo"], c["fake"]),
        "g_adv": ops.generator_loss("lsgan", c["logit_fake"]),
        "d_total": ops.discriminator_loss(
            "lsgan", c["logit_real"], c["logit_gray"], c["logit_fake"], c["logit_smooth"]
        ),
        **d_terms,
    }
    if version == "v2":
        scalars["tv"] = ops.total_variation_loss(c["fake"])
    arrays = {
        "conv4_4": features,
        "gram": ops.gram(features),
        "yuv": ops.rgb2yuv(c["photo"]),
    }
    return scalars, arrays


def projections(seed: int, index: int, shape: list[int]) -> np.ndarray:
    return draw([seed, index], [PROJECTIONS, *shape], 0.0, 1.0).reshape(PROJECTIONS, -1)


def summary(x: np.ndarray, index: int) -> dict:
    p = projections(SEED + 1, index, list(x.shape))
    flat = x.reshape(-1).astype(np.float64)
    return {"norm": float(np.linalg.norm(flat)), "proj": (p.astype(np.float64) @ flat).tolist()}


def training_steps(tf, module, version: str, t: dict[str, np.ndarray], spy: Spy, tmp: Path):
    """Part 2: one D step and one G step of the reference's model, as its ``train`` runs them."""
    cls = getattr(module, "AnimeGANv2" if version == "v2" else "AnimeGAN")
    args = Namespace(
        checkpoint_dir=str(tmp / "checkpoint"),
        log_dir=str(tmp / "logs"),
        sample_dir=str(tmp / "samples"),
        save_freq=1,
        batch_size=STEP_BATCH,
        gan_type="lsgan",
        training_rate=1,
        ld=10.0,
        img_size=[SIZE, SIZE],
        img_ch=3,
        ch=D_CH,
        n_dis=3,
        sn=True,
        **{"tv_weight": 0.0, **DATASET[version]},
    )
    with tf.Session(config=single_thread(tf)) as sess:
        gan = cls(sess, args)
        gan.build_model()
        sess.run(tf.global_variables_initializer())
        variables = tf.trainable_variables()
        listed = []
        for i, v in enumerate(variables):
            shape = v.get_shape().as_list()
            rule = init_rule(v.name, shape)
            v.load(draw([SEED, i], shape, **rule), sess)
            listed.append({"name": v.name, "shape": shape, **rule})
        us = [v for v in tf.global_variables() if v.name.endswith("/u:0")]
        u_init = {}
        for u in us:
            kernel = next(v for v in variables if v.name == u.name.replace("/u:0", "/kernel:0"))
            u.load(top_left_singular(sess.run(kernel)), sess)
            u_init[u.name] = sess.run(u)
        feed = {
            gan.real: t["photo"][:STEP_BATCH],
            gan.anime: t["style"][:STEP_BATCH],
            gan.anime_gray: t["gray"][:STEP_BATCH],
            gan.anime_smooth: t["smooth"][:STEP_BATCH],
        }
        terms = {
            "content": spy.seen["con_sty_loss"][-1][1][0],
            "style": spy.seen["con_sty_loss"][-1][1][1],
            "color": spy.seen["color_loss"][-1][1],
            "g_adv": spy.seen["generator_loss"][-1][1],
        }
        if version == "v2":
            terms["tv"] = spy.seen["total_variation_loss"][-1][1]
        d_logits = spy.seen["discriminator_loss"][-1][0][1:]
        g_vars = [v for v in variables if "generator" in v.name]
        d_vars = [v for v in variables if "discriminator" in v.name]
        d_grads = tf.gradients(gan.Discriminator_loss, d_vars)
        g_grads = tf.gradients(gan.Generator_loss, g_vars)

        generated, logits, grads_d = sess.run([gan.generated, list(d_logits), d_grads], feed)
        _, loss_d = sess.run([gan.D_optim, gan.Discriminator_loss], feed)
        grads_g, values = sess.run([g_grads, terms], feed)
        _, loss_g = sess.run([gan.G_optim, gan.Generator_loss], feed)
        after = sess.run(variables)
        u_after = {u.name: sess.run(u) for u in us}

    grads = dict(zip([v.name for v in d_vars + g_vars], grads_d + grads_g, strict=True))
    per_var = {}
    for i, (v, a) in enumerate(zip(listed, after, strict=True)):
        per_var[v["name"]] = {"grad": summary(grads[v["name"]], i), "after": summary(a, i)}
    tensors = {"generated": generated}
    for k, x in zip(("real", "gray", "fake", "smooth"), logits, strict=True):
        tensors[f"logit_{k}"] = x
    for name, u in u_init.items():
        tensors[f"u_init.{name}"] = u
    for name, u in u_after.items():
        tensors[f"u_after.{name}"] = u
    meta = {
        "args": {k: v for k, v in vars(args).items() if not k.endswith("_dir")},
        "seed": SEED,
        "projections": PROJECTIONS,
        "variables": listed,
        "loss_d": float(loss_d),
        "loss_g": float(loss_g),
        "g_terms": {k: float(v) for k, v in values.items()},
        "per_variable": per_var,
    }
    return tensors, meta


def main() -> None:
    args = arguments(__doc__).parse_args()
    checkout = args.checkout.resolve()
    version = "v2" if (checkout / "AnimeGANv2.py").is_file() else "v1"
    if version == "v1" and not (checkout / "AnimeGAN.py").is_file():
        sys.exit(f"{checkout}: neither AnimeGANv2.py nor AnimeGAN.py; not an AnimeGAN checkout")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    vgg_weights = synthetic_vgg19(rng)
    np.save(out / "vgg19.npy", np.array(vgg_weights, dtype=object), allow_pickle=True)
    t = fixed_tensors(rng)

    tf = tf1_modules()
    tf.set_random_seed(SEED)
    stub_tools(STEP_BATCH)
    sys.path.insert(0, str(checkout))
    ops = __import__("tools.ops", fromlist=["ops"])
    vgg_module = __import__("tools.vgg19", fromlist=["vgg19"])
    chain_spectral_norm(tf, ops)
    model = __import__("AnimeGANv2" if version == "v2" else "AnimeGAN")
    spy = Spy()
    for name in (
        "con_sty_loss",
        "color_loss",
        "generator_loss",
        "discriminator_loss",
        "total_variation_loss",
    ):
        if hasattr(model, name):
            spy.wrap(model, name)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "vgg19_weight").mkdir()
        (tmp / "vgg19_weight" / "vgg19.npy").write_bytes((out / "vgg19.npy").read_bytes())
        cwd = Path.cwd()
        os.chdir(tmp)
        try:
            vgg = vgg_module.Vgg19()
            scalars, arrays = loss_functions(tf, ops, vgg, t, version)
            with tf.Session(config=single_thread(tf)) as sess:
                scalars, arrays = sess.run([scalars, arrays])
            tensors, meta = training_steps(tf, model, version, t, spy, tmp)
        finally:
            os.chdir(cwd)

    save_file({**t, **arrays}, str(out / "inputs.safetensors"))
    save_file(tensors, str(out / "steps.safetensors"))
    (out / "losses.json").write_text(
        json.dumps({k: float(v) for k, v in scalars.items()}, indent=1, sort_keys=True) + "\n"
    )
    (out / "steps.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    write_source(
        args,
        REPOS[version],
        f"{version}: tools/ops.py losses on fixed tensors, tools/vgg19.py on a synthetic "
        f"vgg19.npy, one D and one G step of build_model's graph",
        "animegan_tf.py",
    )


if __name__ == "__main__":
    main()
