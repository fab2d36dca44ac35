"""list, tuple, dict, set and frozenset built and changed inside the callback; main items read."""
from .harness import case, conformance_tests

LISTS = [[], [1], [3, 1, 2], list(range(20)), ["b", "a", "c"], [1, [2, [3, [4]]]], [None, True, 0.5]]
DICTS = [{}, {"a": 1}, {"x": 1, "y": 2, "z": 3}, {i: i * i for i in range(30)}, {(1, 2): "t", 3: [4]}]
SETS = [set(), {1}, {1, 2, 3}, set(range(50)), {"a", "b"}, frozenset({4, 5})]


@case(LISTS)
def list_copy_and_local_mutations(lst):
    c = list(lst)
    c.append("end")
    c.insert(0, "start")
    c.extend([1, 2])
    c.remove(1)
    popped = c.pop()
    c[0] = "START"
    del c[1:2]
    c.reverse()
    return c, popped


@case(LISTS)
def list_slices_of_main_list(lst):
    return lst[:2], lst[::-1], lst[1::2], lst[-1:], lst[5:100]


@case(LISTS)
def list_concat_repeat(lst):
    return lst + [0], lst * 2, [lst] * 2, len(lst + lst)


@case(LISTS)
def list_search(lst):
    return 1 in lst, lst.count(1), (lst.index(1) if 1 in lst else -1), len(lst)


@case(LISTS)
def list_index_caught(lst):
    try:
        return lst[100]
    except IndexError as e:
        return str(e)


@case(LISTS)
def list_slice_assignment_local(lst):
    c = lst[:]
    c[1:3] = ["x", "y", "z"]
    c[::2] = [0] * len(c[::2])
    c *= 2
    return c


@case(LISTS)
def list_equality_and_ordering(lst):
    return lst == list(lst), lst < lst + [0], lst != [], [1, 2] < [1, 3], [[1]] == [[1]]


@case(LISTS)
def list_nested_copy(lst):
    def deep(x):
        return [deep(y) for y in x] if isinstance(x, list) else x

    return deep(lst)


@case(LISTS)
def tuple_operations(lst):
    t = tuple(lst)
    return t, t + (1,), t * 2, t[::-1], t.count(1), len(t), (t,)


@case(LISTS)
def tuple_unpacking(lst):
    t = tuple(lst) + (0, 0)
    a, b, *rest = t
    *init, last = t
    return a, b, rest, init, last


@case(LISTS)
def tuple_hash_and_compare(lst):
    t = tuple(x if not isinstance(x, list) else tuple(map(str, x)) for x in lst)
    return hash(t) == hash(tuple(t)), t == t, t < (999,) if all(isinstance(x, int) for x in t) else None


@case(DICTS)
def dict_copy_and_local_mutations(d):
    c = dict(d)
    c["new"] = 1
    c.update({"u": 2}, v=3)
    c.setdefault("s", [])
    c.pop("u")
    c.popitem()
    if "a" in c:
        del c["a"]
    return c


@case(DICTS)
def dict_read_main(d):
    return len(d), list(d), list(d.values()), d.get("a"), d.get("missing", "dflt"), "x" in d


@case(DICTS)
def dict_keyerror_caught(d):
    try:
        return d["missing"]
    except KeyError as e:
        return "KeyError", e.args


@case(DICTS)
def dict_comprehension_invert(d):
    return {repr(v): k for k, v in d.items()}


@case(DICTS)
def dict_merge_operators(d):
    m = d | {"m": 0}
    m |= {"n": 1}
    return m, {**d, "z": 26}, dict(d, extra=True)


@case(DICTS)
def dict_fromkeys_and_views(d):
    keys = d.keys()
    return dict.fromkeys(keys, 0), sorted(map(repr, keys & {"a", "x"})), len(d.keys() - set())


@case(DICTS)
def dict_equality(d):
    return d == dict(d), d == {}, dict(sorted(d.items(), key=repr)) == d


@case(DICTS)
def dict_grow_and_shrink(d):
    c = {}
    for i in range(1000):
        c[i] = i
    for i in range(0, 1000, 2):
        del c[i]
    c.update(d)
    return len(c), sum(k for k in c if isinstance(k, int)), list(c)[:5]


@case(DICTS)
def dict_nested_building(d):
    tree = {}
    for k in d:
        node = tree.setdefault(type(k).__name__, {})
        node[repr(k)] = repr(d[k])
    return tree


@case(SETS)
def set_operations(s):
    o = {1, 2, 60}
    return s | o, s & o, s - o, s ^ o, s <= o, s >= set(), s.isdisjoint(o)


@case(SETS)
def set_local_mutations(s):
    c = set(s)
    c.add(100)
    c.discard(1)
    c.update({200, 300})
    c -= {300}
    c |= {400}
    c.intersection_update(set(range(1000)) | {"a", "b"})
    return c


@case(SETS)
def set_pop_until_empty(s):
    c = set(s)
    n = 0
    while c:
        c.pop()
        n += 1
    return n


@case(SETS)
def set_remove_caught(s):
    c = set(s)
    try:
        c.remove("missing")
    except KeyError as e:
        return "KeyError", e.args
    return "no error"


@case(SETS)
def frozenset_ops(s):
    f = frozenset(s)
    return f | {1}, f & {1, 2}, hash(f) == hash(frozenset(s)), frozenset() == frozenset(), {f: 1}[f]


@case(SETS)
def set_membership_sorted(s):
    return sorted((x for x in s if x in {1, 2, 3, "a"}), key=repr), len(s)


@case([list(range(n)) for n in (0, 5, 100)])
def list_of_dicts_of_sets(lst):
    return [{"n": x, "s": {x, x + 1}, "t": (x, [x])} for x in lst[:10]]


@case([3, 10, 50])
def matrix_multiply(n):
    a = [[i + j for j in range(n)] for i in range(n)]
    b = [[i * j % 7 for j in range(n)] for i in range(n)]
    return [[sum(a[i][k] * b[k][j] for k in range(n)) for j in range(n)] for i in range(n)][-1]


@case([("a", 1), ("b", 2)])
def containers_with_tuple_item(pair):
    k, v = pair
    return {k: v}, [k] * v, {(k, v)}, (pair, pair)


@case(LISTS)
def list_containment_identity(lst):
    x = [1, 2]
    holder = [x, x]
    holder[0].append(3)
    return holder, holder[0] is holder[1], lst is lst


@case([5, 50, 500])
def stack_and_queue_with_lists(n):
    stack = []
    for i in range(n):
        stack.append(i)
    out = []
    while len(stack) > n // 2:
        out.append(stack.pop())
    queue = list(range(n))
    head = [queue.pop(0) for _ in range(min(3, n))]
    return out[:5], head, len(stack)


Conformance = conformance_tests(__name__)
