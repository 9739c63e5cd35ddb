"""`extract`: videos in, one store out, resumable.

Order of work: plan the videos (names, sorted), check the options, open the parts folder (reuse
it when an earlier run with the same settings was interrupted), extract the videos that have no
part yet (Ray, or in this process), then assemble the store from every part in name order and
remove the parts folder. A kill at any point loses at most the videos in flight; rerunning the same
command finishes the job and gives the same store as an uninterrupted run.

A sharded run (`RunOptions.shard_size`, or a large job by default; docs/scale.md) plans its shards,
builds each one from its parts as soon as they are all written (flowkit.extract.shards), and writes
the index last; `append` adds the videos an existing store lacks as new shards.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Callable, Iterable

from flowkit.errors import UserFileExistsError, UserIsADirectoryError, UserValueError
from flowkit.extract.assemble import assemble_store
from flowkit.extract.jobs import VideoJob, default_output, plan_jobs
from flowkit.extract.labels import coverage_notes, labels_from_folders, load_labels
from flowkit.extract.options import ContentOptions, RunOptions
from flowkit.extract.parts import DamagedPartError, parts_dir_for, part_path, prepare_parts_dir, read_part_record
from flowkit.extract.shards import ExistingStore, ShardAssembler, ShardPlan, assemblers_for, default_shard_size, \
    load_plan, make_plan, remove_leftovers, save_plan, shard_result_of, unlink_quietly
from flowkit.extract.summary import Summary
from flowkit.store.records import VideoRecord
from flowkit.store.shards import shard_file_name
from flowkit.flow.params import check_device, resolve_flow_params
from flowkit.store import format as fmt

if TYPE_CHECKING:
    from flowkit.extract.worker import VideoResult

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
    for key in ("short_side", "long_side"):
        if getattr(content, key) is not None:
            attrs[key] = int(getattr(content, key))
    if content.fps is not None:
        attrs["fps"] = float(content.fps)
    if content.max_frames is not None:
        attrs["max_frames"] = int(content.max_frames)
    return attrs


def _check_dashboard(run: RunOptions) -> None:
    """Refuse --dashboard before anything is created when Ray cannot start one here."""
    from flowkit.extract.ray_runner import missing_dashboard_packages, ray_available

    if run.dashboard and run.workers > 0 and not run.address and ray_available():
        reason = missing_dashboard_packages()
        if reason:
            raise UserValueError(reason)


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
        raise UserValueError("--address needs the ray package, which is not installed here")
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
        raise UserValueError("no input paths given")
    skipped: list[str] = []
    jobs = plan_jobs(paths, skipped)
    output = Path(output) if output is not None else default_output(paths)
    content = replace(content, flow_params=resolve_flow_params(content.algo, content.flow_params))
    labels = load_labels(run.labels) if run.labels else None
    run = _check_devices(run)
    check_device(content.algo, run.device)
    _check_dashboard(run)
    parts_dir = parts_dir_for(output)
    if output.is_dir():
        raise UserIsADirectoryError(f"output {output} is a folder; give a file name like {output / 'videos.h5'}")
    plan = None if run.overwrite else load_plan(parts_dir)
    existing = _store_to_append_to(output, run, content, plan)
    if existing is not None:
        jobs = [job for job in jobs if job.name not in existing.names]
        if not jobs:
            shutil.rmtree(parts_dir, ignore_errors=True)  # a finished append killed before its cleanup
            return _finish(Summary(output=output, engine="none (no new videos)"), list(existing.store.videos),
                           skipped, started)
    elif output.exists() and not parts_dir.exists() and not run.overwrite:
        raise UserFileExistsError(f"{output} exists; pass --overwrite to replace it, or --append to add new videos")
    stale = _shard_files(output) if run.overwrite else []
    fresh = not parts_dir.exists()
    prepare_parts_dir(parts_dir, {"format_version": fmt.FORMAT_VERSION, **content.record()}, run.overwrite)
    try:
        plan = _shard_plan(jobs, output, parts_dir, content, run, plan, existing)
        if plan is None:
            summary, records = _extract_parts_and_assemble(jobs, output, parts_dir, content, run, labels, started)
        else:
            summary, records = _extract_shards_and_index(jobs, output, parts_dir, content, run, labels, started, plan,
                                                         existing)
    except BaseException:
        if fresh and not any(parts_dir.glob("*.npz")) and not _published_shards(output, parts_dir):
            shutil.rmtree(parts_dir, ignore_errors=True)  # nothing done: leave nothing behind
        raise
    finally:
        if existing is not None:
            existing.store.close()
    kept = set(plan.files) if plan is not None else set()
    unlink_quietly([output.parent / name for name in stale if name not in kept])
    shutil.rmtree(parts_dir)
    return _finish(summary, records, skipped, started)


def _finish(summary: Summary, records: list[VideoRecord], skipped: list[str], started: float) -> Summary:
    """Fill in the summary's counts over the whole store (`records`, every video of it)."""
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
    if labels is not None:
        notes += coverage_notes(labels, [job.name for job in jobs])
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
              summary: Summary, started: float, on_result: Callable[[VideoResult], None] | None = None) -> None:
    """Run `todo`, updating the progress bar and the summary's work counters; on_result(result) is
    called as each video's part is written."""
    failed = 0
    with _progress(summary.resumed + len(todo), summary.resumed, run.progress) as bar:
        for result in runner(todo, content, run, parts_dir):
            if on_result is not None:
                on_result(result)
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


