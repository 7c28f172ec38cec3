"""`radsim simulate`: the MPI job that makes a dataset's realisations in parallel.

The same code runs as one process, under ``mpirun -n N`` and under ``srun``. Rank 0 plans: it checks the
output directory (a dataset from another config is refused), finds the realisations already in complete
shards, and hands out the others one at a time: a rank asks for the next index whenever it has finished one,
so slow realisations do not leave ranks idle. Rank 0 makes realisations too; a helper thread on rank 0 answers
the other ranks' requests (polling with short sleeps, so an idle rank never spins a core).

Every rank appends its realisations to its own shards (radsim.dataset.shards), which get their final names only
when complete; a realisation counts as done only once it is in such a shard. A rank completes its shard at least
every ``dataset.commit_interval_s``, so SIGKILL of any rank or of the whole job loses at most the realisations of
that interval. SIGTERM and SIGINT (Ctrl-C, a Slurm time limit, ``scontrol requeue``) lose none that were
complete: every rank abandons the realisation it is making, completes its shard, and rank 0 writes the manifest
with status ``interrupted`` and exits with status 75 (EX_TEMPFAIL: run it again). Running the same command again
makes exactly what is missing; it reports what an earlier kill lost (each rank keeps a journal of what it made).
Realisations are bit-identical whichever rank makes them: their random streams are keyed by index
(radsim.run.realisations).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path

from radsim.dataset import layout, reader, shards
from radsim.errors import RadsimError
from radsim.instrument.imaging import build_imager
from radsim.run import pipeline, realisations

log = logging.getLogger("radsim.simulate")

TAG_REQUEST = 11
TAG_REPLY = 12
POLL_S = 0.02
STOP_GRACE_S = 15         # after SIGTERM/SIGINT, how long rank 0 waits for the other ranks' goodbye (s)


class SimulationError(RadsimError, RuntimeError):
    """The job cannot start or cannot go on; the message names the path or the rank and the cause."""


MANIFEST_BYTES_PER_REALISATION = 2048   # room kept on the disk for the manifest's record of each realisation
EXIT_INTERRUPTED = 75   # sysexits.h EX_TEMPFAIL: interrupted by a signal, completed work kept; run again to resume


class Interrupted(BaseException):
    """Raised in the main thread by SIGTERM or SIGINT while a realisation is being made (it is abandoned). Like
    KeyboardInterrupt it is no error: ``except Exception`` (a failed realisation) does not catch it."""


class StopSignal:
    """SIGTERM and SIGINT ask every rank to stop: the realisation being made is abandoned at once (the exception is
    raised only inside :meth:`interruptible`, never in the middle of writing a shard or talking to rank 0), and the
    rank stops before taking another."""

    def __init__(self):
        self.signal_name: str | None = None
        self._interruptible = False
        self._previous = {}

    def install(self) -> None:
        import signal
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        import signal
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        import signal
        self.signal_name = signal.Signals(signum).name
        if self._interruptible:
            self._interruptible = False
            raise Interrupted(self.signal_name)

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    class _Window:
        def __init__(self, owner):
            self.owner = owner

        def __enter__(self):
            if self.owner.requested:
                raise Interrupted(self.owner.signal_name)
            self.owner._interruptible = True

        def __exit__(self, *exc):
            self.owner._interruptible = False

    def interruptible(self):
        """A context in which a stop signal raises :class:`Interrupted` at once."""
        return self._Window(self)


def _comm():
    step_tasks = int(os.environ.get("SLURM_STEP_NUM_TASKS", "1") or 1)
    if step_tasks > 1 and not any(v in os.environ for v in ("PMIX_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK")):
        # checked before MPI starts: without a process-management interface every task would start as a
        # one-rank job (or Open MPI stops with an opaque error) and each would make the whole dataset
        raise SimulationError(f"srun started {step_tasks} tasks without an MPI process-management interface: "
                              f"start the ranks with `srun --mpi=pmix` (see `srun --mpi=list`)")
    from mpi4py import MPI
    return MPI.COMM_WORLD


def setup_logging(rank: int, size: int, level=logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s radsim[rank {rank}/{size}] %(levelname)s: %(message)s",
                                           "%H:%M:%S"))
    root = logging.getLogger("radsim")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _wait(request) -> None:
    """Complete a non-blocking MPI request without spinning a core."""
    while not request.Test():
        time.sleep(POLL_S)


def _recv(comm, source, tag, give_up=None):
    """Receive without spinning a core; ``give_up()`` true while waiting returns :data:`GAVE_UP` instead."""
    from mpi4py import MPI
    status = MPI.Status()
    source = MPI.ANY_SOURCE if source is None else source
    while not comm.Iprobe(source=source, tag=tag, status=status):
        if give_up is not None and give_up():
            return GAVE_UP
        time.sleep(POLL_S)
    return comm.recv(source=status.Get_source(), tag=tag)


GAVE_UP = object()


class _Grace:
    """True once a stop signal is ``STOP_GRACE_S`` old (counted from the first call that sees it): how long a rank
    waits for a rank that may have gone with its node."""

    def __init__(self, stopper):
        self.stopper, self.deadline = stopper, None

    def __call__(self) -> bool:
        if not self.stopper.requested:
            return False
        if self.deadline is None:
            self.deadline = time.monotonic() + STOP_GRACE_S
        return time.monotonic() >= self.deadline


# --------------------------------------------------------------------------------------------------------------
# planning (rank 0)

class _Lock:
    """An exclusive lock on ``DIR/.radsim.lock`` held by rank 0 for the whole run (one job per dataset)."""

    def __init__(self, out: Path):
        self.path = out / ".radsim.lock"
        try:
            out.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.path, "a+")
        except OSError as exc:
            raise SimulationError(f"cannot write to the output directory {out}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "another process"
            self.fh.close()
            raise SimulationError(f"{out}: another `radsim simulate` is writing this dataset ({holder}); wait "
                                  f"for it to finish or choose another --out") from None
        except OSError as exc:   # file systems without flock: go on, a warning is all we can do
            log.warning("%s: cannot lock (%s); make sure no other job writes this dataset", self.path, exc)
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        self.fh.flush()

    def release(self):
        self.fh.close()


def prepare(cfg, out: Path, force_new: bool, allow_version_change: bool = False) -> dict:
    """Check and set up the output directory (under the lock); returns the plan: indices to make, first shard
    sequence, the shards found, the run history and what an earlier kill lost. Raises SimulationError naming the
    path and the cause."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / layout.SHARDS).mkdir(exist_ok=True)
        probe = out / layout.SHARDS / f".probe-{os.getpid()}"
        probe.write_bytes(b"radsim")
        probe.unlink()
    except OSError as exc:
        raise SimulationError(f"cannot write to the output directory {out}: {exc.strerror or exc}") from None
    try:
        previous = layout.read_manifest(out)
    except layout.DatasetError as exc:
        raise SimulationError(f"{exc}; choose another --out") from None
    if previous is None and layout.shard_paths(out):
        raise SimulationError(f"{out} holds shards but no manifest.json: not a dataset this radsim can add to; "
                              f"choose another --out")
    runs = []
    if previous is not None:
        if previous["tiles_hash"] != cfg.tiles_hash():
            if not force_new:
                raise SimulationError(
                    f"{out} holds a dataset made from another configuration (tiles hash "
                    f"{previous['tiles_hash'][:12]}, this config {cfg.tiles_hash()[:12]}; changed keys: "
                    f"{', '.join(_changed_keys(previous['config'], cfg.model_dump(mode='json'))) or 'unknown'}). "
                    f"Use the same config to resume it, another --out, or --force-new to move it aside into "
                    f"{out}/superseded-<time>/ and start again")
            moved = layout.supersede(out)
            (out / layout.SHARDS).mkdir()
            log.warning("moved the dataset of another configuration to %s (nothing deleted)", moved)
        else:
            runs = previous.get("runs", [])
    for tmp in layout.stale_temporaries(out):
        log.info("removing %s, left unfinished by an interrupted run (its realisations are made again)", tmp.name)
        tmp.unlink()
    try:
        found = layout.scan_shards(out)
    except layout.DatasetError as exc:
        raise SimulationError(str(exc)) from None
    for s in found:
        if s["tiles_hash"] and s["tiles_hash"] != cfg.tiles_hash():
            raise SimulationError(f"{s['path']}: a shard from another configuration in this dataset; move it out")
    _check_versions(found, layout.tile_versions(cfg), allow_version_change)
    done = {int(i) for s in found for i in s["table"]["id"]}
    lost = layout.lost_realisations(out, done)
    if lost:
        log.warning("the previous run was killed: %d realisation(s) it had made were not yet in a complete shard "
                    "and are made again: %s", len(lost), ", ".join(map(str, lost[:20])) + (" ..." if len(lost) > 20
                                                                                          else ""))
    planned = realisations.n_realisations(cfg)
    return {"todo": [i for i in range(planned) if i not in done], "done": sorted(done), "planned": planned,
            "first_sequence": layout.next_sequence(out), "found": found, "runs": runs, "lost_before": lost}


