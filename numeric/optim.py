"""The update rules (:mod:`numeric.course.optim`, the exported package's ``optim``)."""

from .course.optim import UPDATE_RULES, adam, rmsprop, sgd, sgd_momentum, sgd_momentum_cs182, update_rule

__all__ = ["UPDATE_RULES", "adam", "rmsprop", "sgd", "sgd_momentum", "sgd_momentum_cs182", "update_rule"]
