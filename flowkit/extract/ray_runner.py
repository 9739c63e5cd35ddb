"""Running the per-video work on Ray: one task per video on CPU workers, and with GPUs one flow actor
per GPU that batches the frame pairs of every task using it.

Each video's task holds CPUS_PER_TASK CPUs and sizes every thread pool it runs (the solver's,
OpenCV's, torch's) to them (flowkit.cpus.use_cpus). A local Ray is started with `num_cpus =
workers`, no dashboard unless asked (then on 127.0.0.1), and its servers bound to the loopback
interface; `address` joins an existing cluster instead (inputs and the output folder must then be on
a filesystem every node sees at the same path). A task whose worker process or node dies is
submitted again up to `max_retries` times (one line said per retry); after that the video is
recorded as failed. Errors of the video itself (it does not decode...) are failures at once, never
retried. A GPU actor whose device breaks is restarted (as often) and runs its pending calls again;
with no restart left the run stops with BrokenDeviceError (docs/architecture.md, "When flow fails
during extraction"). Ray's own messages stay in its log folder (ray_logs). `import ray` happens only
inside these functions.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from flowkit.extract.failures import BrokenDeviceError, broken_device_error, describe
from flowkit.cpus import use_cpus
from flowkit.errors import UserValueError
from flowkit.extract.jobs import VideoJob
from flowkit.extract.options import BATCH_CHUNKS, ContentOptions, RunOptions
from flowkit.extract.worker import VideoResult, failed_result, local_flow_fn, make_flow_fn, run_job
from flowkit.limits import MAX_PIXELS_ENV

# Ray reads this before deciding the node address: "0" makes a local Ray advertise and bind
# 127.0.0.1 instead of the machine's network address (so nothing listens on the network).
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# In-flight tasks per CPU worker: enough to keep workers fed, few enough that ray.wait stays cheap.
TASKS_PER_WORKER = 3
# Each video's task holds one CPU (a worker is a core) and runs its threads on it (task_cpus).
CPUS_PER_TASK = 1


def ray_available() -> bool:
    """Whether the ray package can be imported here."""
    return importlib.util.find_spec("ray") is not None


def missing_dashboard_packages() -> str | None:
    """None when Ray's dashboard can start here, else a one-line reason naming what to install."""
    try:
        import ray.dashboard.optional_deps  # noqa: F401  (what Ray itself imports to decide)
    except ImportError as exc:
        missing = f" (missing: {exc.name})" if getattr(exc, "name", None) else ""
        return f'--dashboard needs Ray\'s dashboard packages{missing}: pip install "ray[default]"'
    return None


def ray_running() -> bool:
    """Whether this process is already connected to Ray (then using it costs no start-up)."""
    ray = sys.modules.get("ray")  # never import it just to ask
    return ray is not None and ray.is_initialized()


class FlowServer:
    """The body of a GPU flow actor: a flow engine behind a FlowBatcher, called concurrently by the
    tasks of many videos (the actor runs with max_concurrency > 1).

    make_flow: () -> flow function, called once per process (again in a restarted actor). When the
    device breaks (flowkit.extract.failures) the actor's process exits: Ray starts a new one, with a
    new CUDA context, and runs the calls that were pending on it again (flow_server's options)."""

    def __init__(self, make_flow: Callable[[], Callable], max_pairs: int):
        from flowkit.extract.batcher import FlowBatcher

        self.batcher = FlowBatcher(make_flow(), max_pairs=max_pairs, on_broken=_exit_for_restart)

    def flow(self, prev: np.ndarray, next: np.ndarray) -> np.ndarray:
        """(N, H, W) uint8 prev and next -> (N, 2, H, W) float32 flow in pixels."""
        return self.batcher(np.array(prev), np.array(next))


def _exit_for_restart(exc: BaseException) -> None:
    """End this actor's process at once (an unexpected death, which Ray answers with a restart)."""
    sys.stderr.write(f"flowkit: the flow device broke ({describe(exc)}); ending this actor so Ray replaces it\n")
    sys.stderr.flush()
    os._exit(1)


