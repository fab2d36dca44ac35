// protect.cpp — shared state that contexts read and write: parallel.protect(), unprotect(),
// protected(), parallel.dict and parallel.list (API.md "Main-thread interaction and shared
// state").
//
// Design. A protected object stays where it is, on the main heap, and changes type: an exact
// dict, list or set becomes a parallel.dict, parallel.list or parallel.set (subtypes with the
// same layout, so the switch is a type-pointer store and unprotect() switches back); an
// instance becomes an instance of a subclass made once per class with the same name and
// layout (isinstance() holds; `type(obj) is C` does not). Every slot and method of those
// types takes the object's reader/writer lock (one of 1,024 pthread rwlocks picked by the
// object's address, writer-preferring) around the base type's own code:
//   * Reads run in place under the read lock. Iteration, keys()/values()/items(), copy(),
//     comparisons and operators work on a snapshot copied under it, so an iteration never
//     sees the object change and never holds a lock while the loop body runs.
//   * Writes run under the write lock. From a context, the values written are cloned into
//     the main heap in a main-heap section (the clonability guard decides what may cross;
//     a non-clonable value raises CloneError naming it), and the write itself runs there, as
//     the main thread would run it. Values therefore outlive the callback, and the main
//     thread owns everything a protected object references. The main thread's own writes
//     take the same lock.
//   * A context does not count its references to main objects, so a value it read may be
//     dropped by a writer while it still uses it. Whatever a write drops (a replaced value,
//     a popped item, the old contents of a cleared list) is retired instead: the reference
//     is kept until every callback that was running when it was retired has ended (each
//     callback publishes the epoch it started in; see CallbackEpoch), then released by the
//     main thread or by a writer in its main-heap section. Reads thus need no reference
//     counting and C readers of a value already read (json.dumps, str.join) stay safe.
// Why the main heap rather than a heap of its own: the main thread already allocates for
// contexts in main-heap sections (call_from_main_thread, results), its objects are the ones
// the main thread and every context may reference, and a separate thread-safe heap would
// have to be swept with the same grace periods anyway. Writes from contexts are serialised
// by the section lock; reads are not serialised at all.
//
// Limits, stated in interp/README.md: C code that reads a protected object with the concrete
// API (PyDict_Next, PyList_GET_ITEM on it) bypasses the lock; instance attributes are locked,
// the instance's __dict__ object itself is not.
#include <Python.h>

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "callbacks.h"
#include "px/guards.h"
#include "px/interp.h"

