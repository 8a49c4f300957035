"""``cupy.cuda.runtime`` of the stand-in."""

from .._core import DEVICE_COUNT, CUDARuntimeError, current_device_id

__all__ = ["CUDARuntimeError", "getDevice", "getDeviceCount"]


def getDeviceCount() -> int:
    return DEVICE_COUNT


def getDevice() -> int:
    return current_device_id()