def _check_versions(found: list[dict], now: dict, allow: bool) -> None:
    """Refuse to add tiles made by other software versions to a dataset (unless ``allow``)."""
    for s in found:
        then = s.get("tile_versions")
        if then is None or then == now:
            continue
        diff = ", ".join(f"{k} {then.get(k, '?')} -> {now.get(k, '?')}" for k in sorted(set(then) | set(now))
                         if then.get(k) != now.get(k))
        if allow:
            log.warning("%s was made with other versions (%s); adding to it as --allow-version-change asks",
                        s["path"], diff)
            return
        raise SimulationError(f"{s['path']} was made with other versions of the software that shapes the tiles "
                              f"({diff}): resuming would mix tiles made two ways. Use the versions it was made "
                              f"with, another --out, or --allow-version-change to add to it anyway")


def _changed_keys(old: dict, new: dict, prefix="") -> list[str]:
    keys = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _changed_keys(a, b, f"{prefix}{k}.")
        elif a != b and not (prefix + k).startswith("dataset."):
            keys.append(prefix + k)
    return keys


# --------------------------------------------------------------------------------------------------------------
# progress (rank 0)

class Progress:
    """One progress bar for the whole job on rank 0 (a tqdm bar on a terminal, a log line every
    ``every_s`` seconds otherwise, e.g. in a Slurm output file); thread safe."""

    def __init__(self, total: int, initial: int, every_s: float = 30.0):
        from tqdm import tqdm
        self.lock = threading.Lock()
        self.total, self.done, self.initial = total, initial, initial
        self.failed: list[dict] = []
        self.t0 = time.monotonic()
        self.last_log = self.t0
        self.every_s = every_s
        self.bar = tqdm(total=total, initial=initial, unit="realisation", desc="radsim simulate",
                        dynamic_ncols=True, smoothing=0.1) if sys.stderr.isatty() else None

    def update(self, report: dict) -> None:
        with self.lock:
            if report["ok"]:
                self.done += 1
            else:
                self.failed.append(report)
            if self.bar is not None:
                self.bar.update(1)
                if self.failed:
                    self.bar.set_postfix(failed=len(self.failed))
            now = time.monotonic()
            if self.bar is None and (now - self.last_log >= self.every_s or self.done + len(self.failed) == self.total):
                self.last_log = now
                made = self.done - self.initial + len(self.failed)
                rate = made / max(now - self.t0, 1e-9)
                left = self.total - self.done - len(self.failed)
                eta = time.strftime("%H:%M:%S", time.gmtime(left / rate)) if rate > 0 else "?"
                log.info("progress: %d/%d realisations done (%.0f%%), %d failed, %.3g/s, ETA %s", self.done,
                         self.total, 100 * self.done / max(1, self.total), len(self.failed), rate, eta)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class Dispatcher:
    """The queue of realisation indices on rank 0, served to the other ranks by a helper thread."""

    def __init__(self, comm, todo, progress: Progress):
        self.comm = comm
        self.queue = deque(todo)
        self.lock = threading.Lock()
        self.progress = progress
        self.rank_info: dict[int, dict] = {}
        self.fatal: list[str] = []
        self.thread = threading.Thread(target=self._serve, name="radsim-dispatcher", daemon=True)

    def take(self):
        with self.lock:
            return self.queue.popleft() if self.queue else None

    def stop_handing_out(self):
        with self.lock:
            self.queue.clear()

    def _serve(self):
        try:
            self._loop()
        except BaseException:   # without its dispatcher the job would hang: stop every rank
            log.critical("the dispatcher on rank 0 failed; aborting the job\n%s", traceback.format_exc())
            self.comm.Abort(3)

    def _loop(self):
        active = self.comm.Get_size() - 1
        while active:
            kind, rank, payload = _recv(self.comm, None, TAG_REQUEST)
            if kind == "report":
                self.progress.update(payload)
            elif kind == "next":
                self.comm.send(self.take(), dest=rank, tag=TAG_REPLY)
            elif kind == "fatal":
                self.fatal.append(payload)
                log.error("rank %d stopped: %s", rank, payload)
                self.stop_handing_out()
            elif kind == "stop":       # a rank was told to stop (SIGTERM, SIGINT): the whole job stops
                log.warning("rank %d got %s: no more realisations are handed out", rank, payload)
                self.stop_handing_out()
            elif kind == "bye":
                self.rank_info[rank] = payload
                active -= 1


