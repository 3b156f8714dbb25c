"""Counter-based random numbers: formula, determinism, uniformity, independence, C++ twin."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from spatialtumor import random as rnd

ROOT = Path(__file__).resolve().parents[2]


def test_numpy_equals_python_integer_formula():
    ids = np.array([0, 1, 7, 123456789, (3 << 48) | 42, 2**62], dtype=np.int64)
    bits = rnd.hash_bits(np, 987654321, 31, ids, 2, 3)
    for a, cid in enumerate(ids):
        for k in range(3):
            assert int(bits[a, k]) == rnd.hash_int(987654321, 31, int(cid), 2, k)
    u = rnd.uniform(np, 987654321, 31, ids, 2, 3)
    expect = (bits >> np.uint64(11)).astype(np.float64) / 2.0**53
    assert np.array_equal(u, expect)


def test_known_value_pins_the_hash():
    # splitmix64 finaliser of 0x9E3779B97F4A7C15 (the first splitmix64 output for seed 0)
    assert rnd.mix_int(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF


def test_deterministic_and_independent_of_row_order(rng):
    ids = rng.permutation(10_000).astype(np.int64)
    a = rnd.uniform(np, 5, 9, ids, "motility_switch", None)
    perm = rng.permutation(ids.size)
    b = rnd.uniform(np, 5, 9, ids[perm], "motility_switch", None)
    assert np.array_equal(a[perm], b)
    assert np.array_equal(a, rnd.uniform(np, 5, 9, ids, "motility_switch", None))
    assert not np.array_equal(a, rnd.uniform(np, 6, 9, ids, "motility_switch", None))
    assert not np.array_equal(a, rnd.uniform(np, 5, 10, ids, "motility_switch", None))


def _ks_uniform(u):
    x = np.sort(u)
    n = x.size
    i = np.arange(1, n + 1)
    return max(np.max(i / n - x), np.max(x - (i - 1) / n))


def test_uniformity_ks_and_chi2():
    ids = np.arange(200_000, dtype=np.int64)
    u = rnd.uniform(np, 1, 0, ids, 1, None)
    assert u.min() >= 0 and u.max() < 1
    d = _ks_uniform(u)
    assert d < 1.63 / np.sqrt(u.size)  # KS critical value at the 1% level
    counts = np.bincount((u * 100).astype(int), minlength=100)
    chi2 = np.sum((counts - u.size / 100) ** 2 / (u.size / 100))
    assert chi2 < 140  # 99% quantile of chi² with 99 dof ≈ 134.6


def test_streams_ids_and_draws_are_uncorrelated():
    ids = np.arange(100_000, dtype=np.int64)
    u = rnd.uniform(np, 3, 4, ids, 1, 2)
    v = rnd.uniform(np, 3, 4, ids, 2, 1)[:, 0]
    lim = 4.5 / np.sqrt(ids.size)
    assert abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < lim  # draws of one stream
    assert abs(np.corrcoef(u[:, 0], v)[0, 1]) < lim  # two streams
    assert abs(np.corrcoef(u[:-1, 0], u[1:, 0])[0, 1]) < lim  # neighbouring ids
    w = rnd.uniform(np, 3, 5, ids, 1, 1)[:, 0]
    assert abs(np.corrcoef(u[:, 0], w)[0, 1]) < lim  # consecutive steps
    # joint uniformity of consecutive ids on a 10 x 10 grid
    cells = (u[:-1, 0] * 10).astype(int) * 10 + (u[1:, 0] * 10).astype(int)
    counts = np.bincount(cells, minlength=100)
    e = (ids.size - 1) / 100
    assert np.sum((counts - e) ** 2 / e) < 140


def test_normals_and_unit_vectors():
    ids = np.arange(100_000, dtype=np.int64)
    z = rnd.normal(np, 8, 1, ids, 4, 2)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert abs(np.mean(z**4) - 3) < 0.1
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.015
    x = np.sort(z[:, 0])
    from math import erf

    cdf = 0.5 * (1 + np.vectorize(erf)(x / np.sqrt(2)))
    n = x.size
    assert np.max(np.abs(cdf - np.arange(1, n + 1) / n)) < 1.63 / np.sqrt(n)
    v = rnd.unit_vectors(np, 8, 1, ids, 2)
    assert np.allclose(np.linalg.norm(v, axis=1), 1)
    assert np.all(np.abs(v.mean(axis=0)) < 0.015)
    assert np.allclose(v.T @ v / ids.size, np.eye(3) / 3, atol=0.01)


def test_unknown_stream_is_an_error():
    with pytest.raises(KeyError):
        rnd.uniform(np, 0, 0, np.arange(3), "no such stream")
    with pytest.raises(ValueError):
        rnd.uniform(np, 0, 0, np.arange(3), 1 << 33)


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs a C++ compiler")
def test_cuda_header_gives_identical_bits(tmp_path):
    src = tmp_path / "t.cpp"
    src.write_text(
        '#include "random.cuh"\n#include <cstdio>\n'
        "int main(){ long long ids[4] = {0, 5, 123456789, (3LL << 48) | 42};\n"
        "unsigned long long p = st_random::key_prefix(987654321ull, 31ull);\n"
        "for (int a = 0; a < 4; ++a) for (unsigned k = 0; k < 3; ++k)\n"
        '  printf("%llu %.17g\\n", (unsigned long long)st_random::hash_key(p, ids[a], 2u, k),'
        " st_random::uniform(p, ids[a], 2u, k));\n"
        "double v[3]; st_random::unit_vector(p, 5, 2u, v);"
        ' printf("%.17g %.17g %.17g\\n", v[0], v[1], v[2]); }\n'
    )
    exe = tmp_path / "t"
    subprocess.run(
        ["g++", "-std=c++17", "-O1", "-I", str(ROOT / "kernels"), str(src), "-o", str(exe)],
        check=True,
    )
    lines = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split(
        "\n"
    )
    ids = np.array([0, 5, 123456789, (3 << 48) | 42], dtype=np.int64)
    bits = rnd.hash_bits(np, 987654321, 31, ids, 2, 3)
    u = rnd.uniform(np, 987654321, 31, ids, 2, 3)
    for a in range(4):
        for k in range(3):
            h, x = lines[3 * a + k].split()
            assert int(h) == int(bits[a, k])
            assert float(x) == u[a, k]
    v = np.array([float(s) for s in lines[12].split()])
    assert np.allclose(v, rnd.unit_vectors(np, 987654321, 31, ids[1:2], 2)[0], rtol=0, atol=1e-15)
