"""CuPy launch wrappers: the only place that names a CUDA function.

Each method has the signature of its NumPy twin in :mod:`spatialtumor.backends.reference`
(the specification) and launches the matching ``extern "C"`` entry point of
``kernels/diffusion.cu``. Every scalar is cast explicitly to the type the kernel declares
(CuPy checks no argument types); arrays must already be C-contiguous device arrays of the
field dtype, or a :class:`KernelArgumentError` names the offending argument.

``cupy`` is imported only inside methods.
"""

from __future__ import annotations

import numpy as np

from .cupy_agent_kernels import AgentKernels

_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
_SCALAR = {np.dtype(np.float32): np.float32, np.dtype(np.float64): np.float64}
_SOURCE = "diffusion.cu"
_BLOCK = 128  # threads per block of the one-thread-per-line and elementwise kernels
_ROW_WARPS = 4  # warps per block of the streaming (tiled) x sweep
_TILE_BYTES = 32 * 33  # values of one shared-memory tile (times itemsize for bytes)
_RESIDENT_LIMIT = 48 * 1024  # largest per-warp shared memory of the "auto" x sweep [bytes]
_MAX_GRID_YZ = 65535

X_SWEEP_MODES = ("auto", "strided", "tiled", "resident")
YZ_SWEEP_MODES = ("strided", "resident", "auto")
_COLS_BLOCK = 32  # threads (lines) per block of the resident y/z sweep


class KernelArgumentError(TypeError, ValueError):
    """An array given to a CUDA kernel has the wrong type, dtype, shape or layout.

    Both a ``TypeError`` and a ``ValueError``: a wrong shape is caught as either, and no
    kernel is launched with it."""


def _check_array(a, name: str, dtype=None, shape=None):
    import cupy

    if not isinstance(a, cupy.ndarray):
        raise KernelArgumentError(
            f"{name} must be a cupy array on the device, got {type(a).__module__}."
            f"{type(a).__name__}"
        )
    if dtype is not None and a.dtype != dtype:
        raise KernelArgumentError(f"{name} must have dtype {np.dtype(dtype).name}, got {a.dtype}")
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise KernelArgumentError(f"{name} must have shape {tuple(shape)}, got {tuple(a.shape)}")
    if not a.flags.c_contiguous:
        raise KernelArgumentError(f"{name} must be C-contiguous (use cupy.ascontiguousarray)")


def _field_dtype(c, name: str) -> np.dtype:
    _check_array(c, name)
    if c.dtype not in _SUFFIX:
        raise KernelArgumentError(f"{name} must be float32 or float64, got {c.dtype}")
    if c.ndim != 4:
        raise KernelArgumentError(f"{name} must have shape (nf, nz, ny, nx), got {c.shape}")
    return np.dtype(c.dtype)


