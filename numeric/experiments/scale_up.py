r"""Scale-up: inverted dropout multiplies every kept unit by exactly :math:`1/(1 - r)`.

The lecture (seed 002) runs Keras' ``Dropout(rate=0.5)`` and points at the outputs: each is
either 0 (zeroed out) or twice its input (scaled up), whatever number of units happens to be
dropped. Here the generated ``dropout_forward`` gets a hidden layer's real activations (the
first ReLU layer of a net on the data) and, for several drop rates :math:`r`:

* every kept output divided by its input is :math:`1/(1 - r)` to the last bit (the mask holds
  :math:`1/q` and the output is mask × input);
* the fraction of zeroed outputs is :math:`r` within a binomial bound;
* averaged over many draws the output's mean equals the input's (the reason for scaling up),
  and at test time the layer is the identity.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from ..course import layers
from ..fc_net import FullyConnectedNet
from .common import Result, Settings

__all__ = ["DEFAULTS", "NAME", "OPTIONS", "TITLE", "run"]

NAME = "scale-up"
TITLE = "Scale-up: kept units are multiplied by 1/(1 − rate)"
OPTIONS = ("weight_scale",)
"""The settings this experiment lets the command line change (the others it fixes itself)."""

RATES = (0.2, 0.5, 0.8)
DRAWS = 200
Z = 6.0
DEFAULTS = {
    "digits": Settings(num_train=200, weight_scale=0.1, seeds=(0,)),
    "cifar10": Settings(num_train=200, weight_scale=1e-2, seeds=(0,)),
}
"""``num_train`` examples go through the first layer; the activations are what dropout sees."""


def _activations(data: dict, settings: Settings) -> np.ndarray:
    np.random.seed(settings.seeds[0])
    X = data["X_train"][: settings.num_train]
    model = FullyConnectedNet([100], input_dim=int(np.prod(X.shape[1:])), num_classes=10,
                              weight_scale=settings.weight_scale, dtype=np.float64)
    return model.hidden_activations(X)[0]


def run(data: dict, settings: Settings, data_name: str = "digits") -> Result:
    """Measure scale, zero fraction and mean for every rate."""
    h = _activations(data, settings)
    positive = h > 0
    result = Result(NAME, TITLE, data_name, {**asdict(settings), "rates": list(RATES), "draws": DRAWS,
                                             "history_dir": None})
    for draw_seed, rate in enumerate(RATES):
        keep = 1 - rate
        param = {"mode": "train", "p": keep, "seed": draw_seed}
        out, _ = layers.dropout_forward(h, param)
        kept = (out != 0) & positive
        scale = out[kept] / h[kept]
        np.random.seed(1000 + draw_seed)
        means = [float(layers.dropout_forward(h, {"mode": "train", "p": keep})[0].mean()) for _ in range(DRAWS)]
        test_out, _ = layers.dropout_forward(h, {"mode": "test", "p": keep})
        zero_fraction = float(np.mean(out[positive] == 0))
        bound = Z * np.sqrt(rate * keep / positive.sum())
        sample = np.random.default_rng(draw_seed).choice(h.size, size=min(600, h.size), replace=False)
        result.runs[f"rate{rate:.2f}"] = {
            "rate": rate, "expected_scale": 1 / keep,
            "scale_min": float(scale.min()), "scale_max": float(scale.max()),
            "max_relative_scale_error": float(np.max(np.abs(scale * keep - 1))),
            "zero_fraction": zero_fraction, "zero_fraction_bound": float(bound),
            "input_mean": float(h.mean()), "output_means": means,
            "test_is_identity": bool(np.array_equal(test_out, h)),
            "sample_in": h.ravel()[sample].tolist(), "sample_out": out.ravel()[sample].tolist(),
        }
    result.header = ["drop rate", "expected scale 1/(1−r)", "measured scale (kept units)", "zero fraction",
                     f"mean out / mean in ({DRAWS} draws)", "test = identity"]
    for r in result.runs.values():
        ratio = np.array(r["output_means"]) / r["input_mean"]
        result.rows.append([f"{r['rate']:.2f}", f"{r['expected_scale']:.4f}",
                            f"{r['scale_min']:.15g} … {r['scale_max']:.15g}",
                            f"{r['zero_fraction']:.4f} (expected {r['rate']:.2f} ± {r['zero_fraction_bound']:.4f})",
                            f"{ratio.mean():.4f} ± {ratio.std():.4f}", "yes" if r["test_is_identity"] else "NO"])
    worst = max(r["max_relative_scale_error"] for r in result.runs.values())
    zeros_ok = all(abs(r["zero_fraction"] - r["rate"]) <= r["zero_fraction_bound"] for r in result.runs.values())
    result.findings = [
        f"every kept unit is scaled by 1/(1 − r) to within {worst:.1e} relative error at rates "
        f"{', '.join(f'{r:g}' for r in RATES)} (×{', ×'.join(f'{1 / (1 - r):g}' for r in RATES)}), "
        "the dropped ones are "
        f"exactly 0 — {'reproduces' if worst < 1e-15 else 'does NOT reproduce'} the lecture's scale-up",
        f"zero fractions {'all lie' if zeros_ok else 'do NOT all lie'} within {Z:g}σ of the rate; the output mean "
        "equals the input mean on average, and test mode returns the input unchanged",
    ]
    return result
