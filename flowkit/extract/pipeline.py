"""`extract`: videos in, one store out, resumable.

Order of work: plan the videos (names, sorted), check the options, open the parts folder (reuse
it when an earlier run with the same settings was interrupted), extract the videos that have no
part yet (Ray, or in this process), then assemble the store from every part in name order and
remove the parts folder. A kill at any point loses at most the videos in flight; rerunning the same
command finishes the job and gives the same store as an uninterrupted run.
"""

from __future__ import annotations

import functools
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from flowkit.extract.assemble import assemble_store
from flowkit.extract.jobs import VideoJob, default_output, plan_jobs
from flowkit.extract.labels import labels_from_folders, load_labels
from flowkit.extract.options import ContentOptions, RunOptions, check_flow_schedule
from flowkit.extract.parts import DamagedPartError, parts_dir_for, part_path, prepare_parts_dir, read_part_record
from flowkit.extract.summary import Summary
from flowkit.flow.params import check_device, resolve_flow_params
from flowkit.store import format as fmt

# Starting Ray (its processes, then torch and the flow engine in every worker) costs seconds, about
# what a worker spends on a few short videos; below this many videos per worker a local run goes
# faster in this process, on threads sharing one engine.
RAY_MIN_VIDEOS_PER_WORKER = 4


def _versions() -> dict:
    import cv2
    import h5py
    import numpy

    import flowkit

    return {"flowkit": flowkit.__version__, "torch": _torch_version(), "opencv": cv2.__version__,
            "numpy": numpy.__version__, "h5py": h5py.__version__}