namespace px::interp {
namespace {

// ---- locks -----------------------------------------------------------------------------------

constexpr unsigned kStripeBits = 10;
constexpr std::size_t kStripes = std::size_t{1} << kStripeBits;

struct alignas(64) Stripe {
    pthread_rwlock_t lock;
};
Stripe g_stripes[kStripes];

// What this thread holds of each stripe: a thread that holds a stripe re-enters it without
// locking again (a key's __eq__ reading the dict it is looked up in, two objects sharing a
// stripe), which a writer-preferring rwlock would otherwise deadlock on.
struct Held {
    std::uint16_t reads = 0;
    std::uint16_t writes = 0;
};
thread_local Held t_held[kStripes];
thread_local unsigned t_held_total = 0;

void init_stripes() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    // Writers first: a stream of readers on all cores must not starve a writer.
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    for (Stripe& s : g_stripes)
        pthread_rwlock_init(&s.lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

std::size_t stripe_of(const void* p) {
    return static_cast<std::size_t>((reinterpret_cast<std::uintptr_t>(p) * 0x9E3779B97F4A7C15ull) >>
                                    (64 - kStripeBits));
}

enum class Mode { read, write };

bool lock_stripe(std::size_t s, Mode mode) {
    Held& h = t_held[s];
    if (h.writes > 0 || (mode == Mode::read && h.reads > 0)) {
        ++(mode == Mode::read ? h.reads : h.writes);
        ++t_held_total;
        return true;
    }
    if (h.reads > 0) { // read held, write wanted: waiting would wait for ourselves
        PyErr_SetString(PyExc_RuntimeError,
                        "a protected object was changed from inside a read of it on the same "
                        "thread (a __eq__, __hash__ or key function that writes it); change it "
                        "after the read instead");
        return false;
    }
    pthread_rwlock_t* lock = &g_stripes[s].lock;
    int rc = mode == Mode::read ? pthread_rwlock_tryrdlock(lock) : pthread_rwlock_trywrlock(lock);
    if (rc != 0) {
        if (in_main_turn()) {
            // The holder may be a context waiting for the main-heap section this turn holds:
            // wait without it (the main thread allocates nothing while it waits).
            suspend_main_turn();
            rc = mode == Mode::read ? pthread_rwlock_rdlock(lock) : pthread_rwlock_wrlock(lock);
            resume_main_turn();
        } else if (in_main_section()) {
            PyErr_SetString(PyExc_RuntimeError,
                            "pxkit: a protected object busy on another thread was reached inside "
                            "a main-heap section (from a cache fill or a clone); retry outside");
            return false;
        } else {
            rc = mode == Mode::read ? pthread_rwlock_rdlock(lock) : pthread_rwlock_wrlock(lock);
        }
    }
    if (rc != 0) {
        PyErr_Format(PyExc_RuntimeError, "pxkit: cannot lock a protected object (error %d)", rc);
        return false;
    }
    ++(mode == Mode::read ? h.reads : h.writes);
    ++t_held_total;
    return true;
}

void unlock_stripe(std::size_t s, Mode mode) {
    Held& h = t_held[s];
    --(mode == Mode::read ? h.reads : h.writes);
    --t_held_total;
    if (h.reads == 0 && h.writes == 0)
        pthread_rwlock_unlock(&g_stripes[s].lock);
}

// ---- grace periods -------------------------------------------------------------------------

constexpr unsigned kMaxSlots = 1024; // worker threads alive at once
struct alignas(64) Slot {
    std::atomic<std::uint64_t> since{0}; // the epoch the running callback began in; 0 = none
    std::atomic<bool> taken{false};
};
Slot g_slots[kMaxSlots];
std::atomic<std::uint64_t> g_epoch{1};

// A worker thread's slot, claimed at its first callback and freed when the thread ends.
struct SlotHandle {
    Slot* slot = nullptr;
    ~SlotHandle() {
        if (slot != nullptr) {
            slot->since.store(0, std::memory_order_release);
            slot->taken.store(false, std::memory_order_release);
        }
    }
};
thread_local SlotHandle t_slot;

Slot* my_slot() {
    if (t_slot.slot == nullptr) {
        for (Slot& s : g_slots) {
            bool expected = false;
            if (s.taken.compare_exchange_strong(expected, true)) {
                t_slot.slot = &s;
                break;
            }
        }
        if (t_slot.slot == nullptr)
            std::abort(); // more than kMaxSlots worker threads at once
    }
    return t_slot.slot;
}

struct Retired {
    PyObject* obj;
    std::uint64_t epoch;
};
std::mutex g_retired_mutex;    // a leaf lock: nothing else is taken while it is held
std::deque<Retired> g_retired; // oldest first
std::atomic<std::size_t> g_retired_count{0};
std::atomic<std::uint64_t> g_released_total{0};

// Keeps a reference (moved in) until every callback running now has ended.
void retire(PyObject* obj) {
    if (obj == nullptr)
        return;
    std::uint64_t epoch = g_epoch.fetch_add(1, std::memory_order_seq_cst);
    std::lock_guard lock(g_retired_mutex);
    g_retired.push_back({obj, epoch});
    g_retired_count.store(g_retired.size(), std::memory_order_relaxed);
}

} // namespace

CallbackEpoch::CallbackEpoch() {
    my_slot()->since.store(g_epoch.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
}

CallbackEpoch::~CallbackEpoch() { t_slot.slot->since.store(0, std::memory_order_release); }

void release_retired() {
    if (g_retired_count.load(std::memory_order_relaxed) == 0)
        return;
    std::uint64_t oldest = UINT64_MAX; // the oldest callback still running
    for (Slot& s : g_slots) {
        std::uint64_t since = s.since.load(std::memory_order_seq_cst);
        if (since != 0 && since < oldest)
            oldest = since;
    }
    std::vector<PyObject*> done;
    {
        std::lock_guard lock(g_retired_mutex);
        while (!g_retired.empty() && g_retired.front().epoch < oldest) {
            done.push_back(g_retired.front().obj);
            g_retired.pop_front();
        }
        g_retired_count.store(g_retired.size(), std::memory_order_relaxed);
    }
    g_released_total.fetch_add(done.size(), std::memory_order_relaxed);
    for (PyObject* o : done)
        Py_DECREF(o); // may run any dealloc: no lock is held here
}

bool holds_protected_locks() { return t_held_total != 0; }

namespace {

// ---- the types -------------------------------------------------------------------------------

PyTypeObject g_dict_type;
PyTypeObject g_list_type;
PyTypeObject g_set_type;

getattrofunc base_getattro(PyObject* obj) { return Py_TYPE(obj)->tp_base->tp_getattro; }
PyObject* protected_getattro(PyObject* obj, PyObject* name);

bool is_protected_instance(PyObject* obj) {
    return Py_TYPE(obj)->tp_getattro == protected_getattro;
}

bool is_protected(PyObject* obj) {
    PyTypeObject* t = Py_TYPE(obj);
    return t == &g_dict_type || t == &g_list_type || t == &g_set_type || is_protected_instance(obj);
}

bool in_context() { return PxCtx_current != nullptr; }

// The read lock for a scope.
class ReadScope {
public:
    explicit ReadScope(PyObject* obj) : stripe_(stripe_of(obj)) {
        ok_ = lock_stripe(stripe_, Mode::read);
    }
    ~ReadScope() {
        if (ok_)
            unlock_stripe(stripe_, Mode::read);
    }
    ReadScope(const ReadScope&) = delete;
    ReadScope& operator=(const ReadScope&) = delete;
    explicit operator bool() const { return ok_; }

private:
    std::size_t stripe_;
    bool ok_ = false;
};

// A plain copy of a protected object (made under its read lock, in the current heap), or a new
// reference to anything else.
PyObject* snapshot(PyObject* obj) {
    PyTypeObject* t = Py_TYPE(obj);
    if (t != &g_dict_type && t != &g_list_type && t != &g_set_type) {
        Py_INCREF(obj);
        return obj;
    }
    ReadScope read(obj);
    if (!read)
        return nullptr;
    if (t == &g_list_type)
        return PyList_GetSlice(obj, 0, PyList_GET_SIZE(obj));
    if (t == &g_set_type)
        return PySet_New(obj);
    PyObject* copy = PyDict_New();
    if (copy == nullptr)
        return nullptr;
    Py_ssize_t pos = 0;
    PyObject* key;
    PyObject* value;
    while (PyDict_Next(obj, &pos, &key, &value)) {
        if (PyDict_SetItem(copy, key, value) < 0) {
            Py_DECREF(copy);
            return nullptr;
        }
    }
    return copy;
}

// A write: the write lock, and from a context a main-heap section in which the values
// written are cloned onto the main heap and the base type's code runs as the main thread's
// would. An exception raised in the section is main-owned; finish() re-raises it in the
// context with copied arguments.
class WriteScope {
public:
    explicit WriteScope(PyObject* obj, bool enter_section = true) : stripe_(stripe_of(obj)) {
        if (!lock_stripe(stripe_, Mode::write))
            return;
        locked_ = true;
        ok_ = !enter_section || enter();
    }
    ~WriteScope() { finish(); }
    WriteScope(const WriteScope&) = delete;
    WriteScope& operator=(const WriteScope&) = delete;
    explicit operator bool() const { return ok_; }

    // Enters the main-heap section (from a context; nothing to do on the main thread).
    bool enter() {
        if (!in_context())
            return true;
        if (!PxInterp_main_heap_enter())
            return false;
        section_ = true;
        return true;
    }

    // `obj` as the main thread may store it: cloned from a context (a new reference).
    PyObject* in(PyObject* obj, const char* root) {
        if (!section_) {
            Py_INCREF(obj);
            return obj;
        }
        CloneOptions options;
        options.clone_error = error_types().clone_error;
        options.root = root;
        return clone(obj, options);
    }

    // Keeps a reference the write drops (moved in) until the callbacks running now end.
    static void keep(PyObject* obj) { retire(obj); }
    // Keeps `obj` (a borrowed reference) the same way.
    static void keep_borrowed(PyObject* obj) {
        Py_INCREF(obj);
        retire(obj);
    }

    // A main-heap object the write returns (a new reference, moved in): kept until the
    // callbacks running now end, and handed to the caller (from a context uncounted).
    PyObject* out(PyObject* obj) {
        if (obj == nullptr || obj == Py_None)
            return obj;
        if (!section_)
            Py_INCREF(obj); // the caller's reference, besides the kept one
        retire(obj);
        return obj;
    }

    // Ends the write: the stripe is unlocked, what has waited long enough is released (as the
    // main thread: on it, or still in the section), and an exception raised in the section
    // is raised again in the context.
    void finish() {
        PyObject* type = nullptr;
        PyObject* value = nullptr;
        PyObject* tb = nullptr;
        if (section_ && PyErr_Occurred()) {
            PyErr_Fetch(&type, &value, &tb);
            PyErr_NormalizeException(&type, &value, &tb);
        }
        if (locked_) {
            locked_ = false;
            unlock_stripe(stripe_, Mode::write);
        }
        if (!section_) {
            if (ok_ && !in_context() && !in_main_section() && !PyErr_Occurred())
                release_retired();
            return;
        }
        section_ = false;
        PyObject* args = nullptr;
        PyObject* text = nullptr;
        if (value != nullptr) {
            args = PyObject_GetAttrString(value, "args");
            text = PyObject_Str(value);
            PyErr_Clear();
        }
        for (PyObject* o : {value, tb, args, text})
            retire(o); // main objects: released as the main thread, after this callback
        release_retired();
        PxInterp_main_heap_exit();
        if (type != nullptr) {
            raise_in_context(type, args, text);
            retire_type(type);
        }
    }

private:
    static void raise_in_context(PyObject* type, PyObject* args, PyObject* text) {
        CloneOptions options;
        options.share_main_scalars = false; // the originals are released after the callback
        options.root = "exception argument";
        PyObject* copy = args != nullptr ? clone(args, options) : nullptr;
        if (copy == nullptr) {
            PyErr_Clear();
            copy = text != nullptr ? clone(text, options) : nullptr;
            PyErr_Clear();
        }
        PyErr_SetObject(type, copy != nullptr ? copy : Py_None);
        Py_XDECREF(copy);
    }

    // An exception type is main-owned (or static): its reference is dropped in a section.
    static void retire_type(PyObject* type) {
        if (PxInterp_main_heap_enter()) {
            retire(type);
            PxInterp_main_heap_exit();
        } else {
            PyErr_Clear(); // leaked rather than released from the context
        }
    }

    std::size_t stripe_;
    bool locked_ = false;
    bool section_ = false;
    bool ok_ = false;
};

// Arguments a context passes to a write, made clonable first: a protected object or an
// iterator becomes a plain list, set or dict (in the context) the clone can copy.
PyObject* plain_argument(PyObject* arg, bool mapping_ok) {
    PyTypeObject* t = Py_TYPE(arg);
    if (!in_context()) { // the main thread passes what it has: the base type reads it
        Py_INCREF(arg);
        return arg;
    }
    if (t == &g_dict_type || t == &g_list_type || t == &g_set_type)
        return snapshot(arg);
    if (t == &PyList_Type || t == &PyTuple_Type || t == &PyDict_Type || t == &PySet_Type ||
        t == &PyFrozenSet_Type || PyLong_CheckExact(arg) || PyUnicode_CheckExact(arg) ||
        PyBytes_CheckExact(arg) || PyFloat_CheckExact(arg) || arg == Py_None || PyBool_Check(arg)) {
        Py_INCREF(arg);
        return arg;
    }
    if (mapping_ok && PyMapping_Check(arg) && PyObject_HasAttrString(arg, "keys")) {
        PyObject* d = PyDict_New();
        if (d != nullptr && PyDict_Update(d, arg) < 0)
            Py_CLEAR(d);
        return d;
    }
    PyObject* it = PyObject_GetIter(arg);
    if (it == nullptr) { // not iterable: the clone names it
        PyErr_Clear();
        Py_INCREF(arg);
        return arg;
    }
    PyObject* list = PySequence_List(it);
    Py_DECREF(it);
    return list;
}

PyObject* plain_arguments(PyObject* args, bool mapping_ok) {
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject* out = PyTuple_New(n);
    for (Py_ssize_t i = 0; out != nullptr && i < n; ++i) {
        PyObject* a = plain_argument(PyTuple_GET_ITEM(args, i), mapping_ok);
        if (a == nullptr)
            Py_CLEAR(out);
        else
            PyTuple_SET_ITEM(out, i, a);
    }
    return out;
}

// Calls the base type's method `name` on a protected object, as a write: the arguments are
// cloned onto the main heap from a context, and with `keep_all` a copy of the old contents is
// kept (the method may drop any of them: clear, remove, difference_update).
PyObject* write_call(PyObject* self, PyTypeObject* base, const char* name, PyObject* args,
                     PyObject* kwargs, bool keep_all) {
    PyObject* plain = plain_arguments(args, true);
    if (plain == nullptr)
        return nullptr;
    PyObject* method = PyObject_GetAttrString(reinterpret_cast<PyObject*>(base), name);
    PyObject* result = nullptr;
    if (method != nullptr) {
        WriteScope w(self);
        if (w) {
            std::string root = std::string(base->tp_name) + "." + name + "() argument";
            PyObject* main_args = w.in(plain, root.c_str());
            PyObject* main_kwargs = main_args && kwargs ? w.in(kwargs, root.c_str()) : nullptr;
            PyObject* call_args = nullptr;
            if (main_args != nullptr && (kwargs == nullptr || main_kwargs != nullptr)) {
                Py_ssize_t n = PyTuple_GET_SIZE(main_args);
                call_args = PyTuple_New(n + 1);
                if (call_args != nullptr) {
                    Py_INCREF(self);
                    PyTuple_SET_ITEM(call_args, 0, self);
                    for (Py_ssize_t i = 0; i < n; ++i) {
                        PyObject* a = PyTuple_GET_ITEM(main_args, i);
                        Py_INCREF(a);
                        PyTuple_SET_ITEM(call_args, i + 1, a);
                    }
                }
            }
            PyObject* old = call_args && keep_all ? snapshot(self) : nullptr;
            if (call_args != nullptr && (!keep_all || old != nullptr))
                result = w.out(PyObject_Call(method, call_args, main_kwargs));
            WriteScope::keep(old);
            Py_XDECREF(call_args);
            Py_XDECREF(main_args);
            Py_XDECREF(main_kwargs);
            w.finish();
        }
    }
    Py_XDECREF(method);
    Py_DECREF(plain);
    return result;
}

// Calls the base type's method `name` on a snapshot (a read that iterates or copies).
PyObject* read_call(PyObject* self, const char* name, PyObject* args, PyObject* kwargs) {
    PyObject* snap = snapshot(self);
    if (snap == nullptr)
        return nullptr;
    PyObject* method = PyObject_GetAttrString(snap, name);
    PyObject* result = method ? PyObject_Call(method, args, kwargs) : nullptr;
    Py_XDECREF(method);
    Py_DECREF(snap);
    return result;
}

// Methods that only read, through a snapshot, and rare writes, through write_call: one
// function each (METH_VARARGS | METH_KEYWORDS), named by the table they are listed in.
template <const char* Name>
PyObject* snapshot_method(PyObject* self, PyObject* args, PyObject* kwargs) {
    return read_call(self, Name, args, kwargs);
}
template <const char* Name, bool KeepAll>
PyObject* write_method(PyObject* self, PyObject* args, PyObject* kwargs) {
    PyTypeObject* base = Py_TYPE(self) == &g_dict_type   ? &PyDict_Type
                         : Py_TYPE(self) == &g_list_type ? &PyList_Type
                                                         : &PySet_Type;
    return write_call(self, base, Name, args, kwargs, KeepAll);
}

#define PX_NAME(n) inline constexpr char k_##n[] = #n;
PX_NAME(copy)
PX_NAME(keys)
PX_NAME(values)
PX_NAME(items)
PX_NAME(index)
PX_NAME(count)
PX_NAME(union)
PX_NAME(intersection)
PX_NAME(difference)
PX_NAME(symmetric_difference)
PX_NAME(issubset)
PX_NAME(issuperset)
PX_NAME(isdisjoint)
PX_NAME(update)
PX_NAME(clear)
PX_NAME(extend)
PX_NAME(insert)
PX_NAME(remove)
PX_NAME(reverse)
PX_NAME(discard)
PX_NAME(difference_update)
PX_NAME(intersection_update)
PX_NAME(symmetric_difference_update)
PX_NAME(__reversed__)
PX_NAME(__sizeof__)
PX_NAME(__reduce__)
PX_NAME(__init__)
PX_NAME(__imul__)
#undef PX_NAME

template <const char* Name> PyMethodDef read_def(const char* doc) {
    return {Name,
            reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(snapshot_method<Name>)),
            METH_VARARGS | METH_KEYWORDS, doc};
}
template <const char* Name, bool KeepAll> PyMethodDef write_def(const char* doc) {
    return {
        Name,
        reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(write_method<Name, KeepAll>)),
        METH_VARARGS | METH_KEYWORDS, doc};
}

// Pickling and copy.copy(): rebuilt as the same protected type from a plain snapshot.
PyObject* reduce(PyObject* self, PyObject*) {
    PyObject* snap = snapshot(self);
    if (snap == nullptr)
        return nullptr;
    PyObject* r = Py_BuildValue("O(O)", reinterpret_cast<PyObject*>(Py_TYPE(self)), snap);
    Py_DECREF(snap);
    return r;
}

// Binary operators and comparisons: on snapshots of whichever side is protected.
PyObject* richcompare(PyObject* a, PyObject* b, int op) {
    PyObject* sa = snapshot(a);
    PyObject* sb = sa ? snapshot(b) : nullptr;
    PyObject* r = sb ? PyObject_RichCompare(sa, sb, op) : nullptr;
    Py_XDECREF(sa);
    Py_XDECREF(sb);
    return r;
}

template <PyObject* (*Op)(PyObject*, PyObject*)> PyObject* binary(PyObject* a, PyObject* b) {
    PyObject* sa = snapshot(a);
    PyObject* sb = sa ? snapshot(b) : nullptr;
    PyObject* r = sb ? Op(sa, sb) : nullptr;
    Py_XDECREF(sa);
    Py_XDECREF(sb);
    return r;
}

PyObject* repr(PyObject* self) {
    // An object inside itself: each snapshot is a new object, so the recursion is caught
    // on the protected object.
    int inside = Py_ReprEnter(self);
    if (inside < 0)
        return nullptr;
    if (inside > 0 && Py_TYPE(self) == &g_set_type)
        return PyUnicode_FromFormat("%s(...)", Py_TYPE(self)->tp_name); // as set_repr says it
    if (inside > 0)
        return PyUnicode_FromString(Py_TYPE(self) == &g_list_type ? "[...]" : "{...}");
    PyObject* snap = snapshot(self);
    PyObject* r = snap ? PyObject_Repr(snap) : nullptr;
    Py_XDECREF(snap);
    Py_ReprLeave(self);
    if (r == nullptr || Py_TYPE(self) == &g_list_type || Py_TYPE(self) == &g_dict_type)
        return r;
    PyObject* named = PyUnicode_FromFormat("parallel.set(%U)", r); // as set_repr names subtypes
    Py_DECREF(r);
    return named;
}

PyObject* iter(PyObject* self) {
    PyObject* snap = snapshot(self);
    if (snap == nullptr)
        return nullptr;
    PyObject* it = PyObject_GetIter(snap);
    Py_DECREF(snap);
    return it;
}

PyObject* refuse_new_in_context(PyTypeObject* type) {
    PyErr_Format(PyExc_RuntimeError,
                 "%s() makes state shared by every context: create it on the main thread "
                 "(at module level, or before parallel.map() or parallel.run()), not in a "
                 "parallel context",
                 type->tp_name);
    return nullptr;
}

// The in-place operators (|=, +=, &=, ...): the base type's method `Name` as a write, then
// self.
template <PyTypeObject* Base, const char* Name, bool KeepAll>
PyObject* inplace(PyObject* self, PyObject* other) {
    PyObject* args = PyTuple_Pack(1, other);
    PyObject* r = args ? write_call(self, Base, Name, args, nullptr, KeepAll) : nullptr;
    Py_XDECREF(args);
    if (r == nullptr)
        return nullptr;
    Py_DECREF(r);
    Py_INCREF(self);
    return self;
}

// tp_new: the base type's, on the main thread only.
template <PyTypeObject* Base>
PyObject* new_protected(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
    if (in_context())
        return refuse_new_in_context(type);
    return Base->tp_new(type, args, kwargs);
}

// tp_init: the base type's __init__, a write that may drop every old element.
template <PyTypeObject* Base> int init_protected(PyObject* self, PyObject* args, PyObject* kwargs) {
    PyObject* r = write_call(self, Base, k___init__, args, kwargs, true);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

// ---- parallel.dict ----------------------------------------------------------------------------

Py_ssize_t dict_len(PyObject* self) {
    ReadScope read(self);
    return read ? reinterpret_cast<PyDictObject*>(self)->ma_used : -1;
}

PyObject* dict_getitem(PyObject* self, PyObject* key) {
    ReadScope read(self);
    return read ? PyDict_Type.tp_as_mapping->mp_subscript(self, key) : nullptr;
}

int dict_contains(PyObject* self, PyObject* key) {
    ReadScope read(self);
    return read ? PyDict_Contains(self, key) : -1;
}

void set_key_error(PyObject* key) {
    PyObject* args = PyTuple_Pack(1, key);
    if (args != nullptr) {
        PyErr_SetObject(PyExc_KeyError, args);
        Py_DECREF(args);
    }
}

// The stored key equal to `key` (borrowed), found by a scan: dict has no public lookup that
// returns it, and a deleted key must be kept like a value (a context may hold it from an
// iteration). Under the write lock.
PyObject* stored_key(PyObject* self, PyObject* key) {
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1)
        return nullptr;
    Py_ssize_t pos = 0;
    PyObject* k;
    PyObject* v;
    while (PyDict_Next(self, &pos, &k, &v)) {
        if (k == key)
            return k;
        Py_hash_t h = PyObject_Hash(k);
        if (h == hash) {
            int eq = PyObject_RichCompareBool(k, key, Py_EQ);
            if (eq > 0)
                return k;
            if (eq < 0)
                return nullptr;
        }
    }
    return nullptr;
}

int dict_setitem(PyObject* self, PyObject* key, PyObject* value) {
    WriteScope w(self);
    if (!w)
        return -1;
    int status = -1;
    PyObject* k = w.in(key, "parallel.dict key");
    PyObject* v = k && value ? w.in(value, "parallel.dict value") : nullptr;
    if (k != nullptr && (value == nullptr || v != nullptr)) {
        PyObject* old = PyDict_GetItemWithError(self, k);
        if (old == nullptr && value == nullptr && !PyErr_Occurred()) {
            set_key_error(k);
        } else if (!PyErr_Occurred()) {
            if (old != nullptr)
                WriteScope::keep_borrowed(old);
            if (value == nullptr) {
                PyObject* sk = stored_key(self, k);
                if (sk != nullptr)
                    WriteScope::keep_borrowed(sk);
            }
            status = value ? PyDict_SetItem(self, k, v) : PyDict_DelItem(self, k);
        }
    }
    Py_XDECREF(k);
    Py_XDECREF(v);
    w.finish();
    return status;
}

PyObject* dict_get(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "get expected 1 or 2 arguments, got %zd", nargs);
        return nullptr;
    }
    ReadScope read(self);
    if (!read)
        return nullptr;
    PyObject* v = PyDict_GetItemWithError(self, args[0]);
    if (v == nullptr && PyErr_Occurred())
        return nullptr;
    if (v == nullptr)
        v = nargs == 2 ? args[1] : Py_None;
    Py_INCREF(v);
    return v;
}

