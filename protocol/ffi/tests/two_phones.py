"""Two phones through the Python binding of bluezone-ffi, against a live reference server.

Run by tests/bindings.rs, which starts the real server on 127.0.0.1, creates the
accounts and the F0's case, generates the binding, and reads what this script prints. Usage:

    python3 two_phones.py <params.json>

params.json: {"base", "doctor", "admin", "case_id", "code", "now", "contact_start",
"phone_number", "district", "regions"}. Prints one JSON line: the F1 report the server verified.

Only the standard library besides the generated module: HTTP is urllib.
"""

import json
import sys
import urllib.request

import bluezone_ffi as bz
from bluezone_ffi import Phone, PhoneError


def http(base, method, path, body=None, token=None, content_type=None):
    """One request; returns (status, body bytes). Error statuses are answers, not exceptions."""
    request = urllib.request.Request(base + path, data=body, method=method)
    if token is not None:
        request.add_header("Authorization", "Bearer " + token)
    if content_type is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post_json(base, path, token, value):
    status, body = http(base, "POST", path, json.dumps(value).encode(), token, "application/json")
    assert status == 200, f"{path}: {status} {body!r}"
    return json.loads(body)


def expect_error(kind, call):
    """`call()` must raise the PhoneError subclass `kind`."""
    try:
        call()
    except kind:
        return
    except PhoneError as other:
        raise AssertionError(f"expected {kind.__name__}, got {other!r}") from other
    raise AssertionError(f"expected {kind.__name__}, nothing raised")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        p = json.load(f)
    base, now = p["base"], p["now"]
    settings = bz.default_settings()
    a = Phone(settings)  # the F0
    b = Phone(settings)  # the F1

    # Half an hour together: a scan every 5 minutes, each phone hears the other at -55 dBm.
    t = p["contact_start"]
    intervals = []
    while t < p["contact_start"] + 1800:
        sent_a = a.broadcast(t)
        sent_b = b.broadcast(t)
        assert len(sent_a.advertisement) == 20 and sent_a.rotate_at > t
        # A new RPI every 10-minute interval: a new sighting, then updates of it.
        fresh = sent_a.interval not in intervals
        intervals.append(sent_a.interval)
        update = b.hear(sent_a.advertisement, -55, t)
        assert update == (bz.SightingUpdate.NEW if fresh else bz.SightingUpdate.UPDATED), update
        a.hear(sent_b.advertisement, -55, t)
        t += 300
    assert b.sighting_count() == len(set(intervals)) >= 3
    expect_error(PhoneError.Malformed, lambda: b.hear(b"\x00" * 19, -55, t))

    # B's state survives a restart: saved under the keystore's key, restored with it.
    state_key = bz.generate_state_key()
    assert len(state_key) == 32
    sealed = b.save(state_key)
    restored = Phone.restore(sealed, state_key, settings)
    assert restored.sighting_count() == b.sighting_count()
    expect_error(PhoneError.StateWrongKey, lambda: Phone.restore(sealed, bytes(32), settings))
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    expect_error(PhoneError.StateTampered, lambda: Phone.restore(bytes(tampered), state_key, settings))
    expect_error(PhoneError.InvalidArgument, lambda: Phone.restore(sealed, state_key[:31], settings))

    # Step 3: A shares its keys and contact history with the declaration code.
    expect_error(PhoneError.BadDeclarationCode,
                 lambda: a.prepare_f0_upload("not a code", now - 2 * 86400, [], now))
    upload = a.prepare_f0_upload(p["code"], now - 2 * 86400, [], now)
    # Both phones change RPI in the same intervals: A heard one RPI of B per interval.
    assert upload.sighting_count == len(set(intervals)), upload.sighting_count
    assert upload.key_count == 1 and upload.published_count >= 1, upload.published_count
    status, body = http(base, "POST", "/phone/v1/uploads", upload.bytes, None,
                        "application/octet-stream")
    assert status == 201, f"upload: {status} {body!r}"

    # Step 4, on the health workers' side: trace, then a publication run.
    traced = post_json(base, f"/api/v1/cases/{p['case_id']}/trace", p["doctor"],
                       {"regions": p["regions"]})
    assert traced["regions"] == p["regions"], traced
    post_json(base, "/api/v1/publication/run", p["admin"], {})

    # Step 5 on B, and on its restored twin: index, batch, match, report.
    status, body = http(base, "GET", "/phone/v1/config")
    assert status == 200
    config = json.loads(body)
    publisher_key = bytes.fromhex(config["publisher_key"])
    unit_key = next(bytes.fromhex(u["public_key"]) for u in config["units"]
                    if p["district"] in u["districts"])
    # The complete index holds the batch of the case's region, which a phone subscribed to
    # other provinces skips; B polls the index of its own region.
    status, complete = http(base, "GET", "/publication/v1/index.bin")
    assert status == 200
    elsewhere = [r for r in (1, 79) if r not in p["regions"]]
    assert b.batches_to_fetch(complete, publisher_key, elsewhere, now) == []
    region = p["regions"][0]
    status, index = http(base, "GET", f"/publication/v1/regions/{region}/index.bin")
    assert status == 200
    expect_error(PhoneError.BadSignature,
                 lambda: b.batches_to_fetch(index, bytes(32), p["regions"], now))
    entries = b.batches_to_fetch(index, publisher_key, p["regions"], now)
    assert entries == restored.batches_to_fetch(index, publisher_key, p["regions"], now)
    assert entries == b.batches_to_fetch(complete, publisher_key, p["regions"], now)
    assert len(entries) == 1 and entries[0].region == region, entries
    entry = entries[0]
    status, batch = http(base, "GET", f"/publication/v1/batches/{entry.batch_id}.bin")
    assert status == 200
    damaged = bytearray(batch)
    damaged[-1] ^= 1
    expect_error(PhoneError.DigestMismatch,
                 lambda: b.match_batch(entry, bytes(damaged), publisher_key, now))

    outcome = b.match_batch(entry, batch, publisher_key, now)
    twin_outcome = restored.match_batch(entry, batch, publisher_key, now)
    assert outcome == twin_outcome, (outcome, twin_outcome)
    expect_error(PhoneError.BatchAlreadySeen,
                 lambda: b.match_batch(entry, batch, publisher_key, now))
    passing = [e for e in outcome.exposures if e.passes]
    assert len(passing) == 1 and outcome.hits >= 1, outcome

    contact = bz.ContactDetails(phone_number=p["phone_number"], name="B", district=p["district"],
                                consent_time=now)
    expect_error(PhoneError.BadPhoneNumber, lambda: b.prepare_f1_report(
        passing[0], bz.ContactDetails(phone_number="+84", name="", district=p["district"],
                                      consent_time=now), unit_key))
    report = b.prepare_f1_report(passing[0], contact, unit_key)
    twin_passing = [e for e in twin_outcome.exposures if e.passes]
    twin_report = restored.prepare_f1_report(twin_passing[0], contact, unit_key)
    # The same report but for its fresh randomness (report id, HPKE seal).
    assert report.report_id != twin_report.report_id
    for field in ("district", "sightings", "own_rpis"):
        assert getattr(report, field) == getattr(twin_report, field), field
    assert len(report.bytes) == len(twin_report.bytes)
    assert len(report.own_rpis) >= 1

    status, body = http(base, "POST", "/phone/v1/reports", report.bytes, None,
                        "application/octet-stream")
    assert status == 200, f"report: {status} {body!r}"
    assert json.loads(body)["verified"] is True, body

    # Retention: 15 days on, nothing is left to match or report, and the state says so.
    restored.purge(now + 15 * 86400)
    assert restored.sighting_count() == 0
    again = Phone.restore(restored.save(state_key), state_key, settings)
    assert again.sighting_count() == 0

    print(json.dumps({"report_id": report.report_id.hex(), "hits": outcome.hits}))


if __name__ == "__main__":
    main()
