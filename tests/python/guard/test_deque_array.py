"""MutationError for every write to a main-owned collections.deque or array.array from a
context (without the guard, a deque kept pointers into the rewound heap and an array's buffer
moved into it: both crashed the main thread later)."""
import array
import collections

from .guardlib import DEL_ITEM, RESIZE, SET_ITEM, guard_tests, guarded, method

DEQUE = ("collections.deque", "deque")
ARRAY = ("array.array", "array")


def new_deque():
    return collections.deque([1, 2, 3, 4])


def new_array():
    return array.array("i", [1, 2, 3, 4])


def dq_case(ops):
    return guarded(make=new_deque, state=list, types=DEQUE, ops=ops)


def ar_case(ops):
    return guarded(make=new_array, state=lambda a: a.tolist(), types=ARRAY, ops=ops)


@dq_case(method("append"))
def deque_append(d):
    d.append([1])


@dq_case(method("appendleft"))
def deque_appendleft(d):
    d.appendleft([1])


@dq_case(method("extend"))
def deque_extend(d):
    d.extend([[1], [2]])


@dq_case(method("extendleft"))
def deque_extendleft(d):
    d.extendleft([[1]])


@dq_case(method("extend"))
def deque_inplace_add(d):
    d += [[1]]


@dq_case(method("pop"))
def deque_pop(d):
    d.pop()


@dq_case(method("popleft"))
def deque_popleft(d):
    d.popleft()


@dq_case(method("clear"))
def deque_clear(d):
    d.clear()


@dq_case(method("rotate"))
def deque_rotate(d):
    d.rotate(1)


@dq_case(method("reverse"))
def deque_reverse(d):
    d.reverse()


@dq_case(method("insert"))
def deque_insert(d):
    d.insert(1, [1])


@dq_case(method("remove"))
def deque_remove(d):
    d.remove(2)


@dq_case(SET_ITEM)
def deque_setitem(d):
    d[0] = [1]


@dq_case(DEL_ITEM + ("deletion",))
def deque_delitem(d):
    del d[0]


@dq_case(method("repeat"))
def deque_inplace_repeat(d):
    d *= 2


@dq_case(method("__init__"))
def deque_reinit(d):
    d.__init__([[1]])


@ar_case(method("append", *RESIZE))
def array_append(a):
    a.append(5)


@ar_case(method("extend", *RESIZE))
def array_extend(a):
    a.extend([5, 6])


@ar_case(method("insert", *RESIZE))
def array_insert(a):
    a.insert(0, 5)


@ar_case(method("pop", *DEL_ITEM, *RESIZE))
def array_pop(a):
    a.pop()


@ar_case(method("remove", *DEL_ITEM, *RESIZE))
def array_remove(a):
    a.remove(2)


@ar_case(method("frombytes", *RESIZE))
def array_frombytes(a):
    a.frombytes(b"\0\0\0\0")


@ar_case(SET_ITEM)
def array_setitem(a):
    a[0] = 9


@ar_case(SET_ITEM)
def array_setitem_slice(a):
    a[0:2] = array.array("i", [7])


@ar_case(DEL_ITEM + ("deletion",))
def array_delitem(a):
    del a[0]


@ar_case(method("reverse"))
def array_reverse(a):
    a.reverse()


@ar_case(method("byteswap"))
def array_byteswap(a):
    a.byteswap()


@ar_case(method("repeat", *RESIZE))
def array_inplace_repeat(a):
    a *= 2


Guard = guard_tests(__name__)
