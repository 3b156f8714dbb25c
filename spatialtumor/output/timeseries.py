"""The time-series table ``RUN/timeseries.csv``: one row per record, rewritten atomically.

Columns (see ``docs/FORMAT.md``): ``step``, ``time_min``, then for every species ``<name>_total``
(Σ c · voxel volume [units · µm³]), ``<name>_min``, ``<name>_max``, ``<name>_mean`` [units],
then, when the run has a cell population, ``cells_total``, ``cells_<kind>`` per kind name and
``cells_<kind>_<state>`` per state of each kind, then the quantities the kinds report
(kills, attached T cells, mean antigen, …). ``RUN/timeseries.json`` describes those
reported columns (plot panel, units, whether a running total).

The whole table is kept in memory and the file is replaced atomically after every record
(temporary file, fsync, ``os.replace``), so a run killed at any moment leaves a complete,
valid table holding every row recorded before the kill.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from .atomic import remove_stale_temporaries, write_text_atomic
from .schedule import Schedule

TIMESERIES_NAME = "timeseries.csv"
COLUMNS_NAME = "timeseries.json"
EXISTING_POLICIES = ("error", "overwrite", "append")


def field_reductions(backend, values) -> np.ndarray:
    """``(3, n_species)`` float64 host array: per species the sum, min and max of ``values``
    ``(n_species, nz, ny, nx)``, reduced on the backend (one small array crosses)."""
    xp = backend.xp
    axes = (1, 2, 3)
    stats = xp.stack(
        [
            xp.sum(values, axis=axes, dtype=xp.float64),
            xp.min(values, axis=axes).astype(xp.float64),
            xp.max(values, axis=axes).astype(xp.float64),
        ]
    )
    return np.asarray(backend.asnumpy(stats), dtype=np.float64)


def combine_reductions(parts) -> np.ndarray:
    """The :func:`field_reductions` of a whole domain from those of its parts (in rank
    order): sums added part by part, min and max exact."""
    a = np.stack([np.asarray(p, dtype=np.float64) for p in parts])
    return np.stack([a[:, 0].sum(axis=0), a[:, 1].min(axis=0), a[:, 2].max(axis=0)])


def field_statistics(sim) -> dict[str, float]:
    """Totals [units · µm³] and min, max, mean [units] of every species (float64).

    Reduced on the backend; one small array crosses to the host. A simulation that
    carries ``reduced_fields`` (the :func:`field_reductions` of the whole domain, combined
    over MPI ranks) is described from those instead of its field values.
    """
    host = getattr(sim, "reduced_fields", None)
    if host is None:
        host = field_reductions(sim.backend, sim.fields.values)
    n = sim.grid.size
    out: dict[str, float] = {}
    for i, name in enumerate(sim.fields.names):
        out[f"{name}_total"] = float(host[0, i]) * sim.grid.voxel_volume
        out[f"{name}_min"] = float(host[1, i])
        out[f"{name}_max"] = float(host[2, i])
        out[f"{name}_mean"] = float(host[0, i]) / n
    return out


def kind_counts(population) -> dict[str, int]:
    """``cells_total`` and ``cells_<kind>`` for every kind name of a population.

    Uses ``population.kind_counts()`` (code → count array) when the population offers it,
    otherwise counts the ``kind`` column of ``population.to_host()``.
    """
    names = tuple(str(k) for k in getattr(population, "kind_names", ()))
    if hasattr(population, "kind_counts"):
        counts = np.asarray(population.kind_counts(), dtype=np.int64)
    else:
        kinds = np.asarray(population.to_host()["kind"], dtype=np.int64)
        counts = np.bincount(kinds, minlength=len(names)) if kinds.size else np.zeros(0, np.int64)
    counts = np.concatenate([counts, np.zeros(max(0, len(names) - counts.size), np.int64)])
    out = {"cells_total": int(counts.sum())}
    for code, c in enumerate(counts):
        name = names[code] if code < len(names) else f"kind{code}"
        out[f"cells_{name}"] = int(c)
    if hasattr(population, "columns") and "state" in population.columns:
        # ``cells_<kind>_<state>`` for every kind and each of its states
        for key, c in state_counts(population).items():
            out["cells_" + key.replace("/", "_")] = c
    return out


def state_counts(population) -> dict[str, int]:
    """Live cells per (kind, state) name, e.g. ``{"tumour/live": 812, ...}`` (host ints).

    State names come from each kind (``population.kind_states``); every kind × state pair
    is present (0 when empty), so tables keep fixed columns.
    """
    xp = population.xp
    names = population.kind_names
    vocab = population.kind_states
    slots = max((len(v) for v in vocab), default=1)
    nk = len(names)
    counts = np.zeros(slots * nk, dtype=np.int64)
    if population.size:
        alive = population["alive"]
        code = population["kind"].astype(xp.int64) * slots + population["state"].astype(xp.int64)
        code = xp.where(alive, code, slots * nk)
        counts = population.backend.asnumpy(xp.bincount(code, minlength=slots * nk + 1))
    out = {}
    for k, kname in enumerate(names):
        for s, sname in enumerate(vocab[k]):
            out[f"{kname}/{sname}"] = int(counts[slots * k + s])
    return out


def _format(value) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(float(value))


class TimeSeriesWriter:
    """Appends a row to ``RUN/timeseries.csv`` every ``every`` minutes (and at the stop step).

    Register as ``sim.writers["timeseries"]``.

    Parameters
    ----------
    run_dir : the run folder (created if missing)
    every : interval between rows [min] of simulated time, rounded to whole diffusion steps
    existing : ``"error"`` (default) if the table exists, ``"overwrite"`` to start afresh, or
        ``"append"`` to continue a restarted run (rows at or after the first step recorded
        now are dropped)
    """

    def __init__(self, run_dir: str | os.PathLike, every: float = 60.0, *, existing: str = "error"):
        if existing not in EXISTING_POLICIES:
            raise ValueError(f"existing must be one of {EXISTING_POLICIES}, got {existing!r}")
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / TIMESERIES_NAME
        self.schedule = Schedule(every)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.run_dir)
        self.columns: list[str] | None = None
        self.rows: list[list[str]] = []
        #: reported column → {"panel", "units", "counter"}, written to timeseries.json
        self.info: dict[str, dict] = {}
        self._resume = False
        if self.path.exists():
            if existing == "error":
                raise FileExistsError(
                    f"{self.path} already exists; choose another folder, or overwrite or "
                    "append explicitly"
                )
            if existing == "append":
                self._resume = True
            else:  # overwrite: start afresh now, as the snapshot writer does
                self.path.unlink()
                self.path.with_name(COLUMNS_NAME).unlink(missing_ok=True)

    @property
    def every(self) -> float:
        """Interval between rows [min]."""
        return self.schedule.every

    def due(self, sim) -> bool:
        return self.schedule.due(sim)

    def record(self, sim) -> dict[str, float]:
        """The row for the current state, as a column → value mapping."""
        row: dict[str, float] = {"step": int(sim.step_index), "time_min": float(sim.time)}
        row.update(field_statistics(sim))
        if sim.population is not None:
            row.update(kind_counts(sim.population))
        layer = getattr(sim, "cells", None)
        observables = layer.observables() if layer is not None else []
        for comp in getattr(sim, "compartments", {}).values():
            observables += comp.observables()
        if getattr(sim, "dosing", None) is not None:
            observables += sim.dosing.observables()
        if observables:
            for ob in observables:
                if ob.counter:
                    total = f"{ob.name}_total"
                    row[total] = ob.value
                    row[ob.name] = ob.value - self._previous(total)
                    self.info[total] = {"panel": ob.panel, "units": ob.units, "counter": True}
                    self.info[ob.name] = {
                        "panel": ob.panel,
                        "units": ob.units,
                        "counter": False,
                        "increase_of": total,
                    }
                else:
                    row[ob.name] = ob.value
                    self.info[ob.name] = {"panel": ob.panel, "units": ob.units, "counter": False}
        return row

    def _previous(self, column: str) -> float:
        """The value of ``column`` in the last row written (0 before the first row)."""
        if self.columns is None or column not in self.columns or not self.rows:
            return 0.0
        text = self.rows[-1][self.columns.index(column)]
        return float(text) if text else 0.0

    def _load_existing(self, step: int) -> None:
        with open(self.path, newline="", encoding="utf-8") as f:
            table = list(csv.reader(f))
        if table:
            self.columns = table[0]
            self.rows = [r for r in table[1:] if r and int(r[0]) < step]
        self._resume = False

    def write(self, sim) -> None:
        if self._resume:
            self._load_existing(int(sim.step_index))
        row = self.record(sim)
        if self.columns is None:
            self.columns = list(row)
        extra = [k for k in row if k not in self.columns]
        if extra:
            # new columns (e.g. a kind appearing later): earlier rows get empty cells
            self.columns.extend(extra)
        self.rows.append([_format(row[c]) if c in row else "" for c in self.columns])
        self._flush()
        self.schedule.mark(sim)

    def _flush(self) -> None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        width = len(self.columns)
        for r in self.rows:
            w.writerow(r + [""] * (width - len(r)))
        write_text_atomic(self.path, buf.getvalue())
        if self.info:
            info = {c: self.info[c] for c in self.columns if c in self.info}
            write_text_atomic(self.path.with_name(COLUMNS_NAME), json.dumps(info, indent=1))

    def close(self) -> None:
        """The table is complete on disk after every row; nothing to release."""


def read_timeseries(run_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read ``RUN/timeseries.csv`` into column → array (``step`` int64, the rest float64).

    Empty cells read as NaN. ``run_dir`` may also be the path of the CSV file itself.
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / TIMESERIES_NAME
    with open(path, newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    if not table:
        raise ValueError(f"{path} is empty")
    header, rows = table[0], [r for r in table[1:] if r]
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        col = [r[j] if j < len(r) else "" for r in rows]
        if name == "step":
            out[name] = np.array([int(v) for v in col], dtype=np.int64)
        else:
            out[name] = np.array([float(v) if v != "" else np.nan for v in col], dtype=np.float64)
    return out


def read_columns_info(run_dir: str | os.PathLike) -> dict[str, dict]:
    """``RUN/timeseries.json``: reported column → {"panel", "units", "counter"} ({} if none)."""
    path = Path(run_dir)
    path = path / COLUMNS_NAME if path.is_dir() else path.with_name(COLUMNS_NAME)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