PyObject* dict_setdefault(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "setdefault expected 1 or 2 arguments, got %zd", nargs);
        return nullptr;
    }
    WriteScope w(self);
    if (!w)
        return nullptr;
    PyObject* result = nullptr;
    PyObject* k = w.in(args[0], "parallel.dict key");
    PyObject* v = k ? w.in(nargs == 2 ? args[1] : Py_None, "parallel.dict value") : nullptr;
    if (v != nullptr) {
        result = PyDict_SetDefault(self, k, v); // borrowed
        Py_XINCREF(result);
        result = w.out(result);
    }
    Py_XDECREF(k);
    Py_XDECREF(v);
    w.finish();
    return result;
}

PyObject* dict_pop(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "pop expected 1 or 2 arguments, got %zd", nargs);
        return nullptr;
    }
    WriteScope w(self);
    if (!w)
        return nullptr;
    PyObject* result = nullptr;
    PyObject* k = w.in(args[0], "parallel.dict key");
    if (k != nullptr) {
        PyObject* old = PyDict_GetItemWithError(self, k);
        if (old != nullptr) {
            Py_INCREF(old);
            PyObject* sk = stored_key(self, k);
            if (sk != nullptr)
                WriteScope::keep_borrowed(sk);
            if (PyDict_DelItem(self, k) == 0)
                result = w.out(old);
            else
                Py_DECREF(old);
        } else if (!PyErr_Occurred()) {
            if (nargs == 2) { // the caller's own object
                result = args[1];
                Py_INCREF(result);
            } else {
                set_key_error(k);
            }
        }
    }
    Py_XDECREF(k);
    w.finish();
    return result;
}

