"""The one error type of layergrad.

Every mistake a user can make (an unknown layer name, a probability outside its range, a
file that would be overwritten) and every step a derivation cannot justify raises
:class:`LayergradError` with one readable line saying what was wrong and what is expected.
"""

from __future__ import annotations

__all__ = ["LayergradError"]


class LayergradError(ValueError):
    """What was wrong and what was expected, in one line."""
