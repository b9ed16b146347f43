#!/usr/bin/env python3
"""Independent computation of the filter kind 2 test vector of SPEC.md §12.4 (Golomb-Rice
compressed Bloom filter, SPEC.md §8.1.2), with Python's `cryptography` package for AES:
pip install cryptography.

    python3 gcs_check.py            check gcs-kind2-v1.txt against this computation (exit 1 if not)
    python3 gcs_check.py --write    print the file this computation gives
"""
import math
import os
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

HERE = os.path.dirname(os.path.abspath(__file__))
VECTOR = os.path.join(HERE, "gcs-kind2-v1.txt")

SALT = bytes(range(16))
LOG2_INV_EPS = 8  # target false-positive rate 2^-8
# The first eight RPIs of the GAEN v1.2 test vectors (gaen-v1.2.txt).
with open(os.path.join(HERE, "gaen-v1.2.txt")) as f:
    RPIS = [bytes.fromhex(line.split()[1]) for line in f
            if line.strip() and line.split()[0].isdigit()][:8]


def params(eps):
    """M = ceil(1/eps); P minimises P + 1 + 1/(e^(2^P/M) - 1), the smaller on a tie."""
    m = math.ceil(1 / eps)

    def bits(p):
        r = 2**p / m
        return p + 1 + (1 / math.expm1(r) if r < 700 else 0.0)

    best = min(range(33), key=lambda p: (bits(p), p))
    return m, best


def values(salt, ids, m):
    n_range = len(ids) * m
    enc = Cipher(algorithms.AES(salt), modes.ECB()).encryptor()
    out = []
    for ident in ids:
        h = enc.update(ident)
        x = int.from_bytes(h[:8], "little")
        out.append((x * n_range) >> 64)
    return sorted(out)


def encode(vals, p):
    bits = []
    prev = 0
    for v in vals:
        gap = v - prev
        prev = v
        bits += [1] * (gap >> p) + [0]
        bits += [(gap >> i) & 1 for i in range(p - 1, -1, -1)]
    bits += [0] * (-len(bits) % 8)
    return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


def compute():
    m, p = params(2.0**-LOG2_INV_EPS)
    vals = values(SALT, RPIS, m)
    lines = [
        "# Filter kind 2 (SPEC.md §8.1.2, §12.4): Golomb-Rice compressed Bloom filter.",
        "# Inputs: salt, target false-positive rate, the entries (the first eight RPIs of",
        "# gaen-v1.2.txt). Outputs: M and P as a server derives them, the sorted values in",
        "# [0, n*M), and the coded filter. Written by gcs_check.py, checked by protocol/tests/layouts.rs.",
        f"salt {SALT.hex()}",
        f"log2_inv_eps {LOG2_INV_EPS}",
    ]
    lines += [f"entry {r.hex()}" for r in RPIS]
    lines += [f"range {m}", f"rice {p}"]
    lines += [f"value {v}" for v in vals]
    lines.append(f"filter {encode(vals, p).hex()}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = compute()
    if "--write" in sys.argv:
        sys.stdout.write(text)
    else:
        with open(VECTOR) as f:
            ok = f.read() == text
        print("gcs-kind2-v1.txt:", "agrees" if ok else "DIFFERS")
        sys.exit(0 if ok else 1)
