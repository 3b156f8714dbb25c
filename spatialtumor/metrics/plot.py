"""A figure of a run's spatial metrics (matplotlib, no pyplot state), from ``metrics.csv``.

Panels: immune density in the tumour centre and at the margin (section-equivalent, with
the immunotype thresholds), the immunotype over time, infiltration depth, nearest-neighbour
distances between immune and tumour cells, and the pair correlation g(r) and normalised
K(r) of the last snapshot. Kind colours are those of the pictures (``render.kind_colours``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..plots import STYLE, time_scale
from .immunotype import CENTRE_INFLAMED, MARGIN_EXCLUDED

PLOT_NAME = "metrics.png"


def _series(df, quantity: str, **match):
    sel = df[df["quantity"] == quantity]
    for k, v in match.items():
        sel = sel[sel[k] == v]
    return sel.sort_values(["time_min", "r_um"])


def metrics_figure(df, vocabulary=None, *, title: str | None = None):
    """The metrics figure of a table (``read_metrics`` DataFrame).

    Parameters
    ----------
    df : the metrics table
    vocabulary : the run's :class:`~spatialtumor.output.vocabulary.CellVocabulary`
        (colours); None for default colours
    title : figure title

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib
    from matplotlib.figure import Figure

    from ..render import kind_colours

    immune = list(dict.fromkeys(_series(df, "immunotype")["kind"]))
    colours = kind_colours(vocabulary) if vocabulary is not None else {}
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]

    def colour(kind: str, i: int):
        return colours.get(kind, cycle[i % len(cycle)])

    scale, unit = time_scale(float(df["time_min"].max()) if len(df) else 0.0)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(8.6, 9.0), layout="constrained")
        ax = fig.subplots(3, 2).ravel()
        for i, kind in enumerate(immune):
            c = colour(kind, i)
            for region, ls in (("centre", "-"), ("margin", "--")):
                s = _series(df, "density_2d", kind=kind, region=region)
                ax[0].plot(
                    s["time_min"] / scale,
                    s["value"],
                    ls=ls,
                    color=c,
                    marker="o",
                    ms=2.5,
                    label=f"{kind} {region}",
                )
            s = _series(df, "immunotype", kind=kind)
            ax[1].step(s["time_min"] / scale, s["value"], where="post", color=c, label=kind)
            for stat, ls in (("mean", "-"), ("p90", ":")):
                s = _series(df, f"infiltration_depth_{stat}", kind=kind)
                ax[2].plot(
                    s["time_min"] / scale,
                    s["value"],
                    ls=ls,
                    color=c,
                    marker="o",
                    ms=2.5,
                    label=f"{kind} {stat}",
                )
        ax[0].axhline(CENTRE_INFLAMED, color="0.4", lw=0.9, ls="-.", label="centre threshold")
        ax[0].axhline(MARGIN_EXCLUDED, color="0.6", lw=0.9, ls=":", label="margin threshold")
        ax[0].set_title("Immune density (section-equivalent)")
        ax[0].set_ylabel("cells/mm²")
        ax[1].set_title("Immunotype")
        ax[1].set_yticks([0, 1, 2], ["desert", "excluded", "inflamed"])
        ax[1].set_ylim(-0.3, 2.3)
        ax[2].set_title("Infiltration depth (cells inside the tumour)")
        ax[2].set_ylabel("depth below the surface (µm)")
        nn = df[df["quantity"] == "nn_mean"]
        pairs = [
            (a, b) for a, b in dict.fromkeys(zip(nn["kind"], nn["other"], strict=True)) if a != b
        ]
        for j, (a, b) in enumerate(pairs):
            s = _series(nn, "nn_mean", kind=a, other=b)
            ls = "-" if a in immune else "--"
            ax[3].plot(
                s["time_min"] / scale,
                s["value"],
                ls=ls,
                marker="o",
                ms=2.5,
                color=colour(a if a in immune else b, j),
                label=f"{a} → {b}",
            )
        ax[3].set_title("Mean distance to the nearest cell of another kind")
        ax[3].set_ylabel("µm")
        for a_ in ax[:4]:
            a_.set_xlabel(f"time ({unit})")
        last = df[df["time_min"] == df["time_min"].max()] if len(df) else df
        kpairs = list(
            dict.fromkeys(zip(*(_series(last, "pcf")[c] for c in ("kind", "other")), strict=True))
        )
        for j, (a, b) in enumerate(kpairs):
            ls = "-" if a != b else ":"
            c = colour(b if a != b else a, j) if a != b else colour(a, j)
            s = _series(last, "pcf", kind=a, other=b)
            ax[4].plot(s["r_um"], s["value"], ls=ls, marker="o", ms=2.5, color=c, label=f"{a}–{b}")
            s = _series(last, "ripley_k", kind=a, other=b)
            r = s["r_um"].to_numpy()
            ax[5].plot(
                r,
                s["value"].to_numpy() / (4.0 / 3.0 * math.pi * r**3),
                ls=ls,
                marker="o",
                ms=2.5,
                color=c,
                label=f"{a}–{b}",
            )
        t_last = float(last["time_min"].max()) / scale if len(last) else math.nan
        for a_, name in ((ax[4], "Pair correlation g(r)"), (ax[5], "K(r) / (4πr³/3)")):
            a_.axhline(1.0, color="0.5", lw=0.9, ls="--", label="random (CSR)")
            a_.set_title(f"{name} at {t_last:g} {unit}")
            a_.set_xlabel("r (µm)")
            a_.set_yscale("log")
        for a_ in ax:
            if a_.get_legend_handles_labels()[0]:
                a_.legend(frameon=False, loc="best")
        if title:
            fig.suptitle(title, fontsize=11)
    return fig


def save_metrics_plot(
    df,
    path: str | os.PathLike,
    vocabulary=None,
    *,
    title: str | None = None,
    dpi: int = 150,
) -> Path:
    """Write :func:`metrics_figure` to ``path`` (format from the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = metrics_figure(df, vocabulary, title=title)
    fig.savefig(path, dpi=dpi, facecolor="white")
    return path


__all__ = ["PLOT_NAME", "metrics_figure", "save_metrics_plot"]