PyObject* dict_popitem(PyObject* self, PyObject*) {
    WriteScope w(self);
    if (!w)
        return nullptr;
    PyObject* pair =
        PyObject_CallMethod(reinterpret_cast<PyObject*>(&PyDict_Type), "popitem", "O", self);
    PyObject* result = w.out(pair); // the pair holds the key and the value
    w.finish();
    return result;
}

PyMappingMethods g_dict_mapping = {dict_len, dict_getitem, dict_setitem};
PySequenceMethods g_dict_sequence = {};
PyNumberMethods g_dict_number = {};

PyMethodDef g_dict_methods[] = {
    {"get", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(dict_get)), METH_FASTCALL,
     "Return the value for key if key is in the dictionary, else default."},
    {"setdefault", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(dict_setdefault)),
     METH_FASTCALL, "Insert key with a value of default if key is not in the dictionary."},
    {"pop", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(dict_pop)), METH_FASTCALL,
     "D.pop(k[,d]) -> v, remove specified key and return the corresponding value."},
    {"popitem", dict_popitem, METH_NOARGS, "Remove and return a (key, value) pair as a 2-tuple."},
    {"__reduce__", reduce, METH_NOARGS, "Pickles a snapshot, unpickled as a parallel.dict."},
    read_def<k_keys>("A view of a snapshot's keys."),
    read_def<k_values>("A view of a snapshot's values."),
    read_def<k_items>("A view of a snapshot's items."),
    read_def<k_copy>("A shallow copy (a plain dict)."),
    read_def<k___reversed__>("Reverse iterator over a snapshot's keys."),
    read_def<k___sizeof__>("Size of a snapshot in memory, in bytes."),
    write_def<k_update, true>("Update from a mapping or iterable and keywords, under the lock."),
    write_def<k_clear, true>("Remove all items, under the lock."),
    {nullptr, nullptr, 0, nullptr},
};

