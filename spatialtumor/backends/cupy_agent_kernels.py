"""CuPy launch wrappers of the cell-layer CUDA kernels (``kernels/mechanics.cu``,
``kernels/exchange.cu``, ``kernels/contacts.cu``).

Signatures equal those of :mod:`spatialtumor.backends.reference_agents`. Every scalar is
cast explicitly (CuPy does not check argument types) and every array is made C-contiguous
in the dtype the kernel expects. ``cupy`` is imported only inside methods.
"""

from __future__ import annotations

import numpy as np

_BLOCK = 256
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def _suffix(dtype) -> str:
    try:
        return _SUFFIX[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"cell kernels support float32 and float64, not {dtype}") from None


class AgentKernels:
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
        """CUDA twin of :func:`reference_agents.pair_forces` (one thread per row)."""
        import cupy as cp

        dt = np.dtype(position.dtype)
        n = int(position.shape[0])
        if n == 0:
            return
        if out.dtype != dt or not out.flags.c_contiguous:
            raise ValueError("out must be a C-contiguous array of the position dtype")
        nx, ny, nz = (int(d) for d in dims)
        rep = cp.ascontiguousarray(cp.asarray(repulsion, dtype=dt))
        nk = int(rep.shape[0])
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
        """CUDA twin of :func:`reference_agents.deposit_sorted` (one thread per field × voxel)."""
        import cupy as cp

        dt = np.dtype(source.dtype)
        nf = int(source.shape[0])
        nvox = int(start.shape[0])
        if nf == 0 or nvox == 0 or int(order.shape[0]) == 0:
            return
        for a in (source, uptake):
            if a.dtype != dt or not a.flags.c_contiguous:
                raise ValueError("source and uptake must be C-contiguous arrays of one dtype")
        total = nf * nvox
        fn = self._agent_function("exchange.cu", f"deposit_sorted_{_suffix(dt)}")
        fn(
            ((total + _BLOCK - 1) // _BLOCK,),
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
        m = int(query.shape[0])
        if m == 0:
            return
        n = int(position.shape[0])
        if position.shape != (n, 3) or radius.shape != (n,) or weight.shape != (n,):
            raise ValueError("position (N, 3), radius (N,) and weight (N,) must agree")
        for a, want in (
            (out_count, np.int64),
            (out_weight, np.float64),
            (out_pick, np.int64),
            (out_time, np.float64),
        ):
            if a.shape != (m,) or a.dtype != want or not a.flags.c_contiguous:
                raise ValueError(f"outputs must be C-contiguous ({m},) arrays of {np.dtype(want)}")
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