class RemoteFlow:
    """A flow function (flowkit.flow.functions' contract) that runs on a FlowServer actor.

    The actor's own errors are raised as themselves (a pair out of memory: its video fails with that
    reason); an actor that is gone for good (its restarts spent) raises BrokenDeviceError."""

    def __init__(self, actor):
        self.actor = actor

    def __call__(self, prev, next):
        import ray

        try:
            flow = ray.get(self.actor.flow.remote(np.asarray(prev), np.asarray(next)))
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None
            raise
        except ray.exceptions.RayActorError as exc:
            raise BrokenDeviceError(f"the GPU flow actor is gone after its restarts ({describe(exc)})") from None
        return np.array(flow)


def _task(job_fn, job: VideoJob, content: ContentOptions, parts_dir: str, actor, batch_pairs: int) -> VideoResult:
    cpus = task_cpus()
    # The solver's pool, OpenCV's and torch's threads (and every default from available_cpus) sized to
    # the task's CPUs, not the node's: a node's tasks would otherwise run cores x cores threads.
    flow_fn = RemoteFlow(actor) if actor is not None else local_flow_fn(content, "cpu", threads=cpus)
    use_cpus(cpus)  # after the flow function, which may have loaded torch
    return job_fn(job, content, parts_dir, flow_fn, batch_pairs)


def task_cpus() -> int:
    """The CPUs Ray assigned the running task or actor (its num_cpus, at least 1)."""
    import ray

    assigned = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
    return max(1, int(assigned))


