"""How objects show themselves: in a Jupyter/Colab kernel as HTML, in a terminal as text.

Kept free of torch and matplotlib at import time, so `import mnistlab` stays cheap.
"""
from __future__ import annotations

import base64
import html
import io
import sys


def in_notebook() -> bool:
    """True inside a Jupyter or Colab kernel (which never has a TTY on stderr)."""
    ipython = sys.modules.get("IPython")  # only if the user's process already loaded it
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # an IPython too old or half-initialised: treat as plain Python
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def widgets_render() -> bool:
    """True where a live progress widget can show: a Jupyter/Colab/VS Code kernel with
    ipywidgets installed, whose frontend is not a Qt console or Spyder (they draw text).

    Checked by mnistlab itself, not left to tqdm.auto: without ipywidgets it prints a
    TqdmWarning on every bar and then draws text bars that leave blank stderr blocks."""
    import importlib.util
    import os
    if not in_notebook():
        return False
    if any(k == "QT_API" or k.startswith("SPYDER") for k in os.environ):
        return False  # the same frontends tqdm.autonotebook treats as consoles
    try:
        return importlib.util.find_spec("ipywidgets") is not None
    except (ImportError, ValueError):  # a broken or half-removed install
        return False


def notebook_bar(total: int, desc: str):
    """A tqdm widget bar that leaves nothing behind: closing it empties its output, so a
    saved notebook keeps no stale bar (tqdm's own widget keeps its text as text/plain)."""
    from IPython.display import display
    from tqdm.notebook import tqdm

    class Bar(tqdm):
        def close(self):
            super().close()
            handle, self._handle = getattr(self, "_handle", None), None
            if handle is not None:
                handle.update({"text/plain": ""}, raw=True)

    bar = Bar(total=total, desc=desc, unit="step", leave=False, display=False)
    bar._handle = display(bar.container, display_id=True)
    return bar


def rotate_crowded_ticks(ax, rotation: int = 30) -> None:
    """Turn an axis' x tick labels when two of them would overlap (swept values close
    together on a log axis: 0.0005 and 0.001); measured on the laid-out figure."""
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    if not labels:
        return
    ax.figure.draw_without_rendering()
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.x0)
    gap = 0.5 * labels[0].get_fontsize() * ax.figure.dpi / 72  # closer than half an em reads as one label
    if any(a.x1 + gap > b.x0 for a, b in zip(boxes, boxes[1:])):
        for t in labels:
            t.set_rotation(rotation)
            t.set_horizontalalignment("right")
            t.set_rotation_mode("anchor")


def figure_png(fig, dpi: int = 80) -> bytes:
    """PNG bytes of a matplotlib Figure; the modest dpi keeps notebooks small."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def figure_img(fig, dpi: int = 80) -> str:
    """An <img> tag with the figure inlined, then the figure closed (no double display)."""
    import matplotlib.pyplot as plt
    data = base64.b64encode(figure_png(fig, dpi)).decode("ascii")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{data}"/>'


def html_table(header, rows, caption: str | None = None) -> str:
    """A plain HTML table; cells are escaped, numbers right-aligned."""
    def cell(tag, v):
        align = ' style="text-align:right"' if isinstance(v, (int, float)) else ""
        return f"<{tag}{align}>{html.escape(str(v))}</{tag}>"
    head = "".join(cell("th", h) for h in header)
    body = "".join("<tr>" + "".join(cell("td", v) for v in r) + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def pre(text: str) -> str:
    """Monospaced text for HTML (the Keras tables line up in columns)."""
    return f"<pre>{html.escape(text)}</pre>"


def enable_notebook_figures() -> None:
    """In a Jupyter/Colab kernel, show returned matplotlib Figures as PNG (modest dpi).

    IPython registers its Figure formatter only once pyplot or %matplotlib is used; mnistlab
    builds figures without pyplot (no global state), so it registers the formatter itself."""
    if not in_notebook():
        return
    import IPython
    from IPython.core.pylabtools import select_figure_formats
    from matplotlib.figure import Figure
    shell = IPython.get_ipython()
    png = shell.display_formatter.formatters["image/png"]
    if Figure not in png.type_printers:
        select_figure_formats(shell, {"png"}, dpi=80, bbox_inches="tight")
