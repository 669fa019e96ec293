"""CLI: `mnistlab train RECIPE [--set k=v ...]`, `mnistlab train --model ZOO_NAME`,
`mnistlab train --resume RUN_DIR`; `mnistlab recipes list|copy` for the packaged recipes."""
from __future__ import annotations

import argparse

# `mnistlab train --model NAME` without a recipe: a short, sensible Keras-style run.
QUICK_DEFAULTS = {"optimizer": {"name": "adam", "lr": 0.001}, "batch_size": 128, "epochs": 5,
                  "data": {"validation_split": 0.1}}

EPILOG = """\
examples:
  mnistlab train nb000-cnn --epochs 3               # a packaged recipe, by name, from any folder
  mnistlab train recipes/nb000-cnn.yaml --epochs 3
  mnistlab train recipes/nb002-cnn.yaml --set optimizer.lr=0.002 --set callbacks.early_stopping.patience=3
  mnistlab train --model nb002-cnn --dataset fashion-mnist --epochs 2
  mnistlab train --resume runs/20250101-120000-nb000-cnn

without a recipe, --model trains with: adam (lr 0.001), batch size 128, 5 epochs,
validation_split 0.1 (Keras: the last 10% of the training set), seed 0, device auto,
no callbacks. Every recipe key can be changed with --set KEY=VALUE (dots for nested keys).
"""


