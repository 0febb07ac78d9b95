r"""Zero-out: the weights attached to a dropped unit receive no update (the lecture's check).

The lecture (seed 002) masks one hidden unit and shows, after training, that the weights into
and out of it are unchanged; :func:`derive.dropout.zero_out` proves why — both gradients carry
the factor :math:`D = 0`. Here the generated layers are trained one example at a time (so a
unit is either dropped or kept for the whole batch) and every step is checked:

* with plain SGD, every weight attached to a dropped unit — its column of :math:`W_1`, its
  bias :math:`b_1`, its row of :math:`W_2` — has gradient exactly 0 and does not move;
* with Adam the gradient is still exactly 0, yet the weights of a unit that was kept in an
  earlier step still move: the first-moment estimate remembers earlier gradients. Zero
  gradient is not the same as no update once an optimizer has momentum — which is why the
  lecture's fixed mask (a unit dropped in *every* step) shows no change under Adam.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from ..course import layers
from ..fc_net import FullyConnectedNet
from ..optim import update_rule
from .common import Result, Settings

__all__ = ["DEFAULTS", "NAME", "OPTIONS", "TITLE", "run"]

NAME = "zero-out"
TITLE = "Zero-out: weights attached to a dropped unit are not updated"
OPTIONS = ("learning_rate", "weight_scale")
"""The settings this experiment lets the command line change (the others it fixes itself)."""

HIDDEN = 32
DROP_RATE = 0.5
DEFAULTS = {
    "digits": Settings(epochs=1, learning_rate=1e-2, batch_size=1, num_train=60, weight_scale=0.1, seeds=(0,)),
    "cifar10": Settings(epochs=1, learning_rate=1e-3, batch_size=1, num_train=60, weight_scale=1e-2, seeds=(0,)),
}
"""``num_train`` steps of one example each; ``learning_rate`` for SGD (Adam uses 1e-3)."""


def _attached(tree: dict[str, np.ndarray], units: np.ndarray) -> np.ndarray:
    """Everything attached to the hidden ``units``: their W1 columns, b1 entries and W2 rows."""
    return np.concatenate([tree["W1"][:, units].ravel(), tree["b1"][units], tree["W2"][units, :].ravel()])


def _steps(data: dict, settings: Settings, rule: str, rate: float) -> dict:
    np.random.seed(settings.seeds[0])
    X, y = data["X_train"], data["y_train"]
    model = FullyConnectedNet([HIDDEN], input_dim=int(np.prod(X.shape[1:])), num_classes=int(y.max()) + 1,
                              weight_scale=settings.weight_scale, dtype=np.float64, dropout=DROP_RATE, seed=0)
    step_rule = update_rule(rule)
    configs = {name: {"learning_rate": rate} for name in model.params}
    records = {"dropped": [], "dropped_grad": [], "dropped_move": [], "kept_move": [], "first_step": None}
    for step in range(settings.num_train):
        model.dropout_param["seed"] = step  # the mask of this step, known in advance:
        ones, _ = layers.dropout_forward(np.ones((1, HIDDEN)), {"mode": "train", "p": model.keep, "seed": step})
        keep = ones[0] > 0
        before = {k: v.copy() for k, v in model.params.items()}
        _, grads = model.loss(X[step:step + 1], y[step:step + 1])
        for name in model.params:
            model.params[name], configs[name] = step_rule(model.params[name], grads[name], configs[name])
        moved = {k: model.params[k] - before[k] for k in before}
        dropped = np.flatnonzero(~keep)
        records["dropped"].append(int(dropped.size))
        records["dropped_grad"].append(float(np.abs(_attached(grads, dropped)).max(initial=0.0)))
        records["dropped_move"].append(float(np.abs(_attached(moved, dropped)).max(initial=0.0)))
        records["kept_move"].append(float(np.abs(_attached(moved, np.flatnonzero(keep))).max(initial=0.0)))
        if step == 0:
            records["first_step"] = {"dropped_units": dropped.tolist(),
                                     "dW1": np.abs(moved["W1"]).tolist(), "dW2": np.abs(moved["W2"]).tolist()}
    return records


def run(data: dict, settings: Settings, data_name: str = "digits") -> Result:
    """Check every step under SGD and under Adam."""
    result = Result(NAME, TITLE, data_name, {**asdict(settings), "hidden_units": HIDDEN, "drop_rate": DROP_RATE,
                                             "history_dir": None})
    for rule, rate in (("sgd", settings.learning_rate), ("adam", 1e-3)):
        result.runs[rule] = {"update_rule": rule, "learning_rate": rate, **_steps(data, settings, rule, rate)}
    result.header = ["update rule", "steps", "dropped (unit, step) pairs", "max |grad| attached to dropped",
                     "max |update| attached to dropped", "max |update| attached to kept"]
    for rule, r in result.runs.items():
        result.rows.append([rule, len(r["dropped"]), sum(r["dropped"]), f"{max(r['dropped_grad']):.1e}",
                            f"{max(r['dropped_move']):.1e}", f"{max(r['kept_move']):.1e}"])
    sgd, adam = result.runs["sgd"], result.runs["adam"]
    moved_steps = sum(m > 0 for m in adam["dropped_move"])
    result.findings = [
        f"SGD: over {len(sgd['dropped'])} steps and {sum(sgd['dropped'])} dropped (unit, step) pairs, every "
        f"weight attached to a dropped unit had gradient exactly {max(sgd['dropped_grad']):g} and moved by "
        f"exactly {max(sgd['dropped_move']):g} (kept units moved by up to {max(sgd['kept_move']):.2g}) — "
        f"{'reproduces' if max(sgd['dropped_move']) == 0 else 'does NOT reproduce'} the lecture's zero-out",
        f"Adam: the gradient of dropped units is still exactly {max(adam['dropped_grad']):g}, but in {moved_steps} "
        f"of {len(adam['dropped'])} steps their weights moved (by up to {max(adam['dropped_move']):.2g}): Adam's "
        "moment estimates carry earlier gradients, so zero-out freezes a weight only under plain SGD or "
        "when the unit has been dropped in every step so far (the lecture's fixed mask)",
    ]
    return result