# --------------------------------------------------------------------------------------------------------------
# the work of one rank

def _build_imager(cfg, out: Path, rank: int):
    workdir = out / "logs" / f"imaging-rank{rank:04d}" if cfg.imaging.keep_ms else None
    return build_imager(cfg, workdir)


def _work(cfg, out: Path, rank: int, first_sequence: int, next_index, report, imager, setup_s: float,
          stopper: StopSignal) -> dict:
    """Make realisations with ``imager`` until ``next_index()`` returns None or a stop signal comes; ``report(dict)``
    after each. Returns this rank's summary. A failing realisation is reported and skipped; a failure to write is
    fatal for the rank."""
    host = socket.gethostname()
    t_start = time.perf_counter()
    writer = shards.ShardWriter(out / layout.SHARDS, rank, tile_size=cfg.tiles.size, bin_edges_jy=cfg.labels.edges_jy,
                                attrs=shard_attributes(cfg, rank, host),
                                max_bytes=int(cfg.dataset.shard_max_mb * 2 ** 20),
                                compression=cfg.dataset.compression, first_sequence=first_sequence,
                                commit_interval_s=cfg.dataset.commit_interval_s,
                                reserve_bytes=MANIFEST_BYTES_PER_REALISATION * realisations.n_realisations(cfg))
    journal = layout.Journal(out, rank)
    n_ok = n_failed = 0
    busy = 0.0
    fatal = abandoned = None
    try:
        while not stopper.requested and (index := next_index()) is not None:
            t0 = time.perf_counter()
            real = realisations.get(cfg, index)
            try:
                with stopper.interruptible():
                    result = pipeline.make_realisation(cfg, index, imager=imager, sky_model=False)
            except Interrupted:
                abandoned = index
                break
            except Exception as exc:   # one bad realisation must not stop the job: report it, go on
                n_failed += 1
                report(_failure(real, exc, rank))
                continue
            try:
                writer.add(index, result.tiles, result.labels, result.expected, result.tile_origin,
                           _table_row(cfg, real, result), tile_noise=result.tile_noise)
                journal.made(index)
            except (OSError, RuntimeError) as exc:   # h5py reports some write failures as RuntimeError
                fatal = (f"cannot write {writer.directory} (shard of rank {rank}): {_io_reason(exc)}; "
                         f"completed shards are kept, run again once the cause is fixed")
                break
            n_ok += 1
            busy += time.perf_counter() - t0
            report({"ok": True, "index": index, "rank": rank})
        if fatal is None:
            try:
                writer.close()
            except (OSError, RuntimeError) as exc:
                fatal = f"cannot complete a shard of rank {rank} in {writer.directory}: {_io_reason(exc)}"
    finally:
        if fatal is not None or sys.exc_info()[0] is not None:
            lost = writer.pending
            writer.abort()
            if lost:
                log.error("rank %d: realisations %s were in its unfinished shard and are lost", rank, lost)
        journal.close()
        imager.close()
    if stopper.requested:
        log.warning("rank %d stopped by %s: %d realisation(s) made and kept%s", rank, stopper.signal_name, n_ok,
                    f", realisation {abandoned} abandoned" if abandoned is not None else "")
    return {"rank": rank, "host": host, "setup_s": setup_s, "busy_s": busy, "realisations": n_ok,
            "failed": n_failed, "wall_s": setup_s + time.perf_counter() - t_start, "fatal": fatal,
            "interrupted": stopper.signal_name, "abandoned": abandoned}


