"""Fields under mpirun -n 1, 2, 4 equal one process bit for bit; restart at -n 4 too."""

from __future__ import annotations

import pytest
from _mpirun import assert_identical, final_state, needs_mpi, run_fields

from spatialtumor.runs import open_run

pytestmark = needs_mpi


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """The single-process run every parallel one is compared with."""
    return final_state(run_fields(tmp_path_factory.mktemp("alone") / "run", 0, "--stop", "1"))


# the grid is nx × ny × nz = 20 × 18 × 16: "auto" cuts x, the longest
@pytest.mark.parametrize(("ranks", "split"), [(1, "auto"), (2, "auto"), (4, "z"), (3, "y")])
def test_ranks_match_one_process(alone, tmp_path, ranks, split):
    run = run_fields(tmp_path / "run", ranks, "--stop", "1", "--split", split)
    assert_identical(final_state(run), alone)


def test_restart_at_four_ranks_is_bit_identical(alone, tmp_path):
    whole = run_fields(tmp_path / "whole", 4, "--stop", "1", "--set", "output.checkpoint_every=0.5")
    assert_identical(final_state(whole), alone)
    grid = open_run(whole).grid  # one run, the whole domain (as the sidecar states it)
    assert tuple(grid.shape) == (16, 18, 20)
    assert 'Dimensions="16 18 20"' in (whole / "run.xdmf").read_text()
    middle = sorted((whole / "checkpoints").glob("checkpoint_*.h5"))[0]
    assert middle.name == "checkpoint_000000025.h5"
    again = run_fields(tmp_path / "again", 4, "--resume", middle)
    got, want = final_state(again), final_state(whole)
    # the resumed folder has only the snapshots and rows written after the checkpoint
    for key in [k for k in want if k.startswith(("snapshot", "checkpoint"))]:
        assert_identical({key: got[key]}, {key: want[key]})
    # a checkpoint holds the whole domain, so another rank count continues it as well
    other = run_fields(tmp_path / "other", 2, "--resume", middle, "--split", "z")
    last = {"checkpoint": final_state(other)["checkpoint"]}
    assert_identical(last, {"checkpoint": want["checkpoint"]})
