"""Data-parallel training: the one module that knows Horovod.

:func:`init` returns an engine with the rank layout and the few collective operations training needs
(optimizer wrapping, Keras callbacks, broadcasting and gathering Python objects). Another data-parallel engine
would implement the same small interface. Without Horovod installed a single-process engine is returned,
unless a launcher (mpirun, srun, horovodrun) started several ranks: then every rank would train alone on the
same data, so that is refused.
"""
from __future__ import annotations

import logging
import os
import time

from radtrain.errors import RadtrainError

log = logging.getLogger("radtrain")

_SIZE_VARS = ("HOROVOD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS")


class DistributedError(RadtrainError, RuntimeError):
    """Ranks that cannot work together (no Horovod where several were launched)."""


def _launched_size() -> int:
    """The number of ranks a launcher says it started (1 when none did)."""
    for var in _SIZE_VARS:
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 1 and (var != "SLURM_NTASKS" or "SLURM_STEP_ID" in os.environ):
            return int(value)
    return 1


def pin_gpu(local_rank: int) -> str:
    """Make one GPU visible to this process (local rank modulo the GPUs of the node), with memory growth;
    returns the device's name, or "cpu"."""
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "cpu"
    gpu = gpus[local_rank % len(gpus)]
    try:
        tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.set_visible_devices(gpu, "GPU")
    except RuntimeError as exc:   # TensorFlow already started in this process: devices cannot change any more
        log.warning("cannot pin GPU %s to local rank %d (%s); using TensorFlow's default placement",
                    gpu.name, local_rank, exc)
    return gpu.name


class SingleEngine:
    """One process, no communication."""

    name = "single"
    controller = "none"
    rank = 0
    size = 1
    local_rank = 0

    def distributed_optimizer(self, optimizer, compression: str = "none"):
        return optimizer

    def callbacks(self, *, learning_rate: float, warmup_epochs: int, steps_per_epoch: int) -> list:
        return []

    def broadcast_object(self, obj, root: int = 0):
        return obj

    def allgather_object(self, obj) -> list:
        return [obj]

    def time_allreduce(self, n_floats: int, repeats: int = 10) -> float:
        return 0.0

    def shutdown(self):
        pass


def _slurm_tasks_per_node() -> list[int]:
    """SLURM_TASKS_PER_NODE ("2(x3),1") as one count per node of the job."""
    counts = []
    for part in os.environ["SLURM_TASKS_PER_NODE"].split(","):
        n, _, times = part.partition("(x")
        counts += [int(n)] * (int(times.rstrip(")")) if times else 1)
    return counts


def gloo_slots_from_slurm() -> dict[str, str]:
    """The Horovod slot of this srun task (rank, local and cross ranks, host name) for the Gloo controller,
    from Slurm's task variables. srun's default block distribution numbers ranks node after node, as Horovod's
    host assignment does, so the rendezvous server's plan and the tasks agree."""
    per_node = _slurm_tasks_per_node()
    node = int(os.environ["SLURM_NODEID"])
    return {"HOROVOD_RANK": os.environ["SLURM_PROCID"], "HOROVOD_SIZE": os.environ["SLURM_NTASKS"],
            "HOROVOD_LOCAL_RANK": os.environ["SLURM_LOCALID"], "HOROVOD_LOCAL_SIZE": str(per_node[node]),
            "HOROVOD_CROSS_RANK": str(node), "HOROVOD_CROSS_SIZE": str(len(per_node)),
            "HOROVOD_HOSTNAME": os.environ["SLURMD_NODENAME"]}


def serve_gloo_rendezvous(nodes: list[str]) -> None:
    """Horovod's Gloo rendezvous server for the tasks of this Slurm job (``nodes`` in the job's order, the tasks
    per node from SLURM_TASKS_PER_NODE): what ``horovodrun --gloo`` runs itself, for ranks that srun starts.
    Prints the port it listens on, then serves until killed."""
    import threading

    from horovod.runner.common.util.hosts import get_host_assignments, parse_hosts
    from horovod.runner.http.http_server import RendezvousServer
    per_node = _slurm_tasks_per_node()
    if len(per_node) != len(nodes):
        raise DistributedError(f"{len(nodes)} nodes but SLURM_TASKS_PER_NODE lists {len(per_node)}")
    server = RendezvousServer()
    port = server.start()
    server.init(get_host_assignments(parse_hosts(",".join(f"{n}:{k}" for n, k in zip(nodes, per_node))),
                                     sum(per_node)))
    print(port, flush=True)
    threading.Event().wait()


