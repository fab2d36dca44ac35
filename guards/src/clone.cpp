// clone.cpp — px::clone: deep copies of clonable values from one heap into another.
//
// An explicit work stack instead of recursion: values built by callbacks can nest without
// bound (a linked list of tuples), and a recursive copy would overflow the C stack. Each
// container being copied is a Frame; the loop asks the top frame for its next child, copies
// a scalar on the spot or pushes a frame for a container, and hands a finished copy to the
// frame below. Error paths ("result[2]['conn']") are built only on failure, from the frames
// still on the stack, so a successful clone pays nothing for them.
//
// A memo maps each source container (and each copied scalar) to its copy, so cycles and
// shared references come out with the same shape. Lists, tuples and dicts are memoized
// before they are filled; sets and frozensets only once built, since their elements are
// hashable and cannot lead back to them (a placeholder catches a malformed one that does).
//
// No Python code runs: only copies of exact builtin types are hashed, compared or repr'd,
// no str of the source gets a cached UTF-8 buffer, and the collector is paused so that no
// finalizer runs halfway through a copy.
#include <Python.h>

#include <cstring>
#include <new>
#include <unordered_map>
#include <vector>

#include "px/guards.h"

namespace px {
namespace {

constexpr const char* kHint = ", only None, bool, int, float, complex, str, bytes, bytearray "
                              "and tuple/list/dict/set/frozenset of those cross between heaps";
constexpr Py_ssize_t kMaxKeyRepr = 60;

enum class Kind { list, tuple, dict, set, frozenset };

struct Frame {
    Kind kind;
    PyObject* src; // borrowed
    // list, tuple, dict: the copy, borrowed from the memo. set, frozenset: an owned list
    // collecting the element copies until the set is built.
    PyObject* dst;
    Py_ssize_t pos = 0;        // list/tuple: next index; dict/set: iteration position
    Py_ssize_t index = -1;     // the child being copied: item index, or the key's ordinal
    PyObject* key = nullptr;   // dict: copy of the current key (owned) while its value is copied
    PyObject* value = nullptr; // dict: the current value (borrowed)
    bool on_key = false;       // dict: the child being copied is a key
};

struct MemoEntry {
    PyObject* copy; // owned; nullptr while a set or frozenset is being built
    bool complete;  // false while the copy is being filled
};

// Pauses the cyclic collector for the scope (its finalizers could run arbitrary code). In a
// parallel context there is nothing to pause (contexts never collect), and the collector's
// switch is the main thread's: writing it there raced with workers in main-heap sections.
class GcPause {
public:
    GcPause() noexcept : was_enabled_(!in_parallel_context() && PyGC_Disable() != 0) {}
    ~GcPause() {
        if (was_enabled_)
            PyGC_Enable();
    }
    GcPause(const GcPause&) = delete;
    GcPause& operator=(const GcPause&) = delete;

private:
    bool was_enabled_;
};

// "sqlite3.Connection", "function", "Local" (for a class defined inside a function).
PyObject* type_name(PyTypeObject* type) {
    if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        const char* name = type->tp_name;
        constexpr char kBuiltins[] = "builtins.";
        if (std::strncmp(name, kBuiltins, sizeof kBuiltins - 1) == 0)
            name += sizeof kBuiltins - 1;
        return PyUnicode_FromString(name);
    }
    PyObject* qualname = PyType_GetQualName(type);
    if (qualname == nullptr)
        return nullptr;
    PyObject* marker = PyUnicode_FromString("<locals>.");
    if (marker == nullptr) {
        Py_DECREF(qualname);
        return nullptr;
    }
    Py_ssize_t at = PyUnicode_Find(qualname, marker, 0, PY_SSIZE_T_MAX, -1);
    Py_ssize_t marker_length = PyUnicode_GET_LENGTH(marker);
    Py_DECREF(marker);
    if (at == -2) {
        Py_DECREF(qualname);
        return nullptr;
    }
    if (at >= 0) { // local classes: the module and enclosing functions add only noise
        PyObject* local =
            PyUnicode_Substring(qualname, at + marker_length, PyUnicode_GET_LENGTH(qualname));
        Py_DECREF(qualname);
        return local;
    }
    PyObject* module_key = PyUnicode_FromString("__module__");
    PyObject* module = module_key != nullptr && type->tp_dict != nullptr
                           ? PyDict_GetItemWithError(type->tp_dict, module_key)
                           : nullptr;
    Py_XDECREF(module_key);
    if (module == nullptr && PyErr_Occurred()) {
        Py_DECREF(qualname);
        return nullptr;
    }
    if (module == nullptr || !PyUnicode_CheckExact(module) ||
        PyUnicode_CompareWithASCIIString(module, "builtins") == 0)
        return qualname;
    PyObject* full = PyUnicode_FromFormat("%U.%U", module, qualname);
    Py_DECREF(qualname);
    return full;
}

class Cloner {
public:
    explicit Cloner(const CloneOptions& options) noexcept : options_(options) {}
    ~Cloner();
    Cloner(const Cloner&) = delete;
    Cloner& operator=(const Cloner&) = delete;

