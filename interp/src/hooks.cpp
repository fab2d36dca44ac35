// hooks.cpp — the functions the patched interpreter calls (Include/pxkit.h): main-heap
// sections and the mutation guard's refusal.
#include <mutex>

#include <pxkit.h>

#include "px/guards.h"
#include "px/interp.h"

namespace px::interp {
namespace {

std::mutex g_section;       // held by a worker in a main-heap section, or by the main thread
bool g_main_parked = false; // guarded by g_section
ErrorTypes g_errors;

// A worker's section state. `saved` is the context it left to act as the main thread.
struct Section {
    PxContext* saved = nullptr;
    int depth = 0;
};
thread_local Section t_section;

} // namespace

void park_main() {
    std::lock_guard lock(g_section);
    g_main_parked = true;
}

void unpark_main() {
    std::lock_guard lock(g_section);
    g_main_parked = false;
}

MainHeapTurn::MainHeapTurn() { g_section.lock(); }
MainHeapTurn::~MainHeapTurn() { g_section.unlock(); }

void set_error_types(const ErrorTypes& types) { g_errors = types; }
const ErrorTypes& error_types() { return g_errors; }

} // namespace px::interp

using px::interp::g_errors;
using px::interp::g_main_parked;
using px::interp::g_section;
using px::interp::t_section;

extern "C" int PxInterp_main_heap_enter(void) {
    if (t_section.depth > 0) { // nested: already acting as the main thread
        ++t_section.depth;
        return 1;
    }
    if (PxCtx_current == nullptr)
        return 1; // the main thread, or a thread outside any context: nothing to switch
    g_section.lock();
    if (!g_main_parked) {
        g_section.unlock();
        PyErr_SetString(PyExc_RuntimeError,
                        "pxkit: this operation fills a cache owned by the main thread, which is "
                        "possible in a parallel context only while the main thread waits in "
                        "parallel.map() or parallel.run()");
        return 0;
    }
    t_section.saved = PxCtx_current;
    t_section.depth = 1;
    PxCtx_current = nullptr; // allocate, refcount and GC-track as the main thread does
    return 1;
}

extern "C" void PxInterp_main_heap_exit(void) {
    if (t_section.depth == 0)
        return; // the matching enter switched nothing
    if (--t_section.depth > 0)
        return;
    PxCtx_current = t_section.saved;
    t_section.saved = nullptr;
    g_section.unlock();
}

extern "C" PyObject* PxInterp_intern_lookup(PyObject* interned, PyObject* s) {
    // Hashed here, in the context: inside the section the hash of a main str would be stored
    // into it while other contexts read it without the section lock.
    Py_hash_t hash = PyObject_Hash(s);
    if (hash == -1 || !PxInterp_main_heap_enter()) {
        PyErr_Clear(); // not interning is always correct, only slower
        return nullptr;
    }
    PyObject* t = _PyDict_GetItem_KnownHash(interned, s, hash); // borrowed, main-owned
    if (t == nullptr)
        PyErr_Clear();
    PxInterp_main_heap_exit();
    return t;
}

extern "C" int PxInterp_refuse_write(PyObject* obj, const char* what) {
    PyObject* type = g_errors.mutation_error ? g_errors.mutation_error : PyExc_RuntimeError;
    const char* kind = "a";
    const char* name = Py_TYPE(obj)->tp_name;
    if (PyType_Check(obj)) { // a class: name it, since every class's type is just "type"
        kind = "the class";
        name = reinterpret_cast<PyTypeObject*>(obj)->tp_name;
    }
    PyErr_Format(type,
                 "%s on %s %.200s owned by the main thread is not allowed in a parallel "
                 "context: main-thread objects are read-only there. Share mutable state "
                 "through parallel.protect(obj), parallel.dict() or parallel.list(), or return "
                 "the value from the callback (or a modified copy) and update it on the main "
                 "thread",
                 what, kind, name);
    return -1;
}