def _failure(real, exc, rank: int) -> dict:
    """Log a failed realisation with the end of its traceback; the report rank 0 lists at the end."""
    log.error("realisation %d (set %d, %s %s) failed: %s: %s\n%s", real.index, real.set_index, real.modifier_name,
              real.modifier_params, type(exc).__name__, exc, traceback.format_exc(limit=-3).rstrip())
    return {"ok": False, "index": real.index, "set_index": real.set_index, "modifier": real.modifier_name,
            "params": real.modifier_params, "error": f"{type(exc).__name__}: {exc}", "rank": rank}


def shard_attributes(cfg, rank: int, host: str) -> dict:
    """What a shard records of where its tiles come from: the config's hashes, the grid, the backend, the rank
    and host, and the versions of the software that shapes the tiles (checked when a dataset is resumed)."""
    return {"tiles_hash": cfg.tiles_hash(), "config_hash": cfg.hash(), "pixel_deg": cfg.field.pixel_deg,
            "frequency_hz": cfg.field.frequency_hz, "imaging_backend": cfg.imaging.backend, "rank": rank,
            "host": host, "tile_versions": json.dumps(layout.tile_versions(cfg))}


def _table_row(cfg, real, result) -> dict:
    """The shard's realisations-table row of one realisation."""
    im = result.imaged
    beam = (im.beam.bmaj_arcsec, im.beam.bmin_arcsec, im.beam.bpa_deg) if im.beam else (0.0, 0.0, 0.0)
    return {"set_index": real.set_index, "repeat": real.repeat, "seed": cfg.run.seed,
            "modifier": {"name": real.modifier_name, **_plain(result.modifier_params)},
            "n_sources": result.n_sources, "noise_rms_jy": im.noise_rms_jy, "beam_major_arcsec": beam[0],
            "beam_minor_arcsec": beam[1], "beam_pa_deg": beam[2],
            "clean_stop": str(im.info.get("clean_stop", "")),
            **{f"{s}_s": result.timings_s.get(s, 0.0) for s in reader.STAGES if s != "write"}}


