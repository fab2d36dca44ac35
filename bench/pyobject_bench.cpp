// pyobject_bench.cpp — CPython's small-object allocator (pymalloc, reached through
// PyObject_Malloc) on the batch workload of batch.h. It is what a callback's objects would
// come from without a context heap.
#include <Python.h>

#include <benchmark/benchmark.h>

#include <vector>

#include "batch.h"

namespace {

// PyObject_Malloc needs an initialised runtime and the GIL. Py_InitializeEx leaves the GIL
// with the calling thread, which is the one running the benchmarks; the interpreter is never
// finalised (the process exits when the benchmarks are done). Py_InitializeEx aborts the
// process if it fails.
void ensure_python() {
    static const bool ready = [] {
        Py_InitializeEx(0);
        return true;
    }();
    (void)ready;
}

struct PyObjectMalloc {
    PyObjectMalloc() { ensure_python(); }
    void begin() {}
    void* alloc(std::size_t n) { return PyObject_Malloc(n); }
    bool end(std::vector<char*>& blocks) {
        for (char* p : blocks)
            PyObject_Free(p);
        return true;
    }
};

[[maybe_unused]] const bool registered = [] {
    px::bench::register_batches<PyObjectMalloc>("alloc_batch/pyobject_malloc");
    return true;
}();

} // namespace
