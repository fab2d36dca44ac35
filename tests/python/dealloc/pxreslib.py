"""Builds tests/ext/pxres.c for the running interpreter, once per test process, and runs
scenario scripts with it in child processes (each a fresh interpreter: tracking a type and
leaking descriptors stay out of the test process)."""
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import atexit

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "ext", "pxres.c")
_built = None


def build():
    """The directory holding the built pxres module (compiled with the interpreter's own
    compiler and flags, sanitizer flags included)."""
    global _built
    if _built is None:
        out = tempfile.mkdtemp(prefix="pxkit-pxres-")
        atexit.register(shutil.rmtree, out, True)
        target = os.path.join(out, "pxres" + sysconfig.get_config_var("EXT_SUFFIX"))
        cmd = (shlex.split(sysconfig.get_config_var("CC"))
               + shlex.split(sysconfig.get_config_var("CFLAGS") or "")
               + shlex.split(sysconfig.get_config_var("CCSHARED") or "")
               + ["-I" + sysconfig.get_paths()["include"],
                  "-I" + os.path.dirname(sysconfig.get_config_h_filename()),  # uninstalled builds
                  "-shared", SOURCE, "-o", target])
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError("building pxres failed:\n%s\n%s" % (" ".join(cmd), done.stderr))
        _built = out
    return _built


PRELUDE = """
import json, os, sys
sys.path.insert(0, %r)
import parallel, pxres

def fds():
    return len(os.listdir("/proc/self/fd"))

def snapshot():
    c = pxres.counts()
    c["fds"] = fds()
    c["malloc"] = pxres.malloc_in_use()
    return c

def report(**values):
    print("RESULT " + json.dumps(values), flush=True)
"""


def run_scenario(body, timeout=600):
    """Runs PRELUDE + body in a child interpreter; returns what it passed to report()."""
    code = PRELUDE % build() + body
    done = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code],
                          capture_output=True, text=True, timeout=timeout)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            if done.returncode != 0:
                break
            return json.loads(line[len("RESULT "):])
    raise AssertionError("scenario failed (status %d):\n--- stdout\n%s\n--- stderr\n%s"
                         % (done.returncode, done.stdout, done.stderr))
