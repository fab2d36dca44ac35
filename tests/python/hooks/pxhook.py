"""Shared by the hook tests: run a snippet in a fresh pxpython, so caches start cold."""
import os
import subprocess
import sys


def run_fresh(code, timeout=120, env=None):
    """Runs `code` with this interpreter in a new process (poison mode on: rewound pages
    fault), returns the CompletedProcess; stdout and stderr are text."""
    full_env = dict(os.environ, PXKIT_POISON="1")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], capture_output=True,
                          text=True, timeout=timeout, env=full_env)