// ---- parallel.list ------------------------------------------------------------------------------

Py_ssize_t list_len(PyObject* self) {
    ReadScope read(self);
    return read ? PyList_GET_SIZE(self) : -1;
}

PyObject* list_item(PyObject* self, Py_ssize_t i) {
    ReadScope read(self);
    return read ? PyList_Type.tp_as_sequence->sq_item(self, i) : nullptr;
}

PyObject* list_subscript(PyObject* self, PyObject* item) {
    ReadScope read(self);
    return read ? PyList_Type.tp_as_mapping->mp_subscript(self, item) : nullptr;
}

int list_contains(PyObject* self, PyObject* value) {
    ReadScope read(self);
    return read ? PyList_Type.tp_as_sequence->sq_contains(self, value) : -1;
}

int list_ass_subscript(PyObject* self, PyObject* item, PyObject* value) {
    // A slice assignment's value may be any iterable: a list in this heap first.
    PyObject* plain = nullptr;
    if (value != nullptr && PySlice_Check(item)) {
        plain = plain_argument(value, false);
    } else if (value != nullptr) {
        plain = value;
        Py_INCREF(plain);
    }
    if (value != nullptr && plain == nullptr)
        return -1;
    WriteScope w(self);
    int status = -1;
    if (w) {
        PyObject* v = plain ? w.in(plain, "parallel.list item") : nullptr;
        if (plain == nullptr || v != nullptr) {
            // What the assignment replaces or deletes, kept (an IndexError is raised here).
            PyObject* old = PyList_Type.tp_as_mapping->mp_subscript(self, item);
            if (old != nullptr) {
                WriteScope::keep(old);
                status = PyList_Type.tp_as_mapping->mp_ass_subscript(self, item, v);
            } else if (PyErr_ExceptionMatches(PyExc_IndexError)) {
                PyErr_SetString(PyExc_IndexError, "list assignment index out of range");
            }
        }
        Py_XDECREF(v);
        w.finish();
    }
    Py_XDECREF(plain);
    return status;
}

