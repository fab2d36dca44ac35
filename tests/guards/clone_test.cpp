// px::clone against the system's CPython 3.11 (embedded): what is clonable, the error paths,
// cycles and shared references, deep nesting, and references left as they were. Nothing here
// is context memory, so most tests set share_main_scalars = false to see copies being made.
#include <Python.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "px/guards.h"

namespace {

class PythonEnvironment : public ::testing::Environment {
public:
    void SetUp() override {
        if (!Py_IsInitialized())
            Py_InitializeEx(0);
    }
};

const auto* const g_python = ::testing::AddGlobalTestEnvironment(new PythonEnvironment);

px::CloneOptions copying() {
    px::CloneOptions options;
    options.share_main_scalars = false;
    return options;
}

// Runs `code` in a fresh module namespace (named "snippet") and returns a new reference to
// the global `v`.
PyObject* run(const std::string& code) {
    PyObject* globals = PyDict_New();
    PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
    PyObject* name = PyUnicode_FromString("snippet");
    PyDict_SetItemString(globals, "__name__", name);
    Py_DECREF(name);
    PyObject* done = PyRun_String(code.c_str(), Py_file_input, globals, globals);
    if (done == nullptr)
        PyErr_Print();
    EXPECT_NE(done, nullptr) << code;
    Py_XDECREF(done);
    PyObject* v = PyDict_GetItemString(globals, "v");
    Py_XINCREF(v);
    Py_DECREF(globals);
    EXPECT_NE(v, nullptr) << code;
    return v;
}

PyObject* value(const std::string& expr) { return run("v = " + expr); }

bool equal(PyObject* a, PyObject* b) { return PyObject_RichCompareBool(a, b, Py_EQ) == 1; }

PyObject* item(PyObject* o, Py_ssize_t i) { return PySequence_Fast_ITEMS(o)[i]; }

// Clones `obj`, expects failure and returns the message (and that `type` was raised).
std::string clone_error(PyObject* obj, const px::CloneOptions& options,
                        PyObject* type = PyExc_TypeError) {
    PyObject* copy = px::clone(obj, options);
    EXPECT_EQ(copy, nullptr);
    Py_XDECREF(copy);
    if (PyErr_Occurred() == nullptr)
        return "(no exception)";
    EXPECT_TRUE(PyErr_ExceptionMatches(type));
    PyObject *exc_type, *exc, *tb;
    PyErr_Fetch(&exc_type, &exc, &tb);
    PyErr_NormalizeException(&exc_type, &exc, &tb);
    PyObject* text = PyObject_Str(exc);
    std::string message = text != nullptr ? PyUnicode_AsUTF8(text) : "(no message)";
    Py_XDECREF(text);
    Py_XDECREF(exc_type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
    return message;
}

std::string clone_error_of(const std::string& expr) {
    PyObject* v = value(expr);
    std::string message = clone_error(v, copying());
    Py_DECREF(v);
    return message;
}

std::string clone_error_after(const std::string& code) {
    PyObject* v = run(code);
    std::string message = clone_error(v, copying());
    Py_DECREF(v);
    return message;
}

// Clones `expr`, checks the copy equals the source and has its exact type, returns both.
struct Pair {
    PyObject* src;
    PyObject* copy;
    ~Pair() {
        Py_XDECREF(copy);
        Py_XDECREF(src);
    }
};

void expect_equal_copy(const std::string& expr, bool distinct) {
    Pair p{value(expr), nullptr};
    p.copy = px::clone(p.src, copying());
    ASSERT_NE(p.copy, nullptr) << expr;
    EXPECT_EQ(Py_TYPE(p.copy), Py_TYPE(p.src)) << expr;
    EXPECT_TRUE(equal(p.copy, p.src)) << expr;
    if (distinct) {
        EXPECT_NE(p.copy, p.src) << expr;
    }
}

TEST(Clone, ScalarsCopyToEqualDistinctObjects) {
    for (const char* expr : {"10**30", "-(2**70)", "123456789", "3.25", "-0.0", "1.5-2j",
                             "'hello world'", "'h\\u00e9llo \\u4e16\\u754c \\U0001F600'",
                             "b'some bytes'", "bytearray(b'abc')", "bytearray()"})
        expect_equal_copy(expr, true);
}

TEST(Clone, CachedScalarsCompareEqual) {
    // Small ints, empty and one-character str and bytes are singletons in CPython.
    for (const char* expr : {"5", "0", "-3", "''", "'a'", "b''", "b'z'", "()"})
        expect_equal_copy(expr, false);
}

TEST(Clone, NoneTrueFalseAreShared) {
    for (PyObject* o : {Py_None, Py_True, Py_False}) {
        Py_ssize_t before = Py_REFCNT(o);
        PyObject* copy = px::clone(o, copying());
        EXPECT_EQ(copy, o);
        EXPECT_EQ(Py_REFCNT(o), before + 1);
        Py_DECREF(copy);
    }
}

TEST(Clone, MainOwnedScalarsAreSharedByDefault) {
    Pair p{value("[10**30, 2.5, 'text here', b'bytes', 1j, bytearray(b'x')]"), nullptr};
    p.copy = px::clone(p.src, px::CloneOptions{});
    ASSERT_NE(p.copy, nullptr);
    EXPECT_NE(p.copy, p.src);
    for (Py_ssize_t i = 0; i < 5; ++i)
        EXPECT_EQ(item(p.copy, i), item(p.src, i)) << i;
    EXPECT_NE(item(p.copy, 5), item(p.src, 5)); // bytearray is mutable: always copied
    EXPECT_TRUE(equal(p.copy, p.src));
}

TEST(Clone, ContainersCopyDeep) {
    Pair p{value("[10**20, (2.5, 'xy'), {'key': {300, 400}}, frozenset({'ab', (1000, 2000)}), "
                 "b'zz', bytearray(b'q'), None, True, False, 1j, [], {}, set(), frozenset()]"),
           nullptr};
    p.copy = px::clone(p.src, copying());
    ASSERT_NE(p.copy, nullptr);
    EXPECT_TRUE(equal(p.copy, p.src));
    ASSERT_EQ(PyList_GET_SIZE(p.copy), PyList_GET_SIZE(p.src));
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(p.src); ++i) {
        PyObject* s = item(p.src, i);
        PyObject* c = item(p.copy, i);
        EXPECT_EQ(Py_TYPE(c), Py_TYPE(s)) << i;
        bool singleton = s == Py_None || s == Py_True || s == Py_False;
        EXPECT_EQ(c == s, singleton) << i;
    }
    EXPECT_NE(item(item(p.copy, 1), 1), item(item(p.src, 1), 1)); // 'xy' copied
    PyObject* inner_src = PyDict_GetItemString(item(p.src, 2), "key");
    PyObject* inner_copy = PyDict_GetItemString(item(p.copy, 2), "key");
    EXPECT_NE(inner_copy, inner_src);
    EXPECT_TRUE(PySet_CheckExact(inner_copy));
    EXPECT_TRUE(PyFrozenSet_CheckExact(item(p.copy, 3)));
}

TEST(Clone, DictKeepsOrderAndCopiesKeys) {
    Pair p{value("{'bbb': 1, 'aaa': 2, (1, 'tt'): 3, 99999: 4, 'ccc': 5}"), nullptr};
    p.copy = px::clone(p.src, copying());
    ASSERT_NE(p.copy, nullptr);
    EXPECT_TRUE(equal(p.copy, p.src));
    Py_ssize_t i = 0, j = 0;
    PyObject *ks, *vs, *kc, *vc;
    while (PyDict_Next(p.src, &i, &ks, &vs)) {
        ASSERT_TRUE(PyDict_Next(p.copy, &j, &kc, &vc));
        EXPECT_TRUE(equal(kc, ks));
        EXPECT_NE(kc, ks);
        EXPECT_TRUE(equal(vc, vs));
    }
    EXPECT_FALSE(PyDict_Next(p.copy, &j, &kc, &vc));
}

TEST(Clone, SubclassesAreRefused) {
    EXPECT_NE(clone_error_after("import collections\nv = collections.Counter('ab')")
                  .find("collections.Counter is not clonable"),
              std::string::npos);
    EXPECT_NE(clone_error_after("import collections\nv = collections.OrderedDict(a=1)")
                  .find("collections.OrderedDict is not clonable"),
              std::string::npos);
    EXPECT_NE(clone_error_after("import collections\nv = collections.namedtuple('P', 'x')(1)")
                  .find("P is not clonable"),
              std::string::npos);
    EXPECT_NE(clone_error_after("class S(str): pass\nv = [S('x')]")
                  .find("result[0]: snippet.S is not clonable"),
              std::string::npos);
    EXPECT_NE(clone_error_after("class I(int): pass\nv = I(3)").find("snippet.I"),
              std::string::npos);
    EXPECT_NE(clone_error_after("class D(dict): pass\nv = D()").find("snippet.D"),
              std::string::npos);
    // bool cannot be subclassed, so every bool is exactly True or False.
    for (const char* expr : {"Ellipsis", "NotImplemented", "range(3)", "memoryview(b'x')",
                             "iter([])", "type", "print"})
        EXPECT_NE(clone_error_of(expr).find("is not clonable"), std::string::npos) << expr;
}

TEST(Clone, ErrorNamesPathAndType) {
    std::string m = clone_error_of("[1, 2, {'conn': object()}]");
    EXPECT_EQ(m.rfind("result[2]['conn']: object is not clonable, only None, bool", 0), 0u) << m;
    EXPECT_NE(m.find("cross between heaps"), std::string::npos) << m;

    m = clone_error_of("{'f': lambda: 0}");
    EXPECT_EQ(m.rfind("result['f']: function is not clonable", 0), 0u) << m;

    m = clone_error_after("def make():\n    class Local: pass\n    return [0, Local()]\n"
                          "v = make()");
    EXPECT_EQ(m.rfind("result[1]: Local is not clonable", 0), 0u) << m;

    m = clone_error_after("import collections\nv = ({'a': [collections.Counter()]},)");
    EXPECT_EQ(m.rfind("result[0]['a'][0]: collections.Counter is not clonable", 0), 0u) << m;

    m = clone_error_of("print");
    EXPECT_EQ(m.rfind("result: builtin_function_or_method is not clonable", 0), 0u) << m;

    // A class whose __module__ is builtins, or not a str, is named by its qualname alone.
    m = clone_error_after("class B: pass\nB.__module__ = 'builtins'\nv = [B()]");
    EXPECT_EQ(m.rfind("result[0]: B is not clonable", 0), 0u) << m;
    m = clone_error_after("class N: pass\nN.__module__ = 5\nv = [N()]");
    EXPECT_EQ(m.rfind("result[0]: N is not clonable", 0), 0u) << m;
}

// A legacy str (made by the deprecated PyUnicode_FromUnicode(NULL, n)) is not ready; readying
// it would write into the source, so clone refuses it.
TEST(Clone, LegacyStrIsRefused) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    PyObject* legacy = PyUnicode_FromUnicode(nullptr, 3);
#pragma GCC diagnostic pop
    ASSERT_NE(legacy, nullptr);
    ASSERT_FALSE(PyUnicode_IS_READY(legacy));
    PyObject* list = PyList_New(1);
    ASSERT_NE(list, nullptr);
    PyList_SET_ITEM(list, 0, legacy);
    std::string m = clone_error(list, copying());
    EXPECT_EQ(m, "result[0]: a legacy (not ready) str is not clonable") << m;
    EXPECT_FALSE(PyUnicode_IS_READY(legacy)); // the source was not touched
    Py_DECREF(list);
}

