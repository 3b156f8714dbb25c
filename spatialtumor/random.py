"""Counter-based random numbers: a pure function of ``(seed, step, cell id, stream, draw)``.

There is no generator state. Every draw is a hash of its key, so a cell draws the same
numbers whatever its row, whatever the thread order, before or after compaction, on NumPy
or on CuPy. The integer arithmetic below is repeated in ``kernels/random.cuh``; both give
identical bits.

The hash
--------
``mix`` is the splitmix64 finaliser (Steele, Lea & Flood, OOPSLA 2014; constants of
Stafford's "Mix13")::

    z ^= z >> 30;  z *= 0xBF58476D1CE4E5B9
    z ^= z >> 27;  z *= 0x94D049BB133111EB
    z ^= z >> 31

all modulo 2⁶⁴. A key is absorbed word by word, ``h ← mix((h ^ word) + GOLDEN)`` with
``GOLDEN = 0x9E3779B97F4A7C15``, starting from ``h = 0`` and absorbing, in this order,
``seed``, ``step``, ``id`` and ``(stream << 32) | draw``. The first two words are the same
for every cell of a call, so they are absorbed once on the host (``key_prefix``).

A uniform in [0, 1) is ``(h >> 11) · 2⁻⁵³`` (exact in float64); standard normals come in
pairs by the Box–Muller transform of two uniforms ``u₁, u₂``:
``√(−2 ln(1 − u₁)) (cos 2πu₂, sin 2πu₂)``.
"""

from __future__ import annotations

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
M1 = 0xBF58476D1CE4E5B9
M2 = 0x94D049BB133111EB
TWO_POW_M53 = 1.0 / 9007199254740992.0  # 2⁻⁵³

#: Named streams, so independent processes never share draws. Numbers are part of the
#: model's reproducibility contract: never renumber, only add.
STREAMS = {
    "motility_switch": 1,
    "motility_direction": 2,
    "placement": 3,
    "division": 16,
    "death": 17,
    "contact": 18,
    "recruitment": 19,
    "antigen": 20,
    "inheritance": 21,
    "mhc_loss": 22,
    "attachment": 23,
    "killing": 24,
    "detachment": 25,
    "lifespan": 26,
    "recruitment_position": 27,
    "suppression": 28,
    "maturation": 29,
    "polarisation": 30,
    "phagocytosis": 31,
    "macrophage_kill": 32,
    "radiation": 40,  # draw i: the i-th [[therapy.radiation]] item
    # CAR targets and CAR-T cells (41–47)
    "car_target": 41,
    "car_target_loss": 42,
    "infusion_position": 43,
    "car_t_fate": 44,
    "car_t_reactivation": 45,
    "chemotherapy": 48,  # draw i: the i-th [[therapy.chemotherapy]] item
    "dormancy": 49,  # tumour cells entering and leaving dormancy
}


def stream_id(stream: int | str) -> int:
    """The integer of a named stream (integers pass through; 0 ≤ stream < 2³²)."""
    s = STREAMS[stream] if isinstance(stream, str) else int(stream)
    if not 0 <= s < 1 << 32:
        raise ValueError(f"stream must be in [0, 2**32), got {s}")
    return s


def mix_int(z: int) -> int:
    """splitmix64 finaliser on a Python integer (mod 2⁶⁴)."""
    z &= MASK64
    z ^= z >> 30
    z = (z * M1) & MASK64
    z ^= z >> 27
    z = (z * M2) & MASK64
    return z ^ (z >> 31)


def absorb_int(h: int, word: int) -> int:
    """``mix((h ^ word) + GOLDEN)`` on Python integers."""
    return mix_int(((h ^ (word & MASK64)) + GOLDEN) & MASK64)


def key_prefix(seed: int, step: int) -> int:
    """The hash state after absorbing ``seed`` and ``step`` (shared by all cells of a call)."""
    return absorb_int(absorb_int(0, int(seed)), int(step))


def hash_int(seed: int, step: int, cell_id: int, stream: int, draw: int = 0) -> int:
    """The full 64-bit hash of one key, in plain Python integers (the specification)."""
    h = absorb_int(key_prefix(seed, step), int(cell_id))
    return absorb_int(h, (stream_id(stream) << 32) | int(draw))


