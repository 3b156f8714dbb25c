// One mechanics move of every cell: motility direction switches, chemotaxis, integration,
// displacement limit and walls, fused in one pass (one thread per row).
// Reference twin: spatialtumor.backends.reference_motility.move_cells (same signature, the
// same operations in the same order and precision).
//
// For row i of kind k, class c = k * slots + state (units: um, min):
//   switch  u < min(1, dt / tau_k) or direction = 0, and alive      u: uniform, stream 1
//   new     e = unit vector (stream 2, draws 0 and 1); with chemotaxis
//           e = normalise((1 - w_k) e + w_k g / |g|),  g = gradient of field f_k at the voxel
//           of x_i (central differences, one-sided at the walls; 0 where f_k < 0)
//   v       = v_forces + speed_c * alive * direction                   [um/min]
//   dx      = v dt alive, scaled down to |dx| <= max_displacement * r_i  [um]
//   x      += dx, then reflected at (or clamped to) the box [lower, upper]
// Draws are the counter-based hashes of random.cuh: the uniforms are bit-identical to
// spatialtumor.random; directions made from them go through sin/cos and agree to rounding.
// Precision follows the twin: T for positions and directions, double for the uniforms,
// the unit vector before its rounding to T, and the division of the gradient by its span.
// No standard headers (NVRTC has none): 64-bit integers are long long, kinds short,
// states signed char.
#include "random.cuh"

template <typename T>
__device__ __forceinline__ T gradient_axis(const T *__restrict__ f, long long i, long long j,
                                           long long k, int axis, long long nx, long long ny,
                                           long long nz, double h) {
    const long long n = axis == 0 ? nx : (axis == 1 ? ny : nz);
    const long long c = axis == 0 ? i : (axis == 1 ? j : k);
    const long long lo = c > 0 ? c - 1 : 0;
    const long long hi = c + 1 < n ? c + 1 : n - 1;
    const double span = (double)(T)(hi - lo) * h;
    if (!(span > 0.0)) return (T)0;
    long long ilo = i, jlo = j, klo = k, ihi = i, jhi = j, khi = k;
    if (axis == 0) ilo = lo, ihi = hi;
    if (axis == 1) jlo = lo, jhi = hi;
    if (axis == 2) klo = lo, khi = hi;
    const T diff = f[(khi * ny + jhi) * nx + ihi] - f[(klo * ny + jlo) * nx + ilo];
    return (T)((double)diff / span);
}

template <typename T>
__device__ __forceinline__ long long voxel_of(T x, T origin, T h, long long n) {
    const long long v = (long long)floor((x - origin) / h);
    return v < 0 ? 0 : (v > n - 1 ? n - 1 : v);
}

template <typename T>
__device__ __forceinline__ T wall(T x, T lo, T hi, int reflect) {
    if (reflect) {
        if (x < lo) x = (T)2 * lo - x;
        if (x > hi) x = (T)2 * hi - x;
    }
    x = x > lo ? x : lo;
    return x < hi ? x : hi;
}