    PyObject* run(PyObject* root);

private:
    enum class Visit { done, pushed, failed };

    Visit visit(PyObject* src, PyObject** out);
    Visit start_container(PyObject* src, Kind kind);
    PyObject* copy_scalar(PyObject* src);
    bool remember(PyObject* src, PyObject* copy, bool complete);
    bool next_child(Frame& frame, PyObject** child);
    bool accept(Frame& frame, PyObject* copy);
    PyObject* finish(Frame& frame);

    PyObject* path();
    PyObject* key_repr(PyObject* key);
    void raise_at_path(PyObject* detail);
    void fail_not_clonable(PyObject* obj);
    void fail(const char* what);

    const CloneOptions& options_;
    std::unordered_map<PyObject*, MemoEntry> memo_;
    std::vector<Frame> stack_;
    bool last_incomplete_ = false; // the last visit() returned a copy still being filled
    bool failed_ = true;           // until run() succeeds
};

Cloner::~Cloner() {
    for (Frame& frame : stack_) {
        Py_XDECREF(frame.key);
        if (frame.kind == Kind::set || frame.kind == Kind::frozenset)
            Py_XDECREF(frame.dst);
    }
    if (failed_) {
        // Break cycles among the partial copies so they die now, not at the next collection.
        for (auto& [src, entry] : memo_) {
            PyObject* copy = entry.copy;
            if (copy == nullptr)
                continue;
            if (PyList_CheckExact(copy) || PyTuple_CheckExact(copy)) {
                PyObject** items = PySequence_Fast_ITEMS(copy);
                for (Py_ssize_t i = 0, n = Py_SIZE(copy); i < n; ++i)
                    Py_CLEAR(items[i]);
            } else if (PyDict_CheckExact(copy)) {
                PyDict_Clear(copy);
            }
        }
    }
    for (auto& [src, entry] : memo_)
        Py_XDECREF(entry.copy);
}

PyObject* Cloner::run(PyObject* root) {
    GcPause pause;
    PyObject* result = nullptr;
    Visit v = visit(root, &result);
    if (v == Visit::failed)
        return nullptr;
    while (!stack_.empty()) {
        PyObject* child = nullptr;
        if (!next_child(stack_.back(), &child)) {
            PyObject* done = finish(stack_.back());
            if (done == nullptr)
                return nullptr;
            stack_.pop_back();
            if (stack_.empty()) {
                result = done;
                break;
            }
            if (!accept(stack_.back(), done))
                return nullptr;
            continue;
        }
        PyObject* copy = nullptr;
        v = visit(child, &copy);
        if (v == Visit::failed)
            return nullptr;
        if (v == Visit::done && !accept(stack_.back(), copy))
            return nullptr;
    }
    failed_ = false;
    return result;
}

Cloner::Visit Cloner::visit(PyObject* src, PyObject** out) {
    last_incomplete_ = false;
    if (src == Py_None || src == Py_True || src == Py_False) {
        *out = Py_NewRef(src);
        return Visit::done;
    }
    auto it = memo_.find(src);
    if (it != memo_.end()) {
        if (it->second.copy == nullptr) {
            fail("a set or frozenset contains itself");
            return Visit::failed;
        }
        last_incomplete_ = !it->second.complete;
        *out = Py_NewRef(it->second.copy);
        return Visit::done;
    }
    PyTypeObject* type = Py_TYPE(src);
    if (type == &PyList_Type)
        return start_container(src, Kind::list);
    if (type == &PyTuple_Type)
        return start_container(src, Kind::tuple);
    if (type == &PyDict_Type)
        return start_container(src, Kind::dict);
    if (type == &PySet_Type)
        return start_container(src, Kind::set);
    if (type == &PyFrozenSet_Type)
        return start_container(src, Kind::frozenset);

    bool immutable = type == &PyLong_Type || type == &PyFloat_Type || type == &PyComplex_Type ||
                     type == &PyUnicode_Type || type == &PyBytes_Type;
    if (!immutable && type != &PyByteArray_Type) {
        fail_not_clonable(src);
        return Visit::failed;
    }
    // Main-owned immutable scalars outlive every context: share them.
    if (immutable && options_.share_main_scalars && !is_context_memory(src)) {
        *out = Py_NewRef(src);
        return Visit::done;
    }
    PyObject* copy = copy_scalar(src);
    if (copy == nullptr || !remember(src, copy, true))
        return Visit::failed;
    *out = Py_NewRef(copy);
    return Visit::done;
}

PyObject* Cloner::copy_scalar(PyObject* src) {
    PyTypeObject* type = Py_TYPE(src);
    if (type == &PyLong_Type)
        return _PyLong_Copy(reinterpret_cast<PyLongObject*>(src));
    if (type == &PyFloat_Type)
        return PyFloat_FromDouble(PyFloat_AS_DOUBLE(src));
    if (type == &PyComplex_Type)
        return PyComplex_FromCComplex(reinterpret_cast<PyComplexObject*>(src)->cval);
    if (type == &PyBytes_Type)
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(src), PyBytes_GET_SIZE(src));
    if (type == &PyByteArray_Type)
        return PyByteArray_FromStringAndSize(PyByteArray_AS_STRING(src), PyByteArray_GET_SIZE(src));
    // str. Readying a legacy string would write into the source; only deprecated C APIs
    // make them, so refuse rather than touch it.
    if (!PyUnicode_IS_READY(src)) {
        fail("a legacy (not ready) str is not clonable");
        return nullptr;
    }
    return PyUnicode_FromKindAndData(PyUnicode_KIND(src), PyUnicode_DATA(src),
                                     PyUnicode_GET_LENGTH(src));
}

