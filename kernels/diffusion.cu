// Diffusion kernels. Reference twins (the specification) in spatialtumor/backends/reference.py:
//   lod_sweep       <-> lod_sweep_f32 / lod_sweep_f64 (any axis, strided lines)
//                       lod_sweep_rows_f32 / lod_sweep_rows_f64 (x axis, warp tiles in shared memory)
//                       lod_sweep_cols_f32 / lod_sweep_cols_f64 (y, z axes, lines in shared memory)
//   lod_sweep_sources <-> lod_sweep_rows_sources_f32 / _f64 (apply_sources fused into the x sweep)
//   explicit_step   <-> explicit_step_f32 / explicit_step_f64
//   apply_sources   <-> apply_sources_f32 / apply_sources_f64
//
// Field arrays are C-ordered (nf, nz, ny, nx). Faces are ordered x_min, x_max, y_min, y_max,
// z_min, z_max; boundary kind 0 = zero flux (ghost = edge value), 1 = Dirichlet
// (ghost = 2 c_b - c_edge). Launch geometry is chosen by spatialtumor/backends/cupy_kernels.py.
#include "common.cuh"

namespace {

// Values held in registers per thread before the strided Thomas sweep uses them: this many
// independent loads are in flight per thread.
constexpr int kChunk = 8;

// Row pitch of a 32 x 32 shared-memory tile: 33 keeps both the row-wise (load/store) and
// the column-wise (per-thread recurrence) accesses free of bank conflicts.
constexpr int kPitch = 33;
constexpr int kTile = 32 * kPitch;

// Thomas algorithm on one line v[0], v[stride], ..., v[(n-1) stride], in place.
// Forward: d'_0 = (d_0 + lo [+ hi if n == 1]) / b_0, d'_i = (d_i - a d'_{i-1}) / denom_i;
// back: x_{n-1} = d'_{n-1}, x_i = d'_i - c'_i x_{i+1}. `hi` is added to d_{n-1}.
template <typename T>
__device__ __forceinline__ void thomas_strided(T* __restrict__ v, int n, st::index_t stride,
                                               const T* __restrict__ cp,
                                               const T* __restrict__ inv, T a, T lo, T hi) {
  T prev = T(0);
  for (int i0 = 0; i0 < n; i0 += kChunk) {
    T r[kChunk];
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      const int i = i0 + u;
      if (i < n) r[u] = v[i * stride];
    }
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      const int i = i0 + u;
      if (i < n) {
        T x = r[u];
        if (i == 0) x += lo;
        if (i == n - 1) x += hi;
        if (i > 0) x -= a * prev;
        x *= inv[i];
        prev = x;
        v[i * stride] = x;
      }
    }
  }
  T next = prev;  // x_{n-1} = d'_{n-1}, already stored
  for (int i0 = n - 2; i0 >= 0; i0 -= kChunk) {
    T r[kChunk];
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      const int i = i0 - u;
      if (i >= 0) r[u] = v[i * stride];
    }
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      const int i = i0 - u;
      if (i >= 0) {
        const T x = r[u] - cp[i] * next;
        next = x;
        v[i * stride] = x;
      }
    }
  }
}

// One thread per line, all species in one launch. Line `line` of species f starts at
// f * species_size + st::line_start(line % lines_per_species, inner, outer_stride).
template <typename T>
__device__ void lod_sweep_strided(T* __restrict__ c, int nf, st::index_t lines_per_species,
                                  st::index_t species_size, int n, st::index_t stride,
                                  st::index_t inner, st::index_t outer_stride,
                                  const T* __restrict__ cprime, const T* __restrict__ inv_denom,
                                  const T* __restrict__ offdiag, const T* __restrict__ rhs_lo,
                                  const T* __restrict__ rhs_hi) {
  const st::index_t line = st::global_thread_id();
  if (line >= lines_per_species * nf) return;
  const int f = static_cast<int>(line / lines_per_species);
  const st::index_t l = line - f * lines_per_species;
  T* v = c + f * species_size + st::line_start(l, inner, outer_stride);
  thomas_strided<T>(v, n, stride, cprime + static_cast<st::index_t>(f) * n,
                    inv_denom + static_cast<st::index_t>(f) * n, offdiag[f], rhs_lo[f],
                    rhs_hi[f]);
}