int list_ass_item(PyObject* self, Py_ssize_t i, PyObject* value) {
    PyObject* index = PyLong_FromSsize_t(i);
    int status = index ? list_ass_subscript(self, index, value) : -1;
    Py_XDECREF(index);
    return status;
}

PyObject* list_append(PyObject* self, PyObject* value) {
    WriteScope w(self);
    if (!w)
        return nullptr;
    PyObject* v = w.in(value, "parallel.list.append() argument");
    int status = v ? PyList_Append(self, v) : -1;
    Py_XDECREF(v);
    w.finish();
    if (status < 0)
        return nullptr;
    Py_RETURN_NONE;
}

PyObject* list_pop(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "pop expected at most 1 argument, got %zd", nargs);
        return nullptr;
    }
    Py_ssize_t i = -1;
    if (nargs == 1) {
        i = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
        if (i == -1 && PyErr_Occurred())
            return nullptr;
    }
    WriteScope w(self);
    if (!w)
        return nullptr;
    PyObject* result = nullptr;
    Py_ssize_t n = PyList_GET_SIZE(self);
    if (n == 0) {
        PyErr_SetString(PyExc_IndexError, "pop from empty list");
    } else {
        if (i < 0)
            i += n;
        if (i < 0 || i >= n) {
            PyErr_SetString(PyExc_IndexError, "pop index out of range");
        } else {
            PyObject* item = PyList_GET_ITEM(self, i);
            Py_INCREF(item);
            if (PyList_SetSlice(self, i, i + 1, nullptr) == 0)
                result = w.out(item);
            else
                Py_DECREF(item);
        }
    }
    w.finish();
    return result;
}

// Sorted in the caller's own heap (a key function runs there, in the context), then stored
// back under the write lock held throughout. The items are the same objects, so nothing is
// dropped and nothing needs cloning.
PyObject* list_sort(PyObject* self, PyObject* args, PyObject* kwargs) {
    WriteScope w(self, false);
    if (!w)
        return nullptr;
    PyObject* result = nullptr;
    PyObject* copy = PyList_GetSlice(self, 0, PyList_GET_SIZE(self));
    PyObject* sort = copy ? PyObject_GetAttrString(copy, "sort") : nullptr;
    Py_ssize_t n = PyList_GET_SIZE(self);
    PyObject* r = sort ? PyObject_Call(sort, args, kwargs) : nullptr;
    if (r != nullptr && PyList_GET_SIZE(self) != n) { // the key function changed the list
        PyErr_SetString(PyExc_ValueError, "list modified during sort");
        Py_CLEAR(r);
    }
    if (r != nullptr && w.enter() && PyList_SetSlice(self, 0, n, copy) == 0) {
        result = Py_None;
        Py_INCREF(result);
    }
    w.finish(); // first: the copy is this context's, released as such (not in the section)
    Py_XDECREF(r);
    Py_XDECREF(sort);
    Py_XDECREF(copy);
    return result;
}

PyObject* list_imul(PyObject* self, Py_ssize_t n) {
    PyObject* count = PyLong_FromSsize_t(n);
    if (count == nullptr)
        return nullptr;
    PyObject* r = inplace<&PyList_Type, k___imul__, true>(self, count);
    Py_DECREF(count);
    return r;
}

PyObject* list_concat(PyObject* self, PyObject* other) {
    return binary<PySequence_Concat>(self, other);
}

PyObject* list_repeat(PyObject* self, Py_ssize_t n) {
    PyObject* snap = snapshot(self);
    PyObject* r = snap ? PySequence_Repeat(snap, n) : nullptr;
    Py_XDECREF(snap);
    return r;
}

int list_init(PyObject* self, PyObject* args, PyObject* kwargs) {
    if (kwargs != nullptr && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "parallel.list() takes no keyword arguments");
        return -1;
    }
    return init_protected<&PyList_Type>(self, args, kwargs);
}

PySequenceMethods g_list_sequence = {
    list_len,  list_concat,   list_repeat,
    list_item, nullptr,       list_ass_item,
    nullptr,   list_contains, inplace<&PyList_Type, k_extend, false>,
    list_imul,
};
PyMappingMethods g_list_mapping = {list_len, list_subscript, list_ass_subscript};

PyMethodDef g_list_methods[] = {
    {"append", list_append, METH_O, "Append object to the end of the list, under the lock."},
    {"__reduce__", reduce, METH_NOARGS, "Pickles a snapshot, unpickled as a parallel.list."},
    {"pop", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(list_pop)), METH_FASTCALL,
     "Remove and return item at index (default last)."},
    {"sort", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(list_sort)),
     METH_VARARGS | METH_KEYWORDS, "Sort the list in ascending order, under the lock."},
    read_def<k_index>("Return first index of value (in a snapshot)."),
    read_def<k_count>("Return number of occurrences of value (in a snapshot)."),
    read_def<k_copy>("A shallow copy (a plain list)."),
    read_def<k___reversed__>("Reverse iterator over a snapshot."),
    read_def<k___sizeof__>("Size of a snapshot in memory, in bytes."),
    write_def<k_extend, false>("Extend the list by appending elements from the iterable."),
    write_def<k_insert, false>("Insert object before index."),
    write_def<k_remove, true>("Remove first occurrence of value."),
    write_def<k_reverse, false>("Reverse *IN PLACE*."),
    write_def<k_clear, true>("Remove all items from list."),
    {nullptr, nullptr, 0, nullptr},
};

// ---- the protected set (protect(a_set))
// ----------------------------------------------------------

Py_ssize_t set_len(PyObject* self) {
    ReadScope read(self);
    return read ? PySet_GET_SIZE(self) : -1;
}

int set_contains(PyObject* self, PyObject* key) {
    ReadScope read(self); // set's own slot: a set key is looked up as a frozenset
    return read ? PySet_Type.tp_as_sequence->sq_contains(self, key) : -1;
}

PyObject* set_add(PyObject* self, PyObject* key) {
    WriteScope w(self);
    if (!w)
        return nullptr;
    PyObject* k = w.in(key, "parallel.set element");
    int status = k ? PySet_Add(self, k) : -1;
    Py_XDECREF(k);
    w.finish();
    if (status < 0)
        return nullptr;
    Py_RETURN_NONE;
}

PyObject* set_pop(PyObject* self, PyObject*) {
    WriteScope w(self);
    if (!w)
        return nullptr;
    PyObject* result = w.out(PySet_Pop(self));
    w.finish();
    return result;
}

PySequenceMethods g_set_sequence = {set_len, nullptr, nullptr,      nullptr, nullptr,
                                    nullptr, nullptr, set_contains, nullptr, nullptr};
