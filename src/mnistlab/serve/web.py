"""`mnistlab serve`: a draw-a-digit page and a small JSON API, on the standard library.

    GET  /               the page (canvas to draw on, live top-3, upload field)
    GET  /api/info       {"run", "classes", "input_shape"}
    POST /api/predict    body: the image file's bytes (PNG, JPEG, ...), or JSON
                         {"image": "data:image/png;base64,..."}; optional ?top=K
                         -> {"top": [{"label", "probability"}, ...], "pixels": 28x28 ints}

Bad requests get a 4xx status and {"error": "..."}; the server never dies on a request.
Images go through exactly the same `preprocess` as `mnistlab predict`.
"""
from __future__ import annotations

import base64
import binascii
import errno
import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from mnistlab.errors import MnistlabError
from mnistlab.serve.predict import Predictor

MAX_BODY = 10 * 1024 * 1024  # bytes; a phone photo fits, a mistake does not
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}


class BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


def _static(name: str) -> bytes:
    return resources.files("mnistlab.serve").joinpath("static", name).read_bytes()


def _image_bytes(body: bytes, content_type: str) -> bytes:
    """The image inside a request body: raw bytes, or a JSON {"image": data URL / base64}."""
    if not body:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "empty body; POST the image file's bytes")
    if "json" not in content_type and not body.lstrip().startswith(b"{"):
        return body
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"body is not valid JSON ({err})") from None
    text = payload.get("image") if isinstance(payload, dict) else None
    if not isinstance(text, str):
        raise BadRequest(HTTPStatus.BAD_REQUEST,
                         'JSON body must be {"image": "data:image/png;base64,..."}')
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(HTTPStatus.BAD_REQUEST, '"image" is not valid base64') from None


def make_handler(predictor: Predictor, run_name: str = "", quiet: bool = True):
    lock = threading.Lock()  # one forward pass at a time; the model is tiny
    info = json.dumps({"run": run_name, "classes": predictor.classes,
                       "input_shape": list(predictor.input_shape)}).encode()

    class Handler(BaseHTTPRequestHandler):
        server_version = "mnistlab"
        protocol_version = "HTTP/1.1"
        timeout = 30  # seconds a client may stall mid-request before we hang up

        def log_message(self, fmt, *args):
            if not quiet:
                super().log_message(fmt, *args)

        def _send(self, status, body: bytes, content_type="application/json"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status, obj):
            self._send(status, json.dumps(obj).encode())

        def _error(self, status, message):
            self._json(status, {"error": message})

        def do_GET(self):
            path = urlsplit(self.path).path
            if path == "/api/info":
                return self._send(HTTPStatus.OK, info)
            if path in STATIC:
                name, ctype = STATIC[path]
                return self._send(HTTPStatus.OK, _static(name), ctype)
            if path == "/api/predict":
                return self._error(HTTPStatus.METHOD_NOT_ALLOWED, "POST an image to /api/predict")
            self._error(HTTPStatus.NOT_FOUND, f"no page {path}; open / or POST /api/predict")

        do_HEAD = do_GET

        def do_POST(self):
            url = urlsplit(self.path)
            try:
                if url.path != "/api/predict":
                    raise BadRequest(HTTPStatus.NOT_FOUND, f"no endpoint {url.path}; POST to /api/predict")
                top = self._top(url.query)
                body = self._body()
                image = _image_bytes(body, self.headers.get("Content-Type", ""))
                with lock:
                    pred = predictor.predict([image], top=top)[0]
                if pred.error:
                    raise BadRequest(HTTPStatus.BAD_REQUEST, pred.error)
                self._json(HTTPStatus.OK, {**pred.to_dict(), "pixels": pred.pixels.tolist()})
            except BadRequest as err:
                self.close_connection = True  # the body may be unread; start afresh
                self._error(err.status, str(err))
            except Exception as err:  # a bug, not the client's fault: say so, keep serving
                self.log_error("predict failed: %r", err)
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"prediction failed: {type(err).__name__}")

        def _top(self, query: str) -> int:
            values = parse_qs(query).get("top", ["3"])
            try:
                top = int(values[-1])
            except ValueError:
                raise BadRequest(HTTPStatus.BAD_REQUEST, "top must be a whole number, e.g. ?top=3") from None
            if top < 1:
                raise BadRequest(HTTPStatus.BAD_REQUEST, "top must be at least 1")
            return top

        def _body(self) -> bytes:
            length = self.headers.get("Content-Length")
            if length is None:
                raise BadRequest(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header")
            try:
                n = int(length)
            except ValueError:
                raise BadRequest(HTTPStatus.BAD_REQUEST, "Content-Length is not a number") from None
            if n < 0:
                raise BadRequest(HTTPStatus.BAD_REQUEST, "Content-Length is negative")
            if n > MAX_BODY:
                raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                 f"body is {n:,d} bytes; the limit is {MAX_BODY:,d}")
            try:
                body = self.rfile.read(n)
            except TimeoutError:
                raise BadRequest(HTTPStatus.REQUEST_TIMEOUT, "the body arrived too slowly") from None
            if len(body) < n:
                raise BadRequest(HTTPStatus.BAD_REQUEST, f"body ended after {len(body):,d} of {n:,d} bytes")
            return body

    return Handler


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a listen backlog for bursts of clients.

    socketserver's default backlog is 5: with 50 clients connecting at once the kernel
    refused or reset the rest (17 of 200 requests failed). The work per request is one
    forward pass under a lock, so a server library would not serve more per second; the
    only fault was the queue, and this keeps serve on the standard library.
    """
    request_queue_size = 1024  # the kernel caps it at net.core.somaxconn
    daemon_threads = True


def make_server(predictor: Predictor, host: str = "127.0.0.1", port: int = 8000, *,
                run_name: str = "", quiet: bool = True) -> ThreadingHTTPServer:
    """A ready, not yet running server; port 0 picks a free port (see server.server_port)."""
    try:
        server = Server((host, port), make_handler(predictor, run_name, quiet))
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise MnistlabError(f"port {port} is already in use; pass --port with another number "
                                "(0 picks a free one)") from None
        raise MnistlabError(f"cannot listen on {host}:{port} ({err.strerror or err})") from None
    server.daemon_threads = True
    return server


def serve(run_dir, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False) -> None:
    """Serve a run's model until Ctrl-C."""
    from pathlib import Path
    predictor = Predictor.from_run(run_dir)
    server = make_server(predictor, host, port, run_name=Path(run_dir).name, quiet=quiet)
    print(f"serving {run_dir} on http://{host}:{server.server_port}/  (Ctrl-C to stop)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