def _io_reason(exc) -> str:
    """The operating system's reason for a failed write, from an OSError or from HDF5's message."""
    import re
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    found = re.search(r"errno = (\d+)", str(exc))
    return os.strerror(int(found.group(1))) if found else str(exc).splitlines()[0]


def _plain(params: dict) -> dict:
    """Modifier parameters as JSON-ready scalars and lists (per-bin edges left out)."""
    import numpy as np
    out = {}
    for k, v in params.items():
        if k in ("edges_jy", "knots"):
            continue
        out[k] = v.tolist() if isinstance(v, np.ndarray) else (v.item() if isinstance(v, np.generic) else v)
    return out


# --------------------------------------------------------------------------------------------------------------
# the job

def simulate(cfg, out, *, force_new: bool = False, allow_version_change: bool = False) -> int:
    """Run the job on every rank of MPI.COMM_WORLD; returns the exit status (0: every planned realisation is
    in the dataset; 1: some failed or a rank could not write; 75: stopped by SIGTERM or SIGINT, completed work
    kept)."""
    out = Path(out)
    comm = _comm()
    rank, size = comm.Get_rank(), comm.Get_size()
    setup_logging(rank, size)
    stopper = StopSignal()
    stopper.install()
    try:
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        t0 = time.perf_counter()
        job = _set_up(comm, cfg, out, force_new, allow_version_change)
        job.update(started=started, t0=t0, setup_s=time.perf_counter() - t0, stopper=stopper)
        if rank == 0:
            _warn_about_split(cfg)
            plan = job["plan"]
            log.info("%s: %d realisations planned, %d already done, %d to make on %d rank(s)", out,
                     plan["planned"], len(plan["done"]), len(plan["todo"]), size)
        status = _lead(comm, cfg, out, job) if rank == 0 else _follow(comm, cfg, out, job)
        if job.get("silent_ranks"):
            # the barrier and MPI_Finalize would wait for the missing ranks for ever: leave now, the work is saved
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
        if size > 1:
            _wait(comm.Ibarrier())   # ranks that finish early wait here asleep, not spinning
    finally:
        stopper.uninstall()
    return status


