"""Matplotlib figures rendered off-screen and written atomically.

Uses the object API (`Figure` + Agg canvas), so it never touches pyplot's
global backend or state.
"""

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from zoo.io import atomic_write_bytes


def new_figure(size=(4.5, 4.5)):
    """A Figure with one Axes: (fig, ax)."""
    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def save_png(fig, path):
    """Render `fig` to PNG bytes in memory, then write them atomically to `path`."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())
