"""`mnistlab reproduce 004 --compare-groupings`: which 5-class grouping was notebook 004's file?

For every candidate in fashion5.CANDIDATES (the pairings, and the two closest binarised): both of the notebook's models (the BN-CNN and
resnet_v1 depth 2) at the notebook's settings and split (54,000 / 3,000 / 3,000,
train_test_split random_state 0, via recipes/nb004-*.yaml), seeds as `reproduce 004` runs
them, plus the linear probe (reproduce.probe). The runs are the same runs `reproduce 004
--grouping NAME` makes and reuses, in the same folders. The table ranks the candidates by
their distance to the notebook's 85.13% / 73.47%.
"""
from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path


from mnistlab.io import write_cache
from mnistlab.data import fashion5
from mnistlab.reproduce import runner
from mnistlab.reproduce.notebooks import NB004

HEADER = ("| grouping | classes 1..5 | BN-CNN test acc (mean ± std, n) | Δ to 85.13 (pp) "
          "| ResNet test acc (mean ± std, n) | Δ to 73.47 (pp) | distance (pp) "
          "| linear probe test / train |")
RULE = "|---|---|---|---|---|---|---|---|"
CSV_COLUMNS = ["grouping", "classes", "bn_cnn_mean", "bn_cnn_std", "bn_cnn_n", "bn_cnn_delta_pp",
               "resnet_mean", "resnet_std", "resnet_n", "resnet_delta_pp", "distance_pp",
               "probe_test", "probe_train"]


def distance(deltas: list[float | None]) -> float | None:
    """sqrt(Δ_BN-CNN² + Δ_ResNet²) in pp: one number to rank the candidates by."""
    if any(d is None for d in deltas):
        return None
    return math.sqrt(sum(d * d for d in deltas))


def probe(base: Path, grouping: str, *, limit: int | None = None) -> dict:
    """The linear probe of one grouping's data, kept in probe-<grouping>.json beside its file.
    It probes fashion5.arrays(grouping), what fashion5.build wrote into the file, rebuilt in
    memory: the pickled file itself is never unpickled here. `limit`: the first images only
    (--quick's file holds runner.QUICK_TRAIN)."""
    from mnistlab.reproduce.probe import linear_probe

    cache = Path(base) / f"probe-{grouping}.json"
    stamp = {"grouping": grouping, "pairs": [list(p) for p in fashion5.pairs_of(grouping)],
             "binary": fashion5.is_binary(grouping), "limit": limit}
    if cache.is_file():
        old = json.loads(cache.read_text())
        if old.get("data") == stamp:
            return old
    obj = fashion5.arrays(grouping, limit=limit)
    out = {**linear_probe(obj["features"], obj["target"]), "data": stamp}
    write_cache(cache, json.dumps(out, indent=1))
    return out


def _stats(accs: list[float]) -> tuple[float | None, float | None, int]:
    mean = statistics.fmean(accs) if accs else None
    return mean, (statistics.stdev(accs) if len(accs) > 1 else None), len(accs)


def candidate_row(grouping: str, results: list, probe_result: dict | None) -> dict:
    by_key = {r.exp.key: r for r in results}
    row = {"grouping": grouping, "classes": fashion5.describe(grouping)}
    deltas = []
    for key, col in (("bn-cnn", "bn_cnn"), ("resnet", "resnet")):
        res = by_key.get(key)
        mean, std, n = _stats(res.accuracies if res else [])
        nb = res.exp.accuracy if res else next(e.accuracy for e in NB004 if e.key == key)
        delta = None if mean is None else 100 * (mean - nb)
        row.update({f"{col}_mean": mean, f"{col}_std": std, f"{col}_n": n, f"{col}_delta_pp": delta})
        deltas.append(delta)
    row["distance_pp"] = distance(deltas)
    row["probe_test"] = probe_result["test"] if probe_result else None
    row["probe_train"] = probe_result["train"] if probe_result else None
    return row


def _acc(mean, std, n) -> str:
    if mean is None:
        return "-"
    return f"{100 * mean:.2f}%" + (f" ± {100 * std:.2f}" if std is not None else "") + f" (n={n})"


def _pp(x) -> str:
    return "-" if x is None else f"{x:+.2f}"


def markdown(rows: list[dict], *, machine: str, command: str, runs_line: str, quick: bool) -> str:
    ranked = sorted(rows, key=lambda r: (r["distance_pp"] is None, r["distance_pp"] or 0.0))
    lines = ["## Notebook 004: candidate groupings of Fashion-MNIST into 5 classes"
             + (" (--quick: wiring only, numbers mean nothing)" if quick else ""), "",
             f"Command: `{command}`  ", f"{machine[:1].upper()}{machine[1:]}  ", f"{runs_line}  ",
             "Notebook 004 (seed): BN-CNN 85.13%, ResNet (resnet_v1 depth 2) 73.47% on its 3,000 "
             "test images; split 54,000 / 3,000 / 3,000 (train_test_split, random_state 0). "
             "distance = sqrt(Δ_BN-CNN² + Δ_ResNet²), closest first. The linear probe is a "
             "logistic regression on the pixels (reproduce/probe.py): the notebook's ResNet is a "
             "linear model, so its accuracy should sit near the probe's.", "", HEADER, RULE]
    for r in ranked:
        probe_text = "-" if r["probe_test"] is None else \
            f"{100 * r['probe_test']:.2f}% / {100 * r['probe_train']:.2f}%"
        dist = "-" if r["distance_pp"] is None else f"{r['distance_pp']:.2f}"
        lines.append(f"| {r['grouping']} | {r['classes']} "
                     f"| {_acc(r['bn_cnn_mean'], r['bn_cnn_std'], r['bn_cnn_n'])} | {_pp(r['bn_cnn_delta_pp'])} "
                     f"| {_acc(r['resnet_mean'], r['resnet_std'], r['resnet_n'])} | {_pp(r['resnet_delta_pp'])} "
                     f"| {dist} | {probe_text} |")
    return "\n".join(lines + [""])


def to_csv(rows: list[dict], *, machine: str, command: str) -> str:
    buf = io.StringIO()
    buf.write(f"# Command: {command}\n# {machine[:1].upper()}{machine[1:]}\n")
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r.get(k) is None else r[k] for k in CSV_COLUMNS})
    return buf.getvalue()


def compare(*, out=None, quick: bool = False, seeds: int | None = None,
            names: list[str] | None = None,
            precision: str | None = None) -> tuple[list[dict], list]:
    """Train both notebook-004 models on each candidate grouping; (candidate rows, all Results)."""
    base = runner.output_dir("004", out, quick)
    rows, every = [], []
    for name in names or fashion5.CANDIDATES:
        fashion5.target_of_label(name)
        data = runner.DataCache(quick, base, name)
        with runner.each_warning_once():
            results = runner.run_experiments(runner.with_precision(list(NB004), precision),
                                             data, runner.runs_dir("004", base, name),
                                             quick, seeds)
        rows.append(candidate_row(name, results,
                                  probe(base, name, limit=runner.QUICK_TRAIN if quick else None)))
        every += results
    return rows, every
