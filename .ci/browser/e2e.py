#!/usr/bin/env python3
"""The web page in a real browser (Debian's Chromium, headless) against a real `copythat serve`.

Refused sign-ins explained, sign-up, a project, a dropped PNG of known colours compared with
the API, copy (mouse and keyboard), role, rename, move, the contrast grid against an
independent WCAG computation, two concurrent 401s sharing one cookie refresh, a reload that
stays signed in, a Tailwind download, a refused file, a cancelled slow upload, paste, a 429
with its wait, all extractions, delete, the Check tab, sign-out. axe-core finds no violation
on any view at 1280x800 and 390x844, nothing scrolls sideways at 320 and 390 px, and the
console shows no error (beyond the HTTP errors the scenario provokes on purpose) and no CSP
violation. Prints one line per check and ends with 'N passed, N failed'.
"""

import argparse
import base64
import json
import os
import pathlib
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Known colours and the share of the image each covers (vertical bands).
BANDS = [("#1E3A8A", 0.40), ("#F59E0B", 0.30), ("#F8FAFC", 0.20), ("#DC2626", 0.10)]
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def encode_png(width, height, raw, level=9):
    """A truecolour PNG from filtered rows, written by hand (no imaging library needed)."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, level)) + chunk(b"IEND", b"")


def png(width, height, bands):
    """Vertical bands of known colours covering known shares of the image."""
    row = bytearray()
    x = 0
    for i, (hex_, share) in enumerate(bands):
        w = width - x if i == len(bands) - 1 else round(width * share)
        row += bytes.fromhex(hex_[1:]) * w
        x += w
    return encode_png(width, height, b"".join(b"\x00" + bytes(row) for _ in range(height)))


def png_noise(width, height):
    """Random pixels, which do not compress (about 1.4 MB at 700x700): a slow upload."""
    return encode_png(width, height, b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height)), 1)


def wcag_ratio(a, b):
    """WCAG 2.x contrast of two hex colours, computed here independently of the page."""

    def lum(hex_):
        def lin(v):
            c = v / 255
            return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b_ = bytes.fromhex(hex_[1:])
        return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b_)

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`copythat serve` on a loopback port with a temporary SQLite database."""

    def __init__(self, binary, workdir):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": workdir,
            "COPYTHAT_ENV": "local",
            "COPYTHAT_BIND": f"127.0.0.1:{self.port}",
            "DATABASE_URL": f"sqlite://{workdir}/copythat.db",
            "COPYTHAT_LOG": "warn",
            # Low enough that the scenario meets the limit and sees the page explain the wait.
            "COPYTHAT_EXTRACT_PER_MINUTE": "6",
            # The scenario clicks faster than a person; the overall quota is not under test.
            "COPYTHAT_RATE_PER_MINUTE": "600",
        }
        self.log = open(os.path.join(workdir, "server.log"), "w")
        self.proc = subprocess.Popen([binary, "serve"], env=env, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"copythat exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("copythat did not become healthy within 60 s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def call(self, method, path, token=None, body=None, form=None):
        headers = {}
        data = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            data = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}{': ' + str(detail) if detail else ''}")
        sys.stdout.flush()
        return ok


def hex_distance(a, b):
    pa, pb = bytes.fromhex(a[1:]), bytes.fromhex(b[1:])
    return max(abs(x - y) for x, y in zip(pa, pb))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="path to the copythat binary")
    parser.add_argument("--axe", required=True, help="path to axe.min.js")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    default_out = os.path.join(os.environ.get("COPYTHAT_ARTIFACTS", "/work/artifacts"), "browser")
    parser.add_argument("--out", default=os.environ.get("COPYTHAT_BROWSER_ARTIFACTS", default_out))
    args = parser.parse_args()

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    axe_source = pathlib.Path(args.axe).read_text()
    workdir = tempfile.mkdtemp(prefix="copythat-browser-")
    server = Server(os.path.abspath(args.binary), workdir)
    checks = Checks()
    started = time.monotonic()
    try:
        run(server, checks, axe_source, out, workdir, args.chromium)
    except Exception as err:  # a step that could not even run is a failure, not a crash
        checks.check("the scenario ran to the end", False, repr(err))
    finally:
        server.stop()
    print(f"screenshots in {out}; {time.monotonic() - started:.1f} s")
    if checks.failed:
        print(f"server log kept in {workdir}/server.log")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