def _set_up(comm, cfg, out: Path, force_new: bool, allow_version_change: bool) -> dict:
    """Rank 0 locks the dataset (before touching anything in it), plans, then every rank builds its imager (PSF,
    clean beam; for wsclean a template MS) at the same time, so that a config the imager refuses (beam sampling,
    elevation limit, a missing wsclean) stops every rank before any work. Raises SimulationError on every rank
    alike (the CLI prints it once, on rank 0)."""
    rank, size = comm.Get_rank(), comm.Get_size()
    full_plan, error, lock, imager = None, None, None, None
    if rank == 0:
        try:
            lock = _Lock(out)
            full_plan = prepare(cfg, out, force_new, allow_version_change)
            layout.write_manifest(out, _manifest(cfg, out, full_plan["found"], "running", full_plan["runs"], []))
        except (RadsimError, OSError) as exc:
            error = f"{exc}" if isinstance(exc, RadsimError) else \
                f"cannot write the dataset {out}: {exc.strerror or exc}"
    error, plan = comm.bcast((error, None if full_plan is None else
                              {k: full_plan[k] for k in ("todo", "done", "planned", "first_sequence")}), root=0)
    if error is None:
        try:
            imager = _build_imager(cfg, out, rank)
        except (RadsimError, OSError) as exc:
            error = f"{exc}" if size == 1 else f"rank {rank}: {exc}"
        errors = [e for e in (comm.allgather(error) if size > 1 else [error]) if e]
        error = errors[0] if errors else None
    if error is not None:
        if lock is not None:
            lock.release()
        if imager is not None:
            imager.close()
        raise SimulationError(error)
    return {"full_plan": full_plan, "plan": plan, "lock": lock, "imager": imager}


