"""Every op family; importing this package fills `cgraph.registry.REGISTRY`."""
from . import internal, elementwise, binary, reductions, linalg, shape, neural, creation, data, derivatives  # noqa: F401