def _store_to_append_to(output: Path, run: RunOptions, content: ContentOptions, plan: ShardPlan | None):
    """The store `--append` adds to (an ExistingStore), None for a run that writes a new store. Its
    settings must be this run's: one store holds one kind of content."""
    resuming_an_append = plan is not None and plan.append
    if not (run.append or resuming_an_append) or not output.exists() or (plan is not None and not plan.append):
        return None
    if run.overwrite:
        raise UserValueError("--append adds to a store, --overwrite replaces it: pass one of them")
    from flowkit.store import open_store

    store = open_store(output)
    wanted = json.loads(json.dumps({k: v for k, v in store_attrs(content).items() if k != "versions"}))
    differ = sorted(k for k in set(wanted) | set(store.attrs) - {"versions", "format", "format_version"}
                    if store.attrs.get(k) != wanted.get(k))
    if store.streams != content.streams():
        differ.append("streams")
    if differ:
        store.close()
        said = "; ".join(f"{k}: {store.attrs.get(k)!r} in the store, {wanted.get(k)!r} now" for k in differ)
        raise UserValueError(f"cannot append to {output}: it was extracted with other settings ({said})")
    return ExistingStore(store)


def _shard_files(output: Path) -> list[str]:
    """The shard file names of the sharded store at `output` ([] for none or a single-file store)."""
    from flowkit.store.sharded import ShardedStore
    from flowkit.store.shards import check_shard_name, is_sharded

    if not output.is_file() or not is_sharded(output):
        return []
    with ShardedStore(output, check=False) as store:
        names = [entry.file for entry in store.shards]
    safe = []
    for name in names:
        try:
            safe.append(check_shard_name(name))
        except ValueError:
            continue  # never delete what an untrusted name points at
    return safe


def _published_shards(output: Path, parts_dir: Path) -> bool:
    """Whether a sharded run in `parts_dir` has published a shard (its parts are gone then)."""
    plan = load_plan(parts_dir) if parts_dir.is_dir() else None
    return plan is not None and any((output.parent / name).is_file() for name in plan.files)


def _shard_plan(jobs: list[VideoJob], output: Path, parts_dir: Path, content: ContentOptions, run: RunOptions,
                plan: ShardPlan | None, existing: ExistingStore | None) -> ShardPlan | None:
    """The shards of this run (saved in the parts folder), or None for a single-file store."""
    names = [job.name for job in jobs]
    if plan is not None:
        if run.shard_size is not None and run.shard_size != plan.shard_size:
            raise UserValueError(f"{parts_dir} holds an unfinished run with {plan.shard_size} videos per shard; rerun "
                             "with the same --shard-size to resume it, or pass --overwrite to start over")
        if plan.names != names:
            raise UserValueError(f"{parts_dir} holds an unfinished sharded run of other videos; rerun it with the same "
                             "inputs to finish it (then add new videos with --append), or pass --overwrite")
        return plan
    size = run.shard_size if run.shard_size is not None else default_shard_size(jobs, content)
    if existing is None and size == 0:
        return None
    if existing is not None:
        size = size or default_shard_size(jobs, content) or len(jobs)
    first = 0 if existing is None else max(len(existing.shards), 1)
    plan = make_plan(output, names, size, first, append=existing is not None)
    taken = plan.files + ([shard_file_name(output, 0)] if existing is not None and not existing.shards else [])
    clash = [name for name in taken if (output.parent / name).exists()]
    if clash and not run.overwrite:
        raise UserFileExistsError(f"{output.parent / clash[0]} exists and would be a shard of {output}; "
                              "move it away, or pass --overwrite to replace it")
    save_plan(parts_dir, plan)
    return plan


