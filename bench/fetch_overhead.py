#!/usr/bin/env python3
"""What fetching by URL costs (S14): the same image extracted from an upload and from a
loopback URL, against a running Copy That server on loopback.

Serves the images itself on 127.0.0.1:--image-port, so the server must be started with
that port allowed and the name mapped there:

    COPYTHAT_FETCH_ALLOW_CIDRS=127.0.0.1/32 COPYTHAT_FETCH_ALLOWED_PORTS=18090 \\
    COPYTHAT_FETCH_RESOLVE='images.bench=127.0.0.1' COPYTHAT_EXTRACT_PER_MINUTE=100000 \\
    COPYTHAT_RATE_PER_MINUTE=100000 COPYTHAT_RATE_PER_HOUR=1000000 copythat serve
    python3 bench/fetch_overhead.py --base http://127.0.0.1:8080 --image-port 18090

Requests are sequential, alternating upload and URL for each image, so both see the same
machine state; reported are the median and 90th percentile per intake and their difference.
"""
import argparse
import http.client
import http.server
import json
import os
import secrets
import statistics
import struct
import threading
import time
import urllib.parse
import zlib


def png(width, height, noisy):
    """An RGB PNG: random bytes (large, costly to decode) or flat bands (small)."""
    if noisy:
        rows = [b"\x00" + os.urandom(width * 3) for _ in range(height)]
    else:
        band = lambda y: bytes((40 + (y // 32) * 20 % 200, 90, 160)) * width
        rows = [b"\x00" + band(y) for y in range(height)]

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"".join(rows), 6)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def request(host, port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(host, port, timeout=120)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def multipart(fields, file_field, file_bytes):
    boundary = secrets.token_hex(16)
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="i.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode() + file_bytes + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def serve_images(port, images):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = images.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--image-port", type=int, default=18090)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.base)
    assert url.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
    host, port = url.hostname, url.port or 80

    images = {
        "/small.png": png(640, 400, noisy=False),
        "/large.png": png(1400, 1400, noisy=True),
    }
    serve_images(args.image_port, images)

    email, password = f"fetch-{secrets.token_hex(6)}@example.com", secrets.token_urlsafe(18)
    json_headers = {"content-type": "application/json"}
    assert request(host, port, "POST", "/api/v1/auth/register",
                   json.dumps({"email": email, "password": password}), json_headers)[0] == 201
    _, body = request(host, port, "POST", "/api/v1/auth/token",
                      urllib.parse.urlencode({"username": email, "password": password}),
                      {"content-type": "application/x-www-form-urlencoded"})
    bearer = {"authorization": f"Bearer {json.loads(body)['access_token']}"}
    _, body = request(host, port, "POST", "/api/v1/projects", json.dumps({"name": "bench"}),
                      {**bearer, **json_headers})
    project = json.loads(body)["id"]

    def timed(body, content_type):
        t0 = time.perf_counter()
        status, data = request(host, port, "POST", "/api/v1/colors/extract", body,
                               {**bearer, "content-type": content_type})
        elapsed = time.perf_counter() - t0
        assert status == 201, (status, data[:300])
        return elapsed, json.loads(data)["colors"]

    for path, image in images.items():
        uploads, fetches = [], []
        form, form_type = multipart({"project_id": project}, "image", image)
        by_url = json.dumps({"project_id": project,
                             "image_url": f"http://images.bench:{args.image_port}{path}"})
        # One of each first, unmeasured: warm caches, and the palettes must agree.
        _, uploaded = timed(form, form_type)
        _, fetched = timed(by_url, "application/json")
        assert [c["hex"] for c in uploaded] == [c["hex"] for c in fetched]
        for _ in range(args.rounds):
            uploads.append(timed(form, form_type)[0])
            fetches.append(timed(by_url, "application/json")[0])

        def summary(xs):
            xs = sorted(xs)
            return statistics.median(xs) * 1000, xs[int(len(xs) * 0.9) - 1] * 1000

        up_med, up_p90 = summary(uploads)
        url_med, url_p90 = summary(fetches)
        print(f"{path}: {len(image) / 1024:.0f} KiB, {args.rounds} rounds each")
        print(f"  upload (multipart)  median {up_med:7.2f} ms   p90 {up_p90:7.2f} ms")
        print(f"  image_url (fetch)   median {url_med:7.2f} ms   p90 {url_p90:7.2f} ms")
        print(f"  fetch overhead      median {url_med - up_med:+7.2f} ms ({url_med / up_med:.2f}x)")


if __name__ == "__main__":
    main()
