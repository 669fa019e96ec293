"""A reproduction as an example notebook holds it: the same runs and the same table as
`mnistlab reproduce NB`, as one object.

`Reproduction.run("001", out="../reproduce/001")` trains what the output folder does not hold
yet and reuses the rest, exactly as the command does (runner.run_notebook), so a notebook
executed after `mnistlab reproduce 001` shows that command's runs instead of training them
again. The object renders as the notebook-vs-ours table (table.markdown), in a notebook and
as text alike, hands out each row's runs as `mnistlab.Run`s for their curves, confusion
matrices and reports, and the seed's printed training curves beside ours (reproduce.epochs:
`curves(row)`, a Figure, and `epochs()`, the per-epoch verdict table).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from mnistlab.errors import MnistlabError
from mnistlab.reproduce import runner, table
from mnistlab.reproduce.table import command_line


@dataclasses.dataclass(repr=False)
class Reproduction:
    nb: str
    results: list          # runner.Result, one per row
    seconds: float         # this call's wall time (reused runs cost nothing)
    quick: bool
    command: str
    machine: str

    @classmethod
    def run(cls, nb: str, *, quick: bool = False, out=None, seeds: int | None = None,
            only: list[str] | None = None, grouping: str | None = None,
            precision: str | None = None) -> "Reproduction":
        from mnistlab.hardware import machine_line

        nb = str(nb).zfill(3)
        if seeds is not None and seeds < 1:
            raise MnistlabError(f"seeds must be at least 1, got {seeds}")
        results, seconds = runner.run_notebook(nb, quick=quick, out=out, seeds=seeds, only=only,
                                               grouping=grouping, precision=precision)
        command = command_line(nb, quick=quick, seeds=seeds, only=only, grouping=grouping, out=out,
                               precision=precision)
        return cls(nb, results, seconds, quick, command, machine_line())

    @property
    def summaries(self) -> list[dict]:
        return [table.summary(r) for r in self.results]

    def row(self, experiment: str) -> dict:
        """One row's numbers (table.summary): accuracies per seed, mean, std, verdicts."""
        for r in self.results:
            if r.exp.key == experiment:
                return table.summary(r)
        raise MnistlabError(f"no row {experiment!r} here; rows: "
                            f"{', '.join(r.exp.key for r in self.results)}")

    def runs(self, experiment: str) -> list:
        """That row's run folders as mnistlab.Run, seed order (sweep rows: one per repeat)."""
        from mnistlab.api import Run

        return [Run(Path(p)) for p in self.row(experiment)["runs"]]

    def _result(self, experiment: str):
        for r in self.results:
            if r.exp.key == experiment:
                return r
        self.row(experiment)  # the one wording of an unknown row

    def curves(self, experiment: str):
        """A Figure: the seed's printed loss and accuracy per epoch (training and validation)
        beside our mean over the seeds with a min-max band, as `mnistlab reproduce` writes
        curves-<row>.png."""
        from mnistlab.reproduce import epochs, seedlogs

        fig = epochs.curves_figure(self.nb, self._result(experiment))
        if fig is None:
            printed = seedlogs.rows_with_logs(self.nb)
            raise MnistlabError(f"notebook {self.nb}'s seed printed no per-epoch log for "
                                f"{experiment!r}; rows with one: {', '.join(printed) or 'none'}")
        return fig

    def epochs(self) -> str:
        """The per-epoch verdict table (markdown) of every row whose seed printed its epochs,
        as `mnistlab reproduce` writes epochs.md."""
        from mnistlab.reproduce import epochs

        rows = [r for res in self.results for r in epochs.epoch_rows(self.nb, res, quick=self.quick)]
        return epochs.markdown(self.nb, rows, quick=self.quick)

    def markdown(self) -> str:
        return table.markdown(self.nb, self.summaries, quick=self.quick,
                              total_seconds=self.seconds, machine=self.machine,
                              command=self.command,
                              wall_line=f"This call: {self.seconds:.0f} s (runs finished earlier are "
                                        "reused; the wall time column is each row's own training "
                                        "time, summed over its seeds).")

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __str__(self) -> str:
        return self.markdown()

    # the table, not a dataclass dump of every run's path (what a notebook cell's last line shows)
    __repr__ = __str__
