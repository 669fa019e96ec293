"""Load on `mnistlab serve`: N POST /api/predict from C concurrent clients, failures and latency.

Starts `mnistlab serve RUN_DIR --port 0` in its own process (so clients and server do not
share one interpreter), waits for it, then C client threads each send their share of the
N requests on fresh connections, all starting at once. Prints failures (refused, reset,
timed out or non-200) and the latency median / p95 / max. Target: 0 failures for 1,000
requests from 100 clients.

    python benchmarks/serve_load.py RUN_DIR [--requests 1000] [--clients 100] [--image digit.png]

Without --image it sends a 28x28 PNG of the first MNIST test digit. Run by hand, never in CI.
"""
from __future__ import annotations

import argparse
import http.client
import io
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def default_png() -> bytes:
    from PIL import Image

    from mnistlab.data import load_dataset
    digit = load_dataset("mnist").x_test[0, :, :, 0].numpy()
    buf = io.BytesIO()
    Image.fromarray(255 - digit).save(buf, format="PNG")  # dark ink on white, like a drawing
    return buf.getvalue()


def start_server(run_dir: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "mnistlab", "serve", run_dir, "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # "serving RUN on http://127.0.0.1:PORT/  (Ctrl-C to stop)"
        m = re.search(r"http://[^:]+:(\d+)/", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
            return proc, int(m.group(1))
    raise SystemExit(f"the server did not start (exit {proc.wait()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--image", help="image file to send (default: an MNIST test digit as PNG)")
    args = ap.parse_args()

    from mnistlab.hardware import machine_line
    print(machine_line())
    body = open(args.image, "rb").read() if args.image else default_png()
    proc, port = start_server(args.run_dir)
    latencies, failures, lock = [], [], threading.Lock()
    start = threading.Barrier(args.clients)
    share = [args.requests // args.clients + (i < args.requests % args.clients) for i in range(args.clients)]

    def client(n: int) -> None:
        start.wait()
        for _ in range(n):
            t0 = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("POST", "/api/predict", body=body, headers={"Content-Type": "image/png"})
                res = conn.getresponse()
                res.read()
                conn.close()
                ok, why = res.status == 200, f"HTTP {res.status}"
            except OSError as err:
                ok, why = False, type(err).__name__
            with lock:
                (latencies.append(time.perf_counter() - t0) if ok else failures.append(why))

    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(client, share))
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait()
    lat = sorted(latencies)
    p95 = lat[max(0, int(round(0.95 * len(lat))) - 1)] if lat else float("nan")
    print(f"{args.requests} requests from {args.clients} clients in {wall:.1f} s "
          f"({len(lat) / wall:.0f} req/s): {len(failures)} failures"
          + (f" ({', '.join(sorted(set(failures)))})" if failures else ""))
    if lat:
        print(f"latency median {1000 * statistics.median(lat):.0f} ms, p95 {1000 * p95:.0f} ms, "
              f"max {1000 * lat[-1]:.0f} ms")


if __name__ == "__main__":
    main()
