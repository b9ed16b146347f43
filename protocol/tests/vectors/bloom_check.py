#!/usr/bin/env python3
"""Independent computation of the Bloom filter test vector of SPEC.md §12.3 (partitioned
Bloom filter, SPEC.md §8.1.1), with Python's `cryptography` package: pip install cryptography."""
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

salt = bytes(range(16))
ident = b"\xaa" * 16
k, s = 5, 208
m = k * s

enc = Cipher(algorithms.AES(salt), modes.ECB()).encryptor()
h = enc.update(ident) + enc.finalize()
a = int.from_bytes(h[:8], "little")
b = int.from_bytes(h[8:], "little")
positions = []
M = 2**64


def mix(z):
    """SplitMix64's finalizer."""
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) % M
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) % M
    return z ^ (z >> 31)


for i in range(k):
    z = mix((a + i * b) % M)
    q = ((z >> 32) * s) >> 32
    positions.append(i * s + q)
filt = bytearray(m // 8)
for p in positions:
    filt[p >> 3] |= 1 << (p & 7)
print("h =", h.hex(" "))
print(f"a = {a:#018x}, b = {b:#018x}")
print("positions =", positions)
print("non-zero bytes =", [(i, f"{v:#04x}") for i, v in enumerate(filt) if v])