PyNumberMethods g_set_number = {};

PyMethodDef g_set_methods[] = {
    {"add", set_add, METH_O, "Add an element to the set, under the lock."},
    {"pop", set_pop, METH_NOARGS, "Remove and return an arbitrary set element."},
    read_def<k_copy>("A shallow copy (a plain set)."),
    read_def<k_union>("The union with others (of a snapshot), as a new set."),
    read_def<k_intersection>("The intersection with others (of a snapshot), as a new set."),
    read_def<k_difference>("The difference with others (of a snapshot), as a new set."),
    read_def<k_symmetric_difference>("The symmetric difference (of a snapshot), as a new set."),
    read_def<k_issubset>("Whether a snapshot is a subset of the other."),
    read_def<k_issuperset>("Whether a snapshot is a superset of the other."),
    read_def<k_isdisjoint>("Whether a snapshot and the other have no element in common."),
    read_def<k___sizeof__>("Size of a snapshot in memory, in bytes."),
    read_def<k___reduce__>("Pickles a snapshot (as a plain set)."),
    write_def<k_update, false>("Add the elements of the iterables, under the lock."),
    write_def<k_discard, true>("Remove an element if it is present, under the lock."),
    write_def<k_remove, true>("Remove an element; KeyError if absent."),
    write_def<k_clear, true>("Remove all elements, under the lock."),
    write_def<k_difference_update, true>("Remove the elements of the others, under the lock."),
    write_def<k_intersection_update, true>("Keep only elements also in the others."),
    write_def<k_symmetric_difference_update, true>("Update with the symmetric difference."),
    {nullptr, nullptr, 0, nullptr},
};

// ---- protected instances
// -------------------------------------------------------------------------

PyObject* g_instance_classes = nullptr; // dict: class -> its protected subclass (main heap)

PyObject* protected_getattro(PyObject* obj, PyObject* name) {
    ReadScope read(obj);
    return read ? base_getattro(obj)(obj, name) : nullptr;
}

int instance_setattr(PyObject* obj, PyObject* name, PyObject* value) {
    WriteScope w(obj);
    if (!w)
        return -1;
    int status = -1;
    std::string root = std::string(Py_TYPE(obj)->tp_name) + ".";
    Py_ssize_t n = 0;
    const char* utf8 = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &n) : nullptr;
    PyErr_Clear();
    root.append(utf8 ? utf8 : "?", utf8 ? static_cast<std::size_t>(n) : 1);
    PyObject* key = w.in(name, root.c_str());
    PyObject* v = key && value ? w.in(value, root.c_str()) : nullptr;
    if (key != nullptr && (value == nullptr || v != nullptr)) {
        // The value replaced, kept: the instance's own attribute only (not the class's).
        PyObject** dictptr = _PyObject_GetDictPtr(obj);
        if (dictptr != nullptr && *dictptr != nullptr) {
            PyObject* old = PyDict_GetItemWithError(*dictptr, key);
            if (old != nullptr)
                WriteScope::keep_borrowed(old);
        }
        PyErr_Clear();
        status = Py_TYPE(obj)->tp_base->tp_setattro(obj, key, v);
    }
    Py_XDECREF(key);
    Py_XDECREF(v);
    w.finish();
    return status;
}

// An instance of a class defined in Python (a heap type) with a __dict__.
bool instance_protectable(PyObject* obj) {
    PyTypeObject* t = Py_TYPE(obj);
    return (t->tp_flags & Py_TPFLAGS_HEAPTYPE) != 0 &&
           (t->tp_dictoffset != 0 || (t->tp_flags & Py_TPFLAGS_MANAGED_DICT) != 0) &&
           t->tp_setattro == PyObject_GenericSetAttr && !PyType_Check(obj);
}

// The protected subclass of `cls` (made once): same name, no new slots, so __class__ may be
// switched between the two; its attribute access takes the instance's lock.
PyObject* protected_class(PyTypeObject* cls) {
    if (g_instance_classes == nullptr && (g_instance_classes = PyDict_New()) == nullptr)
        return nullptr;
    PyObject* sub = PyDict_GetItemWithError(g_instance_classes, reinterpret_cast<PyObject*>(cls));
    if (sub != nullptr || PyErr_Occurred()) {
        Py_XINCREF(sub);
        return sub;
    }
    PyObject* name = PyObject_GetAttrString(reinterpret_cast<PyObject*>(cls), "__name__");
    PyObject* qualname = PyObject_GetAttrString(reinterpret_cast<PyObject*>(cls), "__qualname__");
    PyObject* module = PyObject_GetAttrString(reinterpret_cast<PyObject*>(cls), "__module__");
    PyObject* ns = name && qualname && module ? PyDict_New() : nullptr;
    PyObject* slots = ns ? PyTuple_New(0) : nullptr;
    if (slots != nullptr && PyDict_SetItemString(ns, "__slots__", slots) == 0 &&
        PyDict_SetItemString(ns, "__qualname__", qualname) == 0 &&
        PyDict_SetItemString(ns, "__module__", module) == 0) {
        sub = PyObject_CallFunction(reinterpret_cast<PyObject*>(Py_TYPE(cls)), "O(O)O", name,
                                    reinterpret_cast<PyObject*>(cls), ns);
    }
    Py_XDECREF(slots);
    Py_XDECREF(ns);
    Py_XDECREF(module);
    Py_XDECREF(qualname);
    Py_XDECREF(name);
    if (sub == nullptr)
        return nullptr;
    auto* t = reinterpret_cast<PyTypeObject*>(sub);
    t->tp_getattro = protected_getattro;
    t->tp_setattro = instance_setattr;
    PyType_Modified(t);
    if (PyDict_SetItem(g_instance_classes, reinterpret_cast<PyObject*>(cls), sub) < 0) {
        Py_DECREF(sub);
        return nullptr;
    }
    return sub;
}

bool ready(PyTypeObject* t, const char* name, const char* doc, PyTypeObject* base,
           Py_ssize_t size) {
    t->tp_name = name;
    t->tp_doc = doc;
    t->tp_base = base;
    t->tp_basicsize = size;
    t->tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC;
    t->tp_traverse = base->tp_traverse;
    t->tp_clear = base->tp_clear;
    t->tp_iter = iter;
    t->tp_repr = repr;
    t->tp_richcompare = richcompare;
    t->tp_hash = PyObject_HashNotImplemented;
    return PyType_Ready(t) == 0;
}

bool main_thread_only(const char* what) {
    if (!in_context() && !in_main_section())
        return true;
    PyErr_Format(PyExc_RuntimeError,
                 "parallel.%s() must be called on the main thread (before parallel.map() or "
                 "parallel.run(), or in a call_from_main_thread function), not in a parallel "
                 "context",
                 what);
    return false;
}

} // namespace

