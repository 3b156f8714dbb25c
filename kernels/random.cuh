// Counter-based random numbers; twin of spatialtumor/random.py (same integer arithmetic,
// identical bits). A draw is a pure function of (seed, step, cell id, stream, draw index):
//   mix(z)       = splitmix64 finaliser, mod 2^64
//   absorb(h, w) = mix((h ^ w) + GOLDEN)
//   h = absorb(absorb(absorb(absorb(0, seed), step), id), (stream << 32) | draw)
//   uniform = (h >> 11) * 2^-53 in [0, 1)
// Usable from device code (NVRTC too: no standard headers) and, for testing, from host C++.
#pragma once

#ifdef __CUDACC__
#define ST_HD __host__ __device__ __forceinline__
#else
#include <math.h>
#define ST_HD inline
#endif

namespace st_random {

constexpr unsigned long long GOLDEN = 0x9E3779B97F4A7C15ull;
constexpr unsigned long long M1 = 0xBF58476D1CE4E5B9ull;
constexpr unsigned long long M2 = 0x94D049BB133111EBull;

ST_HD unsigned long long mix(unsigned long long z) {
    z ^= z >> 30;
    z *= M1;
    z ^= z >> 27;
    z *= M2;
    return z ^ (z >> 31);
}

ST_HD unsigned long long absorb(unsigned long long h, unsigned long long word) { return mix((h ^ word) + GOLDEN); }

// State after seed and step (the same for every cell of a call; random.py key_prefix).
ST_HD unsigned long long key_prefix(unsigned long long seed, unsigned long long step) { return absorb(absorb(0ull, seed), step); }

ST_HD unsigned long long hash_key(unsigned long long prefix, long long id, unsigned int stream, unsigned int draw) {
    unsigned long long h = absorb(prefix, (unsigned long long)id);
    return absorb(h, ((unsigned long long)stream << 32) | (unsigned long long)draw);
}

// Uniform in [0, 1) with 53 random bits.
ST_HD double uniform(unsigned long long prefix, long long id, unsigned int stream, unsigned int draw) {
    return (double)(hash_key(prefix, id, stream, draw) >> 11) * 0x1.0p-53;
}

// Standard normals 2m and 2m+1 (Box-Muller of uniforms 2m, 2m+1); pair = m.
ST_HD void normal_pair(unsigned long long prefix, long long id, unsigned int stream, unsigned int pair, double *z0,
                       double *z1) {
    const double u1 = uniform(prefix, id, stream, 2u * pair);
    const double u2 = uniform(prefix, id, stream, 2u * pair + 1u);
    const double r = sqrt(-2.0 * log1p(-u1));
    const double t = 6.283185307179586 * u2;
    *z0 = r * cos(t);
    *z1 = r * sin(t);
}

// Direction uniform on the unit sphere from uniforms 0 and 1 (random.py unit_vectors).
ST_HD void unit_vector(unsigned long long prefix, long long id, unsigned int stream, double *v) {
    const double z = 2.0 * uniform(prefix, id, stream, 0u) - 1.0;
    const double phi = 6.283185307179586 * uniform(prefix, id, stream, 1u);
    const double s = sqrt(fmax(0.0, 1.0 - z * z));
    v[0] = s * cos(phi);
    v[1] = s * sin(phi);
    v[2] = z;
}

}  // namespace st_random
