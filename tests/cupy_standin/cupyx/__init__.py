"""``cupyx`` of the CuPy stand-in (``cupyx.scipy.special``)."""
