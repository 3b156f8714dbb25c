"""Open a run folder's sidecar in ParaView and compare what it shows with EXPECTED.json.

Run with ParaView's batch interpreter (it does not import spatialtumor)::

    xvfb-run -a pvbatch tests/io/_paraview_open.py RUN EXPECTED.json

EXPECTED.json holds ``times`` [min], ``fields`` (names), ``cell_arrays`` (names), and
``checks``: a list of ``{"time", "ranges": {field: [min, max]}, "cells", "probe"}`` where
``probe`` is ``{"xyz": [x, y, z], "field": name, "value": v}`` (a voxel centre [µm] and the
value expected there). Every reader ParaView offers for ``.xdmf`` is tried: the one
``OpenDataFile`` picks, ``XDMF Reader`` and ``Xdmf3ReaderT``. Exits 1 with one line per
mismatch, 0 when everything matches.
"""

import json
import math
import sys

from paraview import servermanager as sm
from paraview import simple


def close(a, b, rel=1e-9):
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-12)


def leaves(data):
    """Non-empty datasets of a multiblock output, as (class name, dataset); a run without
    cells gives the image alone."""
    if not data.IsA("vtkCompositeDataSet"):
        return [(data.GetClassName(), data)]
    out = []
    it = data.NewIterator()
    it.InitTraversal()
    while not it.IsDoneWithTraversal():
        block = it.GetCurrentDataObject()
        out.append((block.GetClassName(), block))
        it.GoToNextItem()
    return out


def check_reader(label, reader, expected, errors):
    def fail(msg):
        errors.append(f"{label}: {msg}")

    times = list(reader.TimestepValues)
    if len(times) != len(expected["times"]) or not all(
        close(a, b) for a, b in zip(times, expected["times"], strict=True)
    ):
        fail(f"TimestepValues {times} != {expected['times']}")
    reader.UpdatePipeline(times[0] if times else 0.0)  # Xdmf3 lists arrays after an update
    names = sorted(reader.PointData.keys())
    wanted = sorted(expected["fields"] + expected["cell_arrays"])
    if names != wanted:
        fail(f"point arrays {names} != {wanted}")
    for check in expected["checks"]:
        t = check["time"]
        reader.UpdatePipeline(t)
        data = sm.Fetch(reader)
        blocks = leaves(data)
        images = [b for cls, b in blocks if cls in ("vtkImageData", "vtkUniformGrid")]
        points = [b for cls, b in blocks if cls == "vtkUnstructuredGrid"]
        if len(images) != 1:
            fail(f"t={t}: {len(images)} image blocks")
            continue
        image = images[0]
        for name, (lo, hi) in check["ranges"].items():
            arr = image.GetPointData().GetArray(name)
            if arr is None:
                fail(f"t={t}: no field {name}")
                continue
            got = arr.GetRange(0)
            if not (close(got[0], lo) and close(got[1], hi)):
                fail(f"t={t}: range of {name} {got} != {(lo, hi)}")
        probe = check.get("probe")
        if probe:
            pid = image.FindPoint(*probe["xyz"])
            arr = image.GetPointData().GetArray(probe["field"])
            got = None if pid < 0 or arr is None else arr.GetTuple1(pid)
            where = None if pid < 0 else image.GetPoint(pid)
            ok = got is not None and close(got, probe["value"])
            ok = ok and all(close(a, b) for a, b in zip(where, probe["xyz"], strict=True))
            if not ok:
                fail(f"t={t}: {probe['field']} at {probe['xyz']} is {got} (point {where})")
        n = sum(b.GetNumberOfPoints() for b in points)
        if n != check["cells"]:
            fail(f"t={t}: {n} cells shown, expected {check['cells']}")
        for b in points:
            have = {
                b.GetPointData().GetArrayName(i)
                for i in range(b.GetPointData().GetNumberOfArrays())
            }
            missing = set(expected["cell_arrays"]) - have
            if missing:
                fail(f"t={t}: cell arrays missing {sorted(missing)}")
    print(f"{label}: {reader.GetXMLName()} checked {len(expected['checks'])} times")


def main(argv):
    run_dir, expected_path = argv[1], argv[2]
    with open(expected_path) as f:
        expected = json.load(f)
    sidecar = f"{run_dir}/run.xdmf"
    errors = []
    readers = {
        "OpenDataFile": lambda: simple.OpenDataFile(sidecar),
        "XDMF Reader": lambda: simple.XDMFReader(FileNames=[sidecar]),
        "Xdmf3ReaderT": lambda: simple.Xdmf3ReaderT(FileName=[sidecar]),
    }
    for label, make in readers.items():
        reader = make()
        if reader is None:
            errors.append(f"{label}: ParaView could not open {sidecar}")
            continue
        check_reader(label, reader, expected, errors)
        simple.Delete(reader)
    for e in errors:
        print("MISMATCH", e)
    version = simple.GetParaViewVersion()
    print(f"paraview {version.major}.{version.minor}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
