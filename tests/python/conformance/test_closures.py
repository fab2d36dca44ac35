"""Closures and nonlocal created in the callback; main-owned closures and lambdas only read."""
from .harness import case, conformance_tests

NS = [0, 1, 3, 10]


def make_main_adder(k):
    def add(x):
        return x + k

    return add


MAIN_ADD5 = make_main_adder(5)
MAIN_SCALE = (lambda f: (lambda x: x * f))(3)
MAIN_COMPOSED = [make_main_adder(i) for i in range(4)]


@case(NS)
def closure_main_owned_reads_cell(n):
    return MAIN_ADD5(n), MAIN_SCALE(n), [f(n) for f in MAIN_COMPOSED]


@case(NS)
def closure_created_inside(n):
    def make_mul(k):
        return lambda x: x * k

    return [make_mul(i)(n) for i in range(4)]


@case(NS)
def closure_counter_nonlocal(n):
    def counter():
        count = 0

        def inc():
            nonlocal count
            count += 1
            return count

        return inc

    c = counter()
    return [c() for _ in range(n + 1)]


@case(NS)
def closure_late_binding(n):
    fs = [lambda: i for i in range(n + 1)]
    gs = [lambda i=i: i for i in range(n + 1)]
    return [f() for f in fs], [g() for g in gs]


@case(NS)
def closure_nested_three_levels(n):
    def a(x):
        def b(y):
            def c(z):
                return x + y + z + n

            return c

        return b

    return a(1)(2)(3)


@case(NS)
def closure_decorator_inside(n):
    def twice(f):
        def wrapper(*args, **kwargs):
            return f(f(*args, **kwargs))

        return wrapper

    @twice
    def inc(x):
        return x + 1

    return inc(n), inc.__name__


@case(NS)
def closure_decorator_with_args(n):
    def times(k):
        def deco(f):
            def wrapper(x):
                for _ in range(k):
                    x = f(x)
                return x

            return wrapper

        return deco

    @times(n)
    def double(x):
        return x * 2

    return double(1)


@case(NS)
def closure_cell_contents_read(n):
    def outer():
        v = n * 2

        def inner():
            return v

        return inner

    f = outer()
    return f(), f.__closure__[0].cell_contents, MAIN_ADD5.__closure__[0].cell_contents


@case(NS)
def closure_nonlocal_in_loop(n):
    def acc():
        total = []

        def add(x):
            nonlocal total
            total = total + [x]
            return len(total)

        return add, lambda: total

    add, get = acc()
    for i in range(n):
        add(i)
    return get()


@case(NS)
def closure_recursive_inner_function(n):
    def fact(k):
        return 1 if k <= 1 else k * fact(k - 1)

    return fact(n)


@case(NS)
def closure_function_attributes(n):
    def f(a, b=2, *args, c=3, **kw):
        """doc"""
        return a

    f.custom = n
    return f.__name__, f.__doc__, f.__defaults__, f.__kwdefaults__, f.custom, f.__code__.co_argcount


@case(NS)
def closure_lambda_sort_key_captures(n):
    pivot = n
    return sorted(range(12), key=lambda x: (abs(x - pivot), x))


@case(NS)
def closure_main_function_as_value(n):
    table = {"add": MAIN_ADD5, "scale": MAIN_SCALE}
    return {k: f(n) for k, f in table.items()}


@case(NS)
def closure_del_nonlocal_local_cell(n):
    def outer():
        x = n

        def clear():
            nonlocal x
            del x

        def read():
            try:
                return x
            except NameError as e:
                return "NameError: " + str(e)

        before = read()
        clear()
        return before, read()

    return outer()


Conformance = conformance_tests(__name__)
