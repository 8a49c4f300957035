"""``cupy.cuda.compiler`` of the stand-in."""

__all__ = ["CompileException"]


class CompileException(Exception):
    """A kernel's CUDA text did not compile (here: its host twin)."""