def _lead(comm, cfg, out: Path, job: dict) -> int:
    """Rank 0: hand out realisations (a helper thread serves the other ranks), make some, write the manifest."""
    size = comm.Get_size()
    plan, stopper = job["plan"], job["stopper"]
    progress = Progress(plan["planned"], len(plan["done"]))
    dispatcher = Dispatcher(comm, plan["todo"], progress)
    if size > 1:
        dispatcher.thread.start()

    def take():
        return None if stopper.requested else dispatcher.take()
    try:
        # each rank numbers its shards from the same first sequence (the names differ by rank)
        mine = _work(cfg, out, 0, plan["first_sequence"], take, progress.update, job["imager"], job["setup_s"],
                     stopper)
    except BaseException:
        dispatcher.stop_handing_out()
        job["lock"].release()
        raise
    if mine["fatal"]:
        dispatcher.fatal.append(mine["fatal"])
        log.error("%s", mine["fatal"])
    dispatcher.stop_handing_out()
    if size > 1:
        # Stopped by a signal, a rank that never says goodbye has gone with its node: do not wait for it past
        # Slurm's KillWait (30 s by default, then SIGKILL), write the manifest from the shards on disk. The signal
        # may come while rank 0 already waits here (its own work done when Slurm notices the lost node).
        grace = _Grace(stopper)
        while dispatcher.thread.is_alive() and not grace():
            dispatcher.thread.join(timeout=0.2)
        silent = sorted(set(range(1, size)) - set(dispatcher.rank_info))
        if silent:
            job["silent_ranks"] = silent
            log.error("no word from rank(s) %s %d s after %s (their node failed?): the manifest is written from "
                      "the shards on disk, which keep everything those ranks committed",
                      ", ".join(map(str, silent)), STOP_GRACE_S, stopper.signal_name)
    progress.close()
    if stopper.requested and not mine.get("interrupted"):
        mine["interrupted"] = stopper.signal_name      # the signal came while rank 0 waited for the others
    rank_info = [mine, *(dispatcher.rank_info[r] for r in sorted(dispatcher.rank_info))]
    status = _finish(cfg, out, job["full_plan"], rank_info, progress.failed, dispatcher.fatal, job["started"],
                     time.perf_counter() - job["t0"], size)
    job["lock"].release()
    return status


def _follow(comm, cfg, out: Path, job: dict) -> int:
    """Any other rank: ask rank 0 for the next realisation until there is none, report each one."""
    rank = comm.Get_rank()

    # rank 0 gone with its node: after a stop signal and the grace, complete this rank's shard and leave
    grace = _Grace(job["stopper"])

    def next_index():
        comm.send(("next", rank, None), dest=0, tag=TAG_REQUEST)
        reply = _recv(comm, 0, TAG_REPLY, give_up=grace)
        if reply is GAVE_UP:
            job["silent_ranks"] = [0]
            log.error("rank %d: no word from rank 0 %d s after %s (its node failed?): this rank's shard is "
                      "completed and kept", rank, STOP_GRACE_S, job["stopper"].signal_name)
            return None
        return reply

    def report(r):
        comm.send(("report", rank, r), dest=0, tag=TAG_REQUEST)

    try:
        mine = _work(cfg, out, rank, job["plan"]["first_sequence"], next_index, report, job["imager"],
                     job["setup_s"], job["stopper"])
    except Exception as exc:
        mine = {"rank": rank, "host": socket.gethostname(), "fatal": f"{type(exc).__name__}: {exc}"}
    if job.get("silent_ranks"):
        return 1 if mine.get("fatal") else 0
    if mine.get("fatal"):
        comm.send(("fatal", rank, mine["fatal"]), dest=0, tag=TAG_REQUEST)
    elif mine.get("interrupted"):
        comm.send(("stop", rank, mine["interrupted"]), dest=0, tag=TAG_REQUEST)
    comm.send(("bye", rank, mine), dest=0, tag=TAG_REQUEST)
    # an interrupted rank exits 0: rank 0 reports the interruption (srun --kill-on-bad-exit would otherwise kill
    # rank 0 while it writes the manifest)
    return 1 if mine.get("fatal") else 0


