"""Export: a program written out as a standalone NumPy or PyTorch module.

`module.py` assembles the module (`export_source`, `write_module`) from the
pipeline's graphs; `writer.py` turns a graph into lines of code; `code.py`
holds safe names, safe literals and the `Site` an op's emitter reads;
`numpy_ops.py` and `torch_ops.py` say how each registry op is written.
"""
from .module import TARGETS, export_source, write_module  # noqa: F401
