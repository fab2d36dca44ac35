// probe.h — test-only functions of the `parallel` module (parallel._probe_*), each exercising
// one interpreter patch from a worker thread; tests/python/hooks/ calls them.
#pragma once

#include <Python.h>

namespace px::interp {

// parallel._probe_tstate() -> dict (patch 0002).
PyObject* probe_tstate(PyObject* module, PyObject* unused);
// parallel._probe_refcount(obj) -> dict (patch 0003).
PyObject* probe_refcount(PyObject* module, PyObject* obj);
// parallel._probe_malloc_mode_heap(on) -> None: makes (on) or destroys (off) a heap in
// malloc_per_allocation mode, which contexts must not start beside (patch 0027).
PyObject* probe_malloc_mode_heap(PyObject* module, PyObject* on);

} // namespace px::interp
