"""Runs one workload of this directory as __main__: `_run.py NAME SIZE`.

Imports `parallel` first when the interpreter has it, so pxpython's main thread is measured
as its users run it (the module loaded, every hook live); the unpatched baseline has no such
module. Both sides pay the same runpy start-up, which the size-0 run subtracts.

PX_COST_LAYOUT=k (default 0) keeps k * 61 small strs of assorted sizes alive before the
workload is compiled, which moves the addresses of its names and objects. Counts depend on
them: the type attribute cache hashes a name's address, so one layout can make two hot
(type, name) pairs collide on every lookup (richards: 384 or 413 million instructions,
depending only on where its names landed). interp_cost.sh takes the median over layouts.
"""
import os
import runpy
import sys

try:
    import parallel  # noqa: F401
except ImportError:
    pass

_layout = [("x" * (i % 48)) + str(i) for i in range(61 * int(os.environ.get("PX_COST_LAYOUT", "0")))]
name, size = sys.argv[1], sys.argv[2]
sys.argv = [name + ".py", size]
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py"),
               run_name="__main__")
