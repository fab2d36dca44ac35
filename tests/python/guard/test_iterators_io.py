"""MutationError when a context resumes a main-owned generator, advances a main-owned
iterator, or writes a main-owned io.BytesIO or io.StringIO (each crashed the main thread
later without the guard: a generator's frame, an iterator's state and a buffer kept
pointers into the rewound heap)."""
import inspect
import io
import itertools

from .guardlib import guard_tests, guarded

RESUME = ("resum", "next", "send", "advanc")
ADVANCE = ("advanc", "next")


def counter_gen():
    total = 0
    while True:
        total += (yield total) or 1


def started_gen():
    g = counter_gen()
    next(g)
    return g


def gen_state(g):
    return (inspect.getgeneratorstate(g), inspect.getgeneratorlocals(g))


@guarded(make=started_gen, state=gen_state, types=("generator",), ops=RESUME)
def generator_next(g):
    next(g)


@guarded(make=started_gen, state=gen_state, types=("generator",), ops=RESUME)
def generator_send(g):
    g.send(5)


@guarded(make=started_gen, state=gen_state, types=("generator",), ops=RESUME)
def generator_in_a_for_loop(g):
    for value in g:
        if value > 3:
            break


@guarded(make=lambda: iter([1, 2, 3]), state=lambda it: it.__reduce__()[-1],
         types=("list_iterator",), ops=ADVANCE)
def list_iterator_for_loop(it):
    return [x for x in it]


@guarded(make=lambda: iter([1, 2, 3]), state=lambda it: it.__reduce__()[-1],
         types=("list_iterator",), ops=ADVANCE)
def list_iterator_next(it):
    next(it)


@guarded(make=lambda: itertools.count(2 ** 70), state=repr, types=("itertools.count",),
         ops=ADVANCE)
def count_next(c):
    next(c)


@guarded(make=lambda: iter([1, 2, 3]), state=lambda it: it.__reduce__()[-1],
         types=("list_iterator",), ops=ADVANCE)
def list_iterator_sum(it):
    sum(it)


# C code that advances an iterator it was given without PyIter_Next (zip, map, list(),
# tuple(), str.join, dict(), sorted()) asks PyObject_GetIter for it first.
@guarded(make=lambda: itertools.count(2 ** 70), state=repr, types=("itertools.count",),
         ops=ADVANCE)
def count_in_zip(c):
    return list(zip(range(3), c))


@guarded(make=lambda: iter([1, 2, 3]), state=lambda it: it.__reduce__()[-1],
         types=("list_iterator",), ops=ADVANCE)
def list_iterator_list(it):
    return list(it)


@guarded(make=lambda: iter(["a", "b"]), state=lambda it: it.__reduce__()[-1],
         types=("list_iterator",), ops=ADVANCE)
def list_iterator_join(it):
    return "-".join(it)


@guarded(make=lambda: iter([(1, 2)]), state=lambda it: it.__reduce__()[-1],
         types=("list_iterator",), ops=ADVANCE)
def list_iterator_map_dict(it):
    return dict(map(tuple, it))


@guarded(make=io.BytesIO, state=lambda b: b.getvalue(), types=("BytesIO",), ops=("write",))
def bytesio_write(b):
    b.write(b"x" * 100000)


@guarded(make=lambda: io.BytesIO(b"abcdef"), state=lambda b: b.getvalue(), types=("BytesIO",),
         ops=("truncate",))
def bytesio_truncate(b):
    b.truncate(2)


@guarded(make=io.StringIO, state=lambda s: s.getvalue(), types=("StringIO",), ops=("write",))
def stringio_write(s):
    s.write("x" * 100000)


@guarded(make=lambda: io.StringIO("abcdef"), state=lambda s: s.getvalue(), types=("StringIO",),
         ops=("truncate",))
def stringio_truncate(s):
    s.truncate(2)


Guard = guard_tests(__name__)
