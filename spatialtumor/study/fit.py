"""Calibration: fit chosen scenario parameters to a target table with Optuna.

Each trial is a set of parameter values; its members (one per fit seed, the fit arm's
overrides applied) run through the same executors as a study, and the trial's loss compares
the mean over seeds of the chosen time-series columns with the target, interpolated at
the target's times. Trials are asked and told in batches (one trial per job at a time).

The samplers are seeded and every member is cached in the study folder, so running the same
fit again replays the same trials without rerunning a single member: a killed fit resumes.

Losses (``fit.loss``), averaged over every target point and column:

``sse``       ``(s - o)²``
``relative``  ``((s - o) / |o|)²``                (``o = 0`` points use ``|o| = 1``)
``log``       ``(ln(1 + s) - ln(1 + o))²``        (counts that grow exponentially)
"""

from __future__ import annotations

import itertools
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..output.timeseries import read_timeseries
from .layout import RUN, member_dir, member_status, write_definitions, write_json_atomic
from .members import Member, Study, make_member
from .spec import FitSpec, StudyError

if TYPE_CHECKING:  # pragma: no cover
    import optuna

FIT_DIR = "fit"
SIGNIFICANT = 6


@dataclass
class FitResult:
    """The best parameters, their loss, and every trial (a DataFrame)."""

    best: dict[str, float]
    best_loss: float
    trials: pd.DataFrame
    paths: dict[str, Path]


def read_target(path: str | os.PathLike, spec: FitSpec) -> pd.DataFrame:
    """The target table (CSV or Parquet) with the time column and the fitted columns."""
    p = Path(path)
    table = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    need = [spec.time_column, *spec.columns]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ValueError(f"{p}: no column {missing[0]!r}; columns: {', '.join(table.columns)}")
    return table[need].dropna().sort_values(spec.time_column).reset_index(drop=True)


def misfit(runs: list[dict[str, np.ndarray]], target: pd.DataFrame, spec: FitSpec) -> float:
    """The loss of one trial: its runs' mean against the target (see the module docstring)."""
    t_obs = target[spec.time_column].to_numpy(dtype=float)
    total, count = 0.0, 0
    for col in spec.columns:
        sims = []
        for run in runs:
            if col not in run:
                raise ValueError(f"the runs have no time-series column {col!r}")
            t = run["time_min"]
            if t_obs.max() > t.max() + 1e-9 or t_obs.min() < t.min() - 1e-9:
                raise ValueError(
                    f"target times {t_obs.min():g}..{t_obs.max():g} min lie outside the "
                    f"runs' {t.min():g}..{t.max():g} min"
                )
            sims.append(np.interp(t_obs, t, run[col]))
        s = np.mean(sims, axis=0)
        o = target[col].to_numpy(dtype=float)
        if spec.loss == "sse":
            r = s - o
        elif spec.loss == "relative":
            r = (s - o) / np.where(o == 0, 1.0, np.abs(o))
        else:
            r = np.log1p(np.maximum(s, 0.0)) - np.log1p(np.maximum(o, 0.0))
        total += float(np.sum(r * r))
        count += r.size
    return total / max(count, 1)


