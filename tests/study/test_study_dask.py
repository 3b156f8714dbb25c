"""Dask executor against a ``dask.distributed.LocalCluster``: the same table as the local
executor, bit for bit in every member's results."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from _study import ROOT
from click.testing import CliRunner

from spatialtumor.cli import cli
from spatialtumor.study.table import read_table

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture
def cluster(monkeypatch):
    # the workers are new processes: they import this checkout
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


def test_dask_gives_the_local_table_bit_for_bit(swept_study, cluster, tmp_path):
    study, local = swept_study
    out = tmp_path / "dask"
    args = ["study", "run", str(study), "--out", str(out), "--executor", "dask"]
    res = CliRunner().invoke(cli, [*args, "--scheduler", cluster.scheduler_address])
    assert res.exit_code == 0, res.output
    assert f"executor: dask, {cluster.scheduler_address}" in res.output
    assert "done: 8 of 8 members finished, 0 failed" in res.output

    ts_local, ts_dask = read_table(local, "timeseries"), read_table(out, "timeseries")
    pd.testing.assert_frame_equal(ts_dask, ts_local, check_exact=True)
    m_local, m_dask = read_table(local, "members"), read_table(out, "members")
    keep = [c for c in m_local.columns if c != "wall_seconds"]
    pd.testing.assert_frame_equal(m_dask[keep], m_local[keep], check_exact=True)
    for member in m_local["member"]:
        a = (local / "members" / member / "run" / "timeseries.csv").read_bytes()
        b = (out / "members" / member / "run" / "timeseries.csv").read_bytes()
        assert a == b, member

    # a second run finds everything finished and submits nothing
    res = CliRunner().invoke(cli, [*args, "--scheduler", cluster.scheduler_address])
    assert res.exit_code == 0 and "8 finished, 0 to run" in res.output
