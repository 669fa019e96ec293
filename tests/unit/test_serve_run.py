"""export / predict / serve on a real run directory: a tiny CNN trained with `fit` on a
synthetic three-class dataset (rings, vertical bars, horizontal dashes) in a few seconds."""
from __future__ import annotations

import base64
import http.client
import io
import json
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnistlab.cli import main
from mnistlab.serve.predict import Predictor, preprocess
from mnistlab.serve.web import make_server

SPEC = {"input_shape": [28, 28, 1], "layers": [
    {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
    {"type": "maxpool2d", "pool": 4},
    {"type": "flatten"},
    {"type": "dense", "units": 3, "activation": "softmax"}]}


def shape_image(kind: str, size=64, rng=None, ink=0, paper=255, mode="L", offset=(0, 0)):
    """A ring, a vertical bar or a horizontal dash drawn with some jitter."""
    rng = rng or np.random.default_rng(0)
    img = Image.new(mode, (size, size), paper)
    d = ImageDraw.Draw(img)
    s = size / 64
    cx, cy = rng.uniform(24, 40, 2) * s + np.array(offset)
    r, w = rng.uniform(10, 22) * s, max(1, int(rng.integers(3, 7) * s))
    if kind == "ring":
        d.ellipse([cx - 0.7 * r, cy - r, cx + 0.7 * r, cy + r], outline=ink, width=w)
    elif kind == "bar":
        d.line([(cx + rng.uniform(-3, 3) * s, cy - r), (cx, cy + r)], fill=ink, width=w)
    else:
        d.line([(cx - r, cy + rng.uniform(-3, 3) * s), (cx + r, cy)], fill=ink, width=w)
    return img


def shapes_npz(path, n_train=450, n_test=90):
    rng = np.random.default_rng(0)
    kinds = ["ring", "bar", "dash"]

    def make(n):
        ys = [kinds[i % 3] for i in range(n)]
        return np.stack([preprocess(shape_image(k, rng=rng)) for k in ys])[..., None], np.array(ys)

    (xtr, ytr), (xte, yte) = make(n_train), make(n_test)
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)  # string labels: no pickle
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from mnistlab.train import train_run
    tmp = tmp_path_factory.mktemp("serve-run")
    recipe = {"name": "shapes", "data": {"dataset": str(shapes_npz(tmp / "shapes.npz"))},
              "model": SPEC, "optimizer": {"name": "adam", "lr": 0.01},
              "batch_size": 32, "epochs": 3, "device": "cpu"}
    return train_run(recipe, out=tmp / "runs", quiet=True)


@pytest.fixture()
def images(tmp_path):
    """Large, coloured, off-centre photos of each shape, plus an unreadable and a blank file."""
    rng = np.random.default_rng(7)
    paths = {}
    for kind in ("ring", "bar", "dash"):
        img = shape_image(kind, size=500, rng=rng, ink=(30, 30, 120), paper=(245, 240, 220),
                          mode="RGB", offset=(90, -60))
        paths[kind] = tmp_path / f"{kind}.jpg"
        img.save(paths[kind], quality=92)
    paths["broken"] = tmp_path / "broken.png"
    paths["broken"].write_bytes(b"this is not a png")
    paths["blank"] = tmp_path / "blank.png"
    Image.new("RGB", (80, 80), "white").save(paths["blank"])
    return paths


def test_run_learned_the_shapes(run_dir):
    from mnistlab.train import open_run
    run = open_run(run_dir)
    assert run.classes == ["bar", "dash", "ring"]
    assert run.metrics["test_accuracy"] > 0.9


