#!/usr/bin/env python3
"""Login load against a running Copy That server on loopback (a benchmark, not a test).

Registers one account per worker, then has N workers log in as fast as they can for a
fixed time, and prints latency percentiles and logins per second. Each worker uses its
own account and the server is started with a high COPYTHAT_LOGIN_PER_MINUTE, so the
failed-login throttle never fires: what is measured is argon2 behind its semaphore.

    python3 bench/login_load.py --base http://127.0.0.1:8080 --workers 1,2,4,8 --seconds 10
"""
import argparse
import http.client
import json
import secrets
import statistics
import threading
import time
import urllib.parse


def request(host, port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def register(host, port):
    email = f"load-{secrets.token_hex(6)}@example.com"
    password = secrets.token_urlsafe(18)
    status, _ = request(host, port, "POST", "/api/v1/auth/register",
                        json.dumps({"email": email, "password": password}),
                        {"content-type": "application/json"})
    assert status == 201, status
    return email, password


def run(host, port, workers, seconds):
    accounts = [register(host, port) for _ in range(workers)]
    latencies, errors = [], []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(email, password):
        form = urllib.parse.urlencode({"username": email, "password": password})
        headers = {"content-type": "application/x-www-form-urlencoded"}
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            status, _ = request(host, port, "POST", "/api/v1/auth/token", form, headers)
            dt = time.perf_counter() - t0
            with lock:
                (latencies if status == 200 else errors).append(dt if status == 200 else status)

    threads = [threading.Thread(target=worker, args=acc) for acc in accounts]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
    print(f"workers={workers:2d} logins={len(latencies):5d} rate={len(latencies) / elapsed:7.1f}/s "
          f"p50={pct(0.50):7.1f}ms p95={pct(0.95):7.1f}ms p99={pct(0.99):7.1f}ms "
          f"mean={statistics.mean(latencies) * 1000:7.1f}ms errors={len(errors)}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.base)
    assert url.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
    for n in [int(w) for w in args.workers.split(",")]:
        run(url.hostname, url.port or 80, n, args.seconds)


if __name__ == "__main__":
    main()
