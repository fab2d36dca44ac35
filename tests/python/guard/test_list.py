"""MutationError for every write to a main-owned list from a context. The target list has
spare capacity, so append/insert would not need to reallocate (the fast path)."""
from .guardlib import DEL_ITEM, RESIZE, SET_ITEM, guard_tests, guarded, method

LIST = ("list",)


def new_list():
    lst = []
    for x in (3, 1, 4, 1, 5):
        lst.append(x)
    lst.pop()  # size 4, room for 8: appends take the no-realloc fast path
    return lst


def list_state(lst):
    return list(lst)


def list_case(ops, specialized=None):
    return guarded(make=new_list, state=list_state, types=LIST, ops=ops, specialized=specialized)


GROW = ("insert", "extend", "append", "add", *RESIZE)


@list_case(method("append", *GROW), specialized="PRECALL_NO_KW_LIST_APPEND")
def list_append(lst):
    lst.append(9)


@list_case(method("extend", *GROW))
def list_extend(lst):
    lst.extend([7, 8])


@list_case(method("extend", "+=", "concat", *GROW))
def list_inplace_add(lst):
    lst += [6]


@list_case(method("repeat", "*=", *GROW))
def list_inplace_multiply(lst):
    lst *= 2


@list_case(method("insert", *GROW))
def list_insert(lst):
    lst.insert(0, 0)


@list_case(SET_ITEM, specialized="STORE_SUBSCR_LIST_INT")
def list_setitem(lst):
    lst[0] = 100


@list_case(SET_ITEM)
def list_setitem_negative_index(lst):
    lst[-1] = 100


@list_case(SET_ITEM + ("slice",))
def list_setitem_slice(lst):
    lst[1:2] = [7, 7, 7]


@list_case(DEL_ITEM)
def list_delitem(lst):
    del lst[0]


@list_case(DEL_ITEM + ("slice",))
def list_delitem_slice(lst):
    del lst[:2]


@list_case(method("sort"))
def list_sort(lst):
    lst.sort()


@list_case(method("sort"))
def list_sort_with_key(lst):
    lst.sort(key=lambda x: -x)


@list_case(method("reverse"))
def list_reverse(lst):
    lst.reverse()


@list_case(method("pop", *DEL_ITEM, *RESIZE), specialized="PRECALL_NO_KW_METHOD_DESCRIPTOR_FAST")
def list_pop(lst):
    lst.pop()


@list_case(method("pop", *DEL_ITEM, *RESIZE))
def list_pop_front(lst):
    lst.pop(0)


@list_case(method("remove", *DEL_ITEM, *RESIZE), specialized="PRECALL_NO_KW_METHOD_DESCRIPTOR_O")
def list_remove(lst):
    lst.remove(1)


@list_case(method("clear", *DEL_ITEM, *RESIZE))
def list_clear(lst):
    lst.clear()


Guard = guard_tests(__name__)
