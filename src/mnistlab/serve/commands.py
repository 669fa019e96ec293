"""CLI: `mnistlab export`, `mnistlab predict`, `mnistlab serve` (registered by mnistlab.cli)."""
from __future__ import annotations

import json
from pathlib import Path


def register(sub, common) -> None:
    p = sub.add_parser("export", parents=[common],
                       help="export a run's model to ONNX (checked with onnxruntime), optionally int8")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", choices=["onnx", "c", "keras"], default="onnx",
                   help="onnx (default); c: DIR/model.h + DIR/model.c, portable C99 for a microcontroller, "
                        "compiled and checked on the test set; keras: a Keras 3 .keras file "
                        "(keras.saving.load_model reads it)")
    p.add_argument("--precision", choices=["int8", "fp32"], default=None,
                   help="with --format c: int8 weights and activations (default) or float")
    p.add_argument("--int8", action="store_true",
                   help="also write FILE.int8.onnx (static quantisation calibrated on training "
                        "images) and compare accuracy, size and latency with fp32")
    p.add_argument("--out", metavar="FILE", help="where to write the model (default: RUN_DIR/model.onnx, "
                                                  "RUN_DIR/model.keras; with --format c a folder, default RUN_DIR/c)")
    p.set_defaults(func=export_cmd)

    p = sub.add_parser("predict", parents=[common],
                       help="classify image files (PNG, JPEG, ...) with a trained run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("images", metavar="IMAGE", nargs="+")
    p.add_argument("--top", type=int, default=3, metavar="K", help="how many classes to show (default: 3)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=predict_cmd)

    p = sub.add_parser("serve", parents=[common],
                       help="a local web page to draw digits and see the run's predictions live")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: 8000; 0 = any free)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.set_defaults(func=serve_cmd)


def export_cmd(args) -> int:
    from mnistlab.errors import MnistlabError
    if args.format == "keras":
        if args.int8 or args.precision is not None:
            raise MnistlabError("--int8 and --precision do not apply to --format keras (a float32 Keras model); "
                                "drop them")
        from mnistlab.serve.export_keras import export_run_keras
        print(f"Keras model: {export_run_keras(args.run_dir, args.out)}")
        return 0
    from mnistlab.serve.export import require_export_extra
    require_export_extra()  # both formats translate the ONNX graph: say so before any work
    if args.format == "c":
        from mnistlab.serve.export_c import export_run_c
        return 0 if export_run_c(args.run_dir, args.out, precision=args.precision or "int8").ok else 1
    from mnistlab.serve.export import export_run
    result = export_run(args.run_dir, args.out, int8=args.int8)
    if not result.parity.ok:
        print("the ONNX model does not match PyTorch closely enough; please report this as a bug")
        return 1
    return 0


def predict_cmd(args) -> int:
    from mnistlab.errors import MnistlabError
    from mnistlab.serve.predict import Predictor, format_predictions
    if args.top < 1:
        raise MnistlabError(f"--top {args.top}: must be at least 1")
    preds = Predictor.from_run(args.run_dir).predict(args.images, top=args.top)
    if args.json:
        print(json.dumps([p.to_dict() for p in preds], indent=2))
    else:
        print(format_predictions(preds))
    return 2 if any(p.error for p in preds) else 0  # bad input: the README's exit 2


def serve_cmd(args) -> int:
    from mnistlab.serve.web import serve
    if not Path(args.run_dir).is_dir():
        from mnistlab.errors import MnistlabError
        raise MnistlabError(f"{args.run_dir}: no such run directory; pass a directory made by `mnistlab train`")
    serve(args.run_dir, host=args.host, port=args.port)
    return 0
