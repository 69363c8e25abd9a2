#!/usr/bin/env python3
"""Concurrent maximum-size uploads against a running Copy That server on loopback (S18).

Sends N simultaneous extraction requests, each carrying an image of close to 10 MiB
(a noisy PNG, so it neither compresses nor decodes cheaply), while probing /health every
50 ms; reports request latencies, the worst /health latency during the flood, and the
server's peak RSS (VmHWM of --pid) afterwards.

    python3 bench/upload_load.py --base http://127.0.0.1:8080 --pid $(pgrep -n copythat) --concurrency 20
"""
import argparse
import base64
import http.client
import json
import os
import secrets
import struct
import threading
import time
import urllib.parse
import zlib


def noisy_png(width, height):
    """An RGB PNG of random bytes: about width*height*3 bytes on disk."""
    raw = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def request(host, port, method, path, body=None, headers=None, timeout=120):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.base)
    assert url.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
    host, port = url.hostname, url.port or 80

    email, password = f"upload-{secrets.token_hex(6)}@example.com", secrets.token_urlsafe(18)
    json_headers = {"content-type": "application/json"}
    assert request(host, port, "POST", "/api/v1/auth/register",
                   json.dumps({"email": email, "password": password}), json_headers)[0] == 201
    _, body = request(host, port, "POST", "/api/v1/auth/token",
                      urllib.parse.urlencode({"username": email, "password": password}),
                      {"content-type": "application/x-www-form-urlencoded"})
    token = json.loads(body)["access_token"]
    auth = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    _, body = request(host, port, "POST", "/api/v1/projects", json.dumps({"name": "load"}), auth)
    project = json.loads(body)["id"]

    png = noisy_png(1800, 1900)  # ~10.2 MB raw, just under 10 MiB once deflated at level 1
    while len(png) > 10 * 1024 * 1024:
        png = noisy_png(1800, 1800)
    payload = json.dumps({"project_id": project, "image_base64": base64.b64encode(png).decode(), "max_colors": 16})
    print(f"image: {len(png) / 1048576:.2f} MiB PNG, request body {len(payload) / 1048576:.2f} MiB")

    results, health = [], []
    done = threading.Event()

    def upload():
        t0 = time.perf_counter()
        status, _ = request(host, port, "POST", "/api/v1/colors/extract", payload, auth)
        results.append((status, time.perf_counter() - t0))

    def probe():
        while not done.is_set():
            t0 = time.perf_counter()
            status, _ = request(host, port, "GET", "/health", timeout=30)
            health.append((status, time.perf_counter() - t0))
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    threads = [threading.Thread(target=upload) for _ in range(args.concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.perf_counter() - start
    done.set()
    prober.join()

    statuses = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    times = sorted(dt for _, dt in results)
    worst_health = max(dt for _, dt in health) * 1000
    print(f"uploads={len(results)} statuses={statuses} wall={total:.2f}s "
          f"min={times[0]:.2f}s median={times[len(times) // 2]:.2f}s max={times[-1]:.2f}s")
    print(f"/health probes={len(health)} all_ok={all(s == 200 for s, _ in health)} worst={worst_health:.1f}ms")
    with open(f"/proc/{args.pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM", "VmRSS")):
                print(line.strip())


if __name__ == "__main__":
    main()