def register(sub, common) -> None:
    p = sub.add_parser("train", parents=[common], help="train a model from a recipe (or a zoo model)",
                       description="Train a model and write runs/<timestamp>-<name>/ (config.yaml, "
                                   "history.csv, metrics.json, model.safetensors, checkpoint.pt, report.html).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", metavar="RECIPE",
                   help="a recipe file, or the name of a packaged recipe (see `mnistlab recipes list`)")
    p.add_argument("--model", metavar="ZOO_NAME", help="train a zoo model with the defaults below (no recipe)")
    p.add_argument("--dataset", metavar="NAME_OR_PATH", help="dataset for --model (default: mnist)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. --set optimizer.lr=0.01 (repeatable)")
    p.add_argument("--epochs", type=int, metavar="N", help="number of epochs (overrides the recipe)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (overrides the recipe)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="device (default: the recipe's, auto)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's, all cores)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                   help="auto (default): on a CPU with native bf16 (AVX512-BF16/AMX) the faster of the two for "
                        "this model and batch, timed once and cached (mnistlab doctor); bf16 on a bf16 GPU; else fp32")
    p.add_argument("--kernels", choices=["auto", "torch", "fused"],
                   help="the CPU max-pool/ReLU/dropout tail: auto (default): the fused native kernels where they "
                        "time clearly faster for this model and batch, timed once and cached (mnistlab doctor), "
                        "else torch's ops; torch: torch's ops; fused: the kernels wherever they apply")
    p.add_argument("--out", default="runs", metavar="DIR", help="where run directories go (default: runs)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run from its last checkpoint; with --epochs N, train a "
                        "finished run on to N epochs in all (like calling Keras fit again)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    p.add_argument("--no-report", action="store_true", help="skip report.html and plots/ at the end")
    p.set_defaults(func=_train)

    d = sub.add_parser("doctor", parents=[common], help="this machine's speed facts and cached auto choices",
                       description="Print the machine line (CPU model, the ISA flags that matter for speed, "
                                   "torch's version and threads), the CPU tail path, and the `precision: auto` "
                                   "and `kernels: auto` choices cached for it. With --measure, time a recipe's "
                                   "training step now (fp32 against bf16, torch's ops against the fused tail, "
                                   "where auto would) and replace its cached choices.")
    d.add_argument("--measure", metavar="RECIPE",
                   help="a recipe file or packaged recipe name (e.g. nb000-cnn, fast) to re-measure")
    d.add_argument("--batch-size", type=int, metavar="N", help="with --measure: the batch size (default: the recipe's)")
    d.add_argument("--threads", type=int, metavar="N", help="with --measure: CPU threads (default: torch's)")
    d.set_defaults(func=_doctor)

    r = sub.add_parser("recipes", parents=[common], help="list the packaged recipes or copy one to edit",
                       description="The recipes shipped with mnistlab; any of them trains by name "
                                   "(mnistlab train NAME) from any folder.")
    rs = r.add_subparsers(dest="recipes_command", required=True, metavar="ACTION")
    rs.add_parser("list", help="the packaged recipe names").set_defaults(func=_recipes_list)
    c = rs.add_parser("copy", help="copy a packaged recipe into a folder")
    c.add_argument("name", help="recipe name, e.g. nb002-cnn")
    c.add_argument("dest", nargs="?", default=".", metavar="DIR", help="target folder (default: .)")
    c.set_defaults(func=_recipes_copy)


def _recipes_list(args) -> int:
    from mnistlab.recipes import names
    print("\n".join(names()))
    return 0


def _recipes_copy(args) -> int:
    from mnistlab.recipes import copy
    print(copy(args.name, args.dest))
    return 0


def _doctor(args) -> int:
    import contextlib

    import torch

    from mnistlab.errors import MnistlabError
    from mnistlab.hardware import machine_line, precision_auto
    from mnistlab.models import fused
    from mnistlab.train import kernels, load_recipe, precision
    from mnistlab.train.session import Session

    if args.measure is None and (args.batch_size is not None or args.threads is not None):
        raise MnistlabError("--batch-size and --threads go with --measure RECIPE (e.g. mnistlab doctor "
                            "--measure nb000-cnn --batch-size 256)")
    print(machine_line())
    auto = precision_auto(torch.device("cpu"))
    print("precision auto on this CPU: " + {
        "measure": "timed per model and batch (native bfloat16), fp32 unless bf16 is clearly faster",
        "fp32": "fp32 (no native bfloat16, or an ISA limit below it; not measured)"}.get(auto, auto))
    built, how = fused.status()
    print("CPU max-pool / ReLU / dropout tail (kernels auto): " + (
        f"fused native kernels ({how}), timed against torch's ops per model and batch; the fused tail "
        "where clearly faster" if built else
        f"torch ops: {how} (nothing to time; kernels: fused runs torch's ops too)"))
    if torch.cuda.is_available():
        print(f"precision auto on {torch.cuda.get_device_name(0)}: {precision_auto(torch.device('cuda'))} "
              "(bf16 where the GPU runs it natively; not measured); kernels auto: torch (the kernels are CPU code)")
    if args.measure is not None:
        if auto != "measure" and not built:
            raise MnistlabError("nothing to measure: this CPU has no native bfloat16, so precision auto is "
                                "fp32 (force bf16 with --set precision=bf16 to time it yourself), and the fused "
                                f"kernels do not build here ({how}), so kernels auto is torch")
        recipe = load_recipe(args.measure, batch_size=args.batch_size, threads=args.threads,
                             precision="auto", kernels="auto", device="cpu", compile=False)
        with contextlib.ExitStack() as cleanup:
            s = Session(recipe, None, cleanup, remeasure=True)
            where = f"{s.cfg['name']}, batch {s.cfg['batch_size']}"
            if "precision" in s.notes:
                print(f"{where}: {s.cfg['precision']} ({s.notes['precision']})")
            print(f"{where}: {s.cfg['kernels']} tail ({s.notes['kernels']})")
    for line in precision.cache_lines() + kernels.cache_lines():
        print(line)
    return 0


def _train(args) -> int:
    from mnistlab.errors import MnistlabError
    from mnistlab.train import train_run, load_recipe

    if args.resume:
        recipe_options = [name for name, given in (
            ("RECIPE", args.recipe), ("--model", args.model), ("--set", args.overrides),
            ("--dataset", args.dataset), ("--precision", args.precision), ("--kernels", args.kernels),
            ("--seed", args.seed is not None)) if given]
        if recipe_options:
            raise MnistlabError(f"--resume continues a run with its own config.yaml; drop {', '.join(recipe_options)} "
                                "(--epochs N extends it; --threads, --device, --quiet, --no-report apply)")
        return _report(lambda: train_run(resume=args.resume, quiet=args.quiet, epochs=args.epochs,
                                   threads=args.threads, device=args.device), args)
    if bool(args.recipe) == bool(args.model):
        raise MnistlabError("give a recipe (mnistlab train RECIPE.yaml) or --model ZOO_NAME, not both or neither")
    if args.model:
        source = {"model": args.model, **QUICK_DEFAULTS,
                  "data": {**QUICK_DEFAULTS["data"], "dataset": args.dataset or "mnist"}}
    else:
        if args.dataset:
            args.overrides = [f"data.dataset={args.dataset}", *args.overrides]
        source = args.recipe
    recipe = load_recipe(source, args.overrides, epochs=args.epochs, seed=args.seed, device=args.device,
                         threads=args.threads, precision=args.precision, kernels=args.kernels)
    return _report(lambda: train_run(recipe, out=args.out, quiet=args.quiet), args)


def _report(train, args) -> int:
    """Train, then write the run's report.html + plots/ (unless --no-report): composed here, so
    train never imports evaluate. A diverged run is kept and reported, then fails."""
    from mnistlab.train.training import Diverged
    try:
        run_dir, failure = train(), None
    except Diverged as err:
        run_dir, failure = err.run_dir, err
    if not args.no_report and run_dir is not None:
        from mnistlab.evaluation.report import report_line
        report_line(run_dir, print if not args.quiet else (lambda *a: None))
    if failure is not None:
        raise failure
    return 0
