"""Reproduce the sealed phone state of SPEC.md appendix A.3 from the appendix's text alone.

Run: python3 phone_state_check.py  (needs Python's `cryptography` package).
"""

import hashlib
import hmac
import pathlib

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

key = bytes([0x11] * 32)
nonce = bytes([0x07] * 12)
# The state (message type 0x06, version 1): no keys, no batches, 0 dropped, no sightings.
state = b"BZ\x06\x01" + (0).to_bytes(4, "little") + (0).to_bytes(4, "little") \
    + (0).to_bytes(8, "little") + (0).to_bytes(4, "little")
check = hmac.new(key, b"bluezone phone state key check v1", hashlib.sha256).digest()[:8]
prefix = b"BZ\x07\x01" + check + nonce
sealed = prefix + AESGCM(key).encrypt(nonce, state, prefix)

text = (pathlib.Path(__file__).parent / "phone-state-v1.txt").read_text()
expected = "".join(
    word for line in text.splitlines() if not line.lstrip().startswith("#")
    for word in line.split()
)
assert sealed.hex() == expected, (sealed.hex(), expected)
print("phone-state-v1.txt: reproduced")
