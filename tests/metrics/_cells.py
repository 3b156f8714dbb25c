"""Hand-placed cells for the metrics tests: a packed ball of tumour cells and T cells put
where the test wants them, as :class:`SnapshotCells` or as a run folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spatialtumor.metrics import SnapshotCells
from spatialtumor.output.vocabulary import CellVocabulary

#: domain [-HALF, HALF]³ µm
HALF = 300.0
#: tumour: cell radius [µm] and lattice spacing [µm] (≈ the packing of 8.4 µm cells)
TUMOUR_RADIUS = 8.4
LATTICE = 15.0
T_RADIUS = 5.0
VOCABULARY = CellVocabulary(
    kind_names=("tumour", "t8"),
    kind_models=("tumour", "cd8"),
    kind_states=(("live", "apoptotic", "necrotic"), ("searching", "engaged", "exhausted")),
    kind_colours=((0.84, 0.37, 0.0), (0.0, 0.45, 0.7)),
)


def ball(radius: float, seed: int = 0, spacing: float = LATTICE) -> np.ndarray:
    """Centres of a ball of packed cells: a jittered cubic lattice inside ``radius`` [µm]."""
    rng = np.random.default_rng(seed)
    g = np.arange(-radius, radius + spacing, spacing)
    p = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    p = p + rng.uniform(-2.0, 2.0, p.shape)
    return p[np.linalg.norm(p, axis=1) <= radius]


def in_shell(n: int, inner: float, outer: float, seed: int = 1) -> np.ndarray:
    """``n`` points uniform in the shell ``inner < |p| < outer`` [µm]."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    r = (inner**3 + (outer**3 - inner**3) * rng.random(n)) ** (1.0 / 3.0)
    return u * r[:, None]


def cells(tumour: np.ndarray, t_cells: np.ndarray, index: int = 0) -> SnapshotCells:
    """A snapshot's cells: tumour kind 0, T cells kind 1, all living."""
    n_t, n_i = len(tumour), len(t_cells)
    return SnapshotCells(
        position=np.concatenate([tumour, t_cells.reshape(-1, 3)]).astype(np.float64),
        kind=np.concatenate([np.zeros(n_t, np.int64), np.ones(n_i, np.int64)]),
        living=np.ones(n_t + n_i, dtype=bool),
        radius=np.concatenate([np.full(n_t, TUMOUR_RADIUS), np.full(n_i, T_RADIUS)]),
        lower=(-HALF,) * 3,
        upper=(HALF,) * 3,
        time=60.0 * index,
        step=index,
        index=index,
    )


def write_run(run_dir: Path, snapshots: list[SnapshotCells]) -> Path:
    """A run folder with one snapshot per entry (the real snapshot writer)."""
    from spatialtumor.output.snapshots import SnapshotData, snapshot_name, write_snapshot
    from spatialtumor.output.xdmf import write_sidecar

    (run_dir / "snapshots").mkdir(parents=True, exist_ok=True)
    shape = (15, 15, 15)
    spacing = 2 * HALF / shape[0]
    entries = []
    for i, c in enumerate(snapshots):
        n = len(c.kind)
        data = SnapshotData(
            time=c.time,
            step=c.step,
            shape=shape,
            spacing=(spacing,) * 3,
            origin=(-HALF,) * 3,
            fields={"oxygen": np.full(shape, 38.0)},
            species={"oxygen": {"units": "mmHg", "diffusivity": 1e5, "decay": 0.1}},
            cells={
                "id": np.arange(n, dtype=np.int64) + 10**6 * i,
                "kind": c.kind.astype(np.int16),
                "position": c.position,
                "radius": c.radius,
                "volume": 4.0 / 3.0 * np.pi * c.radius**3,
                "age": np.zeros(n),
                "state": np.zeros(n, dtype=np.int8),
                "active": c.living,
            },
            kind_names=VOCABULARY.kind_names,
            vocabulary=VOCABULARY,
            attrs={
                "seed": 0,
                "backend": "numpy",
                "device": "cpu",
                "dtype": "float64",
                "scenario": 'title = "Hand-placed cells"\n',
                "scenario_path": "<test>",
                "extra": "{}",
            },
        )
        path = run_dir / "snapshots" / snapshot_name(i)
        entries.append(write_snapshot(path, data, run_dir=run_dir, index=i))
    write_sidecar(run_dir, entries)
    return run_dir
