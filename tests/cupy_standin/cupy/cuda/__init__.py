"""``cupy.cuda`` of the stand-in: virtual devices."""

from .._core import CUDARuntimeError, Device, current_device_id
from . import compiler, device, runtime

__all__ = ["CUDARuntimeError", "Device", "compiler", "device", "get_device_id", "is_available",
           "runtime"]


def is_available() -> bool:
    return True


def get_device_id() -> int:
    return current_device_id()
