// Shared index helpers for the spatialtumor CUDA kernels (no reference twin: no kernel here).
//
// Conventions (see spatialtumor/backends/reference.py):
//   * field arrays are C-ordered (nf, nz, ny, nx), x varies fastest;
//   * flat voxel index inside one species: (k * ny + j) * nx + i;
//   * flat indices and element counts use st::index_t (64 bit): one species alone may hold
//     more than 2^31 voxels (1291^3); extents along one axis (nx, ny, nz) are int.
//
// Only device code and builtin types: this header compiles with nvcc and with NVRTC
// (no host-only headers such as <cstdint>).
#pragma once

namespace st {

typedef long long index_t;

// Warp width used by the cooperative kernels.
constexpr int kWarp = 32;

// Flat voxel index (k * ny + j) * nx + i inside one (nz, ny, nx) block, in 64 bit.
__device__ __forceinline__ index_t voxel_index(int k, int j, int i, int ny, int nx) {
  return (static_cast<index_t>(k) * ny + j) * nx + i;
}

// Global 1D thread id of a 1D launch, in 64 bit.
__device__ __forceinline__ index_t global_thread_id() {
  return static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

// Total number of threads of a 1D launch (the step of a grid-stride loop), in 64 bit.
__device__ __forceinline__ index_t grid_stride() {
  return static_cast<index_t>(gridDim.x) * blockDim.x;
}

// Start of line `line` among the lines of one species that run along an axis.
//
// Lines of a species are numbered so that consecutive numbers are consecutive voxels
// in memory wherever possible (coalesced access for the y and z axes):
//   * x lines: line = k * ny + j        -> start line * nx                (inner = 1)
//   * y lines: line = k * nx + i        -> start k * ny * nx + i          (inner = nx)
//   * z lines: line = j * nx + i        -> start j * nx + i               (inner = ny * nx)
// i.e. start = (line / inner) * outer_stride + line % inner.
__device__ __forceinline__ index_t line_start(index_t line, index_t inner, index_t outer_stride) {
  return (line / inner) * outer_stride + line % inner;
}

}  // namespace st