namespace {

// The types are readied on first use (parallel.dict, parallel.list, protect()), on the main
// thread: importing parallel allocates nothing for them, so programs that do not share
// state start exactly as before.
bool ready_types() {
    static bool done = false;
    if (done)
        return true;
    if (in_context() || in_main_section()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "parallel.dict, parallel.list and parallel.protect() are set up on the "
                        "main thread: use one there first (make the shared objects before "
                        "parallel.map() or parallel.run())");
        return false;
    }
    g_dict_number.nb_or = binary<PyNumber_Or>;
    g_dict_number.nb_inplace_or = inplace<&PyDict_Type, k_update, true>;
    g_dict_sequence.sq_contains = dict_contains;
    g_dict_type.tp_as_mapping = &g_dict_mapping;
    g_dict_type.tp_as_sequence = &g_dict_sequence;
    g_dict_type.tp_as_number = &g_dict_number;
    g_dict_type.tp_methods = g_dict_methods;
    g_dict_type.tp_new = new_protected<&PyDict_Type>;
    g_dict_type.tp_init = init_protected<&PyDict_Type>;
    g_list_type.tp_as_sequence = &g_list_sequence;
    g_list_type.tp_as_mapping = &g_list_mapping;
    g_list_type.tp_methods = g_list_methods;
    g_list_type.tp_new = new_protected<&PyList_Type>;
    g_list_type.tp_init = list_init;
    g_set_number.nb_or = binary<PyNumber_Or>;
    g_set_number.nb_and = binary<PyNumber_And>;
    g_set_number.nb_subtract = binary<PyNumber_Subtract>;
    g_set_number.nb_xor = binary<PyNumber_Xor>;
    g_set_number.nb_inplace_or = inplace<&PySet_Type, k_update, false>;
    g_set_number.nb_inplace_and = inplace<&PySet_Type, k_intersection_update, true>;
    g_set_number.nb_inplace_subtract = inplace<&PySet_Type, k_difference_update, true>;
    g_set_number.nb_inplace_xor = inplace<&PySet_Type, k_symmetric_difference_update, true>;
    g_set_type.tp_as_sequence = &g_set_sequence;
    g_set_type.tp_as_number = &g_set_number;
    g_set_type.tp_methods = g_set_methods;
    g_set_type.tp_new = new_protected<&PySet_Type>;
    g_set_type.tp_init = init_protected<&PySet_Type>;
    if (!ready(&g_dict_type, "parallel.dict",
               "A dict that parallel contexts may read and write (protected).", &PyDict_Type,
               sizeof(PyDictObject)) ||
        !ready(&g_list_type, "parallel.list",
               "A list that parallel contexts may read and write (protected).", &PyList_Type,
               sizeof(PyListObject)) ||
        !ready(&g_set_type, "parallel.set",
               "A set that parallel contexts may read and write (protected).", &PySet_Type,
               sizeof(PySetObject)))
        return false;
    done = true;
    return true;
}

} // namespace

void init_protect() { init_stripes(); }

PyObject* module_getattr(PyObject* module, PyObject* name) {
    PyTypeObject* type = nullptr;
    if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "dict") == 0)
        type = &g_dict_type;
    else if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "list") == 0)
        type = &g_list_type;
    if (type == nullptr) {
        PyErr_Format(PyExc_AttributeError, "module 'parallel' has no attribute '%U'", name);
        return nullptr;
    }
    if (!ready_types())
        return nullptr;
    // Into the module's dict: later lookups find it there.
    if (PyObject_SetAttr(module, name, reinterpret_cast<PyObject*>(type)) < 0)
        return nullptr;
    Py_INCREF(type);
    return reinterpret_cast<PyObject*>(type);
}

PyObject* protect(PyObject*, PyObject* obj) {
    if (!main_thread_only("protect") || !ready_types())
        return nullptr;
    PyTypeObject* to = nullptr;
    if (is_protected(obj)) {
        Py_INCREF(obj);
        return obj;
    }
    if (Py_TYPE(obj) == &PyDict_Type)
        to = &g_dict_type;
    else if (Py_TYPE(obj) == &PyList_Type)
        to = &g_list_type;
    else if (Py_TYPE(obj) == &PySet_Type)
        to = &g_set_type;
    if (to != nullptr) {
        WriteScope w(obj, false);
        if (!w)
            return nullptr;
        Py_SET_TYPE(obj, to);
        w.finish();
        Py_INCREF(obj);
        return obj;
    }
    if (!instance_protectable(obj)) {
        PyErr_Format(PyExc_TypeError,
                     "parallel.protect() takes a dict, list or set (exactly those types) or an "
                     "instance of a class defined in Python with a __dict__ and the default "
                     "__setattr__, not %.200s; for shared state make a parallel.dict() or "
                     "parallel.list()",
                     Py_TYPE(obj)->tp_name);
        return nullptr;
    }
    PyObject* sub = protected_class(Py_TYPE(obj));
    if (sub == nullptr)
        return nullptr;
    WriteScope w(obj, false);
    int status = w ? PyObject_SetAttrString(obj, "__class__", sub) : -1;
    w.finish();
    Py_DECREF(sub);
    if (status < 0)
        return nullptr;
    Py_INCREF(obj);
    return obj;
}

PyObject* unprotect(PyObject*, PyObject* obj) {
    if (!main_thread_only("unprotect"))
        return nullptr;
    if (is_protected(obj)) {
        WriteScope w(obj, false);
        if (!w)
            return nullptr;
        int status = 0;
        if (Py_TYPE(obj) == &g_dict_type)
            Py_SET_TYPE(obj, &PyDict_Type);
        else if (Py_TYPE(obj) == &g_list_type)
            Py_SET_TYPE(obj, &PyList_Type);
        else if (Py_TYPE(obj) == &g_set_type)
            Py_SET_TYPE(obj, &PySet_Type);
        else
            status = PyObject_SetAttrString(obj, "__class__",
                                            reinterpret_cast<PyObject*>(Py_TYPE(obj)->tp_base));
        w.finish();
        if (status < 0)
            return nullptr;
    }
    Py_INCREF(obj);
    return obj;
}

PyObject* is_protected_py(PyObject*, PyObject* obj) { return PyBool_FromLong(is_protected(obj)); }

PyObject* protect_stats(PyObject*, PyObject*) {
    std::size_t retired = 0;
    {
        std::lock_guard lock(g_retired_mutex);
        retired = g_retired.size();
    }
    return Py_BuildValue("{s:n,s:K}", "retired", static_cast<Py_ssize_t>(retired), "released",
                         static_cast<unsigned long long>(g_released_total.load()));
}

int protected_setattr(PyObject* obj, PyObject* name, PyObject* value) {
    return is_protected_instance(obj) ? instance_setattr(obj, name, value) : 1;
}

} // namespace px::interp
