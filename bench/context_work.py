"""Driver of bench/context_instructions.sh: parallel_map.py's work(20000), REPS times, on the
main thread (`main`) or in one context on one worker (`context`), after the main thread has
run it three times (so it is quickened and specialised, and both run the same bytecode) and
the worker has started. The script counts the difference between REPS=2 and REPS=0."""
import os
import sys

import parallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parallel_map import work  # noqa: E402  (the same callback the timed bench runs)

mode, reps = sys.argv[1], int(sys.argv[2])
for _ in range(3):
    work(20000)
parallel.map(work, [10], workers=1)
if mode == "main":
    for _ in range(reps):
        work(20000)
elif mode == "context":
    parallel.map(work, [20000] * reps, workers=1)
else:
    sys.exit(f"context_work.py: mode must be main or context, not {mode!r}")