def test_predict_cli_text_labels_and_per_file_errors(run_dir, images, capsys):
    files = [str(images[k]) for k in ("ring", "broken", "bar", "blank", "dash")]
    rc = main(["predict", str(run_dir), *files, "--top", "2"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 2  # some files failed: bad input, exit 2 as the README promises
    assert len(out) == 5
    for line, kind in zip(out, ["ring", None, "bar", None, "dash"]):
        if kind is None:
            assert ": error: " in line
        else:
            assert line.split(": ", 1)[1].startswith(kind + " (")
            assert line.count("%)") == 2  # --top 2
    assert "not an image" in out[1] and "no digit" in out[3]


def test_predict_cli_json(run_dir, images, capsys):
    assert main(["predict", str(run_dir), str(images["dash"]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    top = data[0]["top"]
    assert [t["label"] for t in top][0] == "dash" and len(top) == 3
    assert abs(sum(t["probability"] for t in top) - 1) < 1e-3


def test_predict_cli_user_errors(run_dir, tmp_path, capsys):
    assert main(["predict", str(run_dir), "x.png", "--top", "0"]) == 2
    assert main(["predict", str(tmp_path), "x.png"]) == 2
    err = capsys.readouterr().err
    assert "--top 0" in err and "not a run directory" in err and "Traceback" not in err


def test_export_cli_with_int8(run_dir, tmp_path, capsys):
    out = tmp_path / "shapes.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "--int8", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and (tmp_path / "shapes.int8.onnx").is_file()
    assert "-> OK" in text and "test images" in text
    table = text[text.index("model "):]
    assert "fp32" in table and "int8" in table and "int8 vs fp32: accuracy" in table


def test_export_cli_rejects_a_bad_out_name(run_dir, tmp_path, capsys):
    assert main(["export", str(run_dir), "--out", str(tmp_path / "model.txt")]) == 2
    assert ".onnx" in capsys.readouterr().err


# ---------------------------------------------------------------- web API

@pytest.fixture(scope="module")
def server(run_dir):
    srv = make_server(Predictor.from_run(run_dir), "127.0.0.1", 0, run_name="shapes")
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        data = res.read()
        return res.status, data
    finally:
        conn.close()


def png_bytes(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_page_and_info(server):
    status, page = request(server, "GET", "/")
    assert status == 200 and b"<canvas" in page and b'type="file"' in page
    assert request(server, "GET", "/app.js")[0] == 200
    status, info = request(server, "GET", "/api/info")
    assert status == 200 and json.loads(info)["classes"] == ["bar", "dash", "ring"]


def test_predict_raw_bytes_and_json_data_url(server):
    img = png_bytes(shape_image("bar", size=280, rng=np.random.default_rng(3)))
    status, body = request(server, "POST", "/api/predict", img, {"Content-Type": "image/png"})
    res = json.loads(body)
    assert status == 200 and res["top"][0]["label"] == "bar" and len(res["top"]) == 3
    assert np.array(res["pixels"]).shape == (28, 28)
    assert np.array_equal(np.array(res["pixels"]), preprocess(img))  # same preprocessing as predict

    url = "data:image/png;base64," + base64.b64encode(png_bytes(shape_image("ring"))).decode()
    status, body = request(server, "POST", "/api/predict?top=1", json.dumps({"image": url}),
                           {"Content-Type": "application/json"})
    res = json.loads(body)
    assert status == 200 and [t["label"] for t in res["top"]] == ["ring"]


@pytest.mark.parametrize("path, body, headers, status, message", [
    ("/api/predict", b"", {}, 400, "empty body"),
    ("/api/predict", b"\x00\x01garbage", {"Content-Type": "image/png"}, 400, "not an image"),
    ("/api/predict", b"{not json", {"Content-Type": "application/json"}, 400, "not valid JSON"),
    ("/api/predict", b'{"picture": 1}', {"Content-Type": "application/json"}, 400, '"image"'),
    ("/api/predict", b'{"image": "data:image/png;base64,@@@"}', {}, 400, "base64"),
    ("/api/predict", b"[1, 2]", {"Content-Type": "application/json"}, 400, '"image"'),
    ("/api/predict?top=x", b"x", {}, 400, "top must be"),
    ("/api/predict?top=0", b"x", {}, 400, "at least 1"),
    ("/api/nothing", b"x", {}, 404, "POST to /api/predict"),
])
def test_bad_requests_get_4xx_with_a_message(server, path, body, headers, status, message):
    got, data = request(server, "POST", path, body, headers)
    assert got == status
    assert message in json.loads(data)["error"]


def test_blank_drawing_and_protocol_errors(server):
    blank = png_bytes(Image.new("RGB", (280, 280), "white"))
    status, data = request(server, "POST", "/api/predict", blank)
    assert status == 400 and "no digit" in json.loads(data)["error"]
    assert request(server, "GET", "/api/predict")[0] == 405
    assert request(server, "GET", "/nope")[0] == 404

    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    conn.putrequest("POST", "/api/predict")
    conn.endheaders()  # no Content-Length
    assert conn.getresponse().status == 411
    conn.close()

    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    conn.putrequest("POST", "/api/predict")
    conn.putheader("Content-Length", str(50 * 1024 * 1024))
    conn.endheaders()  # claims 50 MB, sends nothing
    res = conn.getresponse()
    assert res.status == 413 and "limit" in json.loads(res.read())["error"]
    conn.close()

    # still serving after all of that
    assert request(server, "GET", "/api/info")[0] == 200


def test_fifty_concurrent_clients_get_every_answer(server):
    """Issue 17 item 10: 200 POST /api/predict from 50 clients connecting at once, 0 failures
    (the standard library's default listen backlog of 5 reset some of these connections)."""
    from concurrent.futures import ThreadPoolExecutor
    body = png_bytes(shape_image("ring"))
    start = threading.Barrier(50)

    def client(i):
        start.wait()  # all 50 connect in the same instant: a burst, as from a page under load
        failures = 0
        for _ in range(4):
            try:
                status, _ = request(server, "POST", "/api/predict", body, {"Content-Type": "image/png"})
                failures += status != 200
            except OSError:  # connection refused / reset / timed out
                failures += 1
        return failures

    with ThreadPoolExecutor(50) as pool:
        failures = sum(pool.map(client, range(50)))
    assert failures == 0