def _mix(xp, z):
    z = z ^ (z >> xp.uint64(30))
    z = z * xp.uint64(M1)
    z = z ^ (z >> xp.uint64(27))
    z = z * xp.uint64(M2)
    return z ^ (z >> xp.uint64(31))


def _absorb(xp, h, word):
    return _mix(xp, (h ^ word) + xp.uint64(GOLDEN))


def hash_bits(xp, seed: int, step: int, ids, stream: int | str, n: int = 1):
    """64-bit hashes of ``(seed, step, ids[i], stream, draw)`` for draws 0..n−1.

    Parameters
    ----------
    xp : array module (numpy or cupy)
    seed, step : int — run seed and step counter
    ids : (N,) int64 array — cell ids
    stream : int or name in :data:`STREAMS`
    n : number of draws per cell

    Returns
    -------
    (N, n) uint64 array
    """
    s = stream_id(stream)
    h = xp.asarray(ids).astype(xp.uint64) ^ xp.uint64(key_prefix(seed, step))
    h = _mix(xp, h + xp.uint64(GOLDEN))
    words = (xp.uint64(s) << xp.uint64(32)) | xp.arange(n, dtype=xp.uint64)
    return _absorb(xp, h[:, None], words[None, :])


def pair_uniform(xp, seed: int, step: int, ids_a, ids_b, stream: int | str):
    """One uniform in [0, 1) per pair of ids: the key is (seed, step, id_a, id_b, stream).

    ``h = absorb(absorb(absorb(key_prefix(seed, step), id_a), id_b), stream << 32)``, the
    draws of contact searches (``kernels/contacts.cu`` computes the same bits).
    """
    s = stream_id(stream)
    h = _absorb(xp, xp.uint64(key_prefix(seed, step)), xp.asarray(ids_a).astype(xp.uint64))
    h = _absorb(xp, h, xp.asarray(ids_b).astype(xp.uint64))
    h = _absorb(xp, h, xp.uint64(s) << xp.uint64(32))
    return (h >> xp.uint64(11)).astype(xp.float64) * TWO_POW_M53


def uniform(xp, seed: int, step: int, ids, stream: int | str, n: int = 1, dtype=np.float64):
    """Uniform numbers in [0, 1): shape (N, n), or (N,) when ``n`` is None.

    The float64 value is exact (53 random bits); a float32 result is its rounding, which
    can equal 1.0 for values within 2⁻²⁵ of 1: use float64 where that matters.
    """
    squeeze = n is None
    bits = hash_bits(xp, seed, step, ids, stream, 1 if squeeze else n)
    u = (bits >> xp.uint64(11)).astype(xp.float64) * TWO_POW_M53
    u = u.astype(dtype, copy=False)
    return u[:, 0] if squeeze else u


def normal(xp, seed: int, step: int, ids, stream: int | str, n: int = 1, dtype=np.float64):
    """Standard normal numbers, shape (N, n) (or (N,) when ``n`` is None), by Box–Muller.

    Normal ``2m`` and ``2m+1`` come from uniforms (draws) ``2m`` and ``2m+1``.
    """
    squeeze = n is None
    k = 1 if squeeze else n
    pairs = (k + 1) // 2
    u = uniform(xp, seed, step, ids, stream, 2 * pairs)
    r = xp.sqrt(-2.0 * xp.log1p(-u[:, 0::2]))
    t = (2.0 * np.pi) * u[:, 1::2]
    z = xp.empty((u.shape[0], 2 * pairs), dtype=xp.float64)
    z[:, 0::2] = r * xp.cos(t)
    z[:, 1::2] = r * xp.sin(t)
    z = z[:, :k].astype(dtype, copy=False)
    return z[:, 0] if squeeze else z


def unit_vectors(xp, seed: int, step: int, ids, stream: int | str, dtype=np.float64):
    """Directions uniform on the unit sphere, (N, 3), from two uniforms per cell.

    ``z = 2u₀ − 1``, ``φ = 2πu₁``, ``(√(1−z²) cos φ, √(1−z²) sin φ, z)`` (Archimedes).
    """
    u = uniform(xp, seed, step, ids, stream, 2)
    z = 2.0 * u[:, 0] - 1.0
    phi = (2.0 * np.pi) * u[:, 1]
    s = xp.sqrt(xp.maximum(0.0, 1.0 - z * z))
    out = xp.stack([s * xp.cos(phi), s * xp.sin(phi), z], axis=1)
    return out.astype(dtype, copy=False)