bool Cloner::remember(PyObject* src, PyObject* copy, bool complete) {
    try {
        memo_.emplace(src, MemoEntry{copy, complete});
        return true;
    } catch (const std::bad_alloc&) {
        Py_XDECREF(copy);
        PyErr_NoMemory();
        return false;
    }
}

Cloner::Visit Cloner::start_container(PyObject* src, Kind kind) {
    PyObject* dst = nullptr;
    switch (kind) {
    case Kind::list:
        dst = PyList_New(PyList_GET_SIZE(src));
        break;
    case Kind::tuple:
        dst = PyTuple_New(PyTuple_GET_SIZE(src));
        break;
    case Kind::dict:
        dst = _PyDict_NewPresized(PyDict_GET_SIZE(src));
        break;
    case Kind::set:
    case Kind::frozenset:
        dst = PyList_New(0);
        break;
    }
    if (dst == nullptr)
        return Visit::failed;
    bool is_set = kind == Kind::set || kind == Kind::frozenset;
    try {
        stack_.push_back(Frame{kind, src, dst});
    } catch (const std::bad_alloc&) {
        Py_DECREF(dst);
        PyErr_NoMemory();
        return Visit::failed;
    }
    // The frame owns a set's list; the memo owns every other copy.
    if (!remember(src, is_set ? nullptr : dst, false)) {
        if (!is_set)
            stack_.back().dst = nullptr; // released by remember(); nothing left to fill
        return Visit::failed;
    }
    return Visit::pushed;
}

bool Cloner::next_child(Frame& frame, PyObject** child) {
    switch (frame.kind) {
    case Kind::list:
    case Kind::tuple:
        if (frame.pos >= Py_SIZE(frame.dst))
            return false;
        frame.index = frame.pos++;
        *child = PySequence_Fast_ITEMS(frame.src)[frame.index];
        return true;
    case Kind::dict: {
        if (frame.key != nullptr) {
            frame.on_key = false;
            *child = frame.value;
            return true;
        }
        PyObject* key;
        if (!PyDict_Next(frame.src, &frame.pos, &key, &frame.value))
            return false;
        ++frame.index;
        frame.on_key = true;
        *child = key;
        return true;
    }
    case Kind::set:
    case Kind::frozenset: {
        PyObject* element;
        Py_hash_t hash;
        if (!_PySet_NextEntry(frame.src, &frame.pos, &element, &hash))
            return false;
        ++frame.index;
        *child = element;
        return true;
    }
    }
    return false;
}

