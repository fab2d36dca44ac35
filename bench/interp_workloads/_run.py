"""Runs one workload of this directory as __main__: `_run.py NAME SIZE`.

Imports `parallel` first when the interpreter has it, so pxpython's main thread is measured
as its users run it (the module loaded, every hook live); the unpatched baseline has no such
module. Both sides pay the same runpy start-up, which the size-0 run subtracts.
"""
import os
import runpy
import sys

try:
    import parallel  # noqa: F401
except ImportError:
    pass

name, size = sys.argv[1], sys.argv[2]
sys.argv = [name + ".py", size]
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py"),
               run_name="__main__")
