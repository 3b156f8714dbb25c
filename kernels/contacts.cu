// Contact search: for each query cell, its partners in contact over the 27 bins around it,
// and one partner picked by competing exponential clocks.
// Reference twin: spatialtumor.backends.reference_agents.contact_search (same signature,
// same summation order: offsets dz, dy, dx in -1, 0, 1 with dx fastest, then sorted order
// inside each bin).
//
// For query row q and a candidate row o != q with weight[o] > 0 and centre distance
// d < reach_max * R (R = r_q + r_o, um):
//   phi = 1 for d <= reach_full * R, else (reach_max * R - d) / ((reach_max - reach_full) R)
//   w   = weight[o] * phi                                   (float64)
//   tau = -log1p(-u) / w,  u = pair uniform of (seed, step, id_q, id_o, stream)
// out_count = number of such partners, out_weight = sum of w (in the order above),
// out_pick = the row with the smallest tau (ties: smaller id), -1 if none,
// out_time = that tau (-1 if none). d is computed in the working precision T, as in
// pair_forces; phi, w and tau in double.
//
// One thread per query. No float atomics: every sum is sequential in a fixed order.
// Compiled with --fmad=false (no fused multiply-adds), so distances round as in the twin.
#include "neighbours.cuh"
#include "random.cuh"

template <typename T>
__device__ __forceinline__ void contact_search_impl(
    const T *__restrict__ position, const T *__restrict__ radius, const long long *__restrict__ ids,
    const long long *__restrict__ cell_bin, const long long *__restrict__ order,
    const long long *__restrict__ bin_start, const long long *__restrict__ bin_end, long long nx,
    long long ny, long long nz, const long long *__restrict__ query, long long nq,
    const double *__restrict__ weight, double reach_full, double reach_max,
    unsigned long long prefix, long long stream, long long *__restrict__ out_count,
    double *__restrict__ out_weight, long long *__restrict__ out_pick, double *__restrict__ out_time) {
    const long long m = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (m >= nq) return;
    const long long q = query[m];
    const long long nb = nx * ny * nz;
    const long long b = cell_bin[q];
    long long count = 0, pick = -1, pick_id = 0;
    double wsum = 0.0, best = -1.0;
    if (b < nb) {
        const T xq = position[3 * q], yq = position[3 * q + 1], zq = position[3 * q + 2];
        const T rq = radius[q];
        const long long idq = ids[q];
        const unsigned long long hq = st_random::absorb(prefix, (unsigned long long)idq);
        const double span = reach_max - reach_full;
        st::for_each_near(b, nx, ny, nz, order, bin_start, bin_end, [&](long long o) {
            if (o == q) return;
            const double wo = weight[o];
            if (!(wo > 0.0)) return;
            const T ddx = xq - position[3 * o];
            const T ddy = yq - position[3 * o + 1];
            const T ddz = zq - position[3 * o + 2];
            const T d = sqrt(ddx * ddx + ddy * ddy + ddz * ddz);
            const T big_r = rq + radius[o];
            const double dd = (double)d, rr = (double)big_r;
            if (!(dd < reach_max * rr)) return;
            const double phi = dd <= reach_full * rr ? 1.0 : (reach_max * rr - dd) / (span * rr);
            const double w = wo * phi;
            if (!(w > 0.0)) return;
            count += 1;
            wsum += w;
            const long long ido = ids[o];
            const unsigned long long h = st_random::absorb(
                st_random::absorb(hq, (unsigned long long)ido), (unsigned long long)stream << 32);
            const double u = (double)(h >> 11) * 0x1.0p-53;
            const double tau = -log1p(-u) / w;
            if (pick < 0 || tau < best || (tau == best && ido < pick_id)) {
                best = tau;
                pick = o;
                pick_id = ido;
            }
        });
    }
    out_count[m] = count;
    out_weight[m] = wsum;
    out_pick[m] = pick;
    out_time[m] = best;
}

#define CONTACT_SEARCH(SUFFIX, T)                                                               \
    extern "C" __global__ void contact_search_##SUFFIX(                                         \
        const T *position, const T *radius, const long long *ids, const long long *cell_bin,    \
        const long long *order, const long long *bin_start, const long long *bin_end,           \
        long long nx, long long ny, long long nz, const long long *query, long long nq,         \
        const double *weight, double reach_full, double reach_max, unsigned long long prefix,   \
        long long stream, long long *out_count, double *out_weight, long long *out_pick,        \
        double *out_time) {                                                                     \
        contact_search_impl<T>(position, radius, ids, cell_bin, order, bin_start, bin_end, nx,  \
                               ny, nz, query, nq, weight, reach_full, reach_max, prefix,        \
                               stream, out_count, out_weight, out_pick, out_time);              \
    }

CONTACT_SEARCH(f32, float)
CONTACT_SEARCH(f64, double)
