"""Population columns: append, growth, compaction, ids, host copies, checkpoints, placement."""

from __future__ import annotations

import numpy as np
import pytest

from spatialtumor.agents import (
    CellKind,
    Population,
    packed_sphere,
    read_cells_csv,
    spherical_shell,
    uniform_box,
)

KINDS = (CellKind("tumour", radius=8.0), CellKind("cd8", radius=5.0))


def test_append_defaults_and_columns(backend):
    pop = Population(backend, KINDS, capacity=2)
    rows = pop.append({"position": np.zeros((3, 3)), "kind": np.array([0, 1, 1])})
    assert rows == slice(0, 3) and pop.n == 3 and pop.capacity >= 3
    h = pop.to_host()
    assert list(h["id"]) == [0, 1, 2]
    assert np.allclose(h["radius"], [8.0, 5.0, 5.0])
    assert np.allclose(h["volume"], 4 / 3 * np.pi * h["radius"] ** 3)
    assert "alive" not in h and h["position"].shape == (3, 3)
    pop.add_column("antigen", "float", (), fill=1.5)
    pop.add_column("receptors", np.int32, (2,), fill=7)
    pop.add_cells("cd8", np.ones((2, 3)))
    h = pop.to_host()
    assert np.allclose(h["antigen"], 1.5) and h["receptors"].shape == (5, 2)
    assert np.all(h["receptors"] == 7) and np.all(h["kind"][3:] == 1)
    with pytest.raises(KeyError, match="unknown columns"):
        pop.append({"nope": np.zeros(1)})
    with pytest.raises(ValueError, match="different lengths"):
        pop.append({"position": np.zeros((2, 3)), "kind": np.zeros(3)})
    with pytest.raises(ValueError, match="unknown kind"):
        pop.add_cells("nk", np.zeros((1, 3)))


def test_rank_tagged_ids():
    pop = Population(np_backend(), KINDS, rank_tag=3)
    pop.add_cells("tumour", np.zeros((2, 3)))
    assert list(pop.to_host()["id"]) == [(3 << 48) | 0, (3 << 48) | 1]


def np_backend():
    from spatialtumor.backends import get_backend

    return get_backend("numpy", "float64")


def test_random_divisions_and_deaths_keep_ids_unique_and_stable(backend):
    """Property test: thousands of random divisions and deaths, a Python model alongside."""
    rng = np.random.default_rng(7)
    pop = Population(backend, KINDS, capacity=4)
    pop.add_column("mark", np.int64, (), fill=-1)
    pop.append({"position": rng.random((10, 3)), "kind": np.zeros(10), "mark": np.arange(10)})
    model = {i: i for i in range(10)}  # id -> mark
    next_mark = 10
    divisions = deaths = 0
    for _ in range(80):
        alive = backend.asnumpy(pop["alive"])
        p_divide = 0.3 if alive.sum() < 300 else 0.1
        kill = (rng.random(pop.size) < 0.15) & alive
        divide = (rng.random(pop.size) < p_divide) & ~kill & alive
        parents = np.flatnonzero(divide)
        marks = next_mark + np.arange(parents.size)
        next_mark += parents.size
        parent_pos = backend.asnumpy(pop["position"])[parents]
        dead_ids = backend.asnumpy(pop["id"])[kill]
        new_rows = pop.append(
            {"position": parent_pos + 0.1, "kind": np.ones(parents.size), "mark": marks}
        )
        new_ids = backend.asnumpy(pop["id"][new_rows])
        model.update(dict(zip(new_ids.tolist(), marks.tolist(), strict=True)))
        pop.kill(np.concatenate([kill, np.zeros(parents.size, bool)]))
        for i in dead_ids.tolist():
            del model[i]
        divisions += parents.size
        deaths += dead_ids.size
        if rng.random() < 0.5:
            pop.compact()
        h = pop.to_host()
        assert h["id"].size == len(model) == pop.n
        assert np.unique(h["id"]).size == h["id"].size
        assert np.all(np.diff(h["id"]) > 0)  # order of survivors kept, appended ids increase
        assert [model[i] for i in h["id"].tolist()] == h["mark"].tolist()
    assert divisions > 1000 and deaths > 1000
    pop.compact()
    assert pop.size == pop.n == len(model)


def test_kind_counts(backend):
    pop = Population(backend, KINDS)
    assert pop.kind_counts().tolist() == [0, 0]
    pop.append({"position": np.zeros((5, 3)), "kind": np.array([1, 1, 0, 1, 0])})
    pop.kill(np.array([False, True, False, False, False]))
    assert pop.kind_counts().tolist() == [2, 2]


