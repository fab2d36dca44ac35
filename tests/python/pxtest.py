"""What every pxpython test suite shares: the real `parallel` module and strict comparison.

`parallel` is built into pxpython. These suites never skip when it is missing: importing this
module raises ImportError saying how to run them, so unittest reports every suite as an error
and tests/python/run.py exits non-zero.
"""

try:
    import parallel
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError(
        "tests/python needs the `parallel` module that is built into pxpython; run "
        "`pxpython tests/python/run.py` (or `pxpython -m unittest discover -s tests/python "
        "-t tests/python`), not a stock python3"
    ) from exc

for _name in ("map", "MutationError", "CloneError", "ContextMemoryError"):
    if not hasattr(parallel, _name):
        raise ImportError(
            f"the `parallel` module at {getattr(parallel, '__file__', '<built-in>')} has no "
            f"{_name!r}; it is not pxpython's module (see shared/design/API.md)"
        )

# API.md, "Errors": the types that may cross from a context to the main heap. Exact types:
# a subclass (Counter, namedtuple, OrderedDict, a bool is its own entry) is not on the list.
CLONABLE_SCALARS = (type(None), bool, int, float, complex, str, bytes)
CLONABLE_CONTAINERS = (bytearray, tuple, list, dict, set, frozenset)


def clonability_problem(value, path="result", _seen=None):
    """The path and type of the first value that API.md does not call clonable, or None."""
    if _seen is None:
        _seen = set()
    t = type(value)
    if t in CLONABLE_SCALARS or t is bytearray:
        return None
    if t not in CLONABLE_CONTAINERS:
        return f"{path}: {t.__module__}.{t.__qualname__} is not clonable"
    if id(value) in _seen:
        return None
    _seen.add(id(value))
    if t is dict:
        for k, v in value.items():
            problem = clonability_problem(k, f"{path}.key({k!r})", _seen) or clonability_problem(
                v, f"{path}[{k!r}]", _seen
            )
            if problem:
                return problem
    elif t in (set, frozenset):
        for v in value:
            problem = clonability_problem(v, f"{path}{{{v!r}}}", _seen)
            if problem:
                return problem
    else:
        for i, v in enumerate(value):
            problem = clonability_problem(v, f"{path}[{i}]", _seen)
            if problem:
                return problem
    return None


def difference(got, expected, path="result"):
    """None when `got` equals `expected` exactly, else a description of the first difference.

    Stricter than ==: types must match exactly (1 vs 1.0 vs True differ), floats and complex
    numbers compare by repr (so -0.0 differs from 0.0 and nan equals nan), and dicts must
    keep their insertion order, which a deep clone preserves.
    """
    if type(got) is not type(expected):
        return (
            f"{path}: type {type(got).__qualname__} != {type(expected).__qualname__} "
            f"({got!r:.200} vs {expected!r:.200})"
        )
    t = type(expected)
    if t in (float, complex):
        if repr(got) != repr(expected):
            return f"{path}: {got!r} != {expected!r}"
        return None
    if t in (list, tuple):
        if len(got) != len(expected):
            return f"{path}: length {len(got)} != {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            d = difference(g, e, f"{path}[{i}]")
            if d:
                return d
        return None
    if t is dict:
        if list(got) != list(expected):
            return f"{path}: keys {list(got)!r:.300} != {list(expected)!r:.300} (order counts)"
        for k in expected:
            d = difference(got[k], expected[k], f"{path}[{k!r}]")
            if d:
                return d
        return None
    if t in (set, frozenset):
        if got != expected:
            return f"{path}: {got!r:.300} != {expected!r:.300}"
        return None
    if got != expected:
        return f"{path}: {got!r:.300} != {expected!r:.300}"
    return None

