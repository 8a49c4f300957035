"""Census of the fuzzer's findings without shrinking: ``python -m tests.fuzz_census [N]
[name ...]`` draws N examples per entry and prints every failing path, grouped."""

from __future__ import annotations

import sys
import time
import warnings
from collections import Counter

import spikegrad

from . import _fuzz
from .test_fuzz import _OBJECTS, ENTRIES, USER, examples


def main() -> None:
    warnings.simplefilter("ignore")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    names = sys.argv[2:] or [*ENTRIES, *USER]
    counter: dict[str, int] = {}
    tally: Counter[str] = Counter()
    t0 = time.perf_counter()
    for name in names:
        for _ in range(n):
            ex_name, params, xs, _ = examples(name).example()
            s = spikegrad.get(_OBJECTS[ex_name], **params)
            for f in _fuzz.check_example(s, xs, _fuzz.paths(), counter):
                tally[f"{name} {f.path} {f.dtype}"] += 1
                print(f"{s!r}: {f}", flush=True)
    print(f"# {counter.get('cases', 0)} cases in {time.perf_counter() - t0:.0f} s; "
          f"{sum(tally.values())} failing (path, dtype) results")
    for k, v in tally.most_common():
        print(f"#   {v:4d} {k}")


if __name__ == "__main__":
    main()
