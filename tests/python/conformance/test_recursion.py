"""Recursion inside the callback, including RecursionError raised and caught there."""
import json
import sys

from .harness import case, conformance_tests

NS = [0, 1, 10, 200]


def main_fact(n):
    return 1 if n <= 1 else n * main_fact(n - 1)


def main_ackermann(m, n):
    if m == 0:
        return n + 1
    if n == 0:
        return main_ackermann(m - 1, 1)
    return main_ackermann(m - 1, main_ackermann(m, n - 1))


def main_infinite(n):
    return main_infinite(n + 1) + 1


@case(NS)
def rec_main_factorial(n):
    return main_fact(n)


@case([0, 1, 2])
def rec_ackermann(m):
    return [main_ackermann(m, n) for n in range(4)]


@case(NS)
def rec_local_mutual(n):
    def is_even(k):
        return True if k == 0 else is_odd(k - 1)

    def is_odd(k):
        return False if k == 0 else is_even(k - 1)

    return is_even(n), is_odd(n)


@case([0, 5, 15])
def rec_fib_naive(n):
    def fib(k):
        return k if k < 2 else fib(k - 1) + fib(k - 2)

    return fib(n)


@case([1, 2, 3])
def rec_recursion_error_caught(n):
    try:
        main_infinite(n)
    except RecursionError as e:
        return "RecursionError", str(e)
    return "no error"


@case([1, 2])
def rec_recursion_error_then_keep_working(n):
    def down(k):
        return down(k + 1)

    caught = 0
    for _ in range(3):
        try:
            down(0)
        except RecursionError:
            caught += 1
    return caught, main_fact(20 * n), rec_depth_helper(300)


def rec_depth_helper(k):
    return 0 if k == 0 else 1 + rec_depth_helper(k - 1)


@case([1, 2])
def rec_recursion_error_in_repr_of_nested_list(n):
    x = []
    for _ in range(5000 * n):
        x = [x]
    try:
        repr(x)
    except RecursionError as e:
        return "RecursionError", str(e)[:30]
    return "no error"


@case([1, 2])
def rec_recursion_error_in_json_of_nested(n):
    x = []
    for _ in range(5000 * n):
        x = [x]
    try:
        json.dumps(x)
    except RecursionError:
        return "RecursionError"
    return "no error"


@case(NS)
def rec_limit_read(n):
    return sys.getrecursionlimit() > n


@case([3, 6, 8])
def rec_permutations_backtracking(n):
    out = []

    def place(row, cols, d1, d2):
        if row == n:
            out.append(1)
            return
        for c in range(n):
            if c not in cols and row - c not in d1 and row + c not in d2:
                place(row + 1, cols | {c}, d1 | {row - c}, d2 | {row + c})

    place(0, frozenset(), frozenset(), frozenset())
    return len(out)


@case([0, 3, 6])
def rec_tree_build_and_sum(depth):
    def build(d):
        return {"v": d, "kids": [build(d - 1) for _ in range(2)]} if d else {"v": 0, "kids": []}

    def total(node):
        return node["v"] + sum(total(k) for k in node["kids"])

    return total(build(depth))


@case([10, 300])
def rec_generator_recursion(n):
    def count(k):
        if k:
            yield k
            yield from count(k - 1)

    return sum(count(n))


@case([10, 400])
def rec_deep_but_within_limit(n):
    def depth(k):
        return k if k == 0 else depth(k - 1) + 1

    return depth(n)


Conformance = conformance_tests(__name__)
