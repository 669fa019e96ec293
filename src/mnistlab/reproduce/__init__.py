"""`mnistlab reproduce NOTEBOOK`: run a notebook's experiments end to end (issue 7).

notebooks.py holds what each notebook did and reported, runner.py runs it through
mnistlab.train / mnistlab.sweep, table.py writes the notebook-vs-ours table (verdict.py: the
within-the-spread rule), epochs.py the seeds' printed per-epoch logs (seedlogs.py,
seed_epochs.json) beside ours, epoch by epoch and as figures, groupings.py and probe.py compare
the candidate groupings of notebook 004's 5-class data file (mnistlab/data/fashion5.py
rebuilds it under each).
"""
from __future__ import annotations


def register(sub, common) -> None:
    p = sub.add_parser(
        "reproduce", parents=[common],
        help="run one notebook's experiments and write a notebook-vs-ours table",
        description="Run every experiment of notebook 000-004 with its exact settings "
                    "(recipes/nb*.yaml), 3 or 5 seeds per row, and write "
                    "reproduce/<nb>/<quick|full>/table.md and table.csv. Finished runs in the "
                    "output folder are reused, so an interrupted reproduction resumes.")
    p.add_argument("notebook", help="000, 001, 002, 003 or 004")
    p.add_argument("--quick", action="store_true",
                   help="1 epoch on 512 images per experiment, 1 seed unless --seeds (for CI: "
                        "wiring and exact parameter counts, not accuracy)")
    p.add_argument("--seeds", type=int, metavar="N",
                   help="seeds per experiment (default: 3, or 5 for rows of a few minutes; "
                        "003's L2 sweep: its 3 repeats; see docs/reproduce.md)")
    p.add_argument("--only", nargs="+", metavar="EXPERIMENT",
                   help="run only these rows (chain steps pull in the steps they continue)")
    p.add_argument("--grouping", metavar="NAME",
                   help="notebook 004: which pairing of Fashion-MNIST's ten classes makes the "
                        "5-class file (look-alike, k+5, 2k+1, random-0, probe-hardest; each also as "
                        "NAME-binary, pixels rounded to 0/1; default: probe-hardest-binary, the closest "
                        "to the notebook's numbers)")
    p.add_argument("--compare-groupings", action="store_true",
                   help="notebook 004: train both models on every candidate grouping and write "
                        "reproduce/004/<quick|full>/groupings/table.md")
    p.add_argument("--groupings", nargs="+", metavar="NAME",
                   help="with --compare-groupings: only these candidates (default: the five pairings "
                        "and probe-hardest-binary, k+5-binary)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"),
                   help="train every run in this precision (default: each recipe's own, auto: "
                        "timed per model on this machine; the seeds trained in fp32). Runs of "
                        "another precision in the output folder are not reused")
    p.add_argument("--out", metavar="DIR", help="output folder (default: reproduce/<nb>)")
    p.set_defaults(func=_cmd_reproduce)


def command_line(args, nb: str) -> str:
    """The exact command that writes this table again."""
    from mnistlab.reproduce.table import command_line as line

    return line(nb, quick=args.quick, seeds=args.seeds, only=args.only, grouping=args.grouping,
                compare_groupings=args.compare_groupings, groupings=args.groupings,
                out=args.out, precision=args.precision)


def _check(args, nb: str) -> None:
    from mnistlab.errors import MnistlabError

    if args.seeds is not None and args.seeds < 1:
        raise MnistlabError(f"--seeds must be at least 1, got {args.seeds}")
    if (args.grouping or args.compare_groupings) and nb != "004":
        flag = "--grouping" if args.grouping else "--compare-groupings"
        raise MnistlabError(f"{flag} is about notebook 004's 5-class data; notebook {nb} has none")
    if args.compare_groupings and (args.grouping or args.only):
        raise MnistlabError("--compare-groupings trains both models on every grouping; drop "
                            f"{'--grouping' if args.grouping else '--only'}")
    if args.groupings and not args.compare_groupings:
        raise MnistlabError("--groupings names the candidates --compare-groupings trains; add "
                            "--compare-groupings, or use --grouping NAME for one")
    from mnistlab.data import fashion5
    for name in [args.grouping] if args.grouping else args.groupings or []:
        fashion5.target_of_label(name)


def _cmd_reproduce(args) -> int:
    from pathlib import Path

    from mnistlab.hardware import machine_line
    from mnistlab.reproduce import epochs, runner, table

    nb = args.notebook.zfill(3)
    _check(args, nb)
    command = command_line(args, nb)
    if args.compare_groupings:
        return _compare(args, command)
    results, seconds = runner.run_notebook(nb, quick=args.quick, out=args.out, seeds=args.seeds,
                                           only=args.only, grouping=args.grouping,
                                           precision=args.precision)
    summaries = [table.summary(r) for r in results]
    machine = machine_line()
    text = table.markdown(nb, summaries, quick=args.quick, total_seconds=seconds,
                          machine=machine, command=command)
    csv_text = table.to_csv(summaries, machine=machine, command=command, quick=args.quick)
    out_dir = runner.output_dir(nb, args.out, args.quick)
    if args.grouping:
        out_dir = out_dir / "groupings" / args.grouping
    path = table.write(Path(out_dir), text, summaries, csv_text)
    curves = epochs.write(Path(out_dir), nb, results, quick=args.quick)
    print(text)
    print(f"table written to {path} (and {path.with_suffix('.csv').name})")
    if curves:
        print(f"the seed's printed epochs beside ours: {curves[0]} (and {curves[1].name}, "
              f"{', '.join(p.name for p in curves[2:])})")
    bad = [s["experiment"] for s in summaries if not s["params_equal"]]
    if bad:
        print(f"parameter counts differ from the notebook for: {', '.join(bad)}")
        return 1
    return 0


def _compare(args, command: str) -> int:
    from mnistlab.hardware import machine_line
    from mnistlab.io import write_atomic
    from mnistlab.reproduce import groupings, runner, table

    rows, results = groupings.compare(out=args.out, quick=args.quick, seeds=args.seeds,
                                      names=args.groupings, precision=args.precision)
    machine = machine_line()
    runs = table.runs_line([table.summary(r) for r in results]).capitalize()
    text = groupings.markdown(rows, machine=machine, command=command, runs_line=runs, quick=args.quick)
    out_dir = runner.output_dir("004", args.out, args.quick) / "groupings"
    write_atomic(out_dir / "table.md", text)
    write_atomic(out_dir / "table.csv", groupings.to_csv(rows, machine=machine, command=command))
    print(text)
    print(f"candidate table written to {out_dir / 'table.md'} (and table.csv)")
    return 0
