"""Time offscreen rendering of one snapshot with 10⁶ cells (sphere glyphs) and a field slice.

    python benchmarks/bench_render.py [--cells 1000000] [--size 1200x900] [--keep DIR]

Writes a synthetic snapshot with the real snapshot writer (cells packed in a ball, three
kinds, live/apoptotic/necrotic states, an oxygen field), then times: reading the snapshot,
building the scene, the first frame (OpenGL set-up included) and a second frame.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, default=1_000_000)
    p.add_argument("--size", default="1200x900")
    p.add_argument("--grid", type=int, default=64, help="voxels per axis")
    p.add_argument("--keep", default=None, help="keep the run and the picture in this folder")
    a = p.parse_args()
    w, h = (int(v) for v in a.size.split("x"))

    from spatialtumor.render import RenderOptions, SceneRenderer, setup_offscreen, write_png
    from spatialtumor.runs import open_run, write_synthetic_run

    window = setup_offscreen()
    folder = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_render_"))
    t = time.perf_counter()
    run_dir = write_synthetic_run(
        folder / "run", n_cells=a.cells, times=(0.0,), shape=(a.grid,) * 3, spacing=20.0
    )
    t_write = time.perf_counter() - t

    t = time.perf_counter()
    snap = open_run(run_dir).last
    _ = snap.columns  # force the lazy read
    snap.field("oxygen")
    t_read = time.perf_counter() - t

    scene = SceneRenderer(RenderOptions(size=(w, h), cells="all"))
    t = time.perf_counter()
    scene.draw(snap)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    img = scene.image()
    t_first = time.perf_counter() - t
    t = time.perf_counter()
    scene.renderer.GetActiveCamera().Azimuth(10)
    img = scene.image()
    t_second = time.perf_counter() - t
    scene.close()
    out = write_png(img, folder / "bench_render.png")

    print(f"window: {window or 'VTK default'}; {snap.n_cells:,} cells, grid {a.grid}³, {w}×{h}")
    print(f"write snapshot   {t_write:8.2f} s")
    print(f"read snapshot    {t_read:8.2f} s")
    print(f"build scene      {t_build:8.2f} s")
    print(f"first frame      {t_first:8.2f} s  (OpenGL set-up and glyph upload included)")
    print(f"second frame     {t_second:8.2f} s  ({snap.n_cells / t_second / 1e6:.2f} M cells/s)")
    print(f"picture: {out}")


if __name__ == "__main__":
    main()