TEST(Clone, LongKeyReprsAreCut) {
    std::string m = clone_error_of("{'k' * 100: object()}");
    EXPECT_NE(m.find("result['kkk"), std::string::npos) << m;
    EXPECT_NE(m.find("...]: object is not clonable"), std::string::npos) << m;
    EXPECT_LT(m.find("]: object"), 80u) << m;
}

TEST(Clone, ErrorPathsThroughKeysAndSets) {
    std::string m = clone_error_of("{1: 'a', object(): 2}");
    EXPECT_EQ(m.rfind("result.key(1): object is not clonable", 0), 0u) << m;

    m = clone_error_of("[frozenset({(2, object())})]");
    EXPECT_EQ(m.rfind("result[0]{...}[1]: object is not clonable", 0), 0u) << m;

    m = clone_error_of("{(1, 'k'): [0, object()]}");
    EXPECT_EQ(m.rfind("result[(1, 'k')][1]: object", 0), 0u) << m;

    m = clone_error_of("{'x' * 100: object()}");
    std::string key = "'" + std::string(56, 'x') + "...";
    EXPECT_EQ(m.rfind("result[" + key + "]: object", 0), 0u) << m;

    // An int too long for repr() still gives a path.
    m = clone_error_of("{10**5000: object()}");
    EXPECT_EQ(m.rfind("result[<int>]: object", 0), 0u) << m;
}

