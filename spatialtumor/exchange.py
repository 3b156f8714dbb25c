"""Cells ↔ fields: secretion and uptake deposited per voxel; field value and gradient sensed
at each cell.

Deposit (BioFVM, Ghaffarizadeh et al., Bioinformatics 2016): a cell of volume V in a voxel
of volume V_vox changes each field by ``dc/dt = (V/V_vox)[r (T − c) − u c]`` (secretion
rate r toward target T, uptake rate u). Summed over the voxel's cells this is
``S − U c`` with ``S = Σ (V/V_vox) r T`` and ``U = Σ (V/V_vox)(r + u)``, which the
simulation integrates implicitly, ``c ← (c + dt S)/(1 + dt U)`` (never negative). The sum
runs over cells sorted by (voxel, id), one fixed-order sum per voxel: deterministic, no
atomics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .agents import CellKind, Population
from .binning import BinGrid, Binning


def state_slots(kinds: Sequence[CellKind]) -> int:
    """Rows per kind in the (kind, state) tables: the largest number of states of any kind."""
    return max((len(k.states) for k in kinds), default=1)


def class_codes(xp, kind, state, slots: int):
    """Row of each cell in the (kind, state) tables, ``kind · slots + state`` (int16)."""
    return (kind.astype(xp.int16) * xp.int16(slots) + state.astype(xp.int16)).astype(xp.int16)


def exchange_tables(kinds: Sequence[CellKind], field_names: Sequence[str]):
    """Per-(kind, state) coefficient tables ``(source_coef, uptake_coef)``, each
    (nk · slots, nf) float64 with ``slots = state_slots(kinds)``.

    Row ``k · slots + s`` holds kind k in state s: ``source_coef = r T + E / V_kind``
    [units/min] and ``uptake_coef = r + u`` [1/min] of :meth:`CellKind.exchange_in`; the
    deposit multiplies both by ``V_cell / V_voxel``, so a release ``E`` [units · µm³/min]
    adds ``E / V_voxel`` for a cell of its kind's volume. Raises ValueError for an exchange
    naming a field that does not exist.
    """
    names = list(field_names)
    slots = state_slots(kinds)
    sc = np.zeros((len(kinds) * slots, len(names)))
    uc = np.zeros((len(kinds) * slots, len(names)))
    for k, kind in enumerate(kinds):
        for s, state in enumerate(kind.states):
            for fname, ex in kind.exchange_in(state).items():
                if fname not in names:
                    raise ValueError(
                        f"kind {kind.name!r} exchanges unknown field {fname!r}; fields are {names}"
                    )
                f = names.index(fname)
                sc[k * slots + s, f] = ex.rate * ex.target + ex.release / kind.volume
                uc[k * slots + s, f] = ex.rate + ex.uptake
    return sc, uc


class CellExchange:
    """Depositor of cell secretion/uptake into :class:`~spatialtumor.sources.SourceTerms`.

    Append it to ``sim.sources.depositors``; ``SourceTerms.assemble`` then calls
    :meth:`deposit` every diffusion step.

    Parameters
    ----------
    population : Population — its ``kinds`` carry the per-field :class:`FieldExchange`
        tables per state (:meth:`CellKind.exchange_in`)
    fields : Fields
    neighbours : the shared :class:`~spatialtumor.cells.neighbours.Neighbours` of the
        population (default: a private one)

    The (voxel, id) sort comes from ``neighbours`` and is rebuilt only when
    ``population.version`` changes (moves, births, deaths bump it); the (kind, state) rows
    of the cells are recomputed when their states change (``population.state_version``).
    """

    def __init__(self, population: Population, fields, neighbours=None):
        from .cells.neighbours import Neighbours

        self.population = population
        self.fields = fields
        self.grid = fields.grid
        be = self.grid.backend
        sc, uc = exchange_tables(population.kinds, fields.names)
        self.slots = state_slots(population.kinds)
        self.active = bool(np.any(sc) or np.any(uc))
        self.source_coef = be.xp.asarray(sc, dtype=np.float64)
        self.uptake_coef = be.xp.asarray(uc, dtype=np.float64)
        self.bins = BinGrid.of_grid(self.grid)
        self.neighbours = neighbours if neighbours is not None else Neighbours(population)
        self._classes = None
        self._classes_key: tuple[int, int] | None = None

    def binning(self) -> Binning:
        """Cells sorted by (voxel, id), rebuilt when the population changed."""
        return self.neighbours.binning(self.bins)

    def classes(self):
        """(kind, state) table row of every in-use row (cached until the population changes)."""
        pop = self.population
        key = (pop.membership_version, pop.state_version, pop.size)
        if self._classes is None or key != self._classes_key:
            self._classes = class_codes(pop.xp, pop["kind"], pop["state"], self.slots)
            self._classes_key = key
        return self._classes

    def deposit(self, sim, source, uptake) -> None:
        """Add S [units/min] and U [1/min] of every live cell to ``source`` / ``uptake``."""
        pop = self.population
        if not self.active or pop.size == 0:
            return
        b = self.binning()
        self.grid.backend.kernels.deposit_sorted(
            b.order,
            b.start,
            b.end,
            self.classes(),
            pop["volume"],
            pop["alive"],
            self.source_coef,
            self.uptake_coef,
            1.0 / self.grid.voxel_volume,
            source,
            uptake,
        )

    def exchanged(self, values, source, uptake, dt: float):
        """Amount each cell adds to each field in the next source step [units · µm³].

        Parameters
        ----------
        values : (nf, nz, ny, nx) — concentrations before the source step
        source, uptake : the assembled S and U (all contributions, regions included)
        dt : diffusion step [min]

        Returns
        -------
        (size, nf) float64 — ``dt V_vox (w S_j − w U_j c) / (1 + dt U)`` with the cell's
        ``w = V/V_vox`` and its voxel's c and U; dead rows give 0. Summed over a voxel's
        cells this is exactly the cell share of the voxel's change ``V_vox Δc``.
        """
        pop = self.population
        xp = self.grid.backend.xp
        nf = values.shape[0]
        vox = xp.minimum(self.binning().cell_bin, self.grid.size - 1)
        vv = self.grid.voxel_volume
        w = pop["volume"].astype(xp.float64) / vv * pop["alive"]
        k = self.classes().astype(xp.int64)
        c = values.reshape(nf, -1)[:, vox].T.astype(xp.float64)
        u_tot = uptake.reshape(nf, -1)[:, vox].T.astype(xp.float64)
        rate = w[:, None] * (self.source_coef[k] - self.uptake_coef[k] * c)
        return dt * vv * rate / (1.0 + dt * u_tot)


# sensing ----------------------------------------------------------------------------------
def sample_voxel(grid, values, positions):
    """Value of one field (nz, ny, nx) in the voxel holding each position (N, 3) [µm].

    The voxel is the one the cell's secretion and uptake go to (the voxel bins of
    :meth:`BinGrid.of_grid`, which multiply by the inverse voxel size): a cell senses the
    voxel it exchanges with, to the last bit, also on a voxel face; and a domain split over
    processes finds every cell's voxel in the slab of the process that owns the cell.
    """
    from .binning import BinGrid

    b = BinGrid.of_grid(grid).bin_of(grid.backend.xp, positions)
    return values.reshape(-1)[b]


def sample_trilinear(grid, values, positions):
    """Trilinear interpolation of one field between voxel centres at each position.

    Positions beyond the outermost voxel centres take the edge values (constant
    extrapolation), so the result always lies within the field's range.
    """
    xp = grid.backend.xp
    dt = positions.dtype
    rel = (positions - xp.asarray(grid.first_centre, dtype=dt)) / xp.asarray(grid.spacing, dtype=dt)
    lo, t = [], []
    for a in range(3):
        n = int(grid.counts_xyz[a])
        u = xp.clip(rel[:, a], 0, n - 1)
        i0 = xp.clip(xp.floor(u).astype(xp.int64), 0, max(n - 2, 0))
        lo.append(i0)
        t.append(u - i0)
    hi = [xp.minimum(lo[a] + 1, int(grid.counts_xyz[a]) - 1) for a in range(3)]
    out = xp.zeros(positions.shape[0], dtype=values.dtype)
    for cz in (0, 1):
        kk = hi[2] if cz else lo[2]
        wz = t[2] if cz else 1 - t[2]
        for cy in (0, 1):
            jj = hi[1] if cy else lo[1]
            wy = t[1] if cy else 1 - t[1]
            for cx in (0, 1):
                ii = hi[0] if cx else lo[0]
                wx = t[0] if cx else 1 - t[0]
                out += wz * wy * wx * values[kk, jj, ii]
    return out


def sample_gradient(grid, values, positions):
    """Gradient of one field (nz, ny, nx) at the voxel of each position, (N, 3) [units/µm].

    Central differences ``(c[i+1] − c[i−1]) / 2h`` inside, one-sided ``(c[1] − c[0]) / h``
    at the walls (as ``numpy.gradient`` with ``edge_order=1``), 0 along an axis with one
    voxel.
    """
    return gradient_at(grid.backend.xp, values, positions, grid.origin, grid.spacing)


def gradient_at(xp, values, positions, origin, spacing, first=None, counts=None):
    """:func:`sample_gradient` without a grid: ``origin`` (x, y, z) is the lower corner of
    the field's box [µm], ``spacing`` (x, y, z) its voxel edges [µm] (host float64).

    With ``first`` (x, y, z), ``values`` is the block of a larger box of ``counts`` (x, y,
    z) voxels whose corner is ``origin``, starting at voxel ``first``: indices are those
    of the larger box, read from the block (clipped to it, for positions off the block).
    """
    dt = positions.dtype
    spacing = np.asarray(spacing, dtype=np.float64)
    rel = (positions - xp.asarray(origin, dtype=dt)) / xp.asarray(spacing, dtype=dt)
    n = values.shape[::-1] if counts is None else tuple(int(c) for c in counts)
    if first is not None:
        m = values.shape[::-1]

        def at(idx):
            local = [xp.clip(idx[a] - int(first[a]), 0, m[a] - 1) for a in range(3)]
            return values[local[2], local[1], local[0]]
    else:

        def at(idx):
            return values[idx[2], idx[1], idx[0]]

    ijk = [xp.clip(xp.floor(rel[:, a]).astype(xp.int64), 0, int(n[a]) - 1) for a in range(3)]
    out = xp.zeros((positions.shape[0], 3), dtype=values.dtype)
    for a in range(3):
        lo = [ijk[0], ijk[1], ijk[2]]
        hi = [ijk[0], ijk[1], ijk[2]]
        lo[a] = xp.maximum(ijk[a] - 1, 0)
        hi[a] = xp.minimum(ijk[a] + 1, int(n[a]) - 1)
        # in double, as the CUDA twin, whatever NumPy's promotion rules [µm]
        span = (hi[a] - lo[a]).astype(xp.float64) * float(spacing[a])
        diff = at(hi) - at(lo)
        out[:, a] = xp.where(span > 0, diff / xp.where(span > 0, span, 1), 0)
    return out


def sense(population: Population, fields, name: str, method: str = "voxel"):
    """Value of field ``name`` at every in-use row of ``population`` ("voxel" or "trilinear")."""
    grid = fields.grid
    v = fields[name]
    pos = population["position"]
    if method == "voxel":
        return sample_voxel(grid, v, pos)
    if method == "trilinear":
        return sample_trilinear(grid, v, pos)
    raise ValueError(f"sensing method must be 'voxel' or 'trilinear', not {method!r}")


def sense_gradient(population: Population, fields, name: str):
    """Gradient (N, 3) [units/µm] of field ``name`` at every in-use row of ``population``."""
    return sample_gradient(fields.grid, fields[name], population["position"])
