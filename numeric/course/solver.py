r"""Minibatch training in the course notebooks' ``Solver`` API, NumPy only.

.. code-block:: python

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 5e-4},
                    lr_decay=0.95, batch_size=100, num_epochs=10)
    solver.train()
    solver.loss_history, solver.train_acc_history, solver.val_acc_history, solver.best_params

``data`` holds ``X_train``, ``y_train``, ``X_val``, ``y_val``. Each iteration draws a minibatch
(with replacement, as the notebooks do), takes the model's loss and gradients and applies the
update rule (:mod:`numeric.optim`) to every parameter with its own config. At the end of each
epoch the learning rate is multiplied by ``lr_decay``; after the first iteration, at every
epoch's end and after the last iteration, train accuracy (on ``num_train_samples`` drawn
examples) and validation accuracy are recorded, and the best parameters by validation accuracy
are kept and put back into the model when training ends.

``on_record(solver)``, if given, is called after each of those records (to take snapshots of
the model as it trains). A loss that is no longer finite is recorded and training goes on, as
in the course (its random draws, and so every seeded number after it, stay the course's); with
``stop_on_divergence=True`` it stops the run instead: ``solver.diverged`` says when, and the
best parameters seen so far are kept. With ``checkpoint_name`` the model and the histories are
pickled to ``{checkpoint_name}_epoch_{epoch}.pkl`` at every epoch's end, as the course does.

The histories can be saved as ``.npz`` (like the notebooks' ``record_histories_as_npz``; plain
arrays only, readable by ``np.load`` without pickles) or JSON; with ``history_path`` they are
written at the end of every epoch, and when a run is interrupted (Ctrl-C) what was recorded so
far is written before the interruption goes on. Every file is written atomically (a temporary
file renamed into place).
"""

import io
import json
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np

from .layers import LayergradError
from .optim import update_rule as find_rule
from .progress import ProgressBar

__all__ = ["Solver"]


def _positive(name, value, integer=False):
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok or not value > 0:
        kind = "a positive integer" if integer else "a positive number"
        raise LayergradError(f"{name} must be {kind}, got {value!r}")
    return value


