"""One joined table for a study: every member's time series and final summary, with its
arm, seed and varied parameters.

Two tables are written to ``STUDY/results/``:

``timeseries.parquet``
    one row per member and time-series record: ``member``, ``index``, ``arm``, ``seed``, one
    column per varied key (named by the dotted key), then the member's ``timeseries.csv``
    columns (``step``, ``time_min`` [min], field totals, cell counts).
``members.parquet``
    one row per member: the same identifying columns, ``status`` (done / failed /
    pending), ``error``, ``wall_seconds`` [s], ``backend``, ``dtype``, and ``final_<column>``
    for every time-series column (its value in the last record).

Parquet needs pyarrow (the ``study`` extra); without it both tables are written as CSV.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from ..output.timeseries import read_timeseries
from .layout import DONE, RESULTS, RUN, member_dir, member_status, read_json, read_manifest

ID_COLUMNS = ("member", "index", "arm", "seed")
TABLE_NAMES = ("timeseries", "members")


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _param_value(value: Any) -> Any:
    if isinstance(value, list):  # a vector value: kept as its TOML text
        from .members import toml_value

        return toml_value(value)
    return value


def member_rows(study_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The identifying columns of each member of the study folder, in study order."""
    manifest = read_manifest(study_dir)
    rows = []
    for m in manifest["members"]:
        row = {"member": m["id"], "index": m["index"], "arm": m["arm"], "seed": m["seed"]}
        for key in manifest["params"]:
            row[key] = _param_value(m["params"].get(key))
        rows.append(row)
    return rows


def join_tables(study_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(timeseries, members)`` DataFrames of a study folder (see the module docstring)."""
    study_dir = Path(study_dir)
    frames, summary = [], []
    for ident in member_rows(study_dir):
        folder = member_dir(study_dir, ident["member"])
        st = member_status(folder)
        row = dict(ident, status=st.status, error=st.error, wall_seconds=st.wall_seconds)
        if st.status == "done":
            done = read_json(folder / DONE)
            row.update(backend=done.get("backend"), dtype=done.get("dtype"))
            ts = pd.DataFrame(read_timeseries(folder / RUN))
            for col in ts.columns:
                row[f"final_{col}"] = ts[col].iloc[-1] if len(ts) else None
            for k, v in reversed(list(ident.items())):
                ts.insert(0, k, [v] * len(ts))
            frames.append(ts)
        summary.append(row)
    members = pd.DataFrame(summary)
    if frames:
        timeseries = pd.concat(frames, ignore_index=True)
    else:
        timeseries = pd.DataFrame(columns=list(member_rows(study_dir)[0]) if summary else [])
    return timeseries, members


def write_tables(study_dir: str | os.PathLike, fmt: str = "auto") -> dict[str, Path]:
    """Join the study's tables and write them to ``STUDY/results/``; name → path.

    Parameters
    ----------
    fmt : ``"parquet"``, ``"csv"`` or ``"auto"`` (Parquet when pyarrow is installed)
    """
    if fmt not in ("auto", "parquet", "csv"):
        raise ValueError(f"format must be auto, parquet or csv, not {fmt!r}")
    if fmt == "parquet" and not parquet_available():
        raise ValueError("Parquet needs pyarrow: pip install 'spatialtumor[study]' (or use csv)")
    use_parquet = fmt == "parquet" or (fmt == "auto" and parquet_available())
    timeseries, members = join_tables(study_dir)
    out_dir = Path(study_dir) / RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, df in (("timeseries", timeseries), ("members", members)):
        for old in out_dir.glob(f"{name}.*"):
            old.unlink()
        paths[name] = _write(df, out_dir / name, use_parquet)
    return paths


def _write(df: pd.DataFrame, stem: Path, parquet: bool) -> Path:
    from ..output.atomic import atomic_path

    path = stem.with_suffix(".parquet" if parquet else ".csv")
    if parquet:
        df = _parquet_safe(df)
    with atomic_path(path) as tmp:
        if parquet:
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
    return path


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Columns mixing value types (a key swept over numbers and strings) become text."""
    out = df
    for col in df.columns:
        if df[col].dtype == object:
            kinds = {type(v) for v in df[col] if v is not None and v == v}
            if len(kinds) > 1:
                out = out.copy() if out is df else out
                out[col] = [None if v is None else str(v) for v in df[col]]
    return out


def read_table(study_dir: str | os.PathLike, name: str = "timeseries") -> pd.DataFrame:
    """A joined table of ``STUDY/results`` (Parquet or CSV, whichever was written)."""
    if name not in TABLE_NAMES:
        raise ValueError(f"table must be one of {TABLE_NAMES}, not {name!r}")
    out_dir = Path(study_dir) / RESULTS
    pq, csv = out_dir / f"{name}.parquet", out_dir / f"{name}.csv"
    if pq.is_file():
        return pd.read_parquet(pq)
    if csv.is_file():
        return pd.read_csv(csv)
    raise FileNotFoundError(f"{out_dir} has no {name} table; run `spatialtumor study join`")
