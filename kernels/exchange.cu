// Sorted per-voxel deposit of cell secretion and uptake, without atomics.
// Reference twin: spatialtumor.backends.reference_agents.deposit_sorted.
//
//   S[f, v] += sum_{j in v, alive} (V_j / V_voxel) source_coef[k_j, f]   [units/min]
//   U[f, v] += sum_{j in v, alive} (V_j / V_voxel) uptake_coef[k_j, f]   [1/min]
//
// One thread per (field, voxel); it walks its voxel's segment of the (voxel, id)-sorted
// order in fixed order and accumulates in double, then adds once to the output, so the
// result does not depend on thread scheduling.
// No standard headers (NVRTC has none): 64-bit integers are long long, kinds short.

template <typename T>
__device__ __forceinline__ void deposit_sorted_impl(
    const long long *__restrict__ order, const long long *__restrict__ start,
    const long long *__restrict__ end, const short *__restrict__ kind,
    const T *__restrict__ volume, const bool *__restrict__ alive,
    const double *__restrict__ source_coef, const double *__restrict__ uptake_coef, long long nf,
    long long nvox, double inv_voxel_volume, T *__restrict__ source, T *__restrict__ uptake) {
    const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= nf * nvox) return;
    const long long f = t / nvox;
    const long long v = t - f * nvox;
    const long long e = end[v];
    long long s = start[v];
    if (s >= e) return;
    double acc_s = 0.0, acc_u = 0.0;
    for (; s < e; ++s) {
        const long long j = order[s];
        if (!alive[j]) continue;
        const double w = (double)volume[j] * inv_voxel_volume;
        const long long k = kind[j];
        acc_s += w * source_coef[k * nf + f];
        acc_u += w * uptake_coef[k * nf + f];
    }
    source[t] += (T)acc_s;
    uptake[t] += (T)acc_u;
}

#define DEPOSIT_SORTED(SUFFIX, T)                                                              \
    extern "C" __global__ void deposit_sorted_##SUFFIX(                                        \
        const long long *order, const long long *start, const long long *end, const short *kind,   \
        const T *volume, const bool *alive, const double *source_coef,                         \
        const double *uptake_coef, long long nf, long long nvox, double inv_voxel_volume,          \
        T *source, T *uptake) {                                                                \
        deposit_sorted_impl<T>(order, start, end, kind, volume, alive, source_coef,            \
                               uptake_coef, nf, nvox, inv_voxel_volume, source, uptake);       \
    }

DEPOSIT_SORTED(f32, float)
DEPOSIT_SORTED(f64, double)