def _warn_about_split(cfg) -> None:
    if cfg.dataset.split_by == "tile":
        log.warning("dataset.split_by = 'tile': tiles of one sky go to train, validation and test alike, so the "
                    "test tiles leak information from the training skies (as in the seed study); use 'realisation' "
                    "or 'set' to hold out whole skies")
        return
    split = layout.assign_split(cfg)
    empty = [name for name in layout.SPLITS if not split[name] and split["fractions"][name] > 0]
    if empty:
        log.warning("the %s split(s) get no %s: too few for fractions %s", ", ".join(empty), cfg.dataset.split_by,
                    split["fractions"])


def _manifest(cfg, out, found, status, runs, failed):
    from mpi4py import MPI
    extra = {"mpi4py": __import__("mpi4py").__version__, "mpi": MPI.Get_library_version().splitlines()[0].strip()}
    if cfg.imaging.backend == "wsclean":
        from radsim.instrument.imaging.wsclean import (
            wsclean_executable,
            wsclean_version,
        )
        try:
            extra["wsclean"] = wsclean_version(wsclean_executable())
        except Exception:   # noqa: BLE001 - the version is informative; the imager itself reports a missing wsclean
            pass
    units = ("JY/PIXEL" if cfg.imaging.backend == "none" and not cfg.imaging.beam_arcsec else "JY/BEAM")
    return layout.build_manifest(cfg, out, found, status=status, runs=runs, failed=failed,
                                  version_info=layout.versions(extra), image_units=units)


def _finish(cfg, out, plan, rank_info, failed, fatal, started, wall_s, size) -> int:
    """Rank 0, last: the manifest from the shards now complete, the run's record and summary, the exit status."""
    found = layout.scan_shards(out)
    done = {int(i) for s in found for i in s["table"]["id"]}
    interrupted = sorted({r["interrupted"] for r in rank_info if r.get("interrupted")})
    status = ("complete" if len(done) == plan["planned"] else "interrupted" if interrupted else "incomplete")
    run = {"started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "wall_s": wall_s, "ranks": size,
           "hosts": sorted({r.get("host", "?") for r in rank_info}),
           "made": sum(r.get("realisations", 0) for r in rank_info), "failed": len(failed),
           "lost_before": plan.get("lost_before", []), "interrupted_by": interrupted[0] if interrupted else None,
           "abandoned": sorted(r["abandoned"] for r in rank_info if r.get("abandoned") is not None),
           "rank_info": rank_info}
    runs = [*plan["runs"], run]
    try:
        layout.write_manifest(out, _manifest(cfg, out, found, status, runs, failed))
    except OSError as exc:
        fatal = [*fatal, f"cannot update {out / layout.MANIFEST}: {exc.strerror or exc} (the shards are complete; "
                         f"run again once the cause is fixed to write it)"]
    made = run["made"]
    log.info("%s: %d realisations made in %.1f s on %d rank(s) (%.3g realisations/s); dataset %s, %d of %d "
             "realisations", out, made, wall_s, size, made / max(wall_s, 1e-9), status, len(done), plan["planned"])
    if failed or fatal:
        what = [f"{len(failed)} realisation(s) failed"] if failed else []
        what += [f"{len(fatal)} rank(s) stopped"] if fatal else []
        log.error("%s:", " and ".join(what))
        for f in sorted(failed, key=lambda f: f["index"]):
            log.error("  realisation %d (set %d, %s %s) on rank %d: %s", f["index"], f["set_index"], f["modifier"],
                      f["params"], f["rank"], f["error"])
        for f in fatal:
            log.error("  %s", f)
        log.error("run the same command again to retry what is missing (completed realisations are kept)")
        return 1
    if interrupted and status != "complete":
        log.warning("interrupted by %s: every completed realisation is kept (%d of %d in the dataset; %d made in "
                    "this run, %d abandoned); run the same command again to resume", interrupted[0], len(done),
                    plan["planned"], made, len(run["abandoned"]))
        return EXIT_INTERRUPTED
    return 0
