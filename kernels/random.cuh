// Counter-based random numbers; twin of spatialtumor/random.py (same integer arithmetic,
// identical bits). A draw is a pure function of (seed, step, cell id, stream, draw index):
//   mix(z)       = splitmix64 finaliser, mod 2^64
//   absorb(h, w) = mix((h ^ w) + GOLDEN)
//   h = absorb(absorb(absorb(absorb(0, seed), step), id), (stream << 32) | draw)
//   uniform = (h >> 11) * 2^-53 in [0, 1)
// Usable from device code and, for testing, from plain host C++.
#pragma once

#include <stdint.h>

#ifdef __CUDACC__
#define ST_HD __host__ __device__ __forceinline__
#else
#include <math.h>
#define ST_HD inline
#endif

namespace st_random {

constexpr uint64_t GOLDEN = 0x9E3779B97F4A7C15ull;
constexpr uint64_t M1 = 0xBF58476D1CE4E5B9ull;
constexpr uint64_t M2 = 0x94D049BB133111EBull;

ST_HD uint64_t mix(uint64_t z) {
    z ^= z >> 30;
    z *= M1;
    z ^= z >> 27;
    z *= M2;
    return z ^ (z >> 31);
}

ST_HD uint64_t absorb(uint64_t h, uint64_t word) { return mix((h ^ word) + GOLDEN); }

// State after seed and step (the same for every cell of a call; random.py key_prefix).
ST_HD uint64_t key_prefix(uint64_t seed, uint64_t step) { return absorb(absorb(0ull, seed), step); }

ST_HD uint64_t hash_key(uint64_t prefix, int64_t id, uint32_t stream, uint32_t draw) {
    uint64_t h = absorb(prefix, (uint64_t)id);
    return absorb(h, ((uint64_t)stream << 32) | (uint64_t)draw);
}

// Uniform in [0, 1) with 53 random bits.
ST_HD double uniform(uint64_t prefix, int64_t id, uint32_t stream, uint32_t draw) {
    return (double)(hash_key(prefix, id, stream, draw) >> 11) * 0x1.0p-53;
}

// Standard normals 2m and 2m+1 (Box-Muller of uniforms 2m, 2m+1); pair = m.
ST_HD void normal_pair(uint64_t prefix, int64_t id, uint32_t stream, uint32_t pair, double *z0,
                       double *z1) {
    const double u1 = uniform(prefix, id, stream, 2u * pair);
    const double u2 = uniform(prefix, id, stream, 2u * pair + 1u);
    const double r = sqrt(-2.0 * log1p(-u1));
    const double t = 6.283185307179586 * u2;
    *z0 = r * cos(t);
    *z1 = r * sin(t);
}

// Direction uniform on the unit sphere from uniforms 0 and 1 (random.py unit_vectors).
ST_HD void unit_vector(uint64_t prefix, int64_t id, uint32_t stream, double *v) {
    const double z = 2.0 * uniform(prefix, id, stream, 0u) - 1.0;
    const double phi = 6.283185307179586 * uniform(prefix, id, stream, 1u);
    const double s = sqrt(fmax(0.0, 1.0 - z * z));
    v[0] = s * cos(phi);
    v[1] = s * sin(phi);
    v[2] = z;
}

}  // namespace st_random