def _extract_shards_and_index(jobs: list[VideoJob], output: Path, parts_dir: Path, content: ContentOptions,
                              run: RunOptions, labels, started: float, plan: ShardPlan,
                              existing: ExistingStore | None):
    """Extract the videos of unfinished shards, assemble each shard as soon as its last video is done
    (ShardAssembler, beside the extraction), then write the index. Returns (summary, records)."""
    remove_leftovers(parts_dir)
    notes: list[str] = []
    shards = plan.shards()
    number_of = {name: k for k, names in enumerate(shards) for name in names}
    paths = [output.parent / name for name in plan.files]
    results = {k: result for k in range(len(shards)) if (result := _published_shard(paths[k], k, shards[k], notes))}
    for k in results:  # a kill between publishing a shard and deleting its parts leaves them
        unlink_quietly([part_path(parts_dir, name) for name in shards[k]])
    todo = [job for job in jobs if number_of[job.name] not in results and not _has_ok_part(parts_dir, job, notes)]
    summary = Summary(output=output, resumed=len(jobs) - len(todo))
    waiting = Counter(number_of[job.name] for job in todo)
    streams, attrs = content.streams(), store_attrs(content)
    assembler = ShardAssembler(assemblers_for(run.workers))
    futures: dict[int, Future] = {}

    def submit(k: int) -> None:
        futures[k] = assembler.submit(parts_dir, k, paths[k], shards[k], streams, attrs)

    def on_result(result: VideoResult) -> None:
        k = number_of[result.name]
        waiting[k] -= 1
        if waiting[k] == 0:
            submit(k)

    failed = True
    try:
        for k in range(len(shards)):
            if k not in results and waiting[k] == 0:
                submit(k)
        summary.engine = "none (all videos done)"
        if todo:
            runner, summary.engine = _runner(run, len(todo), notes)
            _run_jobs(runner, todo, content, run, parts_dir, summary, started, on_result)
        for k, future in sorted(futures.items()):
            results[k] = future.result()
        for k in [k for k, result in results.items() if result.damaged]:  # a part damaged after it was checked
            damaged = Path(results[k].damaged or "")
            job = next(j for j in jobs if part_path(parts_dir, j.name) == damaged)
            damaged.unlink(missing_ok=True)
            notes.append(f"{results[k].reason}: extracting {job.name} again")
            summary.resumed -= 1
            _run_jobs(_runner(run, 1, [])[0], [job], content, run, parts_dir, summary, started)
            results[k] = assembler.submit(parts_dir, k, paths[k], shards[k], streams, attrs).result()
            if results[k].damaged:
                raise DamagedPartError(Path(results[k].damaged or ""), "damaged again")
        failed = False
    finally:
        assembler.close(cancel=failed)
    new = [record for k in range(len(shards)) for record in results[k].records]
    entries = [results[k].entry for k in range(len(shards))]
    new_shard_of = [k for k in range(len(shards)) for _ in results[k].records]
    if existing is None:
        classes, label_of, splits = _labels(jobs, labels)
        records = _write_index(output, [], [], [], new, entries, new_shard_of, streams, attrs, classes, label_of,
                               splits)
    else:
        records = _append_index(output, existing, jobs, labels, new, entries, new_shard_of, streams)
    summary.notes = notes + summary.notes
    return summary, records


def _published_shard(path: Path, number: int, names: list[str], notes: list[str]):
    """The ShardResult of shard `path` when an earlier run published it with the videos `names`."""
    if not path.is_file():
        return None
    try:
        result = shard_result_of(path, number)
    except (ValueError, OSError, KeyError) as exc:
        notes.append(f"shard {path.name} of the earlier run cannot be read ({exc}): writing it again")
        return None
    if [record.name for record in result.records] != names:
        notes.append(f"shard {path.name} of the earlier run holds other videos: writing it again")
        return None
    return result


def _write_index(output: Path, base: list[VideoRecord], base_entries: list, base_shard_of: list[int],
                 new: list[VideoRecord], entries: list, new_shard_of: list[int], streams, attrs, classes,
                 label_of, splits) -> list[VideoRecord]:
    """Write the index of `base` (videos already in shards base_entries) followed by `new`; returns
    every video's record."""
    from flowkit.store.shards import write_index

    records = base + new
    for record in records:
        record.label = int(label_of.get(record.name, -1))
    shard_of = list(base_shard_of) + [len(base_entries) + k for k in new_shard_of]
    write_index(output, list(base_entries) + list(entries), records, shard_of, streams, attrs, classes, splits)
    return records


def _append_index(output: Path, existing: ExistingStore, jobs: list[VideoJob], labels, new: list[VideoRecord],
                  entries: list, new_shard_of: list[int], streams) -> list[VideoRecord]:
    """Write the index of the existing store followed by the new shards. A single-file store becomes
    shard 0 by a hard link (no copy); labels: from `labels` for every video when given, else the old
    videos keep theirs and the new ones get their folder's class (new classes added at the end)."""
    store = existing.store
    base = [replace(record) for record in store.videos]
    if existing.shards:
        base_entries, base_shard_of = list(existing.shards), existing.shard_of
    else:
        from flowkit.store.shards import shard_entry

        first = output.parent / shard_file_name(output, 0)
        if not (first.exists() and os.path.samefile(first, output)):
            os.link(output, first)
        base_entries, base_shard_of = [shard_entry(first)], [0] * len(base)
    folder_of = {record.name: PurePosixPath(record.path or record.name).parent.name for record in base}
    folder_of.update({job.name: job.folder for job in jobs})
    if labels is not None:
        label_of, splits = labels.resolve(list(folder_of), folder_of)
        classes = labels.classes
    else:
        classes = list(store.classes)
        label_of = {record.name: record.label for record in base}
        for job in jobs:
            if job.folder not in classes:
                classes.append(job.folder)
            label_of[job.name] = classes.index(job.folder)
        splits = {number: {record.name: int(code) for record, code in zip(base, codes)}
                  for number, codes in store.splits.items()}
    attrs = {k: v for k, v in store.attrs.items() if k not in ("format", "format_version")}
    return _write_index(output, base, base_entries, base_shard_of, new, entries, new_shard_of, streams, attrs,
                        classes, label_of, splits)