TEST(Clone, RootNamesThePath) {
    px::CloneOptions options = copying();
    options.root = "args";
    PyObject* v = value("(1, object())");
    std::string m = clone_error(v, options);
    Py_DECREF(v);
    EXPECT_EQ(m.rfind("args[1]: object is not clonable", 0), 0u) << m;
}

TEST(Clone, RaisesTheGivenErrorType) {
    PyObject* clone_error_type =
        PyErr_NewException("parallel.CloneError", PyExc_TypeError, nullptr);
    ASSERT_NE(clone_error_type, nullptr);
    px::CloneOptions options = copying();
    options.clone_error = clone_error_type;
    PyObject* v = value("[object()]");
    std::string m = clone_error(v, options, clone_error_type);
    EXPECT_EQ(m.rfind("result[0]: object is not clonable", 0), 0u) << m;
    Py_DECREF(v);
    Py_DECREF(clone_error_type);
}

TEST(Clone, ListSelfCyclePreserved) {
    Pair p{run("v = [1]\nv.append(v)"), nullptr};
    p.copy = px::clone(p.src, copying());
    ASSERT_NE(p.copy, nullptr);
    EXPECT_NE(p.copy, p.src);
    EXPECT_EQ(item(p.copy, 1), p.copy);
    PyList_SetSlice(p.copy, 0, PyList_GET_SIZE(p.copy), nullptr); // break the cycles
    PyList_SetSlice(p.src, 0, PyList_GET_SIZE(p.src), nullptr);
}

