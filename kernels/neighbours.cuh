// The 27 mechanics bins around a cell, visited in the one order every implementation of a
// neighbour sum uses (spatialtumor.backends.reference_agents.OFFSETS): offsets dz, dy, dx in
// -1, 0, 1 with dx fastest, then the (bin, id) sorted order inside each bin.
// No reference twin of its own: the kernels that use it have theirs.
#pragma once

namespace st {

// Call visit(o) for every row o in the bins around bin b of an nx × ny × nz grid
// (bin index (k * ny + j) * nx + i), in the order above.
template <typename Visit>
__device__ __forceinline__ void for_each_near(long long b, long long nx, long long ny, long long nz,
                                              const long long *__restrict__ order,
                                              const long long *__restrict__ bin_start,
                                              const long long *__restrict__ bin_end, Visit &&visit) {
    const long long bi = b % nx, bj = (b / nx) % ny, bk = b / (nx * ny);
    for (int dz = -1; dz <= 1; ++dz) {
        const long long k = bk + dz;
        if (k < 0 || k >= nz) continue;
        for (int dy = -1; dy <= 1; ++dy) {
            const long long j = bj + dy;
            if (j < 0 || j >= ny) continue;
            for (int dx = -1; dx <= 1; ++dx) {
                const long long i = bi + dx;
                if (i < 0 || i >= nx) continue;
                const long long nbin = (k * ny + j) * nx + i;
                const long long e = bin_end[nbin];
                for (long long s = bin_start[nbin]; s < e; ++s) visit(order[s]);
            }
        }
    }
}

}  // namespace st
