"""Every op family. Importing this package declares every op in the registry
(`cgraph.registry.REGISTRY`); the graph IR imports it, so any graph has them all."""
from ..registry import REGISTRY, builtins, get  # noqa: F401  (the filled table)
from . import (internal, fused, elementwise, binary, reductions, linalg, shape, neural,  # noqa: F401
               creation, data, transforms)
