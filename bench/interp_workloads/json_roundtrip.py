"""JSON round trip: json.dumps then json.loads of a nested document, `size` times.

The document mixes what web payloads carry (dicts with str keys, lists, ints, floats,
non-ASCII strings, booleans, None); the C accelerator does most of the work, so this
weighs the interpreter's object creation and refcounting inside C code.
"""
import json
import sys


def document(seed):
    users = []
    for i in range(12):
        n = seed * 31 + i
        users.append({
            "id": n,
            "name": f"user-{n:05d}",
            "display": "Ünïcödé ☃ " + str(n % 7),
            "score": n * 0.375,
            "active": n % 3 == 0,
            "manager": None if i % 4 else n - 1,
            "tags": ["alpha", "beta", "gamma"][: 1 + n % 3],
            "history": [{"day": d, "visits": (n * d) % 17} for d in range(4)],
        })
    return {"page": seed, "total": 12, "users": users, "meta": {"version": "1.2", "ok": True}}


def main(size):
    docs = [document(seed) for seed in range(8)]
    for i in range(size):
        doc = docs[i % len(docs)]
        text = json.dumps(doc, sort_keys=i % 2 == 0)
        back = json.loads(text)
        assert back["users"][3]["id"] == doc["users"][3]["id"]
    if size:
        assert json.loads(json.dumps(docs)) == docs


main(int(sys.argv[1]))
