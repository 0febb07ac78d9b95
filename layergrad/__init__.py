"""layergrad: derive neural-network layers symbolically, generate NumPy code, check it, teach it."""

__all__: list[str] = []
