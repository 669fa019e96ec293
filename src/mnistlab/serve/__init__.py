"""Use a trained run: ONNX/int8 export, prediction on real images, a draw-a-digit web page.

    from mnistlab.serve.predict import Predictor, preprocess
    Predictor.from_run(run_dir).predict(["photo.jpg"], top=3)   # per-file results or errors
    preprocess("photo.jpg")                                      # uint8 (28, 28), MNIST-style

    from mnistlab.serve.export import export_run                 # ONNX + parity check (+ int8)
    from mnistlab.serve.web import make_server, serve            # http.server, JSON API

Heavy modules (torch, onnxruntime) load only when these submodules are imported.
"""
