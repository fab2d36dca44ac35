"""List, dict, set and generator comprehensions, nested and with conditions."""
from .harness import case, conformance_tests

NS = [0, 1, 5, 17, 64]
MAIN_LOOKUP = {i: chr(97 + i % 26) for i in range(100)}


@case(NS)
def listcomp_squares(n):
    return [i * i for i in range(n)]


@case(NS)
def listcomp_filtered(n):
    return [i for i in range(n) if i % 3 == 0 if i % 2]


@case(NS)
def listcomp_nested_product(n):
    return [(i, j) for i in range(n % 6) for j in range(i)]


@case(NS)
def listcomp_matrix_transpose(n):
    m = [[i * 10 + j for j in range(4)] for i in range(n % 7)]
    return [[row[j] for row in m] for j in range(4)]


@case(NS)
def dictcomp_basic(n):
    return {i: i**3 for i in range(n)}


@case(NS)
def dictcomp_from_main_dict(n):
    return {k: v for k, v in MAIN_LOOKUP.items() if k < n}


@case(NS)
def setcomp_mod(n):
    return {i % 7 for i in range(n)}


@case(NS)
def genexpr_sum_and_any(n):
    return sum(i for i in range(n)), any(i > 10 for i in range(n)), all(i >= 0 for i in range(n))


@case(NS)
def genexpr_min_max_key(n):
    return max((i % 5, i) for i in range(n + 1)), min(range(n + 1), key=lambda i: (i - 3) ** 2)


@case(NS)
def comprehension_with_walrus(n):
    return [y for i in range(n) if (y := i * i) % 2 == 0]


@case(NS)
def comprehension_closure_over_local(n):
    k = n + 1
    return [(lambda x: x * k)(i) for i in range(n)][:5]


@case(NS)
def comprehension_scopes_do_not_leak(n):
    i = "outer"
    total = [i for i in range(n)]
    return i, len(total)


@case(NS)
def nested_comprehension_flatten(n):
    rows = [[j for j in range(i)] for i in range(n % 10)]
    return [x for row in rows for x in row]


@case(["hello world", "a b c", "", "one"])
def comprehension_over_string(s):
    return [w.upper() for w in s.split()], {c for c in s if c.isalpha()} == set(s.replace(" ", "")), {
        c: s.count(c) for c in sorted(set(s))
    }


@case(NS)
def comprehension_unpacking_targets(n):
    pairs = [(i, -i) for i in range(n)]
    return [a + b for a, b in pairs], [b for _, b in pairs][:3], {a: b for a, b in pairs if a % 4 == 0}


@case(NS)
def comprehension_with_exception_inside(n):
    def inv(i):
        try:
            return 1 / (i - 3)
        except ZeroDivisionError:
            return None

    return [inv(i) for i in range(n)][:6]


@case(NS)
def comprehension_big(n):
    return len([i for i in range(n * 1000)]), sum({i % 1000 for i in range(n * 100)})


@case(NS)
def comprehension_conditional_expression(n):
    return ["fizz" * (i % 3 == 0) + "buzz" * (i % 5 == 0) or str(i) for i in range(1, n + 1)][-3:]


Conformance = conformance_tests(__name__)
