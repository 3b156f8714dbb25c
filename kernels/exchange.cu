// Sorted per-voxel deposit of cell secretion and uptake, without atomics.
// Reference twin: spatialtumor.backends.reference_agents.deposit_sorted (entry points
// deposit_runs_f32 / deposit_runs_f64).
//
//   S[f, v] += sum_{j in v, alive} (V_j / V_voxel) source_coef[k_j, f]   [units/min]
//   U[f, v] += sum_{j in v, alive} (V_j / V_voxel) uptake_coef[k_j, f]   [1/min]
//
// Each voxel's segment of the (voxel, id)-sorted order is walked by one thread in fixed
// order, accumulating in double, then added once to the output, so the result does not
// depend on thread scheduling.
// No standard headers (NVRTC has none): 64-bit integers are long long, kinds short.

// One thread per sorted row, not per (field, voxel): thread t finds the voxel v whose
// segment holds sorted position t (binary search over end); only the first position of a
// segment (start[v] == t) does the work, for every field in turn. Voxels without cells
// cost nothing, so the launch scales with the cells, not with nf * nvox. Threads past
// end[nvox - 1] (dead rows, sorted last) return at once.
template <typename T>
__device__ __forceinline__ void deposit_runs_impl(
    const long long *__restrict__ order, const long long *__restrict__ start,
    const long long *__restrict__ end, const short *__restrict__ kind,
    const T *__restrict__ volume, const bool *__restrict__ alive,
    const double *__restrict__ source_coef, const double *__restrict__ uptake_coef, long long nf,
    long long nvox, long long n, double inv_voxel_volume, T *__restrict__ source,
    T *__restrict__ uptake) {
    const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n || nvox == 0 || t >= end[nvox - 1]) return;
    long long lo = 0, hi = nvox - 1;  // first v with end[v] > t
    while (lo < hi) {
        const long long mid = lo + (hi - lo) / 2;
        if (end[mid] > t) hi = mid; else lo = mid + 1;
    }
    const long long v = lo;
    if (start[v] != t) return;
    const long long e = end[v];
    for (long long f = 0; f < nf; ++f) {
        double acc_s = 0.0, acc_u = 0.0;
        for (long long s = t; s < e; ++s) {
            const long long j = order[s];
            if (!alive[j]) continue;
            const double w = (double)volume[j] * inv_voxel_volume;
            const long long k = kind[j];
            acc_s += w * source_coef[k * nf + f];
            acc_u += w * uptake_coef[k * nf + f];
        }
        source[f * nvox + v] += (T)acc_s;
        uptake[f * nvox + v] += (T)acc_u;
    }
}

#define DEPOSIT_RUNS(SUFFIX, T)                                                                \
    extern "C" __global__ void deposit_runs_##SUFFIX(                                          \
        const long long *order, const long long *start, const long long *end, const short *kind, \
        const T *volume, const bool *alive, const double *source_coef,                         \
        const double *uptake_coef, long long nf, long long nvox, long long n,                  \
        double inv_voxel_volume, T *source, T *uptake) {                                       \
        deposit_runs_impl<T>(order, start, end, kind, volume, alive, source_coef, uptake_coef, \
                             nf, nvox, n, inv_voxel_volume, source, uptake);                   \
    }

DEPOSIT_RUNS(f32, float)
DEPOSIT_RUNS(f64, double)