class Solver:
    """Train a model with ``loss(X, y) -> (loss, grads)`` and ``params``; see the module docstring."""

    def __init__(self, model, data, *, update_rule="sgd", optim_config=None, lr_decay=1.0, batch_size=100,
                 num_epochs=10, num_train_samples=1000, num_val_samples=None, checkpoint_name=None, print_every=10,
                 verbose=True, progress=False, label="train", history_path=None, on_record=None,
                 stop_on_divergence=False):
        missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
        if missing:
            raise LayergradError(f"data is missing {', '.join(missing)}; expected X_train, y_train, X_val, y_val")
        self.model = model
        self.X_train, self.y_train = np.asarray(data["X_train"]), np.asarray(data["y_train"])
        self.X_val, self.y_val = np.asarray(data["X_val"]), np.asarray(data["y_val"])
        for part in ("train", "val"):
            X, y = getattr(self, f"X_{part}"), getattr(self, f"y_{part}")
            if X.ndim < 2 or y.shape != (X.shape[0],) or X.shape[0] == 0:
                raise LayergradError(
                    f"X_{part} must hold one example per row and y_{part} one label per example; "
                    f"got X_{part} {X.shape}, y_{part} {y.shape}"
                )
        self.update_rule = find_rule(update_rule)
        self.update_rule_name = update_rule
        self.optim_config = dict(optim_config or {})
        _positive("learning rate", self.optim_config.get("learning_rate", 1e-2))
        self.lr_decay = _positive("lr_decay", lr_decay)
        self.batch_size = _positive("batch_size", batch_size, integer=True)
        self.num_epochs = _positive("num_epochs", num_epochs, integer=True)
        self.num_train_samples = num_train_samples
        self.num_val_samples = num_val_samples
        self.checkpoint_name = checkpoint_name
        self.print_every = _positive("print_every", print_every, integer=True)
        self.verbose = verbose
        self.progress = progress
        self.label = label
        self.history_path = Path(history_path) if history_path is not None else None
        self.on_record = on_record
        self.stop_on_divergence = bool(stop_on_divergence)
        self._reset()

    def _reset(self):
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.optim_configs = {name: dict(self.optim_config) for name in self.model.params}
        self.diverged = None

    def _step(self):
        batch = np.random.choice(self.X_train.shape[0], self.batch_size)
        loss, grads = self.model.loss(self.X_train[batch], self.y_train[batch])
        if not np.isfinite(loss) and self.stop_on_divergence:
            raise FloatingPointError(f"the loss became {loss} at iteration {len(self.loss_history) + 1}")
        self.loss_history.append(float(loss))
        for name, w in self.model.params.items():
            next_w, self.optim_configs[name] = self.update_rule(w, grads[name], self.optim_configs[name])
            self.model.params[name] = next_w

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of ``X`` classified as ``y`` (on ``num_samples`` drawn rows if given)."""
        if num_samples is not None and X.shape[0] > num_samples:
            rows = np.random.choice(X.shape[0], num_samples)
            X, y = X[rows], y[rows]
        predictions = [np.argmax(self.model.loss(X[start:start + batch_size]), axis=1)
                       for start in range(0, X.shape[0], batch_size)]
        return float(np.mean(np.concatenate(predictions) == y))

    def train(self):
        """Run the optimization; see the module docstring."""
        iterations_per_epoch = max(self.X_train.shape[0] // self.batch_size, 1)
        total = self.num_epochs * iterations_per_epoch
        bar = ProgressBar(total, self.label, enabled=self.progress)
        try:
            for t in range(total):
                try:
                    self._step()
                except FloatingPointError as error:  # say so, stop, keep the best parameters seen
                    self.diverged = str(error)
                    break
                if self.verbose and t % self.print_every == 0:
                    print(f"(Iteration {t + 1} / {total}) loss: {self.loss_history[-1]:f}")
                epoch_end = (t + 1) % iterations_per_epoch == 0
                if epoch_end:
                    self.epoch += 1
                    for config in self.optim_configs.values():
                        config["learning_rate"] = config.get("learning_rate", 1e-2) * self.lr_decay
                if t == 0 or t == total - 1 or epoch_end:
                    self._record_accuracy()
                    self._save_checkpoint()
                    if epoch_end and self.history_path is not None:
                        self.save_histories(self.history_path)
                val = f"val acc {self.val_acc_history[-1]:.3f}" if self.val_acc_history else ""
                bar.update(t + 1, f"epoch {self.epoch}/{self.num_epochs} loss {self.loss_history[-1]:.4f} {val}")
        except KeyboardInterrupt:
            bar.close()
            if self.history_path is not None:
                self.save_histories(self.history_path)
            raise
        bar.close()
        if self.verbose and self.diverged:
            print(f"stopped: {self.diverged}")
        if self.best_params:
            self.model.params = {k: v.copy() for k, v in self.best_params.items()}
        if self.history_path is not None:
            self.save_histories(self.history_path)

    def _record_accuracy(self):
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if self.verbose:
            print(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; val_acc: {val_acc:f}")
        if val_acc > self.best_val_acc or not self.best_params:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        if self.on_record is not None:
            self.on_record(self)

    def _save_checkpoint(self):
        """With ``checkpoint_name``: the model, settings and histories, pickled as the course does."""
        if self.checkpoint_name is None:
            return
        checkpoint = {
            "model": self.model, "update_rule": self.update_rule, "lr_decay": self.lr_decay,
            "optim_config": self.optim_config, "batch_size": self.batch_size,
            "num_train_samples": self.num_train_samples, "num_val_samples": self.num_val_samples,
            "epoch": self.epoch, "loss_history": self.loss_history, "train_acc_history": self.train_acc_history,
            "val_acc_history": self.val_acc_history,
        }
        filename = f"{self.checkpoint_name}_epoch_{self.epoch}.pkl"
        if self.verbose:
            print(f'Saving checkpoint to "{filename}"')
        self._write(Path(filename), pickle.dumps(checkpoint), force=True)

    def _write(self, path, data, force=False):
        """Write ``data`` (bytes or text) to ``path`` atomically: a temporary file in the same
        folder, renamed into place."""
        path = Path(path)
        raw = data.encode() if isinstance(data, str) else data
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(raw)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path

    def histories(self):
        """The recorded histories and the settings that produced them (JSON-ready)."""
        return {
            "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history,
            "val_acc_history": self.val_acc_history,
            "best_val_acc": self.best_val_acc,
            "diverged": self.diverged,
            "epochs_completed": self.epoch,
            "num_epochs": self.num_epochs,
            "update_rule": self.update_rule_name,
            "learning_rate": self.optim_config.get("learning_rate", 1e-2),
            "lr_decay": self.lr_decay,
            "batch_size": self.batch_size,
        }

    def save_histories(self, path, force=False):
        """Write the histories as ``.json`` or ``.npz`` (chosen by the suffix), atomically. In
        ``.npz`` every entry is a plain array (``diverged`` is ``""`` when the run did not)."""
        path = Path(path)
        histories = self.histories()
        if path.suffix == ".json":
            return self._write(path, json.dumps(histories, indent=1) + "\n", force)
        if path.suffix == ".npz":
            buffer = io.BytesIO()
            np.savez(buffer, **{k: np.asarray("" if v is None else v) for k, v in histories.items()})
            return self._write(path, buffer.getvalue(), force)
        raise LayergradError(f"histories are saved as .json or .npz, not {path.name!r}")

    def record_histories_as_npz(self, path):
        """The CS182 notebooks' name for saving the histories as ``.npz``."""
        path = Path(path)
        return self.save_histories(path if path.suffix == ".npz" else path.with_name(path.name + ".npz"))