template <typename T>
__device__ __forceinline__ void move_cells_impl(
    T *__restrict__ position, T *__restrict__ direction, const T *__restrict__ velocity,
    const long long *__restrict__ ids, const short *__restrict__ kind,
    const signed char *__restrict__ state, const bool *__restrict__ alive,
    const T *__restrict__ radius, long long n, const T *__restrict__ persistence,
    const T *__restrict__ bias, const long long *__restrict__ kind_field, long long nk,
    const T *__restrict__ class_speed, long long slots, const T *__restrict__ fields,
    int chemotaxis, long long nx, long long ny, long long nz, double ox, double oy, double oz,
    double hx, double hy, double hz, double dt, double max_displacement, double lx, double ly,
    double lz, double ux, double uy, double uz, int reflect, unsigned long long prefix) {
    const long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) return;
    const long long k = kind[r];
    const bool live = alive[r];
    const T dtt = (T)dt;
    T x[3] = {position[3 * r], position[3 * r + 1], position[3 * r + 2]};
    T d[3] = {direction[3 * r], direction[3 * r + 1], direction[3 * r + 2]};
    // direction switch (the draws are made for every row, as in the twin)
    T p = dtt / persistence[k];
    p = p < (T)1 ? p : (T)1;
    const long long id = ids[r];
    const double u = st_random::uniform(prefix, id, 1u, 0u);
    const bool has_dir = d[0] != (T)0 || d[1] != (T)0 || d[2] != (T)0;
    if (live && (u < (double)p || !has_dir)) {
        double e64[3];
        st_random::unit_vector(prefix, id, 2u, e64);
        T e[3] = {(T)e64[0], (T)e64[1], (T)e64[2]};
        if (chemotaxis) {
            T g[3] = {(T)0, (T)0, (T)0};
            const long long f = kind_field[k];
            if (f >= 0) {
                const T *c = fields + f * nx * ny * nz;
                const long long i = voxel_of(x[0], (T)ox, (T)hx, nx);
                const long long j = voxel_of(x[1], (T)oy, (T)hy, ny);
                const long long kk = voxel_of(x[2], (T)oz, (T)hz, nz);
                g[0] = gradient_axis(c, i, j, kk, 0, nx, ny, nz, hx);
                g[1] = gradient_axis(c, i, j, kk, 1, nx, ny, nz, hy);
                g[2] = gradient_axis(c, i, j, kk, 2, nx, ny, nz, hz);
            }
            const T gn = sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
            const T b = bias[k];
            T w[3];
            for (int a = 0; a < 3; ++a) {
                const T gh = gn > (T)0 ? g[a] / gn : (T)0;
                w[a] = ((T)1 - b) * e[a] + b * gh;
            }
            const T wn = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
            if (wn > (T)0)
                for (int a = 0; a < 3; ++a) e[a] = w[a] / wn;
        }
        for (int a = 0; a < 3; ++a) d[a] = e[a];
    }
    // integration
    const T on = live ? (T)1 : (T)0;
    const T speed = class_speed[k * slots + state[r]] * on;
    T dx[3];
    for (int a = 0; a < 3; ++a) dx[a] = (velocity[3 * r + a] + speed * d[a]) * dtt * on;
    const T norm = sqrt(dx[0] * dx[0] + dx[1] * dx[1] + dx[2] * dx[2]);
    const T cap = (T)max_displacement * radius[r];
    const T scale = norm > cap ? cap / (norm > (T)0 ? norm : (T)1) : (T)1;
    const T lo[3] = {(T)lx, (T)ly, (T)lz}, hi[3] = {(T)ux, (T)uy, (T)uz};
    for (int a = 0; a < 3; ++a) {
        position[3 * r + a] = wall(x[a] + dx[a] * scale, lo[a], hi[a], reflect);
        direction[3 * r + a] = d[a];
    }
}

#define MOVE_CELLS(SUFFIX, T)                                                                    \
    extern "C" __global__ void move_cells_##SUFFIX(                                              \
        T *position, T *direction, const T *velocity, const long long *ids, const short *kind,   \
        const signed char *state, const bool *alive, const T *radius, long long n,               \
        const T *persistence, const T *bias, const long long *kind_field, long long nk,          \
        const T *class_speed, long long slots, const T *fields, int chemotaxis, long long nx,    \
        long long ny, long long nz, double ox, double oy, double oz, double hx, double hy,       \
        double hz, double dt, double max_displacement, double lx, double ly, double lz,          \
        double ux, double uy, double uz, int reflect, unsigned long long prefix) {               \
        move_cells_impl<T>(position, direction, velocity, ids, kind, state, alive, radius, n,    \
                           persistence, bias, kind_field, nk, class_speed, slots, fields,        \
                           chemotaxis, nx, ny, nz, ox, oy, oz, hx, hy, hz, dt, max_displacement, \
                           lx, ly, lz, ux, uy, uz, reflect, prefix);                             \
    }

MOVE_CELLS(f32, float)
MOVE_CELLS(f64, double)