def _torch_version() -> str:
    """torch's version from its package metadata, whether or not torch is loaded (importing it only to
    ask costs a CPU run seconds, and the record must not depend on what the run happened to load)."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "not installed"


def store_attrs(content: ContentOptions) -> dict:
    """Store-wide attributes recording how the store was made (docs/store-format.md)."""
    attrs = {
        "bound": float(content.bound),
        "algo": content.algo,
        "flow_params": content.flow_params,
        "step": int(content.step),
        "warped": bool(content.warped),
        "jpeg_quality": int(content.jpeg_quality),
        "versions": _versions(),
    }
    if content.size is not None:
        attrs["size"] = list(content.size)
    if content.max_frames is not None:
        attrs["max_frames"] = int(content.max_frames)
    for name in ("warm_start", "fast"):  # recorded only when set: plain stores keep their attributes
        if getattr(content, name):
            attrs[name] = True
    return attrs


def _check_dashboard(run: RunOptions) -> None:
    """Refuse --dashboard before anything is created when Ray cannot start one here."""
    from flowkit.extract.ray_runner import missing_dashboard_packages, ray_available

    if run.dashboard and run.workers > 0 and not run.address and ray_available():
        reason = missing_dashboard_packages()
        if reason:
            raise ValueError(reason)


def _check_devices(run: RunOptions) -> RunOptions:
    if run.device != "cuda" or run.address:
        return run  # a cluster's GPUs are checked once connected
    from flowkit.extract.devices import resolve_local_gpus

    return replace(run, gpus=resolve_local_gpus(run.gpus or None))


def _runner(run: RunOptions, videos: int, notes: list[str]):
    """(function running jobs, engine name) for these run options and this many videos to extract.

    Ray when it is needed (a cluster address, its dashboard, several GPUs), already running in this process, or
    worth its start-up (at least RAY_MIN_VIDEOS_PER_WORKER videos per worker); else threads here.
    """
    from flowkit.extract.local import run_in_process
    from flowkit.extract.ray_runner import ray_available, ray_running, run_with_ray

    if run.workers == 0:
        return run_in_process, "in-process"
    needs_ray = bool(run.address) or run.dashboard or (run.device == "cuda" and len(run.gpus) > 1)
    if ray_available():
        if needs_ray or ray_running() or videos >= RAY_MIN_VIDEOS_PER_WORKER * run.workers:
            return functools.partial(run_with_ray, say=_say), "ray"
        return run_in_process, "in-process threads (small job: no Ray start-up)"
    if run.address:
        raise ValueError("--address needs the ray package, which is not installed here")
    notes.append(f"ray is not installed: extracting in this process with {run.workers} threads")
    return run_in_process, "in-process threads"


def _say(line: str) -> None:
    """Print a line on stderr above the progress bar (a retried task, where Ray's messages went)."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def _progress(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="video", desc="extract", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True)


def extract(
    paths: Iterable[str | Path],
    output: str | Path | None = None,
    content: ContentOptions | None = None,
    run: RunOptions | None = None,
) -> Summary:
    """Extract every video under `paths` (video files, folders searched recursively, list files)
    into the store `output` (default: `<first path's name>.h5` in the current folder).

    content: what is stored (size, step, flow algorithm and parameters, warped flow, ...). run: how
    it runs (device, workers, Ray address, labels source, overwrite, ...). Videos that fail are
    recorded as failed in the store and listed in the summary; nothing is raised for them.
    Raises ValueError / OSError for bad options: no videos, unknown GPU, an output that exists
    (without overwrite and with no interrupted run to resume), a parts folder from a run with
    other settings. Returns the run's Summary.
    """
    started = time.perf_counter()
    content = content or ContentOptions()
    run = run or RunOptions()
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no input paths given")
    skipped: list[str] = []
    jobs = plan_jobs(paths, skipped)
    output = Path(output) if output is not None else default_output(paths)
    content = replace(content, flow_params=resolve_flow_params(content.algo, content.flow_params))
    labels = load_labels(run.labels) if run.labels else None
    run = _check_devices(run)
    check_device(content.algo, run.device)
    check_flow_schedule(content, run)
    if content.algo == "raft":
        from flowkit.flow.raft import check_weights

        check_weights(content.flow_params)
    _check_dashboard(run)
    parts_dir = parts_dir_for(output)
    if output.exists() and not parts_dir.exists() and not run.overwrite:
        raise FileExistsError(f"{output} exists; pass --overwrite to replace it")
    if output.is_dir():
        raise IsADirectoryError(f"output {output} is a folder; give a file name like {output / 'videos.h5'}")
    fresh = not parts_dir.exists()
    prepare_parts_dir(parts_dir, {"format_version": fmt.FORMAT_VERSION, **content.record()}, run.overwrite)
    try:
        summary, records = _extract_parts_and_assemble(jobs, output, parts_dir, content, run, labels, started)
    except BaseException:
        if fresh and not any(parts_dir.glob("*.npz")):
            shutil.rmtree(parts_dir, ignore_errors=True)  # nothing done: leave nothing behind
        raise
    shutil.rmtree(parts_dir)
    ok = [r for r in records if r.status == fmt.STATUS_OK]
    summary.videos_ok = len(ok)
    summary.videos_failed = len(records) - len(ok)
    summary.failures = [(r.name, r.error) for r in records if r.status != fmt.STATUS_OK]
    summary.frames = sum(r.num_frames for r in ok)
    summary.notes = [f"skipped {line}" for line in skipped] + summary.notes
    summary.wall_s = time.perf_counter() - started
    return summary


def _extract_parts_and_assemble(jobs: list[VideoJob], output: Path, parts_dir: Path, content: ContentOptions,
                                run: RunOptions, labels, started: float):
    """Extract the videos without a finished part, assemble the store. Returns (summary, records)."""
    # Failed videos are tried again: a failure may come from the environment (a missing
    # library, a full disk) rather than the video, and a video that really is broken fails the
    # same way again, so the result does not change.
    notes: list[str] = []
    todo = [job for job in jobs if not _has_ok_part(parts_dir, job, notes)]
    summary = Summary(output=output, resumed=len(jobs) - len(todo))
    if todo:
        runner, summary.engine = _runner(run, len(todo), notes)
        _run_jobs(runner, todo, content, run, parts_dir, summary, started)
    else:
        summary.engine = "none (all videos done)"
    classes, label_of, splits = _labels(jobs, labels)
    assemble = functools.partial(assemble_store, parts_dir, output, [j.name for j in jobs], content.streams(),
                                 store_attrs(content), classes, label_of, splits, progress=run.progress)
    try:
        assemble()
    except DamagedPartError as exc:  # a part damaged after it was checked: extract that video again, once
        job = next(j for j in jobs if part_path(parts_dir, j.name) == exc.path)
        exc.path.unlink(missing_ok=True)
        notes.append(f"{exc}: extracting {job.name} again")
        summary.resumed -= 1
        runner, _ = _runner(run, 1, [])
        _run_jobs(runner, [job], content, run, parts_dir, summary, started)
        assemble()
    summary.notes = notes + summary.notes
    return summary, [read_part_record(part_path(parts_dir, job.name)) for job in jobs]


def _has_ok_part(parts_dir: Path, job: VideoJob, notes: list[str]) -> bool:
    """Whether an earlier run finished `job` (its part says ok). A part that cannot be read is
    deleted, noted, and the video extracted again."""
    path = part_path(parts_dir, job.name)
    if not path.is_file():
        return False
    try:
        return read_part_record(path).status == fmt.STATUS_OK
    except DamagedPartError as exc:
        path.unlink(missing_ok=True)
        notes.append(f"{exc}: extracting {job.name} again")
        return False


def _run_jobs(runner, todo: list[VideoJob], content: ContentOptions, run: RunOptions, parts_dir: Path,
              summary: Summary, started: float) -> None:
    """Run `todo`, updating the progress bar and the summary's work counters."""
    failed = 0
    with _progress(summary.resumed + len(todo), summary.resumed, run.progress) as bar:
        for result in runner(todo, content, run, parts_dir):
            summary.videos_processed += 1
            summary.frames_processed += result.num_frames
            summary.notes.extend(result.notes)
            failed += result.status != fmt.STATUS_OK
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.set_postfix({"frames/s": f"{summary.frames_processed / elapsed:.1f}", "failed": failed}, refresh=False)
            bar.update(1)


def _labels(jobs: list[VideoJob], labels):
    """(classes, {name: label}, {split: {name: code}}) from a labels source or the folder names."""
    folder_of = {job.name: job.folder for job in jobs}
    if labels is None:
        classes, label_of = labels_from_folders(folder_of)
        return classes, label_of, {}
    label_of, splits = labels.resolve(folder_of, folder_of)
    return labels.classes, label_of, splits
