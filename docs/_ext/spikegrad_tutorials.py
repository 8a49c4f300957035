"""Sphinx extension: tutorials that run during the build.

On ``source-read`` of a page under ``tutorials/`` it executes the page's Python blocks in
order (one namespace per page); an exception is reported as a warning, which ``-W`` turns
into a failed build.
"""

from __future__ import annotations

import re
import traceback
from typing import Any

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)


_PY = re.compile(r"```python\n(.*?)```", re.S)


def run_tutorial(app: Any, docname: str, source: list[str]) -> None:
    if not docname.startswith("tutorials/"):
        return
    namespace: dict[str, Any] = {"__name__": f"tutorial_{docname.replace('/', '_')}"}
    for i, block in enumerate(_PY.findall(source[0])):
        try:
            exec(compile(block, f"{docname}[block {i + 1}]", "exec"), namespace)
        except Exception:  # reported as a build warning (an error under -W)
            LOGGER.warning("tutorial %s, block %d failed:\n%s", docname, i + 1,
                           traceback.format_exc(), location=docname)
            return


def setup(app: Any) -> dict[str, Any]:
    app.connect("source-read", run_tutorial)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
