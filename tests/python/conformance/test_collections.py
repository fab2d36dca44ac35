"""collections: Counter, defaultdict, deque, OrderedDict, namedtuple, ChainMap (results converted
to plain clonable types), plus collections.abc checks."""
import collections
import collections.abc

from .harness import case, conformance_tests

Pair = collections.namedtuple("Pair", "left right")
MAIN_COUNTER = collections.Counter("abracadabra")
MAIN_DEFAULTS = {"colour": "red", "size": "M"}
TEXTS = ["", "a", "mississippi", "the quick brown fox jumps over the lazy dog the end", "ababababab"]


@case(TEXTS)
def counter_most_common(s):
    c = collections.Counter(s.split()) + collections.Counter(s.replace(" ", ""))
    return c.most_common(3), dict(c), sum(c.values())


@case(TEXTS)
def counter_arithmetic(s):
    a = collections.Counter(s)
    b = collections.Counter("aaabbbzzz")
    return dict(a - b), dict(a & b), dict(a | b), sorted((a + b).elements())[:10], a.total()


@case(TEXTS)
def counter_main_read(s):
    return MAIN_COUNTER.most_common(2), MAIN_COUNTER["a"], MAIN_COUNTER["missing"], dict(MAIN_COUNTER & collections.Counter(s))


@case(TEXTS)
def defaultdict_grouping(s):
    groups = collections.defaultdict(list)
    for word in s.split():
        groups[len(word)].append(word)
    counts = collections.defaultdict(int)
    for ch in s:
        counts[ch] += 1
    return dict(groups), dict(counts)


@case(TEXTS)
def defaultdict_nested_tree(s):
    def tree():
        return collections.defaultdict(tree)

    t = tree()
    for i, w in enumerate(s.split()):
        t[w[:1]][w][i] = len(w)

    def plain(d):
        return {k: plain(v) if isinstance(v, dict) else v for k, v in d.items()}

    return plain(t)


@case([0, 3, 10, 100])
def deque_operations(n):
    d = collections.deque(range(n), maxlen=max(n, 1) + 2)
    d.append("r")
    d.appendleft("l")
    d.rotate(2)
    d.extend([1, 2])
    d.extendleft([8, 9])
    popped = (d.pop(), d.popleft()) if len(d) >= 2 else None
    return list(d), popped, d.maxlen, d.count(1)


@case([0, 3, 10])
def deque_sliding_window(n):
    window = collections.deque(maxlen=3)
    sums = []
    for i in range(n):
        window.append(i)
        sums.append(sum(window))
    return sums


@case(TEXTS)
def ordereddict_operations(s):
    od = collections.OrderedDict.fromkeys(s)
    if od:
        od.move_to_end(next(iter(od)))
        od.popitem(last=False)
    return list(od.items()), list(reversed(od))


@case(TEXTS)
def ordereddict_lru_pattern(s):
    cache = collections.OrderedDict()
    for ch in s:
        if ch in cache:
            cache.move_to_end(ch)
        cache[ch] = cache.get(ch, 0) + 1
        if len(cache) > 3:
            cache.popitem(last=False)
    return list(cache.items())


@case([(1, 2), ("a", None), (0.5, [1])])
def namedtuple_main_class(t):
    p = Pair(*t)
    q = p._replace(right="new")
    return tuple(p), p.left, p[1], dict(q._asdict()), Pair._fields, tuple(Pair._make(t)), repr(p)


@case([1, 2, 3])
def namedtuple_defined_in_callback(n):
    Rec = collections.namedtuple("Rec", ["a", "b", "c"], defaults=[0, n])
    r = Rec(1)
    return tuple(r), r._fields, tuple(r._replace(a=9)), dict(r._asdict()), Rec.__name__


@case(TEXTS)
def chainmap_lookup(s):
    local = {"size": "L", "text": s}
    cm = collections.ChainMap(local, MAIN_DEFAULTS)
    child = cm.new_child({"colour": "blue"})
    return dict(cm), dict(child), child["size"], cm.get("missing"), len(child.maps)


@case([[], {}, "", b"", (), set(), range(3), iter([]), 5, None])
def abc_isinstance_checks(obj):
    abc = collections.abc
    return tuple(isinstance(obj, t) for t in (abc.Mapping, abc.Sequence, abc.Iterable, abc.Iterator, abc.Sized,
                                              abc.Hashable, abc.MutableSequence, abc.Set, abc.Container))


@case(TEXTS)
def userdict_subclass_inside(s):
    class Lower(collections.UserDict):
        def __setitem__(self, key, value):
            super().__setitem__(key.lower(), value)

    d = Lower()
    for w in s.split():
        d[w.upper()] = len(w)
    return dict(d), "THE" in d


Conformance = conformance_tests(__name__)
