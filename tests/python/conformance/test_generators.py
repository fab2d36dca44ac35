"""Generators created and exhausted inside the callback: yield, yield from, send, throw, close."""
import inspect

from .harness import case, conformance_tests

NS = [0, 1, 4, 10, 33]


def main_countdown(n):
    """A main-owned generator function; each call makes a context-owned generator."""
    while n > 0:
        yield n
        n -= 1


@case(NS)
def gen_main_generator_function(n):
    return list(main_countdown(n))


@case(NS)
def gen_defined_inside(n):
    def evens(k):
        for i in range(k):
            if i % 2 == 0:
                yield i

    return list(evens(n)), sum(evens(n))


@case(NS)
def gen_yield_from(n):
    def inner(k):
        yield from range(k)
        return k * 10

    def outer(k):
        result = yield from inner(k)
        yield result

    return list(outer(n))


@case(NS)
def gen_send(n):
    def averager():
        total, count, avg = 0.0, 0, None
        while True:
            value = yield avg
            total += value
            count += 1
            avg = total / count

    g = averager()
    next(g)
    out = [g.send(float(i)) for i in range(1, n + 2)]
    g.close()
    return out


@case(NS)
def gen_throw_caught_inside(n):
    def worker():
        try:
            yield 1
            yield 2
        except ValueError as e:
            yield "caught " + str(e)
        yield "after"

    g = worker()
    first = next(g)
    return first, g.throw(ValueError(f"n={n}")), next(g), list(g)


@case(NS)
def gen_close_runs_finally(n):
    log = []

    def g():
        try:
            for i in range(n + 5):
                yield i
        finally:
            log.append("finally")

    it = g()
    taken = [next(it) for _ in range(2)]
    it.close()
    return taken, log


@case(NS)
def gen_return_value_stopiteration(n):
    def g():
        yield n
        return "done"

    it = g()
    next(it)
    try:
        next(it)
    except StopIteration as e:
        return e.value


@case(NS)
def gen_pipeline(n):
    nums = (i for i in range(n * 3))
    squares = (i * i for i in nums)
    odd = (s for s in squares if s % 2)
    return list(odd)


@case(NS)
def gen_infinite_with_break(n):
    def naturals():
        i = 0
        while True:
            yield i
            i += 1

    out = []
    for x in naturals():
        if x >= n:
            break
        out.append(x)
    return out


@case(NS)
def gen_recursive_tree_walk(n):
    tree = [1, [2, [3, [4]], 5], [[6]], n]

    def walk(node):
        if isinstance(node, list):
            for child in node:
                yield from walk(child)
        else:
            yield node

    return list(walk(tree))


@case(NS)
def gen_state_inspection(n):
    def g():
        yield n

    it = g()
    states = [inspect.getgeneratorstate(it)]
    next(it)
    states.append(inspect.getgeneratorstate(it))
    list(it)
    states.append(inspect.getgeneratorstate(it))
    return states


@case(NS)
def gen_iter_protocol_class(n):
    class Countdown:
        def __init__(self, k):
            self.k = k

        def __iter__(self):
            return self

        def __next__(self):
            if self.k <= 0:
                raise StopIteration
            self.k -= 1
            return self.k

    return list(Countdown(n)), sum(Countdown(n))


@case(NS)
def gen_zip_of_generators(n):
    a = (i for i in range(n))
    b = (chr(65 + i % 26) for i in range(n))
    return list(zip(a, b))


@case(NS)
def gen_raising_propagates_to_consumer(n):
    def g():
        yield 1
        raise KeyError(n)

    got = []
    try:
        for x in g():
            got.append(x)
    except KeyError as e:
        got.append(("KeyError", e.args[0]))
    return got


@case(NS)
def gen_many_alive_at_once(n):
    gens = [iter(range(i, i + 3)) for i in range(n)]
    return [next(g) + next(g) for g in gens]


Conformance = conformance_tests(__name__)
