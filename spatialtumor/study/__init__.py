"""Studies: many independent runs of one scenario (seeds, arms, sweeps, samples) and one
joined table; calibration of parameters to data. See ``docs/STUDY.md``.

::

    from spatialtumor.study import load_study, prepare_study_dir, LocalExecutor, write_tables

    study = load_study("studies/laptop.toml")          # validated; study.members
    folders = prepare_study_dir(study, "runs/laptop", backend="numpy", precision=None)
    LocalExecutor(jobs=2).run(folders, print)          # skips finished members itself
    write_tables("runs/laptop")                        # results/timeseries.parquet, members.parquet
"""

from __future__ import annotations

from .executors import DaskExecutor, LocalExecutor, visible_gpus
from .layout import default_study_dir, member_dir, prepare_study_dir, read_manifest, statuses
from .members import Member, Study, load_study
from .runner import Outcome, run_member, run_members
from .spec import StudyError, StudySpec, read_study_spec

_TABLE = ("join_tables", "read_table", "write_tables")


def __getattr__(name: str):
    # the table functions import pandas: only when asked for (workers start faster)
    if name in _TABLE:
        from . import table

        return getattr(table, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DaskExecutor",
    "LocalExecutor",
    "Member",
    "Outcome",
    "Study",
    "StudyError",
    "StudySpec",
    "default_study_dir",
    "join_tables",
    "load_study",
    "member_dir",
    "prepare_study_dir",
    "read_manifest",
    "read_study_spec",
    "read_table",
    "run_member",
    "run_members",
    "statuses",
    "visible_gpus",
    "write_tables",
]