def parse_truth(items: list[str] | tuple[str, ...], keys: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` items (values as TOML) for fitted ``keys``; ``ValueError`` otherwise."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--truth: expected KEY=VALUE, got {item!r}")
        key, text = (s.strip() for s in item.split("=", 1))
        if key not in keys:
            raise ValueError(f"--truth: {key} is not a fitted key ({', '.join(keys)})")
        try:
            out[key] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            raise ValueError(f"--truth: {key}: not a value: {text!r}") from None
    return out


def _round(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT}g}")


def make_sampler(
    spec: FitSpec, trials: int, sampler: str | None = None
) -> optuna.samplers.BaseSampler:
    """The Optuna sampler named by ``sampler`` (default ``fit.sampler``), seeded."""
    import optuna

    name = sampler or spec.sampler
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=spec.seed, n_startup_trials=min(10, max(3, trials // 3))
        )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=spec.seed)
    if name == "grid":  # the grid points are enqueued (see fit_study); no sampling left
        return optuna.samplers.RandomSampler(seed=spec.seed)
    raise ValueError(f"unknown sampler {name!r}; use tpe, random or grid")


def grid_space(spec: FitSpec) -> dict[str, list[float]]:
    """The grid of each fitted key for the grid sampler (``num`` points, linear or log)."""
    out = {}
    for p in spec.params:
        pts = (
            np.geomspace(p.low, p.high, p.num)
            if p.scale == "log"
            else np.linspace(p.low, p.high, p.num)
        )
        out[p.key] = [_round(v) for v in pts]
    return out


def _run_and_read(
    study: Study, study_dir: Path, members: list[Member], executor, backend, precision
) -> None:
    folders = write_definitions(study_dir, members, study, backend, precision)
    todo = [f for f in folders if member_status(f).status != "done"]
    if todo:
        executor.run(todo, lambda outcome: None)


def truth_target(
    study: Study,
    study_dir: str | os.PathLike,
    executor,
    truth: dict[str, Any],
    seed: int,
    *,
    backend: str = "auto",
    precision: str | None = None,
) -> pd.DataFrame:
    """A synthetic target made by the simulator: one run at ``truth`` (the fit arm).

    Written to ``STUDY/fit/target.csv`` and returned (time column and fitted columns).
    """
    spec = _fit_spec(study)
    study_dir = Path(study_dir)
    arm = spec.arm or study.arms[0]
    member = make_member(study, 0, arm, dict(truth), seed, prefix="truth")
    _run_and_read(study, study_dir, [member], executor, backend, precision)
    st = member_status(member_dir(study_dir, member.id))
    if st.status != "done":
        raise RuntimeError(f"the truth run {member.id} failed: {st.error}")
    run = read_timeseries(member_dir(study_dir, member.id) / RUN)
    table = pd.DataFrame({c: run[c] for c in [spec.time_column, *spec.columns]})
    out = study_dir / FIT_DIR / "target.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    return table


def _fit_spec(study: Study) -> FitSpec:
    if study.spec.fit is None:
        raise StudyError(str(study.source), "fit", "the study has no [fit] table")
    return study.spec.fit


def fit_study(
    study: Study,
    study_dir: str | os.PathLike,
    executor,
    target: pd.DataFrame,
    *,
    trials: int | None = None,
    sampler: str | None = None,
    backend: str = "auto",
    precision: str | None = None,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """Fit ``[fit]``'s parameters to ``target``; write ``STUDY/fit/trials.csv``, ``best.json``.

    Parameters
    ----------
    executor : a ``LocalExecutor`` or ``DaskExecutor``; ``jobs`` trials run at once
    target : the time column and the fitted columns (see :func:`read_target`)
    trials : number of trials (default ``fit.trials``; for the grid sampler, the grid size)
    on_trial : called with each finished trial's row (number, params, loss, state)
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = _fit_spec(study)
    study_dir = Path(study_dir)
    arm = spec.arm or study.arms[0]
    seeds = spec.seeds or study.spec.seed_list()
    name = sampler or spec.sampler
    n_trials = trials or spec.trials
    if name == "grid" and trials is None:
        n_trials = math.prod(p.num for p in spec.params)
    opt = optuna.create_study(direction="minimize", sampler=make_sampler(spec, n_trials, name))
    if name == "grid":  # every grid point, in order (GridSampler cannot end an ask/tell loop)
        space = grid_space(spec)
        for combo in itertools.product(*space.values()):
            opt.enqueue_trial(dict(zip(space, combo, strict=True)))
    batch = spec.batch or getattr(executor, "jobs", 1) or 1
    rows: list[dict[str, Any]] = []
    while len(rows) < n_trials:
        asked = []
        for _ in range(min(batch, n_trials - len(rows))):
            trial = opt.ask()
            params = {
                p.key: _round(trial.suggest_float(p.key, p.low, p.high, log=p.scale == "log"))
                for p in spec.params
            }
            members = [
                make_member(study, trial.number, arm, params, s, prefix="fit") for s in seeds
            ]
            asked.append((trial, params, members))
        every = [m for _, _, ms in asked for m in ms]
        _run_and_read(study, study_dir, every, executor, backend, precision)
        for trial, params, members in asked:
            row = _tell(opt, trial, params, members, study_dir, target, spec)
            rows.append(row)
            if on_trial is not None:
                on_trial(row)
    table = pd.DataFrame(rows)
    done = table[table["state"] == "complete"]
    if done.empty:
        raise RuntimeError("every fit trial failed; see the member logs in " + str(study_dir))
    best_row = done.loc[done["loss"].idxmin()]
    best = {p.key: float(best_row[p.key]) for p in spec.params}
    out_dir = study_dir / FIT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"trials": out_dir / "trials.csv", "best": out_dir / "best.json"}
    table.to_csv(paths["trials"], index=False)
    write_json_atomic(
        paths["best"],
        {
            "params": best,
            "loss": float(best_row["loss"]),
            "trial": int(best_row["trial"]),
            "trials": len(table),
            "sampler": name,
            "loss_kind": spec.loss,
            "columns": spec.columns,
            "seeds": list(seeds),
            "arm": arm,
            "overrides": [f"{k}={v!r}" for k, v in best.items()],
        },
    )
    return FitResult(best, float(best_row["loss"]), table, paths)


def _tell(opt, trial, params, members, study_dir, target, spec) -> dict[str, Any]:
    import optuna

    row: dict[str, Any] = {"trial": trial.number, **params}
    states = [member_status(member_dir(study_dir, m.id)) for m in members]
    failed = [s for s in states if s.status != "done"]
    row["members"] = " ".join(m.id for m in members)
    if failed:
        opt.tell(trial, state=optuna.trial.TrialState.FAIL)
        row.update(loss=float("nan"), state="failed", error=failed[0].error)
        return row
    runs = [read_timeseries(member_dir(study_dir, m.id) / RUN) for m in members]
    loss = misfit(runs, target, spec)
    opt.tell(trial, loss)
    row.update(loss=loss, state="complete", error="")
    return row