class HorovodEngine:
    """Horovod (MPI or Gloo controller): ``horovodrun -np N``, ``mpirun``, ``srun --mpi=pmix``, and ``srun`` with
    the Gloo controller when jobs/train.sh serves the rendezvous (HOROVOD_GLOO_RENDEZVOUS_ADDR set)."""

    name = "horovod"

    def __init__(self):
        import horovod.tensorflow.keras as hvd
        if os.environ.get("HOROVOD_GLOO_RENDEZVOUS_ADDR") and "HOROVOD_RANK" not in os.environ \
                and "SLURM_PROCID" in os.environ:
            os.environ.update(gloo_slots_from_slurm())
        hvd.init()
        self.hvd = hvd
        self.rank, self.size, self.local_rank = hvd.rank(), hvd.size(), hvd.local_rank()
        self.controller = "gloo" if hvd.gloo_enabled() else "mpi"

    def distributed_optimizer(self, optimizer, compression: str = "none"):
        """Gradients averaged over ranks before every update; ``compression="fp16"`` sends them as float16
        (half the allreduce volume, for bandwidth-bound interconnects)."""
        codec = self.hvd.Compression.fp16 if compression == "fp16" else self.hvd.Compression.none
        return self.hvd.DistributedOptimizer(optimizer, compression=codec)

    def callbacks(self, *, learning_rate: float, warmup_epochs: int, steps_per_epoch: int) -> list:
        """Horovod's Keras callbacks, in the order they must run: rank 0's variables broadcast after the first
        step (so every rank starts from the same weights and optimizer state), metrics averaged over ranks at
        each epoch end (before any callback that reads them), and a linear learning-rate warm-up from
        ``learning_rate / size`` to ``learning_rate`` (momentum correction off: it fails with Keras 2.15's
        optimizers)."""
        cbs = [self.hvd.callbacks.BroadcastGlobalVariablesCallback(0),
               self.hvd.callbacks.MetricAverageCallback()]
        if warmup_epochs > 0:
            cbs.append(self.hvd.callbacks.LearningRateWarmupCallback(
                initial_lr=learning_rate, warmup_epochs=warmup_epochs, momentum_correction=False,
                steps_per_epoch=steps_per_epoch, verbose=0))
        return cbs

    def broadcast_object(self, obj, root: int = 0):
        import horovod.tensorflow as hvd_tf
        return hvd_tf.broadcast_object(obj, root_rank=root)

    def allgather_object(self, obj) -> list:
        import horovod.tensorflow as hvd_tf
        return hvd_tf.allgather_object(obj)

    def time_allreduce(self, n_floats: int, repeats: int = 10) -> float:
        """Seconds per averaging allreduce of ``n_floats`` float32 values among all ranks (one warm-up call,
        then the mean of ``repeats``); a collective: every rank must call it."""
        import tensorflow as tf
        buffer = tf.ones([n_floats], tf.float32)
        self.hvd.allreduce(buffer, name="radtrain.profile.warmup").numpy()
        t0 = time.perf_counter()
        for i in range(repeats):
            self.hvd.allreduce(buffer, name=f"radtrain.profile.{i}").numpy()
        return (time.perf_counter() - t0) / repeats

    def shutdown(self):
        self.hvd.shutdown()


def versions() -> dict:
    """{"horovod": version} when Horovod is installed (recorded in the run record), else {}."""
    try:
        import horovod
    except ImportError:
        return {}
    return {"horovod": horovod.__version__}


def init():
    """The data-parallel engine for this process: Horovod when it is installed, else a single process."""
    import importlib
    try:
        importlib.import_module("horovod.tensorflow.keras")
    except ImportError as exc:
        launched = _launched_size()
        if launched > 1:
            raise DistributedError(f"{launched} ranks were launched but Horovod cannot be imported ({exc}); each "
                               "rank would train alone. Install horovod (scripts/setup.sh builds it) or run "
                               "a single process") from None
        log.debug("Horovod not available (%s): training in one process", exc)
        return SingleEngine()
    return HorovodEngine()
