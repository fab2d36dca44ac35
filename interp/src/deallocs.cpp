// deallocs.cpp — PX_DEALLOC (API.md): instances of tracked types that a callback made and
// left alive get tp_dealloc before the context's memory is released.
//
// The interpreter tracks an object as it is made in a context (patch 0022, into the
// context's px::DeallocList, keyed by its memory block) and the context's free untracks it
// when a normal death frees that block (allocator.cpp). When a callback is over and its
// thread state cleared, nothing Python can reach is left in its heap, so what is still
// tracked is garbage no refcount will free (a reference cycle; contexts run no GC): its
// tp_dealloc runs then, newest first, on the callback's thread, before the rewind releases
// the memory. Meanwhile frees of that heap's blocks are skipped: an object of a cycle that a
// later dealloc still decrefs stays intact (refcount 0 -> -1, never a second dealloc).
#include <cstdio>

#include <pxkit.h>

#include "callbacks.h"
#include "px/guards.h"
#include "px/interp.h"

namespace px::interp {

__thread px::Heap* t_frees_skipped __attribute__((tls_model("local-exec"))) =
    nullptr; // see PxInterp_context_free

namespace {

void dealloc_now(void* object) {
    auto* op = static_cast<PyObject*>(object);
    if (PxCtx_current == nullptr || _PyThreadState_UncheckedGet() == nullptr) {
        // A rewind outside run_tracked_deallocs() (cannot happen in pxkit's own loops).
        std::fprintf(stderr,
                     "pxkit: a %s outlived its callback where no Python runs; its "
                     "tp_dealloc is skipped\n",
                     Py_TYPE(op)->tp_name);
        return;
    }
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    Py_SET_REFCNT(op, 0); // as when its last reference goes
    _Py_Dealloc(op);
    if (PyErr_Occurred())
        PyErr_WriteUnraisable(nullptr);
    PyErr_Restore(type, value, traceback);
}

} // namespace

std::size_t run_tracked_deallocs() {
    PxContext* ctx = PxCtx_current;
    if (ctx == nullptr || ctx->deallocs == nullptr || ctx->deallocs->size() == 0)
        return 0;
    px::Heap* saved = t_frees_skipped;
    t_frees_skipped = &ctx->deallocs->heap();
    std::size_t ran = ctx->deallocs->run_all();
    t_frees_skipped = saved;
    return ran;
}

} // namespace px::interp

extern "C" void PxInterp_track_dealloc(PyObject* op, void* block) {
    PxContext* ctx = PxCtx_current;
    if (ctx->deallocs == nullptr || &ctx->deallocs->heap() != ctx->heap)
        return; // a section or a session: nothing rewinds it after the callback
    if (ctx->deallocs->track(op, &px::interp::dealloc_now, block) == px::TrackStatus::out_of_memory)
        std::fprintf(stderr,
                     "pxkit: no memory to track a %s for PX_DEALLOC; if it outlives "
                     "its callback, its tp_dealloc will not run\n",
                     Py_TYPE(op)->tp_name);
}

namespace px::interp {
namespace {
PyObject* g_tracked = nullptr; // a main-owned list of the types track_dealloc() was given
} // namespace

PyObject* track_dealloc(PyObject*, PyObject* type) {
    if (PxCtx_current != nullptr) {
        PyErr_SetString(PyExc_RuntimeError,
                        "parallel.track_dealloc() changes a type, so it runs on the main thread "
                        "only: call it before parallel.map() or parallel.run()");
        return nullptr;
    }
    if (!PyType_Check(type)) {
        PyErr_Format(PyExc_TypeError, "parallel.track_dealloc() takes a type, not %.200s",
                     Py_TYPE(type)->tp_name);
        return nullptr;
    }
    if (g_tracked == nullptr && (g_tracked = PyList_New(0)) == nullptr)
        return nullptr;
    auto* t = reinterpret_cast<PyTypeObject*>(type);
    int known = PySequence_Contains(g_tracked, type);
    if (known < 0 || (known == 0 && PyList_Append(g_tracked, type) < 0))
        return nullptr;
    t->tp_flags |= Py_TPFLAGS_PX_DEALLOC;
    Py_INCREF(type);
    return type;
}

PyObject* tracked_types(PyObject*, PyObject*) {
    if (g_tracked == nullptr)
        return PyTuple_New(0);
    return PyList_AsTuple(g_tracked);
}

} // namespace px::interp
