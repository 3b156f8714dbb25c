"""The cells a metric looks at: positions, kinds and living flags of one snapshot, and which
kinds count as tumour and as immune cells, by the names and models in the snapshot's
vocabulary (never by hard-coded names).

Living cells are those whose ``active`` column is 1 (in a living state of their kind, see
``docs/FORMAT.md``); format-1 files without that column have state code 0 = live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..output.vocabulary import CellVocabulary

#: the model of tumour kinds
TUMOUR_MODEL = "tumour"


class MetricsError(ValueError):
    """Bad input to the metrics; ``option`` names the option or key at fault."""

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")
        self.option = option
        self.detail = message


@dataclass(frozen=True)
class KindSelection:
    """Kind codes of the tumour and of the immune cells, and every kind's name.

    Attributes
    ----------
    tumour : codes of the tumour kinds (their cells make the tumour geometry)
    immune : codes of the immune kinds (densities, immunotype, infiltration)
    names : kind code → name
    """

    tumour: tuple[int, ...]
    immune: tuple[int, ...]
    names: tuple[str, ...]

    def name(self, code: int) -> str:
        return self.names[code]

    @property
    def tumour_label(self) -> str:
        """The tumour kinds' names joined by ``+`` (the ``kind`` of geometry rows)."""
        return "+".join(self.names[k] for k in self.tumour)


def _codes(vocabulary: CellVocabulary, names: Sequence[str], option: str) -> tuple[int, ...]:
    known = list(vocabulary.kind_names)
    if not names:
        raise MetricsError(option, f"no kind given; kinds in the run: {', '.join(known)}")
    out = []
    for n in names:
        if n not in known:
            kinds = ", ".join(known) if known else "none"
            raise MetricsError(option, f"unknown kind {n!r}; kinds in the run: {kinds}")
        if known.index(n) not in out:
            out.append(known.index(n))
    return tuple(out)


def select_kinds(
    vocabulary: CellVocabulary,
    immune: Sequence[str] | None = None,
    tumour: Sequence[str] | None = None,
) -> KindSelection:
    """Tumour and immune kinds of a run.

    Parameters
    ----------
    vocabulary : the run's vocabulary
    immune : immune kind names; default every kind that is not a tumour kind
    tumour : tumour kind names; default the kinds whose model is ``"tumour"``

    Raises
    ------
    MetricsError
        naming ``immune`` or ``tumour`` for an unknown name, an empty list or a kind
        chosen as both.
    """
    names = tuple(vocabulary.kind_names)
    if tumour is None:
        t = tuple(vocabulary.kinds_of_model(TUMOUR_MODEL))
    else:
        t = _codes(vocabulary, tumour, "tumour")
    if immune is None:
        i = tuple(k for k in range(len(names)) if k not in t)
    else:
        i = _codes(vocabulary, immune, "immune")
        both = [names[k] for k in i if k in t]
        if both:
            raise MetricsError("immune", f"kind {both[0]!r} is also a tumour kind")
    return KindSelection(tumour=t, immune=i, names=names)


@dataclass(frozen=True)
class SnapshotCells:
    """Host arrays of one snapshot's cells and its domain.

    Attributes
    ----------
    position : (N, 3) float64 — centres [µm]
    kind : (N,) int64 — kind codes
    living : (N,) bool — in a living state of their kind
    radius : (N,) float64 — [µm]
    lower, upper : (x, y, z) corners of the domain [µm]
    time : simulated time [min]
    step : diffusion step
    index : snapshot number
    """

    position: np.ndarray
    kind: np.ndarray
    living: np.ndarray
    radius: np.ndarray
    lower: tuple[float, float, float]
    upper: tuple[float, float, float]
    time: float = 0.0
    step: int = 0
    index: int = 0

    @classmethod
    def of_snapshot(cls, snap) -> SnapshotCells:
        """From a :class:`~spatialtumor.runs.RunSnapshot` (read on the host)."""
        g = snap.grid
        lower = np.asarray(g.origin, dtype=np.float64)
        upper = lower + np.asarray(g.spacing, dtype=np.float64) * np.asarray(g.shape[::-1])
        pos = snap.column("position")
        n = 0 if pos is None else int(pos.shape[0])
        kind = snap.column("kind")
        active = snap.column("active")
        state = snap.column("state")
        if active is not None:
            living = np.asarray(active, dtype=bool)
        elif state is not None:
            living = np.asarray(state) == 0
        else:
            living = np.ones(n, dtype=bool)
        radius = snap.column("radius")
        return cls(
            position=np.zeros((0, 3)) if pos is None else np.asarray(pos, dtype=np.float64),
            kind=np.zeros(n, np.int64) if kind is None else np.asarray(kind, dtype=np.int64),
            living=living,
            radius=np.zeros(n) if radius is None else np.asarray(radius, dtype=np.float64),
            lower=tuple(float(v) for v in lower),
            upper=tuple(float(v) for v in upper),
            time=snap.time,
            step=snap.step,
            index=snap.index,
        )

    @property
    def extent(self) -> np.ndarray:
        """Edge lengths (Lx, Ly, Lz) of the domain [µm]."""
        return np.subtract(self.upper, self.lower)

    def rows(self, kinds: Sequence[int], living: bool = True) -> np.ndarray:
        """Boolean row mask of the cells of ``kinds`` (living ones only by default)."""
        sel = np.isin(self.kind, np.asarray(list(kinds), dtype=np.int64))
        return sel & self.living if living else sel