class CupyKernels(AgentKernels):
    """CUDA kernels of the CuPy backend (diffusion here, cell kernels in :class:`AgentKernels`).

    Parameters
    ----------
    x_sweep : how the x-axis LOD sweep runs (the x lines are contiguous in memory, so one
        thread per line would read with a stride of ``nx`` across a warp):

        ``"strided"``  one thread per line, like the y and z sweeps;
        ``"tiled"``    a warp owns 32 lines and streams them through a 32 × 32 shared-memory
                       tile (coalesced; each value is read and written twice);
        ``"resident"`` as tiled, but the whole lines stay in shared memory between the
                       forward and the backward pass (each value read and written once);
        int ``m``      as tiled with ``m`` tiles per warp kept in shared memory;
        ``"auto"``     resident when a warp's lines fit in 48 KiB of shared memory, else tiled.
    yz_sweep : how the y and z sweeps run (their lines are strided, neighbouring lines are
        neighbouring voxels, so one thread per line reads coalesced either way):

        ``"strided"``  one thread per line, reading and writing each value twice (forward
                       and backward pass through global memory);
        ``"resident"`` each thread keeps its whole line in shared memory between the passes
                       (each value read and written once), wherever 32 lines fit in the
                       device's shared memory per block; strided otherwise;
        ``"auto"``     resident when 32 lines fit in 48 KiB (no opt-in), else strided.
    """

    def __init__(self, x_sweep="auto", yz_sweep="strided"):
        super().__init__()
        if not (x_sweep in X_SWEEP_MODES or (isinstance(x_sweep, int) and x_sweep >= 1)):
            raise ValueError(f"x_sweep must be one of {X_SWEEP_MODES} or an int >= 1")
        if yz_sweep not in YZ_SWEEP_MODES:
            raise ValueError(f"yz_sweep must be one of {YZ_SWEEP_MODES}")
        self.x_sweep = x_sweep
        self.yz_sweep = yz_sweep
        self._functions: dict = {}
        self._smem_opt_in: dict = {}
        self._properties: dict = {}

    def __repr__(self) -> str:
        return f"CupyKernels(x_sweep={self.x_sweep!r}, yz_sweep={self.yz_sweep!r})"

    # helpers ---------------------------------------------------------------------------
    def _function(self, name: str, dtype: np.dtype):
        import cupy

        from .kernel_source import load_raw_module

        key = (name, dtype, cupy.cuda.Device().id)
        fn = self._functions.get(key)
        if fn is None:
            fn = load_raw_module(_SOURCE).get_function(f"{name}_{_SUFFIX[dtype]}")
            self._functions[key] = fn
        return fn

    def _device_property(self, name: str) -> int:
        """One integer field of ``cudaDeviceProp`` of the current device, cached."""
        import cupy

        dev = cupy.cuda.Device().id
        props = self._properties.get(dev)
        if props is None:
            props = cupy.cuda.runtime.getDeviceProperties(dev)
            self._properties[dev] = props
        return int(props[name])

    def x_sweep_plan(self, nx: int, itemsize: int) -> tuple[int, int]:
        """``(tiles kept in shared memory per warp, warps per block)`` of the tiled x sweep."""
        ntiles = -(-nx // 32)
        per_tile = _TILE_BYTES * itemsize
        limit = self._device_property("sharedMemPerBlockOptin")
        mode = self.x_sweep
        if mode == "auto":
            mode = "resident" if ntiles * per_tile <= _RESIDENT_LIMIT else "tiled"
        if mode == "tiled":
            return 1, _ROW_WARPS
        slots = ntiles if mode == "resident" else min(int(mode), ntiles)
        slots = max(1, min(slots, limit // per_tile))
        warps = max(1, min(_ROW_WARPS, _RESIDENT_LIMIT // (slots * per_tile)))
        return slots, warps

    def yz_sweep_smem(self, n: int, itemsize: int) -> int:
        """Dynamic shared memory [bytes] of the resident y/z sweep over lines of ``n``
        voxels, or 0 where that sweep does not run (strided, or the lines do not fit)."""
        smem = n * _COLS_BLOCK * itemsize
        if self.yz_sweep == "strided" or n == 0:
            return 0
        limit = 48 * 1024 if self.yz_sweep == "auto" else max(48 * 1024, self._optin())
        return smem if smem <= limit else 0

    def _optin(self) -> int:
        return self._device_property("sharedMemPerBlockOptin")

    def _opt_in(self, fn, smem: int) -> None:
        """Raise a kernel's dynamic shared-memory limit to ``smem`` bytes where above 48 KiB."""
        if smem > 48 * 1024 and self._smem_opt_in.get(id(fn), 0) < smem:
            fn.max_dynamic_shared_size_bytes = smem
            self._smem_opt_in[id(fn)] = smem

    # diffusion -------------------------------------------------------------------------
    def lod_sweep(self, c, axis, cprime, inv_denom, offdiag, rhs_lo, rhs_hi):
        """CUDA twin of :func:`reference.lod_sweep` (same arguments; ``c`` solved in place)."""
        dt = _field_dtype(c, "c")
        nf, nz, ny, nx = (int(s) for s in c.shape)
        try:
            n = {"x": nx, "y": ny, "z": nz}[axis]
        except KeyError:
            raise ValueError(f"axis must be 'x', 'y' or 'z', not {axis!r}") from None
        _check_array(cprime, "cprime", dt, (nf, n))
        _check_array(inv_denom, "inv_denom", dt, (nf, n))
        for name, a in (("offdiag", offdiag), ("rhs_lo", rhs_lo), ("rhs_hi", rhs_hi)):
            _check_array(a, name, dt, (nf,))
        if c.size == 0:
            return
        coeffs = (cprime, inv_denom, offdiag, rhs_lo, rhs_hi)
        if axis == "x" and self.x_sweep != "strided":
            slots, warps = self.x_sweep_plan(nx, dt.itemsize)
            smem = warps * slots * _TILE_BYTES * dt.itemsize
            fn = self._function("lod_sweep_rows", dt)
            self._opt_in(fn, smem)
            nrows = nf * nz * ny
            grid = -(-nrows // (32 * warps))
            args = (c, np.int64(nrows), np.int64(nz * ny), np.int32(nx), np.int32(slots))
            fn((grid,), (32, warps), args + coeffs, shared_mem=smem)
            return
        species = nz * ny * nx
        # (lines per species, stride along the line, inner, outer stride): see line_start
        geometry = {
            "x": (nz * ny, 1, 1, nx),
            "y": (nz * nx, nx, nx, ny * nx),
            "z": (ny * nx, ny * nx, ny * nx, 0),
        }[axis]
        lines, stride, inner, outer = geometry
        total = lines * nf
        smem = self.yz_sweep_smem(n, dt.itemsize) if axis != "x" else 0
        args = (
            c,
            np.int32(nf),
            np.int64(lines),
            np.int64(species),
            np.int32(n),
            np.int64(stride),
            np.int64(inner),
            np.int64(outer),
        )
        if smem:
            fn = self._function("lod_sweep_cols", dt)
            self._opt_in(fn, smem)
            fn((-(-total // _COLS_BLOCK),), (_COLS_BLOCK,), args + coeffs, shared_mem=smem)
            return
        fn = self._function("lod_sweep", dt)
        fn((-(-total // _BLOCK),), (_BLOCK,), args + coeffs)

    def lod_sweep_sources(
        self, c, axis, cprime, inv_denom, offdiag, rhs_lo, rhs_hi, source, uptake, dt
    ):
        """CUDA twin of :func:`reference.lod_sweep_sources`: the source step fused into the
        x sweep where the tiled x sweep runs (S and U read once while lines are loaded);
        otherwise :meth:`apply_sources` then :meth:`lod_sweep`."""
        ft = _field_dtype(c, "c")
        _check_array(source, "source", ft, c.shape)
        _check_array(uptake, "uptake", ft, c.shape)
        if axis != "x" or self.x_sweep == "strided":
            self.apply_sources(c, source, uptake, dt)
            self.lod_sweep(c, axis, cprime, inv_denom, offdiag, rhs_lo, rhs_hi)
            return
        nf, nz, ny, nx = (int(s) for s in c.shape)
        _check_array(cprime, "cprime", ft, (nf, nx))
        _check_array(inv_denom, "inv_denom", ft, (nf, nx))
        for name, a in (("offdiag", offdiag), ("rhs_lo", rhs_lo), ("rhs_hi", rhs_hi)):
            _check_array(a, name, ft, (nf,))
        if c.size == 0:
            return
        slots, warps = self.x_sweep_plan(nx, ft.itemsize)
        smem = warps * slots * _TILE_BYTES * ft.itemsize
        fn = self._function("lod_sweep_rows_sources", ft)
        self._opt_in(fn, smem)
        nrows = nf * nz * ny
        grid = -(-nrows // (32 * warps))
        args = (c, np.int64(nrows), np.int64(nz * ny), np.int32(nx), np.int32(slots))
        args += (cprime, inv_denom, offdiag, rhs_lo, rhs_hi, source, uptake, _SCALAR[ft](dt))
        fn((grid,), (32, warps), args, shared_mem=smem)

    def explicit_step(self, c, out, dt, inv_h2, diffusivity, decay, bc_kind, bc_value):
        """CUDA twin of :func:`reference.explicit_step` (``dt`` [min]; ``out`` ≠ ``c``)."""
        import cupy

        ft = _field_dtype(c, "c")
        nf, nz, ny, nx = (int(s) for s in c.shape)
        _check_array(out, "out", ft, c.shape)
        if c.size and out.data.ptr == c.data.ptr:
            raise KernelArgumentError("out must be a different buffer from c")
        _check_array(inv_h2, "inv_h2", ft, (3,))
        _check_array(diffusivity, "diffusivity", ft, (nf,))
        _check_array(decay, "decay", ft, (nf,))
        _check_array(bc_value, "bc_value", ft, (nf, 6))
        _check_array(bc_kind, "bc_kind", None, (nf, 6))
        if bc_kind.dtype.kind not in "iub":
            raise KernelArgumentError(f"bc_kind must be an integer array, got {bc_kind.dtype}")
        if bc_kind.dtype != np.int32:
            bc_kind = bc_kind.astype(cupy.int32)
        if c.size == 0:
            return
        if nz > _MAX_GRID_YZ or nf > _MAX_GRID_YZ:
            raise ValueError(f"explicit_step supports nz, nf <= {_MAX_GRID_YZ}, got {nz}, {nf}")
        bx, by = 32, 8
        grid = (-(-nx // bx) * -(-ny // by), nz, nf)
        args = (
            c,
            out,
            np.int32(nz),
            np.int32(ny),
            np.int32(nx),
            _SCALAR[ft](dt),
            inv_h2,
            diffusivity,
            decay,
            bc_kind,
            bc_value,
        )
        self._function("explicit_step", ft)(grid, (bx, by), args)

    def apply_sources(self, values, source, uptake, dt):
        """CUDA twin of :func:`reference.apply_sources`: ``c ← (c + dt S)/(1 + dt U)`` in place.

        ``dt`` [min]; ``source`` S [units/min] and ``uptake`` U [1/min] have the shape of
        ``values``.
        """
        _check_array(values, "values")
        ft = np.dtype(values.dtype)
        if ft not in _SUFFIX:
            raise KernelArgumentError(f"values must be float32 or float64, got {ft}")
        _check_array(source, "source", ft, values.shape)
        _check_array(uptake, "uptake", ft, values.shape)
        n = int(values.size)
        if n == 0:
            return
        sms = self._device_property("multiProcessorCount")
        grid = max(1, min(-(-n // _BLOCK), 32 * sms))
        args = (values, source, uptake, _SCALAR[ft](dt), np.int64(n))
        self._function("apply_sources", ft)((grid,), (_BLOCK,), args)