bool Cloner::accept(Frame& frame, PyObject* copy) {
    // A copy still being filled cannot be hashed. Only a malformed value (a tuple made to
    // contain itself through C) gets here: real keys and elements cannot reach a container
    // that is still open above them.
    bool hashed = frame.kind == Kind::set || frame.kind == Kind::frozenset ||
                  (frame.kind == Kind::dict && frame.on_key);
    if (hashed && last_incomplete_) {
        Py_DECREF(copy);
        fail("a dict key or set element contains the container it belongs to");
        return false;
    }
    switch (frame.kind) {
    case Kind::list:
        PyList_SET_ITEM(frame.dst, frame.index, copy);
        return true;
    case Kind::tuple:
        PyTuple_SET_ITEM(frame.dst, frame.index, copy);
        return true;
    case Kind::dict: {
        if (frame.on_key) {
            frame.key = copy;
            return true;
        }
        int rc = PyDict_SetItem(frame.dst, frame.key, copy);
        Py_DECREF(copy);
        if (rc < 0)
            return false;
        Py_CLEAR(frame.key);
        return true;
    }
    case Kind::set:
    case Kind::frozenset: {
        int rc = PyList_Append(frame.dst, copy);
        Py_DECREF(copy);
        return rc == 0;
    }
    }
    return false;
}

PyObject* Cloner::finish(Frame& frame) {
    if (frame.kind == Kind::set || frame.kind == Kind::frozenset) {
        PyObject* built =
            frame.kind == Kind::set ? PySet_New(frame.dst) : PyFrozenSet_New(frame.dst);
        if (built == nullptr)
            return nullptr;
        Py_CLEAR(frame.dst);
        MemoEntry& entry = memo_.find(frame.src)->second; // placeholder of start_container()
        entry.copy = built;
        entry.complete = true;
        return Py_NewRef(built);
    }
    memo_.find(frame.src)->second.complete = true;
    return Py_NewRef(frame.dst);
}

// repr() of a dict key's copy (a clonable value, so a builtin repr), cut to kMaxKeyRepr.
PyObject* Cloner::key_repr(PyObject* key) {
    PyObject* repr = PyObject_Repr(key);
    if (repr == nullptr) { // e.g. an int too long to convert: say what it is instead
        PyErr_Clear();
        return PyUnicode_FromFormat("<%s>", Py_TYPE(key)->tp_name);
    }
    if (PyUnicode_GET_LENGTH(repr) <= kMaxKeyRepr)
        return repr;
    PyObject* head = PyUnicode_Substring(repr, 0, kMaxKeyRepr - 3);
    Py_DECREF(repr);
    if (head == nullptr)
        return nullptr;
    PyObject* cut = PyUnicode_FromFormat("%U...", head);
    Py_DECREF(head);
    return cut;
}

PyObject* Cloner::path() {
    PyObject* path = PyUnicode_FromString(options_.root != nullptr ? options_.root : "result");
    for (const Frame& frame : stack_) {
        if (path == nullptr)
            return nullptr;
        PyObject* longer = nullptr;
        switch (frame.kind) {
        case Kind::list:
        case Kind::tuple:
            longer = PyUnicode_FromFormat("%U[%zd]", path, frame.index);
            break;
        case Kind::dict:
            if (frame.on_key || frame.key == nullptr) {
                longer = PyUnicode_FromFormat("%U.key(%zd)", path, frame.index);
            } else if (PyObject* repr = key_repr(frame.key)) {
                longer = PyUnicode_FromFormat("%U[%U]", path, repr);
                Py_DECREF(repr);
            }
            break;
        case Kind::set:
        case Kind::frozenset:
            longer = PyUnicode_FromFormat("%U{...}", path);
            break;
        }
        Py_DECREF(path);
        path = longer;
    }
    return path;
}

// Raises the clone error "<path>: <detail>"; takes the reference to `detail` (nullptr: an
// exception is set already).
void Cloner::raise_at_path(PyObject* detail) {
    if (detail == nullptr)
        return;
    PyObject* where = path();
    PyObject* message = where != nullptr ? PyUnicode_FromFormat("%U: %U", where, detail) : nullptr;
    Py_XDECREF(where);
    Py_DECREF(detail);
    if (message == nullptr)
        return;
    PyErr_SetObject(options_.clone_error != nullptr ? options_.clone_error : PyExc_TypeError,
                    message);
    Py_DECREF(message);
}

void Cloner::fail_not_clonable(PyObject* obj) {
    PyObject* name = type_name(Py_TYPE(obj));
    raise_at_path(name != nullptr ? PyUnicode_FromFormat("%U is not clonable%s", name, kHint)
                                  : nullptr);
    Py_XDECREF(name);
}

void Cloner::fail(const char* what) { raise_at_path(PyUnicode_FromString(what)); }

} // namespace

PyObject* clone(PyObject* obj, const CloneOptions& options) {
    Cloner cloner(options);
    return cloner.run(obj);
}

} // namespace px
