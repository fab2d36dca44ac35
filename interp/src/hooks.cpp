// hooks.cpp — the functions the patched interpreter calls (Include/pxkit.h): main-heap
// sections, owner scopes, the mutation guard's refusal and persistence on a session.
#include <cstring>
#include <mutex>
#include <string>

#include <pxkit.h>

#include "callbacks.h"
#include "px/guards.h"
#include "px/interp.h"

extern "C" int PxInterp_contexts_running = 0; // Include/pxkit.h: written in park_main()

namespace px::interp {
namespace {

std::mutex g_section;       // held by a worker in a main-heap section, or by the main thread
bool g_main_parked = false; // written under g_section, by the main thread only
ErrorTypes g_errors;

// A worker's section state. `saved` is the context it left to act as the main thread.
struct Section {
    PxContext* saved = nullptr;
    int depth = 0;
};
thread_local Section t_section;

} // namespace

// While parked, contexts may run, so the main thread writes none of the caches they read
// (Include/pxkit.h, PxInterp_contexts_running). Callbacks start after park_main() returns
// and have ended before unpark_main() is called, and workers read the flag only in a
// main-heap section (under g_section): plain accesses suffice.
void park_main() {
    std::lock_guard lock(g_section);
    g_main_parked = true;
    PxInterp_contexts_running = 1;
}

void unpark_main() {
    std::lock_guard lock(g_section);
    g_main_parked = false;
    PxInterp_contexts_running = 0;
}

bool main_parked() { return g_main_parked; } // the main thread reads its own write

bool check_contexts_can_start(const char* what) {
    if (main_parked()) {
        PyErr_Format(PyExc_RuntimeError,
                     "parallel.%s() cannot start while parallel.map() or parallel.run() is "
                     "waiting (this function runs for a context through "
                     "call_from_main_thread); return, and call it after they end",
                     what);
        return false;
    }
    if (!px::reserve_region()) {
        PyErr_Format(PyExc_MemoryError,
                     "parallel.%s() cannot reserve the address range context heaps live in "
                     "(PX_REGION_GIB GiB, 64 by default): the OS refused it (under `ulimit -v` "
                     "or valgrind); set PX_REGION_GIB to fewer GiB, or raise the limit",
                     what);
        return false;
    }
    if (__atomic_load_n(&PxHeap_region.malloc_heaps, __ATOMIC_RELAXED) != 0) {
        PyErr_Format(PyExc_RuntimeError,
                     "parallel.%s() cannot start contexts while a px::Heap in "
                     "malloc_per_allocation mode exists (the interpreter finds context memory "
                     "by its address in the heap region); destroy that heap first",
                     what);
        return false;
    }
    return true;
}

thread_local int t_turns = 0; // MainHeapTurns open on this thread (the main thread's)

MainHeapTurn::MainHeapTurn() {
    g_section.lock();
    ++t_turns;
}
MainHeapTurn::~MainHeapTurn() {
    --t_turns;
    g_section.unlock();
}

bool in_main_turn() { return t_turns > 0; }
void suspend_main_turn() { g_section.unlock(); }
void resume_main_turn() { g_section.lock(); }

void set_error_types(const ErrorTypes& types) { g_errors = types; }
const ErrorTypes& error_types() { return g_errors; }

} // namespace px::interp

using px::interp::g_errors;
using px::interp::g_main_parked;
using px::interp::g_section;
using px::interp::t_section;

bool px::interp::in_main_section() { return t_section.depth > 0; }

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

// ---- owner scopes: act as an object's owner (Include/pxkit.h, PxInterp_owner_enter) -------

namespace {

// What each open owner scope of this thread did, innermost last.
struct OwnerScopes {
    enum Kind : unsigned char { nothing, main_section, heap_switch };
    static constexpr int max_depth = 32; // scopes nest only through lazy caches of caches
    Kind kind[max_depth];
    px::Heap* saved[max_depth]; // the heap a heap_switch replaced
    int depth = 0;
    px::Heap* base = nullptr; // the callback's own heap while a switch is open
};
thread_local OwnerScopes t_owner;

bool push_owner(OwnerScopes::Kind kind, px::Heap* saved) {
    if (t_owner.depth == OwnerScopes::max_depth) {
        PyErr_SetString(PyExc_RecursionError, "pxkit: owner scopes nested too deeply");
        return false;
    }
    t_owner.kind[t_owner.depth] = kind;
    t_owner.saved[t_owner.depth] = saved;
    ++t_owner.depth;
    return true;
}

} // namespace

namespace px::interp {

bool enter_heap(px::Heap& heap) {
    PxContext* ctx = PxCtx_current;
    if (!push_owner(OwnerScopes::heap_switch, ctx->heap))
        return false;
    if (t_owner.base == nullptr)
        t_owner.base = ctx->heap;
    ctx->heap = &heap;
    return true;
}

void exit_heap() { PxInterp_owner_exit(); }

} // namespace px::interp

