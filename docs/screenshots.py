"""Open the built site in headless Chromium: check that the math rendered (MathJax turned
every TeX span into an ``mjx-container``, no raw TeX is left) and save screenshots of
the landing page, a surrogate page, the overview, the translation table and a tutorial
into ``docs/screenshots/``.

    python -m sphinx -W -b html docs docs/_build/html   # build first
    python docs/screenshots.py [docs/_build/html]

Needs Chromium (``apt-get install chromium``, or ``$CHROMIUM``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGES = {"landing": "index.html", "atan": "generated/surrogates/atan.html",
         "overview": "overview.html", "translation": "generated/translation.html",
         "tutorial": "tutorials/snntorch.html"}


def chromium() -> str:
    for cand in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if cand and shutil.which(cand):
            return shutil.which(cand)  # type: ignore[return-value]
    raise SystemExit("no Chromium found (apt-get install chromium, or set $CHROMIUM)")


def _run(args: list[str]) -> str:
    base = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
            "--allow-file-access-from-files", "--virtual-time-budget=15000"]
    res = subprocess.run(base + args, capture_output=True, text=True, timeout=180)
    return res.stdout


def rendered_math(page: Path) -> tuple[int, list[str]]:
    """(number of MathJax containers, raw TeX fragments left in the visible text)."""
    dom = _run(["--dump-dom", page.as_uri()])
    containers = dom.count("<mjx-container")
    body = re.sub(r"<(script|style|mjx-container)[\s\S]*?</\1>", "", dom)
    text = re.sub(r"<[^>]+>", " ", body)
    raw = re.findall(r"\\\(|\\\[|\\frac|\\mathrm|\$\$", text)
    return containers, raw


def screenshot(page: Path, out: Path, height: int = 1800) -> None:
    _run([f"--screenshot={out}", f"--window-size=1280,{height}", page.as_uri()])


def main() -> None:
    site = (Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "_build" / "html").resolve()
    out = HERE / "screenshots"
    out.mkdir(exist_ok=True)
    failed = False
    for name, rel in PAGES.items():
        page = site / rel
        n, raw = rendered_math(page)
        print(f"{rel}: {n} rendered formulas, {len(raw)} raw TeX fragments")
        failed |= (name == "atan" and n == 0) or bool(raw)
        screenshot(page, out / f"{name}.png", 2400 if name == "overview" else 1800)
        print(f"  screenshot: {out / (name + '.png')}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