def run(server, checks, axe_source, out, workdir, chromium):
    email = f"designer-{uuid.uuid4().hex[:12]}@example.com"
    password = f"pw-{uuid.uuid4().hex}"
    image = png(400, 240, BANDS)
    console_errors = []
    # Errors the scenario causes on purpose: (URL fragment, status) pairs the browser may log.
    expected = []

    def on_console(msg):
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        provoked = any(frag in where and f"status of {status} " in msg.text for frag, status in expected)
        if provoked and msg.text.startswith("Failed to load resource"):
            return
        console_errors.append(f"{msg.text} @ {where}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
        # CSP violations raise an event on the document; report them through the console.
        context.add_init_script(
            "document.addEventListener('securitypolicyviolation', e =>"
            " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda err: console_errors.append(f"uncaught: {err}"))

        def axe(view):
            for name, (w, h) in SIZES.items():
                page.set_viewport_size({"width": w, "height": h})
                page.evaluate("window.scrollTo(0, 0)")
                if page.evaluate("typeof window.axe") == "undefined":
                    page.evaluate(axe_source)
                result = page.evaluate(
                    "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                    ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
                )
                checks.check(f"axe: no violations on the {view} view at {w}x{h}", not result, result)
                page.screenshot(path=str(out / f"{view}-{name}.png"), full_page=True)
            page.set_viewport_size({"width": 1280, "height": 800})

        def no_sideways_scroll(view):
            widths = {}
            for w in (320, 390):
                page.set_viewport_size({"width": w, "height": 844})
                widths[w] = page.evaluate("document.documentElement.scrollWidth")
            page.set_viewport_size({"width": 1280, "height": 800})
            checks.check(f"no horizontal scroll on the {view} view at 320 and 390 px", all(v <= w for w, v in widths.items()), widths)

        def transfer_of(data, name, mime):
            return page.evaluate_handle(
                """([b64, name, mime]) => {
                    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                    const dt = new DataTransfer();
                    dt.items.add(new File([bytes], name, {type: mime}));
                    return dt;
                }""",
                [base64.b64encode(data).decode(), name, mime],
            )

        def paste(data, name, mime):
            transfer = transfer_of(data, name, mime)
            page.evaluate("dt => document.body.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true}))", transfer)

        def drop(selector, data, name, mime):
            transfer = transfer_of(data, name, mime)
            page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
            page.dispatch_event(selector, "drop", {"dataTransfer": transfer})

        # 1. A new visitor: the sign-in view.
        page.goto(server.base + "/")
        page.wait_for_selector("#auth-view:not([hidden])")
        checks.check("a new visitor sees the sign-in form", page.is_visible("#email"))
        axe("sign-in")
        no_sideways_scroll("sign-in")

        # Refusals are shown in the server's words: the problem's detail, each errors[] entry.
        expected.append(("/api/v1/auth/token", 401))
        expected.append(("/api/v1/auth/register", 422))
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("#signin")
        page.wait_for_selector("#auth-status[data-kind=error]")
        refused = page.inner_text("#auth-status")
        page.fill("#password", "short")
        page.click("#register")
        page.wait_for_selector("#auth-status[data-kind=error]:not(:text('Invalid email'))")
        invalid = page.inner_text("#auth-status")
        checks.check(
            "a refused sign-in and an invalid field are explained",
            refused == "Invalid email or password." and invalid.startswith("Password: "),
            (refused, invalid),
        )

        # 2. Sign up.
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("#register")
        page.wait_for_selector("#app-view:not([hidden])")
        checks.check("signing up opens the workspace", page.inner_text("#who") == email)
        cookies = {c["name"]: c for c in context.cookies()}
        refresh = cookies.get("copythat_refresh")
        checks.check(
            "the refresh token is an HttpOnly SameSite=Strict cookie on /api/v1/auth",
            refresh is not None and refresh["httpOnly"] and refresh["sameSite"] == "Strict" and refresh["path"] == "/api/v1/auth",
            refresh,
        )
        visible_to_script = page.evaluate("document.cookie")
        checks.check("script cannot read the refresh cookie", "copythat_refresh" not in visible_to_script)

        # 3. A project, then an image dropped on it.
        page.fill("#new-project-name", "Brand refresh")
        page.click("#new-project-form button[type=submit]")
        page.wait_for_selector("#project-title:text('Brand refresh')")
        page.fill("#max-colors", str(len(BANDS)))
        drop("#dropzone", image, "brand.png", "image/png")
        page.wait_for_selector(f"#swatches > li:nth-child({len(BANDS)})")
        page.wait_for_selector("#intake-status[data-kind=ok]")
        shown = page.eval_on_selector_all("#swatches .chip-hex", "els => els.map(e => e.textContent)")

        status, body, _ = server.call("POST", "/api/v1/auth/token", form={"username": email, "password": password})
        token = json.loads(body)["access_token"]
        projects = json.loads(server.call("GET", "/api/v1/projects", token)[1])["items"]
        project = next(p for p in projects if p["name"] == "Brand refresh")
        api_colors = json.loads(server.call("GET", f"/api/v1/projects/{project['id']}/colors", token)[1])["items"]
        checks.check("the swatches are the API's colours, in its order", shown == [c["hex"] for c in api_colors], (shown, api_colors))
        near = all(any(hex_distance(s, b) <= 2 for b, _ in BANDS) for s in shown) and len(shown) == len(BANDS)
        checks.check("the swatches are the image's known colours", near, shown)

        # 4. Copy a hex with one click.
        first = api_colors[0]
        page.click(f"#swatches > li[data-id='{first['id']}'] .chip")
        page.wait_for_selector("#swatch-status[data-kind=ok]")
        copied = page.evaluate("navigator.clipboard.readText()")
        checks.check("clicking a swatch copies its hex", copied == first["hex"], copied)

        # 5. Change a role.
        page.select_option(f"select[aria-label='Role of {first['hex']}']", "accent")
        page.wait_for_selector(f"#swatch-status:text('{first['hex']} is now accent')")
        stored = json.loads(server.call("GET", f"/api/v1/projects/{project['id']}/colors", token)[1])["items"]
        checks.check("a role change is stored", next(c for c in stored if c["id"] == first["id"])["role"] == "accent")
        page.locator("#export-card").scroll_into_view_if_needed()
        page.wait_for_selector("#export-preview:not(:empty)")
        axe("palette")
        no_sideways_scroll("palette")

        # Rename a colour (Enter commits), and move one: the server keeps both.
        name_box = f"input[aria-label='Name of {first['hex']}']"
        page.fill(name_box, "Brand navy")
        page.press(name_box, "Enter")
        page.wait_for_selector(f"#swatch-status:text('is now called Brand navy')")
        stored = json.loads(server.call("GET", f"/api/v1/projects/{project['id']}/colors", token)[1])["items"]
        checks.check("a rename is stored", next(c for c in stored if c["id"] == first["id"])["name"] == "Brand navy")
        expected.append(("/api/v1/colors/", 422))  # a server without `position` refuses the move
        page.click(f"button[aria-label='Move {first['hex']} later']")
        page.wait_for_selector("#swatch-status:not(:text('is now called'))")
        order = [c["id"] for c in json.loads(server.call("GET", f"/api/v1/projects/{project['id']}/colors", token)[1])["items"]]
        moved = order.index(first["id"]) == 1
        refused = page.get_attribute("#swatch-status", "data-kind") == "error" and "position" in page.inner_text("#swatch-status").lower()
        checks.check("a move is stored, or the server's refusal is shown in words", moved or refused, page.inner_text("#swatch-status"))

        # The contrast grid: text colour by row, background by column, largest colours first.
        by_share = sorted(api_colors, key=lambda c: -c["share"])
        cells = page.eval_on_selector_all(
            "#contrast-grid tbody tr", "rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.querySelector('.cell-ratio')?.textContent || ''))"
        )
        want = [["" if i == j else f"{int(wcag_ratio(fg['hex'], bg['hex']) * 100) / 100:.2f}" for j, bg in enumerate(by_share)] for i, fg in enumerate(by_share)]
        checks.check("the contrast grid gives the WCAG ratio of every pair", cells == want, (cells, want))

        # Keyboard: a swatch is reached and copied without a mouse, with a visible focus ring.
        second = api_colors[1]
        page.focus(f"#swatches > li[data-id='{second['id']}'] .chip")
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
        ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#swatch-status:text('{second['hex']}')")
        copied = page.evaluate("navigator.clipboard.readText()")
        checks.check("a swatch copies from the keyboard, with a visible focus ring", copied == second["hex"] and ring != "none", (copied, ring))

        # Two requests meet an expired token together: one refresh serves both (a second one
        # would present the rotated cookie again, which the server treats as theft).
        refreshes = []
        page.on("request", lambda r: refreshes.append(r.url) if r.url.endswith("/api/v1/auth/refresh") else None)
        bounced = set()

        def expire_once(route):
            if route.request.url in bounced:
                route.continue_()
                return
            bounced.add(route.request.url)
            problem = {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "authentication required"}
            route.fulfill(status=401, content_type="application/problem+json", headers={"WWW-Authenticate": "Bearer"}, body=json.dumps(problem))

        expected.append(("/api/v1/colors/", 401))
        page.route("**/api/v1/colors/*", expire_once)
        pair = [api_colors[2]["id"], api_colors[3]["id"]]
        page.evaluate(
            """ids => { for (const id of ids) {
                const select = document.querySelector(`#swatches > li[data-id="${id}"] select.role`);
                select.value = "info";
                select.dispatchEvent(new Event("change", {bubbles: true}));
            } }""",
            pair,
        )
        roles = []
        for _ in range(100):
            stored = json.loads(server.call("GET", f"/api/v1/projects/{project['id']}/colors", token)[1])["items"]
            roles = [c["role"] for c in stored if c["id"] in pair]
            if roles == ["info", "info"]:
                break
            page.wait_for_timeout(100)  # polls, and lets Playwright serve the routed requests
        page.unroute("**/api/v1/colors/*")
        checks.check(
            "two concurrent 401s share one refresh and both changes are saved",
            len(refreshes) == 1 and roles == ["info", "info"] and page.is_visible("#app-view"),
            (refreshes, roles, page.inner_text("#swatch-status")),
        )

        # 6. Reload: still signed in, the project's palette back without a new upload.
        page.reload()
        page.wait_for_selector("#app-view:not([hidden])")
        page.wait_for_selector(f"#swatches > li:nth-child({len(BANDS)})")
        checks.check("a reload keeps the user signed in with the palette shown", page.inner_text("#who") == email)
        checks.check(
            "the role survives the reload",
            page.eval_on_selector(f"select[aria-label='Role of {first['hex']}']", "s => s.value") == "accent",
        )

        # 7. Download a Tailwind export and compare it with the API's.
        page.select_option("#export-format", "tailwind")
        page.locator("#export-card").scroll_into_view_if_needed()
        page.wait_for_selector("#export-preview:not(:empty)")
        with page.expect_download() as info:
            page.click("#export-download")
        download = info.value
        saved = pathlib.Path(workdir) / download.suggested_filename
        download.save_as(saved)
        _, api_export, _ = server.call("GET", f"/api/v1/projects/{project['id']}/export?format=tailwind", token)
        text = saved.read_text()
        checks.check(
            "the Tailwind download is the API's export with its file name",
            saved.name.endswith(".js") and saved.read_bytes() == api_export and all(c["hex"].lower() in text.lower() for c in api_colors),
            saved.name,
        )

        # 8. A file that is not an image: the server's own words are shown.
        expected.append(("/api/v1/colors/extract", 415))
        drop("#dropzone", b"just some text, not an image", "notes.png", "image/png")
        page.wait_for_selector("#intake-status[data-kind=error]")
        message = page.inner_text("#intake-status")
        checks.check("a refused upload shows the problem's detail", "unsupported image format" in message.lower(), message)

        # 9. A slow upload shows progress and can be cancelled; nothing is saved.
        sessions_before = json.loads(server.call("GET", f"/api/v1/projects/{project['id']}/sessions", token)[1])["total"]
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 64 * 1024})
        noisy = png_noise(700, 700)
        drop("#dropzone", noisy, "large.png", "image/png")
        page.wait_for_selector("#upload-progress:not([hidden])")
        page.wait_for_function("() => document.querySelector('#progress-bar').value > 0")
        page.click("#cancel-upload")
        page.wait_for_selector("#intake-status:text('Upload cancelled')")
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        sessions_after = json.loads(server.call("GET", f"/api/v1/projects/{project['id']}/sessions", token)[1])["total"]
        checks.check("a cancelled upload stops and saves nothing", sessions_after == sessions_before and page.is_hidden("#upload-progress"))

        # 10. Pasting extracts too, until the extraction limit: the page says how long to wait.
        expected.append(("/api/v1/colors/extract", 429))
        waited = ""
        for _ in range(8):
            paste(image, "pasted.png", "image/png")
            page.wait_for_selector("#intake-status[data-kind]:not([data-kind=''])")
            page.wait_for_selector("#upload-progress", state="hidden")
            text = page.inner_text("#intake-status")
            if "Too many requests" in text:
                waited = text
                break
        checks.check("pasting an image extracts it", sessions_after < json.loads(server.call("GET", f"/api/v1/projects/{project['id']}/sessions", token)[1])["total"])
        checks.check("a 429 says how long to wait (Retry-After)", "Try again in" in waited, waited)

        # Extractions are browsable: all of them together, or one at a time.
        page.select_option("#session-select", "")
        everything = json.loads(server.call("GET", f"/api/v1/projects/{project['id']}/colors?limit=100", token)[1])
        page.wait_for_function(f"() => document.querySelectorAll('#swatches > li').length === {everything['total']}")
        count = page.locator("#swatches > li").count()
        checks.check("'All extractions' shows every colour of the project", count == everything["total"], (count, everything["total"]))

        # Delete asks once more, then removes the colour.
        victim = everything["items"][-1]
        page.click(f"#swatches > li[data-id='{victim['id']}'] button.danger")
        page.click(f"#swatches > li[data-id='{victim['id']}'] button[aria-label='Confirm deleting {victim['hex']}']")
        page.wait_for_selector(f"#swatch-status:text('Deleted {victim['hex']}')")
        left = json.loads(server.call("GET", f"/api/v1/projects/{project['id']}/colors?limit=100", token)[1])
        checks.check("a confirmed delete removes the colour", all(c["id"] != victim["id"] for c in left["items"]))

        # 11. The Check tab: the server's report for the image the palette came from, and
        # the mask fetched with the bearer token.
        page.click("#tab-check")
        # The scenario spent the extraction quota (which checks share) on purpose above: a
        # 429 here says how long to wait, and the tab is tried again after that.
        expected.append(("/check", 429))
        for _ in range(3):
            drop("#check-dropzone", image, "built.png", "image/png")
            page.wait_for_function("() => !document.querySelector('#check-result').hidden"
                                   " || document.querySelector('#check-status').dataset.kind === 'error'")
            said = page.inner_text("#check-status")
            wait = re.search(r"Try again in (\d+) second", said)
            if page.is_visible("#check-result") or not wait:
                break
            page.wait_for_timeout((int(wait.group(1)) + 1) * 1000)
        checks.check("the Check tab answers with a report", page.is_visible("#check-result"),
                     page.inner_text("#check-status"))
        page.wait_for_function("() => (document.querySelector('#check-mask').src || '').startsWith('blob:')")
        score = page.inner_text("#check-score").strip()
        checks.check("the Check tab shows the server's score and loads the mask",
                     score.isdigit() and 0 <= int(score) <= 100, score)
        shown_off = page.eval_on_selector_all("#off-palette .mini-chip", "els => els.map(e => e.textContent)")
        checks.check("the off-palette list holds colour chips only", all(c.startswith("#") for c in shown_off), shown_off)
        axe("check")
        no_sideways_scroll("check")
        page.click("#tab-palette")

        # 12. Sign out: the cookie's session is revoked and the cookie gone.
        page.click("#signout")
        page.wait_for_selector("#auth-view:not([hidden])")
        gone = "copythat_refresh" not in {c["name"] for c in context.cookies()}
        checks.check("signing out clears the refresh cookie", gone)
        page.reload()
        page.wait_for_selector("#auth-view:not([hidden])")
        checks.check("after sign-out a reload shows the sign-in form", page.is_visible("#email"))

        checks.check("no console error and no CSP violation", not console_errors, console_errors)
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
