"""CuPy launch wrappers of the cell-layer CUDA kernels (``kernels/mechanics.cu``,
``kernels/exchange.cu``, ``kernels/contacts.cu``; the fused move of ``kernels/motility.cu``
in :mod:`.cupy_motility_kernels`).

Signatures equal those of :mod:`spatialtumor.backends.reference_agents`. Every scalar is
cast explicitly (CuPy does not check argument types) and every array is made C-contiguous
in the dtype the kernel expects. Every wrapper checks the shapes of its arrays against each
other before launching and raises :class:`ValueError` on a mismatch, so a wrong shape never
makes a kernel read or write out of bounds. Index *values* (kinds below the number of kinds,
bins at most the sentinel, ``order`` a permutation) are not checked: that would need a
device-to-host read per launch; the binning and the population produce them.
``cupy`` is imported only inside methods.
"""

from __future__ import annotations

import numpy as np

from .cupy_motility_kernels import MotilityKernels

_BLOCK = 256
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def _shape(a, want, name: str) -> None:
    """Raise ValueError unless ``a.shape == want``."""
    got = tuple(int(s) for s in a.shape)
    if got != tuple(want):
        raise ValueError(f"{name} must have shape {tuple(want)}, got {got}")


def _check_bins(cell_bin, order, bin_start, bin_end, dims, n: int) -> None:
    """Shapes of a (bin, id) sort of ``n`` rows over a ``dims`` = (nx, ny, nz) bin grid."""
    if len(dims) != 3 or any(int(d) < 1 for d in dims):
        raise ValueError(f"dims must be three positive bin counts (nx, ny, nz), got {dims}")
    nb = int(dims[0]) * int(dims[1]) * int(dims[2])
    _shape(cell_bin, (n,), "cell_bin")
    _shape(order, (n,), "order")
    _shape(bin_start, (nb,), "bin_start")
    _shape(bin_end, (nb,), "bin_end")


def _suffix(dtype) -> str:
    try:
        return _SUFFIX[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"cell kernels support float32 and float64, not {dtype}") from None


