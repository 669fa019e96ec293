"""CLI commands of this package (registered by mnistlab.cli): sweep, tune.

Each command is one `_add_<name>` function; `register` calls them in order, so a new
command is one more function and one more line there.
"""
from __future__ import annotations

from mnistlab.errors import count_arg
from mnistlab.models.costs import add_budget_arguments


def _add_sweep(sub, common) -> None:
    p = sub.add_parser(
        "sweep", parents=[common],
        help="run a grid of recipe variations, each repeated with its own seed (mean ± std)",
        description="Run a sweep file: every configuration of its grid/list, `repeats` times "
                    "with recorded seeds. Writes results.csv, summary.csv and an error-bar plot. "
                    "Started again, it runs only the trials that are missing (and retries failed "
                    "ones). See docs/sweeps.md.")
    p.add_argument("sweep_file", metavar="SWEEP.yaml")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="trials run in parallel processes; the CPU cores are divided between them")
    p.add_argument("--out", metavar="DIR", help="sweep directory (default: sweeps/<name>)")
    p.add_argument("--no-retry-failed", action="store_true",
                   help="leave trials that failed before as they are")
    p.add_argument("--storage", metavar="URL",
                   help="share the grid through this study storage (sqlite:///FILE or "
                        "postgresql://...): every process or machine running the same sweep "
                        "file against it takes the next untrained trial; results are gathered "
                        "there. Default: the trial folders under --out, one process")
    p.add_argument("--quiet", action="store_true", help="print no progress or table, only where the results are")
    _add_recipe_overrides(p)
    p.set_defaults(func=_sweep)


def _add_recipe_overrides(p) -> None:
    """`--set` and `--epochs`, exactly as `mnistlab train` takes them."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the base recipe, e.g. --set optimizer.lr=1e-3 (repeatable)")
    p.add_argument("--epochs", type=count_arg, metavar="N", help="epochs per trial (overrides the recipe)")


def _overrides(args) -> dict:
    from mnistlab.train.recipe import parse_set
    sets = parse_set(args.overrides)
    if args.epochs is not None:
        sets["epochs"] = args.epochs
    return sets


def _sweep(args) -> int:
    from mnistlab.sweeps.grid import run_sweep

    out = run_sweep(args.sweep_file, out=args.out, workers=args.workers, quiet=args.quiet,
                    retry_failed=not args.no_retry_failed, storage=args.storage,
                    overrides=_overrides(args))
    print(f"Sweep saved to {out}")
    return 0


def _add_tune(sub, common) -> None:
    p = sub.add_parser(
        "tune", parents=[common],
        help="tune recipe keys with Optuna (TPE, median pruning); shareable across machines",
        description="Run --trials trials of an Optuna study over the keys of a search space "
                    "file, reporting validation accuracy after each epoch so poor trials are "
                    "pruned. Run the same command in several processes or on several machines "
                    "(with --storage postgresql://...) to share one study. See docs/sweeps.md.")
    p.add_argument("recipe", metavar="RECIPE.yaml")
    p.add_argument("--space", required=True, metavar="SPACE.yaml", help="search space file")
    p.add_argument("--trials", type=int, required=True, metavar="N",
                   help="trials this process runs (0: only write the results of the study)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna RDB storage URL (default: SQLite file study.db in the study directory)")
    p.add_argument("--study", metavar="NAME", help="study name (default: the recipe name)")
    p.add_argument("--out", metavar="DIR", help="study directory (default: studies/<study>)")
    p.add_argument("--metric", default="max_val_accuracy",
                   choices=["max_val_accuracy", "val_accuracy", "min_val_loss", "val_loss"],
                   help="objective, measured on the validation split (default: max_val_accuracy)")
    p.add_argument("--sampler", default="tpe", choices=["tpe", "random"])
    p.add_argument("--pruner", default="median", choices=["median", "none"])
    p.add_argument("--seed", type=int, help="sampler seed (leave unset when several processes share a study)")
    p.add_argument("--quiet", action="store_true")
    _add_recipe_overrides(p)
    p.set_defaults(func=_tune)


def _tune(args) -> int:
    from mnistlab.sweeps.tuning import run_tune

    out = run_tune(args.recipe, args.space, trials=args.trials, storage=args.storage,
               study=args.study, out=args.out, metric=args.metric, sampler=args.sampler,
               pruner=args.pruner, seed=args.seed, quiet=args.quiet, overrides=_overrides(args))
    print(f"Study results in {out}")
    return 0


def register(sub, common) -> None:
    """Add this package's subcommands: sub.add_parser(NAME, parents=[common], help=...)."""
    _add_sweep(sub, common)
    _add_tune(sub, common)
    _add_search(sub, common)


def _add_search(sub, common) -> None:
    p = sub.add_parser(
        "search", parents=[common],
        help="search conv-net architectures for the best validation accuracy under a parameter budget",
        description="Optuna samples conv nets (3x3/1x1/separable convs, filters, BatchNorm, pooling, "
                    "GAP or dense head, dropout, activation); each is counted first and rejected "
                    "without training when over --max-params. The rest train on the training set "
                    "minus a validation split; the test set is used once, to report the Pareto front. "
                    "Writes pareto.csv, pareto.png and a recipe per front member. Shares studies "
                    "across processes/machines like `mnistlab tune`. See docs/records.md.")
    p.add_argument("--max-params", type=count_arg, required=True, metavar="N",
                   help="parameter budget (Keras count, BatchNorm statistics included)")
    add_budget_arguments(p, params=False)
    p.add_argument("--dataset", default="mnist", help="built-in name or path (default: mnist)")
    p.add_argument("--epochs", type=count_arg, default=3, metavar="E", help="epochs per candidate (default: 3)")
    p.add_argument("--trials", type=count_arg, default=20, metavar="T",
                   help="candidates this process trains; rejected ones do not count (default: 20)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna RDB storage URL (default: SQLite file study.db in the search directory)")
    p.add_argument("--study", metavar="NAME", help="study name (default: search-<dataset>-<N>)")
    p.add_argument("--out", default="searches", metavar="DIR", help="parent directory (default: searches)")
    p.add_argument("--validation-split", type=float, default=0.1, metavar="F",
                   help="last fraction of the training set used for model selection (default: 0.1)")
    p.add_argument("--recipe", metavar="RECIPE.yaml",
                   help="training keys for every candidate (optimizer, batch_size, augment, callbacks, ...); "
                        "default: SGD nesterov 0.05, OneCycle, batch 128")
    p.add_argument("--seed", type=int, default=0, help="sampler seed; trial N trains with seed+N")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_search)


def _search(args) -> int:
    from mnistlab.sweeps.search import SearchConfig, run_search
    from mnistlab.train.recipe import read_yaml
    from pathlib import Path

    base = read_yaml(Path(args.recipe)) if args.recipe else None
    cfg = SearchConfig(max_params=args.max_params, max_macs=args.max_macs, max_ram_bytes=args.max_ram_bytes,
                       max_flash_bytes=args.max_flash_bytes, dataset=args.dataset, epochs=args.epochs,
                       trials=args.trials, validation_split=args.validation_split, seed=args.seed,
                       base=base, quiet=args.quiet)
    out = run_search(cfg, study=args.study, storage=args.storage, out=args.out)
    print(f"Search results in {out}")
    return 0
