"""``cupy.cuda.device`` of the stand-in."""

from .._core import Device

__all__ = ["Device"]
