// Neighbour pair forces over the 27 bins around each cell.
// Reference twin: spatialtumor.backends.reference_agents.pair_forces (same signature, same
// discrete equation, same summation order: offsets dz, dy, dx in -1, 0, 1 with dx fastest,
// then sorted order inside each bin).
//
//   v_i = sum_j [c_rep (1 - d/R)^2_+ - c_adh (1 - d/R_A)^2_+] (x_i - x_j) / max(d, 1e-5)
//   R = r_i + r_j,  R_A = a_{k_i} r_i + a_{k_j} r_j,  units: um, um/min
//
// Thread t works on row order[t], in the (bin, id) sorted order: neighbouring threads hold
// neighbouring cells and read the same bins (cache and coalescing), and the sentinel rows
// (no bin, zero velocity) come last. A candidate is dropped on its squared distance before
// the square root and the divisions: pairs with d^2 > max(R, R_A)^2 (1 + 1e-5) lie beyond
// both interaction distances and contribute exactly zero, so the cut changes no bit.
// No standard headers (NVRTC has none): 64-bit integers are long long, kinds short.
#include "neighbours.cuh"

template <typename T>
__device__ __forceinline__ void pair_forces_impl(
    const T *__restrict__ position, const T *__restrict__ radius, const short *__restrict__ kind,
    const long long *__restrict__ cell_bin, const long long *__restrict__ order,
    const long long *__restrict__ bin_start, const long long *__restrict__ bin_end, long long n,
    long long nx, long long ny, long long nz, const T *__restrict__ repulsion,
    const T *__restrict__ adhesion, const T *__restrict__ adhesion_distance, long long nk,
    T *__restrict__ out) {
    const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n) return;
    const long long i = order[t];
    const long long nb = nx * ny * nz;
    const long long b = cell_bin[i];
    T vx = 0, vy = 0, vz = 0;
    if (b < nb) {
        const T xi = position[3 * i], yi = position[3 * i + 1], zi = position[3 * i + 2];
        const T ri = radius[i];
        const long long ki = kind[i];
        const T ai = adhesion_distance[ki] * ri;
        const T one = (T)1;
        const T tiny = (T)1e-5;
        const T margin = (T)(1.0 + 1e-5);
        st::for_each_near(b, nx, ny, nz, order, bin_start, bin_end, [&](long long o) {
            if (o == i) return;
            const T ddx = xi - position[3 * o];
            const T ddy = yi - position[3 * o + 1];
            const T ddz = zi - position[3 * o + 2];
            const T d2 = ddx * ddx + ddy * ddy + ddz * ddz;
            const long long ko = kind[o];
            const T ro = radius[o];
            const T big_r = ri + ro;
            const T big_ra = ai + adhesion_distance[ko] * ro;
            const T reach = big_r > big_ra ? big_r : big_ra;
            if (d2 > reach * reach * margin) return;
            const T d = sqrt(d2);
            T tr = one - d / big_r;
            tr = tr > 0 ? tr : (T)0;
            const T ta = d < big_ra ? one - d / big_ra : (T)0;
            const T f = (repulsion[ki * nk + ko] * tr * tr - adhesion[ki * nk + ko] * ta * ta) /
                        (d > tiny ? d : tiny);
            vx += f * ddx;
            vy += f * ddy;
            vz += f * ddz;
        });
    }
    out[3 * i] = vx;
    out[3 * i + 1] = vy;
    out[3 * i + 2] = vz;
}

#define PAIR_FORCES(SUFFIX, T)                                                                 \
    extern "C" __global__ void pair_forces_##SUFFIX(                                           \
        const T *position, const T *radius, const short *kind, const long long *cell_bin,      \
        const long long *order, const long long *bin_start, const long long *bin_end, long long n,     \
        long long nx, long long ny, long long nz, const T *repulsion, const T *adhesion,             \
        const T *adhesion_distance, long long nk, T *out) {                                      \
        pair_forces_impl<T>(position, radius, kind, cell_bin, order, bin_start, bin_end, n,    \
                            nx, ny, nz, repulsion, adhesion, adhesion_distance, nk, out);      \
    }

PAIR_FORCES(f32, float)
PAIR_FORCES(f64, double)