TEST(Clone, DictSelfCyclePreserved) {
    Pair p{run("v = {'n': 1}\nv['self'] = v"), nullptr};
    p.copy = px::clone(p.src, copying());
    ASSERT_NE(p.copy, nullptr);
    EXPECT_NE(p.copy, p.src);
    EXPECT_EQ(PyDict_GetItemString(p.copy, "self"), p.copy);
    PyDict_Clear(p.copy);
    PyDict_Clear(p.src);
}

TEST(Clone, TupleListTupleCyclePreserved) {
    Pair p{run("l = []\nv = (l, 'end')\nl.append(v)"), nullptr};
    p.copy = px::clone(p.src, copying());
    ASSERT_NE(p.copy, nullptr);
    PyObject* list_copy = item(p.copy, 0);
    EXPECT_NE(list_copy, item(p.src, 0));
    EXPECT_EQ(item(list_copy, 0), p.copy);

    PyObject* list = item(p.src, 0);
    PyObject* copy2 = px::clone(list, copying()); // entering the cycle at the list
    ASSERT_NE(copy2, nullptr);
    EXPECT_EQ(item(item(copy2, 0), 0), copy2);
    PyList_SetSlice(copy2, 0, 1, nullptr);
    Py_DECREF(copy2);
    PyList_SetSlice(list_copy, 0, 1, nullptr);
    PyList_SetSlice(list, 0, 1, nullptr);
}

TEST(Clone, SharedReferencesPreserved) {
    Pair p{run("s = [1]\nx = 10**30\nv = [s, s, (s, x), x, {'a': s}]"), nullptr};
    p.copy = px::clone(p.src, copying());
    ASSERT_NE(p.copy, nullptr);
    PyObject* s = item(p.copy, 0);
    EXPECT_NE(s, item(p.src, 0));
    EXPECT_EQ(item(p.copy, 1), s);
    EXPECT_EQ(item(item(p.copy, 2), 0), s);
    EXPECT_EQ(PyDict_GetItemString(item(p.copy, 4), "a"), s);
    EXPECT_EQ(item(item(p.copy, 2), 1), item(p.copy, 3));
    EXPECT_NE(item(p.copy, 3), item(p.src, 3));
}

// Walks `depth` levels of [[[...]]] or {'n': {...}} without recursion.
void expect_depth(PyObject* o, int depth, bool dict) {
    for (int i = 0; i < depth; ++i) {
        ASSERT_TRUE(dict ? PyDict_CheckExact(o) : PyList_CheckExact(o)) << i;
        o = dict ? PyDict_GetItemString(o, "n") : item(o, 0);
    }
    EXPECT_TRUE(dict ? PyDict_CheckExact(o) && PyDict_GET_SIZE(o) == 0
                     : PyList_CheckExact(o) && PyList_GET_SIZE(o) == 0);
}