extern "C" int PxInterp_owner_enter(PyObject* op) {
    PxContext* ctx = PxCtx_current;
    px::Heap* owner = ctx != nullptr ? px::owner_of(op) : nullptr;
    if (ctx == nullptr || owner == ctx->heap)
        return push_owner(OwnerScopes::nothing, nullptr) ? 1 : 0;
    if (owner == nullptr) {
        if (!PxInterp_main_heap_enter())
            return 0;
        if (!push_owner(OwnerScopes::main_section, nullptr)) {
            PxInterp_main_heap_exit();
            return 0;
        }
        return 1;
    }
    // The session, or (from the session) back to the callback's own heap.
    if (owner == ctx->session || (owner == t_owner.base && t_owner.base != nullptr))
        return px::interp::enter_heap(*owner) ? 1 : 0;
    PyErr_Format(PyExc_RuntimeError,
                 "pxkit: a %.200s of another parallel context cannot be changed from this one",
                 Py_TYPE(op)->tp_name);
    return 0;
}

extern "C" void PxInterp_owner_exit(void) {
    if (t_owner.depth == 0)
        return;
    int top = --t_owner.depth;
    if (t_owner.kind[top] == OwnerScopes::main_section) {
        PxInterp_main_heap_exit();
    } else if (t_owner.kind[top] == OwnerScopes::heap_switch) {
        PxCtx_current->heap = t_owner.saved[top];
        if (PxCtx_current->heap == t_owner.base)
            t_owner.base = nullptr;
    }
}

// ---- the mutation guard and persistence ---------------------------------------------------

extern "C" int PxInterp_setattr_not_owned(PyObject* obj, PyObject* name, PyObject* value) {
    PxContext* ctx = PxCtx_current;
    px::Heap* owner = px::owner_of(obj);
    if (owner == nullptr) { // a protected instance is written under its lock (protect.cpp)
        int status = px::interp::protected_setattr(obj, name, value);
        if (status != 1)
            return status;
    }
    if (owner == nullptr || owner != ctx->session)
        return PxInterp_refuse_write(obj, "attribute assignment or deletion");
    // The connection's session: the value is cloned there, and stored as the session would
    // (the old value is freed into the session heap).
    if (!px::interp::enter_heap(*owner))
        return -1;
    int status = -1;
    // The name becomes a key of the instance's dict: one the callback made (setattr(self,
    // computed, v)) is copied too, or the key would dangle after the rewind. Interned names
    // (those in the code) live as long as the interpreter.
    PyObject* key = name;
    Py_INCREF(key);
    if (PyUnicode_Check(name) && px::owner_of(name) != owner &&
        !(px::owner_of(name) == nullptr && PyUnicode_CHECK_INTERNED(name))) {
        px::CloneOptions options;
        options.share_main_scalars = false;
        options.root = "attribute name";
        Py_SETREF(key, px::clone(name, options));
    }
    PyObject* copy = nullptr;
    if (key != nullptr && value != nullptr) {
        std::string root = std::string(Py_TYPE(obj)->tp_name) + ".";
        Py_ssize_t n = 0;
        const char* utf8 = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &n) : nullptr;
        root.append(utf8 != nullptr ? utf8 : "?",
                    utf8 != nullptr ? static_cast<std::size_t>(n) : 1);
        PyErr_Clear();
        px::CloneOptions options;
        options.clone_error = g_errors.clone_error;
        options.share_main_scalars = false; // main may free them while the session lives
        options.root = root.c_str();
        copy = px::clone(value, options);
    }
    if (key != nullptr && (value == nullptr || copy != nullptr))
        status = PyObject_SetAttr(obj, key, copy);
    Py_XDECREF(copy);
    Py_XDECREF(key);
    px::interp::exit_heap();
    return status;
}

extern "C" int PxInterp_refuse_write(PyObject* obj, const char* what) {
    PyObject* type = g_errors.mutation_error ? g_errors.mutation_error : PyExc_RuntimeError;
    PxContext* ctx = PxCtx_current;
    px::Heap* owner = px::owner_of(obj);
    if (owner != nullptr) {
        bool session = ctx != nullptr && owner == ctx->session;
        PyErr_Format(type,
                     session ? "%s on a %.200s kept on the connection's protocol instance is not "
                               "allowed: what a callback stores on self is a copy, changed only by "
                               "assigning a new value (self.name = new_value)"
                             : "%s on a %.200s of another parallel context is not allowed",
                     what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    const char* name = Py_TYPE(obj)->tp_name;
    const char* kind = std::strchr("aeiou", name[0]) != nullptr && name[0] != '\0' ? "an" : "a";
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
