"""A run interrupted at a checkpoint and resumed must equal the uninterrupted run."""

from __future__ import annotations

from spatialtumor.build import build_simulation, make_backend
from spatialtumor.checkpoint import latest_checkpoint, resume_simulation


def interrupted(scenario, tmp_path, pause: float):
    """``(full, half, resumed)``: ``scenario`` run to its stop in ``tmp_path/full``, run to
    ``pause`` [min] in ``tmp_path/half``, and resumed from that folder's last checkpoint to
    the stop (the resumed run has run; ``half`` holds the state at the pause)."""
    full = build_simulation(scenario, make_backend("numpy"), run_dir=tmp_path / "full")
    full.run()
    half = build_simulation(
        scenario, make_backend("numpy"), run_dir=tmp_path / "half", stop=float(pause)
    )
    half.run()
    resumed, _, _ = resume_simulation(
        latest_checkpoint(tmp_path / "half"), stop=full.stop, backend="numpy"
    )
    resumed.run()
    return full, half, resumed


def assert_same_run(full, resumed, tmp_path) -> None:
    """Compartments, fields, every cell column and the time series, bit for bit."""
    for name, comp in full.compartments.items():
        assert resumed.compartments[name].y.tobytes() == comp.y.tobytes(), name
    assert resumed.fields.values.tobytes() == full.fields.values.tobytes()
    if full.population is not None:
        a, b = full.population.to_host(), resumed.population.to_host()
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].tobytes() == b[k].tobytes(), k
    ts = "timeseries.csv"
    assert (tmp_path / "full" / ts).read_text() == (tmp_path / "half" / ts).read_text()