def init_ray(run: RunOptions) -> bool:
    """Connect to run.address, or start a local Ray bound to 127.0.0.1. Returns True when this
    call started or connected Ray (the caller shuts it down), False when Ray was already up."""
    import ray

    if ray.is_initialized():
        return False
    common = dict(logging_level=logging.WARNING, log_to_driver=False)
    if run.address:
        # A local Ray's workers inherit this process's environment; a cluster's need it passed on.
        limit = {name: os.environ[name] for name in (MAX_PIXELS_ENV,) if name in os.environ}
        ray.init(address=run.address, runtime_env={"env_vars": limit} if limit else None, **common)
        return True
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False  # this process; the variable below tells Ray's own processes
    saved = {name: os.environ.get(name) for name in (_LOOPBACK_ENV, "CUDA_VISIBLE_DEVICES")}
    os.environ[_LOOPBACK_ENV] = "0"
    if run.device == "cuda" and run.gpus:
        # Ray hands each GPU actor one of these devices. Ids count the devices this process sees
        # (as torch does), so map them through an existing CUDA_VISIBLE_DEVICES.
        visible = saved["CUDA_VISIBLE_DEVICES"]
        physical = [d.strip() for d in visible.split(",")] if visible else None
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(physical[i] if physical else str(i) for i in run.gpus)
    try:
        ray.init(
            num_cpus=max(run.workers, 1),
            num_gpus=len(run.gpus) if run.device == "cuda" else 0,
            include_dashboard=run.dashboard,
            dashboard_host="127.0.0.1",
            **common,
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return True


def _cluster_gpus(ray, run: RunOptions) -> int:
    """How many flow actors to start: one per requested GPU, checked against the cluster."""
    available = int(ray.cluster_resources().get("GPU", 0))
    if available == 0:
        raise UserValueError("--gpu: the Ray cluster has no GPU (use --cpu)")
    wanted = len(run.gpus) if run.gpus else available
    if wanted > available:
        raise UserValueError(f"--gpu: asked for {wanted} GPUs, the Ray cluster has {available}")
    return wanted


def _failure_reason(ray, exc: BaseException, max_retries: int) -> str:
    """One line saying why a task gave no result: its own error, or its worker kept dying."""
    if isinstance(exc, ray.exceptions.RayTaskError):  # raised by our code: not retried
        return describe(exc.cause if getattr(exc, "cause", None) is not None else exc)
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"its worker died {max_retries + 1} times ({type(exc).__name__}{': ' + first if first else ''})"


def flow_server(ray, run: RunOptions, **resources):
    """The FlowServer actor class with its options: `resources` (num_gpus, num_cpus), calls from up to
    2 * workers tasks at once, and up to run.max_retries restarts of a process that died (a broken
    device ends it), each running the calls that were pending on it again."""
    return ray.remote(FlowServer).options(
        max_concurrency=max(4, 2 * run.workers),
        max_restarts=run.max_retries,
        max_task_retries=run.max_retries,
        **resources,
    )


def flow_actors(ray, content: ContentOptions, run: RunOptions) -> list:
    """One FlowServer actor per GPU used, each holding one GPU and batching its tasks' pairs."""
    # num_cpus=0: it mostly waits on the GPU; CPU slots stay with the decoding tasks.
    server = flow_server(ray, run, num_gpus=1, num_cpus=0)
    max_pairs = run.batch_pairs * BATCH_CHUNKS
    gpus = _cluster_gpus(ray, run)
    make_flow = functools.partial(make_flow_fn, content.algo, content.flow_params, "cuda", run.compile)
    return [server.remote(make_flow, max_pairs) for _ in range(gpus)]


def run_with_ray(jobs: Sequence[VideoJob], content: ContentOptions, run: RunOptions, parts_dir: Path, job_fn=run_job,
                 say: Callable[[str], None] | None = None) -> Iterator[VideoResult]:
    """Extract `jobs` on Ray, yielding each video's result as it finishes (its part is written).
    job_fn(job, content, parts_dir, flow_fn, batch_pairs) -> VideoResult is the per-video work
    each task runs (worker.run_job).

    A task whose worker process or node is lost is submitted again, up to run.max_retries times,
    and `say` gets one line for each retry; Ray's own messages about the loss go to its log folder
    (ray_logs), which `say` names at the end."""
    say = say or (lambda line: None)
    started = init_ray(run)
    import ray

    from flowkit.extract.ray_logs import ray_messages_in_log

    with ray_messages_in_log(ray) as messages:  # until Ray is shut down: its news of a lost node can come late
        try:
            yield from _run_tasks(ray, jobs, content, run, parts_dir, job_fn, say)
        finally:
            if started:
                ray.shutdown()
    if messages.count:
        say(f"Ray's messages about lost workers or nodes ({messages.count}): {messages.path}")


def _run_tasks(ray, jobs, content, run, parts_dir, job_fn, say) -> Iterator[VideoResult]:
    actors = flow_actors(ray, content, run) if run.device == "cuda" else []
    # Retries are ours, not Ray's: so each one can be said, and counted against the video.
    task = ray.remote(_task).options(num_cpus=CPUS_PER_TASK, max_retries=0, retry_exceptions=False)
    workers = max(run.workers, 1) if not run.address else max(int(ray.cluster_resources().get("CPU", 1)), 1)
    window = TASKS_PER_WORKER * workers
    queue = iter(enumerate(jobs))
    pending: dict = {}  # ref -> (index, job, attempt)

    def submit(index: int, job: VideoJob, attempt: int) -> None:
        actor = actors[index % len(actors)] if actors else None
        pending[task.remote(job_fn, job, content, str(parts_dir), actor, run.batch_pairs)] = (index, job, attempt)

    for index, job in itertools.islice(queue, window):
        submit(index, job, 0)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            index, job, attempt = pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # raised by our code: retrying would fail the same way
                if isinstance(getattr(exc, "cause", None), BrokenDeviceError):
                    raise broken_device_error(exc.cause) from None  # no GPU actor left: stop (a rerun resumes)
                result = failed_result(job, parts_dir, _failure_reason(ray, exc, run.max_retries))
            except Exception as exc:  # the worker process or its node was lost
                if attempt < run.max_retries:
                    say(f"retrying {job.name} (attempt {attempt + 2} of {run.max_retries + 1}): {_loss(exc)}")
                    submit(index, job, attempt + 1)
                    continue
                result = failed_result(job, parts_dir, _failure_reason(ray, exc, run.max_retries))
            for next_index, next_job in itertools.islice(queue, 1):
                submit(next_index, next_job, 0)
            yield result


def _loss(exc: BaseException) -> str:
    """One line on why a task gave no result although its code did not fail."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "").split(". ")[0].rstrip(".")
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
