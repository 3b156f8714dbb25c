// Sorted per-voxel deposit of cell secretion and uptake, without atomics.
// Reference twin: spatialtumor.backends.reference_agents.deposit_sorted.
//
//   S[f, v] += sum_{j in v, alive} (V_j / V_voxel) source_coef[k_j, f]   [units/min]
//   U[f, v] += sum_{j in v, alive} (V_j / V_voxel) uptake_coef[k_j, f]   [1/min]
//
// One thread per (field, voxel); it walks its voxel's segment of the (voxel, id)-sorted
// order in fixed order and accumulates in double, then adds once to the output, so the
// result does not depend on thread scheduling.
#include <stdint.h>

template <typename T>
__device__ __forceinline__ void deposit_sorted_impl(
    const int64_t *__restrict__ order, const int64_t *__restrict__ start,
    const int64_t *__restrict__ end, const int16_t *__restrict__ kind,
    const T *__restrict__ volume, const bool *__restrict__ alive,
    const double *__restrict__ source_coef, const double *__restrict__ uptake_coef, int64_t nf,
    int64_t nvox, double inv_voxel_volume, T *__restrict__ source, T *__restrict__ uptake) {
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= nf * nvox) return;
    const int64_t f = t / nvox;
    const int64_t v = t - f * nvox;
    const int64_t e = end[v];
    int64_t s = start[v];
    if (s >= e) return;
    double acc_s = 0.0, acc_u = 0.0;
    for (; s < e; ++s) {
        const int64_t j = order[s];
        if (!alive[j]) continue;
        const double w = (double)volume[j] * inv_voxel_volume;
        const int64_t k = kind[j];
        acc_s += w * source_coef[k * nf + f];
        acc_u += w * uptake_coef[k * nf + f];
    }
    source[t] += (T)acc_s;
    uptake[t] += (T)acc_u;
}

#define DEPOSIT_SORTED(SUFFIX, T)                                                              \
    extern "C" __global__ void deposit_sorted_##SUFFIX(                                        \
        const int64_t *order, const int64_t *start, const int64_t *end, const int16_t *kind,   \
        const T *volume, const bool *alive, const double *source_coef,                         \
        const double *uptake_coef, int64_t nf, int64_t nvox, double inv_voxel_volume,          \
        T *source, T *uptake) {                                                                \
        deposit_sorted_impl<T>(order, start, end, kind, volume, alive, source_coef,            \
                               uptake_coef, nf, nvox, inv_voxel_volume, source, uptake);       \
    }

DEPOSIT_SORTED(f32, float)
DEPOSIT_SORTED(f64, double)