TEST(Clone, DeepNestingDoesNotOverflow) {
    Pair p{run("v = []\nfor _ in range(100000): v = [v]"), nullptr};
    p.copy = px::clone(p.src, copying());
    ASSERT_NE(p.copy, nullptr);
    expect_depth(p.copy, 100000, false);

    Pair d{run("v = {}\nfor _ in range(100000): v = {'n': v}"), nullptr};
    d.copy = px::clone(d.src, copying());
    ASSERT_NE(d.copy, nullptr);
    expect_depth(d.copy, 100000, true);

    Pair t{run("v = ()\nfor _ in range(100000): v = (v, 1)"), nullptr};
    t.copy = px::clone(t.src, copying());
    ASSERT_NE(t.copy, nullptr);
}

TEST(Clone, DeepErrorHasFullPath) {
    PyObject* v = run("v = [object()]\nfor _ in range(3): v = [0, v]");
    std::string m = clone_error(v, copying());
    Py_DECREF(v);
    EXPECT_EQ(m.rfind("result[1][1][1][0]: object", 0), 0u) << m;
}

std::vector<Py_ssize_t> refcounts(const std::vector<PyObject*>& objects) {
    std::vector<Py_ssize_t> counts;
    counts.reserve(objects.size());
    for (PyObject* o : objects)
        counts.push_back(Py_REFCNT(o));
    return counts;
}

TEST(Clone, SourceRefcountsUnchanged) {
    PyObject* v = run("s = [10**30, 'shared text']\n"
                      "v = [s, s, (s, 2.5), {'k': s, 'big': 10**40}, {7, 8}, frozenset({9})]");
    std::vector<PyObject*> objects{v,          item(v, 0), item(item(v, 0), 0), item(item(v, 0), 1),
                                   item(v, 2), item(v, 3), item(v, 4),          item(v, 5)};
    for (bool share : {false, true}) {
        std::vector<Py_ssize_t> before = refcounts(objects);
        px::CloneOptions options;
        options.share_main_scalars = share;
        PyObject* copy = px::clone(v, options);
        ASSERT_NE(copy, nullptr);
        Py_DECREF(copy);
        EXPECT_EQ(refcounts(objects), before) << share;
    }
    Py_DECREF(v);
}

TEST(Clone, ErrorLeavesRefcountsAndNoGarbage) {
    PyObject* gc = PyImport_ImportModule("gc");
    ASSERT_NE(gc, nullptr);
    PyObject* collected = PyObject_CallMethod(gc, "collect", nullptr);
    Py_XDECREF(collected);
    // A cycle and shared parts are copied before the bad value is found.
    PyObject* v = run("s = [10**30]\nv = [s, s, {'a': 'text', 'b': (s,)}]\nv.append(v)\n"
                      "v.append({'bad': [object()]})");
    std::vector<PyObject*> objects{v, item(v, 0), item(item(v, 0), 0), item(v, 2), item(v, 4)};
    for (bool share : {false, true}) {
        std::vector<Py_ssize_t> before = refcounts(objects);
        px::CloneOptions options;
        options.share_main_scalars = share;
        std::string m = clone_error(v, options);
        EXPECT_EQ(m.rfind("result[4]['bad'][0]: object", 0), 0u) << m;
        EXPECT_EQ(refcounts(objects), before) << share;
        // The partial copies did not wait for the collector: they are gone already.
        collected = PyObject_CallMethod(gc, "collect", nullptr);
        ASSERT_NE(collected, nullptr);
        EXPECT_EQ(PyLong_AsLong(collected), 0) << share;
        Py_DECREF(collected);
    }
    PyList_SetSlice(v, 0, PyList_GET_SIZE(v), nullptr);
    Py_DECREF(v);
    Py_DECREF(gc);
}

TEST(Clone, CollectorStateRestored) {
    PyObject* v = value("[1, [2]]");
    EXPECT_EQ(PyGC_IsEnabled(), 1);
    PyObject* copy = px::clone(v, copying());
    Py_XDECREF(copy);
    EXPECT_EQ(PyGC_IsEnabled(), 1);
    PyGC_Disable();
    copy = px::clone(v, copying());
    Py_XDECREF(copy);
    EXPECT_EQ(PyGC_IsEnabled(), 0);
    PyGC_Enable();
    Py_DECREF(v);
}

} // namespace
