// probe.h — test-only functions of the `parallel` module (parallel._probe_*), each exercising
// one interpreter patch from a worker thread; tests/python/hooks/ calls them.
#pragma once

#include <Python.h>

namespace px::interp {

// parallel._probe_tstate() -> dict (patch 0002).
PyObject* probe_tstate(PyObject* module, PyObject* unused);
// parallel._probe_refcount(obj) -> dict (patch 0003).
PyObject* probe_refcount(PyObject* module, PyObject* obj);

} // namespace px::interp
