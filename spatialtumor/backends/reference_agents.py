"""NumPy reference kernels for agents (filled in by the agents layer)."""


def deposit_sorted(*args, **kwargs):  # pragma: no cover - placeholder until agents land
    raise NotImplementedError


def pair_forces(*args, **kwargs):  # pragma: no cover - placeholder until agents land
    raise NotImplementedError