// y and z sweeps with whole lines resident in shared memory. Thread t of a block owns one
// line (numbered as in lod_sweep_strided) and keeps it in column t of an n x blockDim.x
// shared array: each value is read from global memory once (load) and written once (the
// backward pass writes the solution straight out), where the strided sweep reads and writes
// it twice. Consecutive lines start at consecutive voxels (st::line_start), so each load or
// store instruction of a warp moves one coalesced segment; threads touch only their own
// column (no barriers). The arithmetic is that of thomas_strided, in the same order.
// Dynamic shared memory: n * blockDim.x values of T; 1D blocks.
template <typename T>
__device__ void lod_sweep_cols(T* __restrict__ c, int nf, st::index_t lines_per_species,
                               st::index_t species_size, int n, st::index_t stride,
                               st::index_t inner, st::index_t outer_stride,
                               const T* __restrict__ cprime, const T* __restrict__ inv_denom,
                               const T* __restrict__ offdiag, const T* __restrict__ rhs_lo,
                               const T* __restrict__ rhs_hi) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const st::index_t line = st::global_thread_id();
  if (line >= lines_per_species * nf) return;
  T* const col = reinterpret_cast<T*>(smem_raw) + threadIdx.x;
  const int w = static_cast<int>(blockDim.x);
  const int f = static_cast<int>(line / lines_per_species);
  const st::index_t l = line - f * lines_per_species;
  T* const v = c + f * species_size + st::line_start(l, inner, outer_stride);
  const T* const cp = cprime + static_cast<st::index_t>(f) * n;
  const T* const inv = inv_denom + static_cast<st::index_t>(f) * n;
  const T a = offdiag[f];
  const T lo = rhs_lo[f];
  const T hi = rhs_hi[f];
#pragma unroll 8
  for (int i = 0; i < n; ++i) col[i * w] = v[i * stride];
  T prev = T(0);
  for (int i = 0; i < n; ++i) {
    T x = col[i * w];
    if (i == 0) x += lo;
    if (i == n - 1) x += hi;
    if (i > 0) x -= a * prev;
    x *= inv[i];
    prev = x;
    col[i * w] = x;
  }
  T next = prev;  // x_{n-1} = d'_{n-1}
  v[(n - 1) * stride] = next;
  for (int i = n - 2; i >= 0; --i) {
    const T x = col[i * w] - cp[i] * next;
    next = x;
    v[i * stride] = x;
  }
}

// Copy one 32-column tile of 32 consecutive rows between global memory and a shared tile,
// lane = column: every row segment moves as one coalesced transaction.
template <typename T, bool kLoad>
__device__ __forceinline__ void move_tile(T* __restrict__ c, T* __restrict__ tile,
                                          st::index_t row0, int nrow, int nx, int col0,
                                          int lane) {
  const int col = col0 + lane;
  if (col >= nx) return;
  T* g = c + row0 * nx + col;
#pragma unroll 8
  for (int r = 0; r < nrow; ++r) {
    if (kLoad) {
      tile[r * kPitch + lane] = g[static_cast<st::index_t>(r) * nx];
    } else {
      g[static_cast<st::index_t>(r) * nx] = tile[r * kPitch + lane];
    }
  }
}

// Load one tile as move_tile does, applying the implicit source step on the way in:
// tile = (c + dt S) / (1 + dt U) (apply_sources_impl's arithmetic); S and U are laid out
// like c.
template <typename T>
__device__ __forceinline__ void load_tile_sources(const T* __restrict__ c,
                                                  const T* __restrict__ source,
                                                  const T* __restrict__ uptake, T dt,
                                                  T* __restrict__ tile, st::index_t row0,
                                                  int nrow, int nx, int col0, int lane) {
  const int col = col0 + lane;
  if (col >= nx) return;
  const st::index_t g = row0 * nx + col;
#pragma unroll 8
  for (int r = 0; r < nrow; ++r) {
    const st::index_t e = g + static_cast<st::index_t>(r) * nx;
    tile[r * kPitch + lane] = (c[e] + dt * source[e]) / (T(1) + dt * uptake[e]);
  }
}

