"""json.dumps / json.loads with the module functions, and encoders/decoders made per call."""
import json

from .harness import case, conformance_tests

DOCS = [
    None,
    True,
    0,
    -17,
    2**70,
    3.14159,
    1e-9,
    -0.0,
    "",
    "plain",
    "ünïcødé ✓ 日本語 😀",
    "quote\" backslash\\ tab\t newline\n ctrl\x01",
    [],
    [1, 2.5, "x", None, False],
    {},
    {"a": 1, "b": [1, {"c": "d"}], "e": {"f": None}},
    {"nested": [[[[[]]]]], "num": 1.0, "big": 10**30},
    [{"id": i, "name": f"item{i}", "tags": ["t"] * (i % 3)} for i in range(30)],
]
TEXTS = [json.dumps(d) for d in DOCS] + ['{"a" : [1 , 2 ] }', " [ 1e3, -0.5E-2, 1E+2 ] ", '"\\u00e9\\ud83d\\ude00"']


@case(DOCS)
def json_dumps_default(doc):
    return json.dumps(doc)


@case(DOCS)
def json_dumps_options(doc):
    return (json.dumps(doc, sort_keys=True, indent=2), json.dumps(doc, separators=(",", ":")),
            json.dumps(doc, ensure_ascii=False))


@case(TEXTS)
def json_loads_module_function(text):
    return json.loads(text)


@case(TEXTS)
def json_loads_bytes_utf8(text):
    return json.loads(text.encode("utf-8"))


@case(DOCS)
def json_roundtrip(doc):
    return json.loads(json.dumps(doc)) == doc if doc == doc else None, json.loads(json.dumps(doc))


@case(TEXTS)
def json_decoder_made_per_call(text):
    decoder = json.JSONDecoder()
    value, end = decoder.raw_decode(text.strip())
    return value, end


@case(DOCS)
def json_encoder_made_per_call(doc):
    enc = json.JSONEncoder(sort_keys=True, indent=1)
    return enc.encode(doc), list(enc.iterencode([doc]))


@case(['{"a": 1', "[1, 2,]", "nul", '{"a" 1}', "", '"unterminated', "[1e400]", "NaN"])
def json_decode_errors_caught(text):
    try:
        return ("ok", repr(json.loads(text)))
    except json.JSONDecodeError as e:
        return ("JSONDecodeError", e.msg, e.pos, e.lineno, e.colno)


@case([{1, 2}, object, b"bytes", complex(1, 2)])
def json_encode_errors_caught(value):
    try:
        return json.dumps(value)
    except TypeError as e:
        return "TypeError: " + str(e)


@case(DOCS)
def json_default_hook_and_object_hook(doc):
    text = json.dumps({"doc": doc, "set": {3, 1, 2}}, default=lambda o: sorted(o))
    return json.loads(text, object_hook=lambda d: {k.upper(): v for k, v in d.items()})


@case(TEXTS)
def json_parse_float_and_int_hooks(text):
    return json.loads(text, parse_float=lambda s: "F" + s, parse_int=lambda s: "I" + s)


@case([1, 50, 300])
def json_big_document_built_in_callback(n):
    doc = {"rows": [{"i": i, "sq": i * i, "f": i / 7, "s": "x" * (i % 5)} for i in range(n)]}
    text = json.dumps(doc)
    back = json.loads(text)
    return len(text), back["rows"][-1], sum(r["i"] for r in back["rows"])


@case([float("inf"), float("-inf"), float("nan"), 1.5])
def json_special_floats(x):
    text = json.dumps([x])
    try:
        strict = json.dumps([x], allow_nan=False)
    except ValueError as e:
        strict = "ValueError: " + str(e)
    return text, strict, repr(json.loads(text)[0])


@case(DOCS)
def json_dumps_keys_coerced(doc):
    return json.dumps({1: "int", 2.5: "float", False: "bool", None: "none", "s": doc})


Conformance = conformance_tests(__name__)
