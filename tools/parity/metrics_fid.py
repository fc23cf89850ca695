"""FID fixtures computed by NVlabs/stylegan2-ada-pytorch's own metric code.

Usage: ``python tools/parity/metrics_fid.py REFERENCE_CHECKOUT -o tests/metrics/parity``

Runs ``metrics/frechet_inception_distance.py`` ``compute_fid`` on fixed feature sets: the two
feature-statistics functions it calls (``metric_utils.compute_feature_stats_for_dataset`` and
``..._for_generator``, which would run the Inception detector) are replaced at run time by
functions returning ``metric_utils.FeatureStats`` filled with the fixed features, so NVlabs' own
statistics (``FeatureStats.get_mean_cov``) and FID arithmetic (``scipy.linalg.sqrtm``) produce the
recorded numbers. Writes ``fid_nvlabs.npz`` (features, NVlabs' means and covariances, its FID)
and ``SOURCE``. One more run-time patch: an empty ``requests`` module when the package is absent
(``dnnlib/util.py`` imports it for downloads, which are never made here).
"""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import numpy as np
from maker import arguments, write_source

REPO = "https://github.com/NVlabs/stylegan2-ada-pytorch"
SETS = {"real": (300, 0.0, 1.0), "gen": (200, 0.3, 1.4)}
"""Name -> (number of vectors, mean shift, scale); 16-d features, seeded."""
DIM = 16


def main() -> None:
    args = arguments(__doc__).parse_args()
    sys.path.insert(0, str(args.checkout))
    try:
        import requests  # noqa: F401
    except ImportError:
        sys.modules["requests"] = types.ModuleType("requests")
    from metrics import frechet_inception_distance, metric_utils

    rng = np.random.default_rng(0)
    mix = rng.normal(size=(DIM, DIM)) / np.sqrt(DIM)
    feats = {
        name: (rng.normal(size=(n, DIM)) @ mix * scale + shift).astype(np.float32)
        for name, (n, shift, scale) in SETS.items()
    }
    stats = {}
    for name, f in feats.items():
        s = metric_utils.FeatureStats(capture_mean_cov=True, max_items=len(f))
        s.append(f)
        stats[name] = s

    def dataset_stats(**_: object) -> object:
        return stats["real"]

    def generator_stats(**_: object) -> object:
        return stats["gen"]

    metric_utils.compute_feature_stats_for_dataset = dataset_stats
    metric_utils.compute_feature_stats_for_generator = generator_stats
    fid = frechet_inception_distance.compute_fid(SimpleNamespace(rank=0), None, None)
    out = {f"features_{k}": v for k, v in feats.items()}
    for name, s in stats.items():
        out[f"mu_{name}"], out[f"sigma_{name}"] = s.get_mean_cov()
    out["fid"] = np.array(fid)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "fid_nvlabs.npz", **out)
    write_source(
        args,
        REPO,
        "metrics/frechet_inception_distance.py compute_fid, metrics/metric_utils.py FeatureStats",
        "metrics_fid.py",
    )


if __name__ == "__main__":
    main()