class AgentKernels(MotilityKernels):
    """Mixin with the cell-layer kernels; ``CupyKernels`` inherits from it."""

    def _agent_function(self, filename: str, name: str, options=()):
        from .kernel_source import load_raw_module

        return load_raw_module(filename, options).get_function(name)

    def pair_forces(
        self,
        position,
        radius,
        kind,
        cell_bin,
        order,
        bin_start,
        bin_end,
        dims,
        repulsion,
        adhesion,
        adhesion_distance,
        out,
    ):
        """CUDA twin of :func:`reference_agents.pair_forces` (one thread per row, taken in the
        sorted order; candidates beyond both interaction distances cut before the root)."""
        import cupy as cp

        dt = np.dtype(position.dtype)
        n = int(position.shape[0])
        _shape(position, (n, 3), "position")
        _shape(radius, (n,), "radius")
        _shape(kind, (n,), "kind")
        _shape(out, (n, 3), "out")
        _check_bins(cell_bin, order, bin_start, bin_end, dims, n)
        if out.dtype != dt or not out.flags.c_contiguous:
            raise ValueError("out must be a C-contiguous array of the position dtype")
        rep = cp.ascontiguousarray(cp.asarray(repulsion, dtype=dt))
        nk = int(rep.shape[0]) if rep.ndim else 0
        _shape(rep, (nk, nk), "repulsion")
        _shape(adhesion, (nk, nk), "adhesion")
        _shape(adhesion_distance, (nk,), "adhesion_distance")
        if n == 0:
            return
        nx, ny, nz = (int(d) for d in dims)
        fn = self._agent_function("mechanics.cu", f"pair_forces_{_suffix(dt)}")
        fn(
            ((n + _BLOCK - 1) // _BLOCK,),
            (_BLOCK,),
            (
                cp.ascontiguousarray(position),
                cp.ascontiguousarray(radius, dtype=dt),
                cp.ascontiguousarray(kind, dtype=cp.int16),
                cp.ascontiguousarray(cell_bin, dtype=cp.int64),
                cp.ascontiguousarray(order, dtype=cp.int64),
                cp.ascontiguousarray(bin_start, dtype=cp.int64),
                cp.ascontiguousarray(bin_end, dtype=cp.int64),
                np.int64(n),
                np.int64(nx),
                np.int64(ny),
                np.int64(nz),
                rep,
                cp.ascontiguousarray(cp.asarray(adhesion, dtype=dt)),
                cp.ascontiguousarray(cp.asarray(adhesion_distance, dtype=dt)),
                np.int64(nk),
                out,
            ),
        )

    def deposit_sorted(
        self,
        order,
        start,
        end,
        kind,
        volume,
        alive,
        source_coef,
        uptake_coef,
        inv_voxel_volume,
        source,
        uptake,
    ):
        """CUDA twin of :func:`reference_agents.deposit_sorted`, one thread per sorted row
        (``deposit_runs``: the first row of each voxel's segment sums it for every field, so
        empty voxels cost nothing)."""
        import cupy as cp

        dt = np.dtype(source.dtype)
        nf = int(source.shape[0]) if source.ndim else 0
        nvox = int(start.shape[0]) if start.ndim == 1 else -1
        n = int(order.shape[0]) if order.ndim == 1 else -1
        if nvox < 0 or n < 0:
            raise ValueError("order, start and end must be one-dimensional")
        _shape(end, (nvox,), "end")
        for a, name in ((kind, "kind"), (volume, "volume"), (alive, "alive")):
            _shape(a, (n,), name)
        for a, name in ((source, "source"), (uptake, "uptake")):
            if int(a.size) != nf * nvox or (a.ndim and int(a.shape[0]) != nf):
                raise ValueError(
                    f"{name} must hold {nf} fields of {nvox} voxels (nf, nz, ny, nx), "
                    f"got shape {tuple(a.shape)}"
                )
            if a.dtype != dt or not a.flags.c_contiguous:
                raise ValueError("source and uptake must be C-contiguous arrays of one dtype")
        for a, name in ((source_coef, "source_coef"), (uptake_coef, "uptake_coef")):
            shape = tuple(int(x) for x in np.shape(a))
            if len(shape) != 2 or shape[1] != nf:
                raise ValueError(f"{name} must have shape (kinds, {nf}), got {shape}")
        if np.shape(source_coef) != np.shape(uptake_coef):
            raise ValueError("source_coef and uptake_coef must have the same shape")
        if nf == 0 or nvox == 0 or n == 0:
            return
        fn = self._agent_function("exchange.cu", f"deposit_runs_{_suffix(dt)}")
        fn(
            ((n + _BLOCK - 1) // _BLOCK,),
            (_BLOCK,),
            (
                cp.ascontiguousarray(order, dtype=cp.int64),
                cp.ascontiguousarray(start, dtype=cp.int64),
                cp.ascontiguousarray(end, dtype=cp.int64),
                cp.ascontiguousarray(kind, dtype=cp.int16),
                cp.ascontiguousarray(volume, dtype=dt),
                cp.ascontiguousarray(alive, dtype=cp.bool_),
                cp.ascontiguousarray(cp.asarray(source_coef, dtype=cp.float64)),
                cp.ascontiguousarray(cp.asarray(uptake_coef, dtype=cp.float64)),
                np.int64(nf),
                np.int64(nvox),
                np.int64(n),
                np.float64(inv_voxel_volume),
                source,
                uptake,
            ),
        )

    def contact_search(
        self,
        position,
        radius,
        ids,
        cell_bin,
        order,
        bin_start,
        bin_end,
        dims,
        query,
        weight,
        reach_full,
        reach_max,
        prefix,
        stream,
        out_count,
        out_weight,
        out_pick,
        out_time,
    ):
        """CUDA twin of :func:`reference_agents.contact_search` (one thread per query)."""
        import cupy as cp

        dt = np.dtype(position.dtype)
        m = int(query.shape[0]) if query.ndim == 1 else -1
        if m < 0:
            raise ValueError(f"query must be one-dimensional, got shape {tuple(query.shape)}")
        n = int(position.shape[0])
        _shape(position, (n, 3), "position")
        for a, name in ((radius, "radius"), (ids, "ids"), (weight, "weight")):
            _shape(a, (n,), name)
        _check_bins(cell_bin, order, bin_start, bin_end, dims, n)
        for a, want in (
            (out_count, np.int64),
            (out_weight, np.float64),
            (out_pick, np.int64),
            (out_time, np.float64),
        ):
            if a.shape != (m,) or a.dtype != want or not a.flags.c_contiguous:
                raise ValueError(f"outputs must be C-contiguous ({m},) arrays of {np.dtype(want)}")
        if m == 0:
            return
        nx, ny, nz = (int(d) for d in dims)
        # no fused multiply-adds: distances and sums round as in the NumPy twin, so the
        # counts and picks at the contact distance agree exactly
        from .kernel_source import MODULE_OPTIONS

        fn = self._agent_function(
            "contacts.cu", f"contact_search_{_suffix(dt)}", options=MODULE_OPTIONS["contacts.cu"]
        )
        fn(
            ((m + _BLOCK - 1) // _BLOCK,),
            (_BLOCK,),
            (
                cp.ascontiguousarray(position),
                cp.ascontiguousarray(radius, dtype=dt),
                cp.ascontiguousarray(ids, dtype=cp.int64),
                cp.ascontiguousarray(cell_bin, dtype=cp.int64),
                cp.ascontiguousarray(order, dtype=cp.int64),
                cp.ascontiguousarray(bin_start, dtype=cp.int64),
                cp.ascontiguousarray(bin_end, dtype=cp.int64),
                np.int64(nx),
                np.int64(ny),
                np.int64(nz),
                cp.ascontiguousarray(query, dtype=cp.int64),
                np.int64(m),
                cp.ascontiguousarray(weight, dtype=cp.float64),
                np.float64(reach_full),
                np.float64(reach_max),
                np.uint64(prefix),
                np.int64(stream),
                out_count,
                out_weight,
                out_pick,
                out_time,
            ),
        )
