"""Where members run: local worker processes (default) or a Dask cluster.

Both executors take member folders and call ``on_outcome`` once per member, in the calling
thread, as members finish. Both end up in :func:`runner.run_members`, so a member gives the
same result bit for bit whichever executor ran it. (SLURM arrays are in ``slurm.py``: the
cluster runs them, not this process.)
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .layout import DONE, FAILED, now_iso, write_json_atomic
from .runner import OUTCOME_TAG, Outcome

OnOutcome = Callable[[Outcome], None]


def chunks(items: Sequence, size: int) -> list[list]:
    """``items`` cut into lists of ``size`` (the last one shorter)."""
    size = max(int(size), 1)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def visible_gpus() -> list[str]:
    """CUDA devices this process may use: ``CUDA_VISIBLE_DEVICES`` or every device CuPy sees.

    Empty without CuPy or a device. Does not create a CUDA context.
    """
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import cupy

        return [str(i) for i in range(cupy.cuda.runtime.getDeviceCount())]
    except Exception:
        return []


def _record_lost(folder: Path, error: str) -> Outcome:
    """A member whose worker died before reporting it: record the failure (if unfinished)."""
    if (folder / DONE).is_file():
        return Outcome(folder.name, "done")
    write_json_atomic(
        folder / FAILED,
        {"id": folder.name, "status": "failed", "error": error, "finished": now_iso()},
    )
    return Outcome(folder.name, "failed", 0.0, error)


class LocalExecutor:
    """Worker processes on this machine, ``jobs`` at a time.

    Each worker is ``python -m spatialtumor.study.worker`` running ``members_per_process``
    members one after another in one process. With ``gpus`` (device ids), slot ``i`` runs
    with ``CUDA_VISIBLE_DEVICES=gpus[i % len(gpus)]``: one worker per GPU by default.

    Parameters
    ----------
    jobs : workers at once (default: one per GPU, else one per CPU core)
    gpus : CUDA device ids to spread the workers over (``None``/empty: no GPU pinning)
    members_per_process : members run by one worker process before it exits
    log_dir : where each worker's stderr goes (``worker-<n>.log``)
    """

    name = "local"

    def __init__(
        self,
        jobs: int | None = None,
        gpus: Sequence[str] | None = None,
        members_per_process: int = 1,
        log_dir: str | os.PathLike | None = None,
        python: str = sys.executable,
    ):
        self.gpus = list(gpus or [])
        self.jobs = int(jobs or len(self.gpus) or os.cpu_count() or 1)
        self.members_per_process = max(int(members_per_process), 1)
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.python = python
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def describe(self) -> str:
        gpus = f" on GPUs {','.join(self.gpus)}" if self.gpus else ""
        per = self.members_per_process
        return f"local, {self.jobs} worker process{'es' * (self.jobs != 1)}{gpus}" + (
            f", {per} members per process" if per > 1 else ""
        )

    def run(self, folders: Sequence[Path], on_outcome: OnOutcome) -> None:
        work = chunks(list(folders), self.members_per_process)
        slots: queue.Queue[int] = queue.Queue()
        for s in range(self.jobs):
            slots.put(s)
        results: queue.Queue[Outcome | BaseException] = queue.Queue()

        def task(n: int, chunk: list[Path]) -> None:
            slot = slots.get()
            try:
                self._worker(n, slot, chunk, results)
            except BaseException as exc:  # reported to the main thread
                results.put(exc)
            finally:
                slots.put(slot)

        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="study-worker")
        try:
            for n, chunk in enumerate(work):
                pool.submit(task, n, chunk)
            for _ in range(len(folders)):
                item = results.get()
                if isinstance(item, BaseException):
                    raise item
                on_outcome(item)
        except BaseException:
            self.terminate()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        """Kill the running workers (their members stay unfinished and run again next time)."""
        with self._lock:
            for p in self._procs:
                if p.poll() is None:
                    p.kill()

    def _worker(self, n: int, slot: int, chunk: list[Path], results: queue.Queue) -> None:
        env = dict(os.environ)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        cmd = [self.python, "-m", "spatialtumor.study.worker", "--parent", str(os.getpid())]
        cmd += [str(f) for f in chunk]
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            err = open(self.log_dir / f"worker-{n}.log", "w", encoding="utf-8")
        else:
            err = subprocess.DEVNULL
        reported: set[str] = set()
        try:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                text=True,
            )
            with self._lock:
                self._procs.add(proc)
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith(OUTCOME_TAG):
                    outcome = Outcome(**json.loads(line[len(OUTCOME_TAG) :]))
                    reported.add(outcome.id)
                    results.put(outcome)
            code = proc.wait()
            with self._lock:
                self._procs.discard(proc)
        finally:
            if err is not subprocess.DEVNULL:
                err.close()
        for folder in chunk:
            if folder.name not in reported:
                why = f"worker process exited with status {code} before finishing the member"
                if self.log_dir is not None:
                    why += f" (see {self.log_dir / f'worker-{n}.log'})"
                results.put(_record_lost(folder, why))


class DaskExecutor:
    """Members as tasks on a Dask cluster (``dask.distributed``).

    Parameters
    ----------
    scheduler : address of a running scheduler (``tcp://host:8786``) or a scheduler file
        (``*.json``); ``None`` starts a ``LocalCluster`` of ``jobs`` single-threaded workers
    jobs : workers of the local cluster
    members_per_process : members per Dask task (run one after another by one worker)

    Every worker needs spatialtumor installed and the study folder on a shared filesystem.
    """

    name = "dask"

    def __init__(
        self,
        scheduler: str | None = None,
        jobs: int | None = None,
        members_per_process: int = 1,
    ):
        self.scheduler = scheduler
        self.jobs = int(jobs or os.cpu_count() or 1)
        self.members_per_process = max(int(members_per_process), 1)

    def describe(self) -> str:
        where = self.scheduler or f"a local cluster of {self.jobs} workers"
        return f"dask, {where}"

    def _client(self):
        from dask.distributed import Client, LocalCluster

        if self.scheduler is None:
            cluster = LocalCluster(
                n_workers=self.jobs, threads_per_worker=1, processes=True, dashboard_address=None
            )
            return Client(cluster), cluster
        if self.scheduler.endswith(".json"):
            return Client(scheduler_file=self.scheduler), None
        return Client(self.scheduler), None

    def run(self, folders: Sequence[Path], on_outcome: OnOutcome) -> None:
        from dask.distributed import as_completed

        from .runner import run_members_dicts

        client, cluster = self._client()
        try:
            work = chunks([str(f) for f in folders], self.members_per_process)
            futures = {client.submit(run_members_dicts, chunk, pure=False): chunk for chunk in work}
            for fut in as_completed(list(futures)):
                chunk = futures[fut]
                try:
                    got = fut.result()
                except Exception as exc:  # the task or its worker died
                    from .runner import one_line

                    for f in chunk:
                        on_outcome(_record_lost(Path(f), f"dask task failed: {one_line(exc)}"))
                    continue
                for item in got:
                    on_outcome(Outcome(**item))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def make_executor(
    executor: str = "local",
    jobs: int | None = None,
    gpus: str = "auto",
    members_per_process: int = 1,
    scheduler: str | None = None,
    backend: str = "auto",
    log_dir: str | os.PathLike | None = None,
) -> LocalExecutor | DaskExecutor:
    """An executor from command-line words.

    Parameters
    ----------
    executor : ``"local"`` or ``"dask"``
    gpus : local only: ``"auto"`` (:func:`visible_gpus` unless the backend is NumPy),
        ``"none"``, or device ids ``"0,1"``
    scheduler : dask only: address or scheduler file (``None``: a new ``LocalCluster``)

    Raises
    ------
    ValueError
        for impossible settings, or Dask requested but not installed.
    """
    if members_per_process < 1:
        raise ValueError("--members-per-process must be at least 1")
    if jobs is not None and jobs < 1:
        raise ValueError("--jobs must be at least 1")
    if executor == "dask":
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise ValueError(
                "--executor dask needs dask.distributed: pip install 'spatialtumor[study]'"
            ) from None
        return DaskExecutor(scheduler, jobs, members_per_process)
    if executor != "local":
        raise ValueError(f"unknown executor {executor!r}; use local or dask")
    if scheduler is not None:
        raise ValueError("--scheduler is for --executor dask")
    if gpus == "none" or backend == "numpy":
        devices: list[str] = []
    elif gpus == "auto":
        devices = visible_gpus()
    else:
        devices = [d.strip() for d in gpus.split(",") if d.strip()]
    return LocalExecutor(jobs, devices, members_per_process, log_dir=log_dir)