// x sweep, warp-cooperative: each warp owns 32 consecutive rows (x lines) and walks them
// tile by tile (32 columns) through shared memory; lane r runs the recurrence of row r.
// `slots` tiles per warp stay resident in shared memory: the last `slots` tiles of the
// forward pass are not written back and re-read for the backward pass. slots >= ntiles keeps
// whole rows resident (one global read and one write per value); slots = 1 streams.
// Dynamic shared memory: blockDim.y * slots * 32 * 33 values of T. blockDim.x must be 32.
// kSources: the forward pass loads (c + dt S) / (1 + dt U) instead of c (the source step of
// apply_sources fused in: S and U are read once, c is not read and written an extra time).
template <typename T, bool kSources = false>
__device__ void lod_sweep_rows(T* __restrict__ c, st::index_t nrows, st::index_t rows_per_species,
                               int nx, int slots, const T* __restrict__ cprime,
                               const T* __restrict__ inv_denom, const T* __restrict__ offdiag,
                               const T* __restrict__ rhs_lo, const T* __restrict__ rhs_hi,
                               const T* __restrict__ source = nullptr,
                               const T* __restrict__ uptake = nullptr, T dt = T(0)) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* const smem = reinterpret_cast<T*>(smem_raw);
  const int lane = threadIdx.x;
  const int w = threadIdx.y;
  const st::index_t row0 = (static_cast<st::index_t>(blockIdx.x) * blockDim.y + w) * st::kWarp;
  if (row0 >= nrows) return;  // whole warp leaves; only warp-level barriers below
  T* const wbuf = smem + static_cast<st::index_t>(w) * slots * kTile;
  const int nrow = nrows - row0 < st::kWarp ? static_cast<int>(nrows - row0) : st::kWarp;
  const bool valid = lane < nrow;
  const int f = valid ? static_cast<int>((row0 + lane) / rows_per_species) : 0;
  const T* const cp = cprime + static_cast<st::index_t>(f) * nx;
  const T* const inv = inv_denom + static_cast<st::index_t>(f) * nx;
  const T a = offdiag[f];
  const T lo = rhs_lo[f];
  const T hi = rhs_hi[f];
  const int ntiles = (nx + st::kWarp - 1) / st::kWarp;

  T prev = T(0);
  for (int t = 0; t < ntiles; ++t) {
    T* const tile = wbuf + (t % slots) * kTile;
    const int col0 = t * st::kWarp;
    if (t >= slots) move_tile<T, false>(c, tile, row0, nrow, nx, col0 - slots * st::kWarp, lane);
    if (kSources) {
      load_tile_sources<T>(c, source, uptake, dt, tile, row0, nrow, nx, col0, lane);
    } else {
      move_tile<T, true>(c, tile, row0, nrow, nx, col0, lane);
    }
    __syncwarp();
    if (valid) {
      T* const mine = tile + lane * kPitch;
      const int width = nx - col0 < st::kWarp ? nx - col0 : st::kWarp;
      for (int cc = 0; cc < width; ++cc) {
        const int i = col0 + cc;
        T x = mine[cc];
        if (i == 0) x += lo;
        if (i == nx - 1) x += hi;
        if (i > 0) x -= a * prev;
        x *= inv[i];
        prev = x;
        mine[cc] = x;
      }
    }
    __syncwarp();
  }
  T next = prev;  // x_{n-1} = d'_{n-1}
  for (int t = ntiles - 1; t >= 0; --t) {
    T* const tile = wbuf + (t % slots) * kTile;
    const int col0 = t * st::kWarp;
    if (t < ntiles - slots) {  // not resident: the slot holds finished tile t + slots
      move_tile<T, false>(c, tile, row0, nrow, nx, col0 + slots * st::kWarp, lane);
      move_tile<T, true>(c, tile, row0, nrow, nx, col0, lane);
    }
    __syncwarp();
    if (valid) {
      T* const mine = tile + lane * kPitch;
      const int width = nx - col0 < st::kWarp ? nx - col0 : st::kWarp;
      for (int cc = width - 1; cc >= 0; --cc) {
        const int i = col0 + cc;
        if (i < nx - 1) {
          const T x = mine[cc] - cp[i] * next;
          next = x;
          mine[cc] = x;
        }
      }
    }
    __syncwarp();
  }
  const int kept = ntiles < slots ? ntiles : slots;  // tiles 0 .. kept-1 sit in slots 0 .. kept-1
  for (int t = 0; t < kept; ++t) {
    move_tile<T, false>(c, wbuf + t * kTile, row0, nrow, nx, t * st::kWarp, lane);
  }
}

// Explicit step, one thread per voxel. Grid: x = tiles of (blockDim.x, blockDim.y) over
// (nx, ny), y = k, z = species.
template <typename T>
__device__ void explicit_step_impl(const T* __restrict__ c, T* __restrict__ out, int nz, int ny,
                                   int nx, T dt, const T* __restrict__ inv_h2,
                                   const T* __restrict__ diffusivity, const T* __restrict__ decay,
                                   const int* __restrict__ bc_kind,
                                   const T* __restrict__ bc_value) {
  const int tiles_x = (nx + blockDim.x - 1) / blockDim.x;
  const int i = (blockIdx.x % tiles_x) * blockDim.x + threadIdx.x;
  const int j = (blockIdx.x / tiles_x) * blockDim.y + threadIdx.y;
  const int k = blockIdx.y;
  const int f = blockIdx.z;
  if (i >= nx || j >= ny) return;
  // 64-bit voxel index and strides: one species may hold more than 2^31 voxels
  const st::index_t sy = nx;
  const st::index_t sz = static_cast<st::index_t>(ny) * nx;
  const st::index_t offset = static_cast<st::index_t>(f) * nz * sz;
  const T* const cf = c + offset;
  const st::index_t v = st::voxel_index(k, j, i, ny, nx);
  const T c0 = cf[v];
  const int* const kind = bc_kind + 6 * f;
  const T* const val = bc_value + 6 * f;
  const T two = T(2);
  const T xm = i > 0 ? cf[v - 1] : (kind[0] ? two * val[0] - c0 : c0);
  const T xp = i < nx - 1 ? cf[v + 1] : (kind[1] ? two * val[1] - c0 : c0);
  const T ym = j > 0 ? cf[v - sy] : (kind[2] ? two * val[2] - c0 : c0);
  const T yp = j < ny - 1 ? cf[v + sy] : (kind[3] ? two * val[3] - c0 : c0);
  const T zm = k > 0 ? cf[v - sz] : (kind[4] ? two * val[4] - c0 : c0);
  const T zp = k < nz - 1 ? cf[v + sz] : (kind[5] ? two * val[5] - c0 : c0);
  T lap = ((xp + xm) - two * c0) * inv_h2[0];
  lap += ((yp + ym) - two * c0) * inv_h2[1];
  lap += ((zp + zm) - two * c0) * inv_h2[2];
  T o = diffusivity[f] * lap;
  o -= decay[f] * c0;
  o *= dt;
  o += c0;
  out[offset + v] = o;
}

