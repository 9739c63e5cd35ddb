"""`flowkit demo`: the main job end to end on data we generate: synth -> extract (flow + warped
flow) -> train TSN on rgb, flow and warp -> test each -> fuse -> a table of accuracies.

It lives in tsn because it drives both libraries (flowkit never imports tsn); the command stays
`flowkit demo`, the first thing a new user runs.

Sized for a laptop CPU (a few minutes on 2 cores): small frames, a tiny backbone, short
training. Everything is written under one work folder; `results.json` and `results.md` hold the
numbers, `flow.png` a flow visualization and `runs/<modality>/curves.png` the training curves.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEMO_MODALITIES = ("rgb", "flow", "warp")
# Late-fusion combinations reported in the table, with the paper's weights (tsn.fuse.default_weights).
FUSIONS = (("rgb", "flow"), ("flow", "warp"), ("rgb", "flow", "warp"))
# TV-L1 settings for the demo: OpenCV's defaults except fewer scales (the frames are small) and
# fewer warps/iterations, to keep the whole demo within minutes on 2 cores.
DEMO_FLOW_PARAMS = {"nscales": 3, "warps": 3, "inner_iterations": 20, "outer_iterations": 4}


@dataclass
class DemoConfig:
    """Sizes and settings of a demo run. size is (width, height) in pixels."""

    workdir: Path = Path("demo")
    classes: int = 6
    videos_per_class: int = 24
    frames: int = 24
    size: tuple[int, int] = (160, 120)
    camera_motion: str = "pan"
    seed: int = 0
    device: str = "cpu"
    arch: str = "tiny"
    input_size: int = 96
    epochs: int = 30
    batch_size: int = 8
    test_segments: int = 9
    flow_params: dict = field(default_factory=lambda: dict(DEMO_FLOW_PARAMS))
    workers: int | None = None
    progress: bool = True


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_demo(config: DemoConfig) -> dict:
    """Run every step of the demo; returns the results dict also saved as results.json.

    results: {'config', 'accuracy': {name: {'top1', 'top5', 'mean_class'}} for each modality
    and fusion (fractions in [0, 1]), 'chance', 'timings' (seconds per step), 'files'}.
    """
    from flowkit.synth import make_dataset
    from tsn.evaluate import evaluate_checkpoint
    from tsn.fuse import fuse_score_files
    from tsn.config import TrainConfig
    from tsn.train import train

    workdir = Path(config.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _check_reuse(config, workdir)
    timings: dict[str, float] = {}
    data_dir, store = workdir / "data", workdir / "synth.h5"

    started = time.perf_counter()
    if not (data_dir / "classInd.txt").exists():
        _say(f"[1/5] generating {config.classes} classes x {config.videos_per_class} videos in {data_dir}")
        make_dataset(data_dir, classes=config.classes, videos_per_class=config.videos_per_class,
                     frames=config.frames, size=config.size, camera_motion=config.camera_motion,
                     seed=config.seed, progress=config.progress)
    timings["synth"] = time.perf_counter() - started

    started = time.perf_counter()
    if not store.exists():
        _say(f"[2/5] extracting rgb, TV-L1 flow and warped flow into {store}")
        _extract_in_child(config, data_dir, store)
    timings["extract"] = time.perf_counter() - started

    scores: dict[str, Path] = {}
    accuracy: dict[str, dict] = {}
    for number, modality in enumerate(DEMO_MODALITIES, start=1):
        started = time.perf_counter()
        run_dir = workdir / "runs" / modality
        _say(f"[3/5] training the {modality} stream ({number}/{len(DEMO_MODALITIES)}) in {run_dir}")
        result = train(TrainConfig(
            store=str(store), modality=modality, arch=config.arch, input_size=config.input_size,
            epochs=config.epochs, batch_size=config.batch_size, lr_steps=(config.epochs * 2 // 3,),
            lr=0.01 if modality == "rgb" else 0.02, device=config.device, output=str(run_dir),
            eval_every=config.epochs, workers=config.workers, seed=config.seed, progress=config.progress,
            flip=False,  # the synthetic classes come in mirror pairs (left/right, clockwise/counter-clockwise)
        ))
        timings[f"train_{modality}"] = time.perf_counter() - started
        started = time.perf_counter()
        scores[modality] = workdir / "scores" / f"{modality}.npz"
        tested = evaluate_checkpoint(store, result["checkpoint"], scores[modality], test_segments=config.test_segments,
                                     device=config.device, workers=config.workers, progress=config.progress)
        accuracy[modality] = _accuracy(tested["metrics"])
        timings[f"test_{modality}"] = time.perf_counter() - started

    _say("[4/5] late fusion")
    for combination in FUSIONS:
        name = " + ".join(combination)
        fused = fuse_score_files([scores[m] for m in combination],
                                 output=workdir / "scores" / f"{'_'.join(combination)}.npz")
        accuracy[name] = _accuracy(fused["metrics"]) | {"weights": fused["weights"]}

    _say("[5/5] pictures")
    files = {"store": str(store), "flow_png": str(_flow_picture(store, workdir / "flow.png")),
             "curves": [str(workdir / "runs" / m / "curves.png") for m in DEMO_MODALITIES]}
    results = {"config": _jsonable(asdict(config)), "chance": 1.0 / config.classes, "accuracy": accuracy,
               "timings": {k: round(v, 1) for k, v in timings.items()}, "files": files}
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    (workdir / "results.md").write_text(format_table(results) + "\n")
    return results


# Settings that decide the dataset and the store: a work folder made with others must not be reused.
DATA_SETTINGS = ("classes", "videos_per_class", "frames", "size", "camera_motion", "seed", "flow_params")
SETTINGS_FILE = "demo-settings.json"


def _check_reuse(config: DemoConfig, workdir: Path) -> None:
    """Record the data settings in the work folder; ValueError if it already holds other ones
    (its dataset and store would silently be reused)."""
    settings = json.loads(json.dumps({name: getattr(config, name) for name in DATA_SETTINGS}))
    path = workdir / SETTINGS_FILE
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != settings:
            changed = ", ".join(k for k in settings if previous.get(k) != settings[k])
            raise ValueError(f"{workdir} holds a demo made with other settings ({changed}); use another --workdir")
    else:
        path.write_text(json.dumps(settings, indent=2))


def _extract_step(config: DemoConfig, data_dir: Path, store: Path) -> None:
    from flowkit.extract import ContentOptions, RunOptions, extract, format_summary

    summary = extract(
        [data_dir / "videos"], store,
        ContentOptions(size=config.size, warped=True, algo="tvl1", flow_params=dict(config.flow_params)),
        RunOptions(device="cuda" if config.device.startswith("cuda") else "cpu", labels=str(data_dir),
                   progress=config.progress, **({} if config.workers is None else {"workers": config.workers})),
    )
    _say(format_summary(summary))
    if summary.videos_failed:
        raise RuntimeError(f"{summary.videos_failed} synthetic videos failed to extract: {summary.failures[:3]}")


def _extract_in_child(config: DemoConfig, data_dir: Path, store: Path) -> None:
    """Run the extraction in a spawned process. Ray's threads stay there: DataLoader workers
    forked later from a process that had run Ray were seen to deadlock."""
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(target=_extract_step, args=(config, data_dir, store))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"extraction failed (exit code {child.exitcode}); see the messages above")


def _accuracy(metrics: dict) -> dict:
    names = {"top1": "top1", "top5": "top5", "mean_class": "mean_class_accuracy"}
    return {ours: float(metrics[theirs]) for ours, theirs in names.items() if theirs in metrics}


def _jsonable(values: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in values.items()}


def _flow_picture(store_path: Path, path: Path, rows: int = 4) -> Path:
    """One row per class (up to `rows`): the RGB frame, its flow and its warped flow, side by side."""
    import cv2
    import numpy as np

    from flowkit.store import FlowStore
    from flowkit.store.show import compose, show_panels

    with FlowStore(store_path) as store:
        first_of_class: dict[int, int] = {}
        for index, record in enumerate(store.videos):
            if record.status == "ok":
                first_of_class.setdefault(record.label, index)
        images = []
        for label, index in sorted(first_of_class.items())[:rows]:
            panels, _ = show_panels(store, index)
            panels[0] = (f"{store.classes[label]}", panels[0][1])
            images.append(compose(panels))
    width = max(image.shape[1] for image in images)
    grid = np.concatenate([np.pad(im, ((0, 0), (0, width - im.shape[1]), (0, 0)), constant_values=255)
                           for im in images])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return path


def format_table(results: dict) -> str:
    """Markdown table of the demo's accuracies (percent)."""
    lines = [
        "| stream | top-1 | mean class acc. |",
        "| --- | --- | --- |",
    ]
    for name, values in results["accuracy"].items():
        lines.append(f"| {name} | {100 * values['top1']:.1f} | {100 * values.get('mean_class', float('nan')):.1f} |")
    lines.append(f"| (chance) | {100 * results['chance']:.1f} | {100 * results['chance']:.1f} |")
    return "\n".join(lines)
