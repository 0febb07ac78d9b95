r"""Code generation: from derived expressions to the NumPy source of generated modules.

One pipeline for every layer, built-in or defined:

* :mod:`.printer` — the one printer (:class:`~.printer.ArrayPrinter`, SymPy's NumPy printer);
* :mod:`.lowering` — index expressions (and entries of matrix expressions) to vectorized
  statements: broadcast arrays whose axes are index symbols, hoisted reductions as matrix
  products, ``einsum`` or ``sum``, gathers, stable forms; and the normal-form programs of the
  normalization layers;
* :mod:`.windows` — layouts, window views, scatters, contractions and literal loops of the
  windowed layers (convolution, pooling);
* :mod:`.module` — a generated module: functions, shared helpers, header and hash.

Importing this package imports nothing heavy: writing a file checks :func:`.module.is_untouched`
without SymPy.
"""

__all__: list[str] = []
