#!/usr/bin/env python3
"""Memory of the server under unfinished uploads (issue 13, point 6).

Starts bluezone-server with `max_body_bytes_in_flight = BUDGET`, opens 100 connections that
each declare a 4 MiB upload and send all of it but the last byte, then prints the server's
resident memory (VmRSS) and the time `/healthz` takes to answer. Linux only.

    cargo build -p bluezone-server
    python3 benches/unfinished_uploads.py target/debug/bluezone-server 67108864
"""
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

binary, budget = sys.argv[1], int(sys.argv[2])
UPLOADS, LENGTH = 100, 4 << 20
data = tempfile.mkdtemp()
with open(f"{data}/config.toml", "w") as f:
    f.write(f'listen = "127.0.0.1:0"\ndata_dir = "{data}/data"\n'
            f'publication_interval_seconds = 0\nmax_body_bytes_in_flight = {budget}\n')
server = subprocess.Popen([binary, "--config", f"{data}/config.toml"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
for line in server.stdout:
    m = re.search(r"listening on http://([\d.]+):(\d+)", line)
    if m:
        address = (m.group(1), int(m.group(2)))
        break


def rss_mib():
    status = open(f"/proc/{server.pid}/status").read()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) // 1024


def upload(held):
    s = socket.create_connection(address)
    held.append(s)
    try:
        s.sendall(f"POST /phone/v1/uploads HTTP/1.1\r\nHost: t\r\n"
                  f"Content-Length: {LENGTH}\r\n\r\n".encode())
        s.sendall(b"\x07" * (LENGTH - 1))
    except OSError:
        pass  # refused: the server answered 503 and closed


time.sleep(0.5)
print(f"at rest: {rss_mib()} MiB")
held = []
threads = [threading.Thread(target=upload, args=(held,)) for _ in range(UPLOADS)]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=60)
time.sleep(2)
print(f"{UPLOADS} unfinished 4 MiB uploads, budget {budget} bytes: {rss_mib()} MiB")
started = time.time()
s = socket.create_connection(address)
s.settimeout(5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
print(f"/healthz: {s.recv(15).decode()} in {(time.time() - started) * 1000:.1f} ms")
server.kill()