// c <- (c + dt S) / (1 + dt U), elementwise over all species (grid-stride loop).
template <typename T>
__device__ void apply_sources_impl(T* __restrict__ values, const T* __restrict__ source,
                                   const T* __restrict__ uptake, T dt, st::index_t n) {
  for (st::index_t e = st::global_thread_id(); e < n; e += st::grid_stride()) {
    values[e] = (values[e] + dt * source[e]) / (T(1) + dt * uptake[e]);
  }
}

}  // namespace

#define ST_DIFFUSION_ENTRY_POINTS(T, SUFFIX)                                                    \
  extern "C" __global__ void lod_sweep_##SUFFIX(                                               \
      T* c, int nf, long long lines_per_species, long long species_size, int n,                \
      long long stride, long long inner, long long outer_stride, const T* cprime,              \
      const T* inv_denom, const T* offdiag, const T* rhs_lo, const T* rhs_hi) {                \
    lod_sweep_strided<T>(c, nf, lines_per_species, species_size, n, stride, inner,             \
                         outer_stride, cprime, inv_denom, offdiag, rhs_lo, rhs_hi);            \
  }                                                                                            \
  extern "C" __global__ void lod_sweep_rows_##SUFFIX(                                          \
      T* c, long long nrows, long long rows_per_species, int nx, int slots, const T* cprime,   \
      const T* inv_denom, const T* offdiag, const T* rhs_lo, const T* rhs_hi) {                \
    lod_sweep_rows<T>(c, nrows, rows_per_species, nx, slots, cprime, inv_denom, offdiag,       \
                      rhs_lo, rhs_hi);                                                         \
  }                                                                                            \
  extern "C" __global__ void lod_sweep_rows_sources_##SUFFIX(                                  \
      T* c, long long nrows, long long rows_per_species, int nx, int slots, const T* cprime,   \
      const T* inv_denom, const T* offdiag, const T* rhs_lo, const T* rhs_hi,                  \
      const T* source, const T* uptake, T dt) {                                                \
    lod_sweep_rows<T, true>(c, nrows, rows_per_species, nx, slots, cprime, inv_denom, offdiag, \
                            rhs_lo, rhs_hi, source, uptake, dt);                               \
  }                                                                                            \
  extern "C" __global__ void lod_sweep_cols_##SUFFIX(                                          \
      T* c, int nf, long long lines_per_species, long long species_size, int n,                \
      long long stride, long long inner, long long outer_stride, const T* cprime,              \
      const T* inv_denom, const T* offdiag, const T* rhs_lo, const T* rhs_hi) {                \
    lod_sweep_cols<T>(c, nf, lines_per_species, species_size, n, stride, inner, outer_stride,  \
                      cprime, inv_denom, offdiag, rhs_lo, rhs_hi);                             \
  }                                                                                            \
  extern "C" __global__ void explicit_step_##SUFFIX(                                           \
      const T* c, T* out, int nz, int ny, int nx, T dt, const T* inv_h2, const T* diffusivity, \
      const T* decay, const int* bc_kind, const T* bc_value) {                                 \
    explicit_step_impl<T>(c, out, nz, ny, nx, dt, inv_h2, diffusivity, decay, bc_kind,         \
                          bc_value);                                                           \
  }                                                                                            \
  extern "C" __global__ void apply_sources_##SUFFIX(T* values, const T* source,                \
                                                    const T* uptake, T dt, long long n) {      \
    apply_sources_impl<T>(values, source, uptake, dt, n);                                      \
  }

ST_DIFFUSION_ENTRY_POINTS(float, f32)
ST_DIFFUSION_ENTRY_POINTS(double, f64)