def test_compact_keeps_order_and_clears_tail(backend):
    pop = Population(backend, KINDS)
    pop.add_cells("tumour", np.arange(15.0).reshape(5, 3))
    pop.kill(np.array([True, False, True, False, False]))
    pop.compact()
    h = pop.to_host()
    assert list(h["id"]) == [1, 3, 4] and pop.size == 3
    assert np.allclose(h["position"][:, 0], [3, 9, 12])
    assert not bool(backend.asnumpy(pop.columns["alive"][3:5]).any())


def test_state_dict_round_trip_is_exact(backend):
    rng = np.random.default_rng(1)
    pop = Population(backend, KINDS, capacity=5)
    pop.add_column("exhaustion", "float", (), 0.25)
    pop.append({"position": rng.random((40, 3)) * 100, "kind": rng.integers(0, 2, 40)})
    pop.kill(rng.random(40) < 0.3)
    state = pop.state_dict()
    back = Population.from_state_dict(backend, state, KINDS)
    assert back.next_id == pop.next_id and back.size == pop.size
    for name, col in pop.columns.items():
        assert np.array_equal(backend.asnumpy(col[: pop.size]), backend.asnumpy(back[name]))
    back.add_cells("cd8", np.zeros((1, 3)))
    assert int(back.to_host()["id"][-1]) == 40
    with pytest.raises(ValueError, match="differ"):
        Population.from_state_dict(backend, state, ("a", "b"))


def test_packed_sphere_matches_hcp_density():
    r_cell, big_r = 8.412, 250.0
    p = packed_sphere((10.0, 0.0, -5.0), big_r, 2 * r_cell)
    assert np.all(np.linalg.norm(p - (10.0, 0.0, -5.0), axis=1) <= big_r + 1e-9)
    # close packing fills 74% of the volume (PhysiCell places ≈18,300 cells here)
    expected = 0.7405 * (big_r / r_cell) ** 3
    assert abs(p.shape[0] / expected - 1) < 0.05
    d = np.linalg.norm(p[:200, None] - p[None], axis=2)
    d[d == 0] = np.inf
    assert np.isclose(d.min(), 2 * r_cell)


def test_shell_and_box_placements():
    p = spherical_shell((0, 0, 0), 30.0, 105.0, 20_000, rng=3)
    r = np.linalg.norm(p, axis=1)
    assert r.min() >= 30 and r.max() <= 105
    # uniform in volume: the fraction inside radius ρ is (ρ³ − 30³)/(105³ − 30³)
    assert abs(np.mean(r < 80) - (80**3 - 30**3) / (105**3 - 30**3)) < 0.015
    b = uniform_box((0, 0, 0), (10, 20, 30), 1000, rng=3)
    assert np.all(b >= 0) and np.all(b <= (10, 20, 30))
    with pytest.raises(ValueError):
        spherical_shell((0, 0, 0), 5.0, 5.0, 3)


def test_csv_reader_and_its_errors(tmp_path):
    f = tmp_path / "cells.csv"
    f.write_text("x,y,z,kind,radius\n1,2,3,tumour,8\n4, 5, 6,cd8,5.5\n")
    out = read_cells_csv(f, ("tumour", "cd8"), (0, 0, 0), (10, 10, 10))
    assert out["position"].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert out["kind"].tolist() == [0, 1] and out["radius"].tolist() == [8, 5.5]
    pop = Population(np_backend(), KINDS)
    pop.append(read_cells_csv(f, pop.kind_names, (0, 0, 0), (10, 10, 10)))
    assert pop.n == 2
    f.write_text("x,y,z,kind\n1,2,3,tumour\n1,2,3,macrophage\n")
    with pytest.raises(ValueError, match=r"cells.csv, line 3: unknown kind 'macrophage'"):
        read_cells_csv(f, ("tumour",), (0, 0, 0), (10, 10, 10))
    f.write_text("x,y,z,kind\n1,2,3,tumour\n1,20,3,tumour\n")
    with pytest.raises(ValueError, match=r"line 3: cell at \(1.0, 20.0, 3.0\) µm is outside"):
        read_cells_csv(f, ("tumour",), (0, 0, 0), (10, 10, 10))
    f.write_text("x,y,z,kind\n1,abc,3,tumour\n")
    with pytest.raises(ValueError, match=r"line 2: column 'y' is not a number: 'abc'"):
        read_cells_csv(f, ("tumour",), (0, 0, 0), (10, 10, 10))
    f.write_text("x,y,kind\n1,2,tumour\n")
    with pytest.raises(ValueError, match=r"missing column"):
        read_cells_csv(f, ("tumour",), (0, 0, 0), (10, 10, 10))
