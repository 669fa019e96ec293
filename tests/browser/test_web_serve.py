"""`mnistlab serve` end to end in headless Chromium: draw on the canvas with mouse and touch
events, upload a file, and read the live top-3 predictions from the page.

The browser is driven over the Chrome DevTools Protocol (websocket-client); the server is
the real CLI command, started on a free port. The model is a tiny CNN trained in seconds
on rings / vertical bars / horizontal dashes, so each drawing has one right answer.
"""
from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

websocket = pytest.importorskip("websocket", reason="pip install websocket-client")

pytestmark = pytest.mark.browser

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage",
         "--mute-audio", "--remote-allow-origins=*", "--remote-debugging-port=0",
         "--window-size=1000,800"]


def _shapes_module():
    """The synthetic-shapes helpers of the unit tests (one definition, not two)."""
    path = Path(__file__).resolve().parents[1] / "unit" / "test_serve_run.py"
    spec = importlib.util.spec_from_file_location("_serve_shapes", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def shapes():
    return _shapes_module()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, shapes):
    from mnistlab.train import train_run
    tmp = tmp_path_factory.mktemp("web-run")
    recipe = {"name": "shapes", "data": {"dataset": str(shapes.shapes_npz(tmp / "shapes.npz"))},
              "model": shapes.SPEC, "optimizer": {"name": "adam", "lr": 0.01},
              "batch_size": 32, "epochs": 3, "device": "cpu"}
    return train_run(recipe, out=tmp / "runs", quiet=True)


@pytest.fixture(scope="module")
def base_url(run_dir):
    """`mnistlab serve RUN_DIR --port 0` in a subprocess; its URL from the first line it prints."""
    proc = subprocess.Popen([sys.executable, "-m", "mnistlab", "serve", str(run_dir), "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"serve printed {line!r}"
        yield f"http://127.0.0.1:{match.group(1)}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Page:
    """One Chromium tab over the DevTools Protocol: send commands, evaluate JavaScript."""

    def __init__(self, chromium: str):
        # Chromium's helper processes may still write to the profile after it exits
        self.profile = tempfile.TemporaryDirectory(prefix="chromium-cdp-", ignore_cleanup_errors=True)
        self.proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={self.profile.name}",
                                      "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile.name) / "DevToolsActivePort"
        deadline = time.time() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                raise AssertionError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0

    def send(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # skip events until our answer arrives
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str):
        res = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"JavaScript failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {expression}")

    def close(self):
        if getattr(self, "ws", None):
            self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.profile.cleanup()


@pytest.fixture()
def page(chromium, base_url):
    p = Page(chromium)
    try:
        p.send("Page.navigate", url=base_url)
        p.wait_for("document.readyState === 'complete' && !!document.getElementById('pad')")
        p.wait_for("document.getElementById('run').textContent.includes('bar')")  # /api/info arrived
        yield p
    finally:
        p.close()


TOP3 = """[...document.querySelectorAll('#top li')].map(li =>
    ({label: li.dataset.label, probability: parseFloat(li.dataset.probability)}))"""


def pad_points(page: Page, points):
    """Canvas coordinates (0..280) -> page coordinates for Input.dispatch*Event."""
    r = page.js("(() => { const r = document.getElementById('pad').getBoundingClientRect();"
                " return [r.left, r.top, r.width / 280]; })()")
    return [(r[0] + x * r[2], r[1] + y * r[2]) for x, y in points]


def mouse_stroke(page: Page, points, release=True):
    pts = pad_points(page, points)
    page.send("Input.dispatchMouseEvent", type="mousePressed", x=pts[0][0], y=pts[0][1],
              button="left", buttons=1, clickCount=1)
    for x, y in pts[1:]:
        page.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="left", buttons=1)
    if release:
        page.send("Input.dispatchMouseEvent", type="mouseReleased", x=pts[-1][0], y=pts[-1][1],
                  button="left", buttons=0, clickCount=1)


def top3(page: Page):
    """The predictions shown once the page has settled (no request in flight)."""
    page.wait_for("document.querySelectorAll('#top li').length === 3")
    time.sleep(0.3)
    return page.wait_for(f"(() => {{ const t = {TOP3}; return t.length === 3 ? t : null; }})()")


def check_top3(top, expected):
    assert [t["label"] for t in top][0] == expected, top
    assert len({t["label"] for t in top}) == 3
    probs = [t["probability"] for t in top]
    assert probs == sorted(probs, reverse=True) and 0.5 < probs[0] <= 1 and sum(probs) <= 1.0001


def test_draw_with_the_mouse_shows_live_top3(page):
    line = [(140 + 2 * math.sin(i), 40 + 10 * i) for i in range(21)]  # a vertical bar
    mouse_stroke(page, line[:10], release=False)
    page.wait_for("document.querySelectorAll('#top li').length === 3")  # live: before release
    mouse_stroke(page, line[9:])
    check_top3(top3(page), "bar")
    seen = page.js("Array.from(document.getElementById('seen').getContext('2d')"
                   ".getImageData(0, 0, 28, 28).data).filter((v, i) => i % 4 === 0)")
    seen = np.array(seen).reshape(28, 28)
    assert seen.max() > 200 and seen[:, :8].max() == 0  # white ink on black, centred

    page.js("document.getElementById('clear').click()")
    assert page.js("document.querySelectorAll('#top li').length") == 0
    ring = [(140 + 70 * math.sin(t / 24 * 2 * math.pi), 140 - 100 * math.cos(t / 24 * 2 * math.pi))
            for t in range(26)]
    mouse_stroke(page, ring)
    check_top3(top3(page), "ring")


def test_draw_with_a_finger(page):
    page.send("Emulation.setTouchEmulationEnabled", enabled=True, maxTouchPoints=1)
    pts = pad_points(page, [(40 + 10 * i, 150 + math.sin(i)) for i in range(21)])  # a dash
    page.send("Input.dispatchTouchEvent", type="touchStart", touchPoints=[{"x": pts[0][0], "y": pts[0][1]}])
    for x, y in pts[1:]:
        page.send("Input.dispatchTouchEvent", type="touchMove", touchPoints=[{"x": x, "y": y}])
    page.send("Input.dispatchTouchEvent", type="touchEnd", touchPoints=[])
    check_top3(top3(page), "dash")


def test_upload_a_photo(page, shapes, tmp_path):
    img = shapes.shape_image("ring", size=640, rng=np.random.default_rng(5), ink=(90, 20, 20),
                             paper=(230, 230, 240), mode="RGB", offset=(-120, 150))
    path = tmp_path / "ring photo.jpg"
    img.save(path, quality=90)
    doc = page.send("DOM.getDocument")
    node = page.send("DOM.querySelector", nodeId=doc["root"]["nodeId"], selector="#upload")
    page.send("DOM.setFileInputFiles", files=[str(path)], nodeId=node["nodeId"])
    check_top3(top3(page), "ring")


def test_blank_upload_shows_the_error_and_the_page_keeps_working(page, tmp_path):
    from PIL import Image
    path = tmp_path / "blank.png"
    Image.new("RGB", (100, 100), "white").save(path)
    doc = page.send("DOM.getDocument")
    node = page.send("DOM.querySelector", nodeId=doc["root"]["nodeId"], selector="#upload")
    page.send("DOM.setFileInputFiles", files=[str(path)], nodeId=node["nodeId"])
    msg = page.wait_for("document.getElementById('status').classList.contains('error') && "
                        "document.getElementById('status').textContent")
    assert "no digit" in msg
    mouse_stroke(page, [(140, 40 + 10 * i) for i in range(21)])
    check_top3(top3(page), "bar")
