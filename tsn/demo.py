"""`flowkit demo`: the main job end to end on data we generate: synth -> extract (flow + warped
flow) -> train TSN on rgb, flow and warp (rgbdiff on request) -> test each -> fuse -> a table of
accuracies.

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
from typing import Any
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flowkit.errors import UserValueError

# The streams the demo trains by default, and those it trains on request (`flowkit demo --rgbdiff`):
# RGB differences, the paper's fourth modality, train the slowest of the streams, so they are left out
# of the default run to keep it short (docs/results.md has the times).
DEMO_MODALITIES = ("rgb", "flow", "warp")
OPTIONAL_MODALITIES = ("rgbdiff",)
# Dataset families the demo runs (flowkit.synth.FAMILIES less the order family, which is about
# temporal consensus and has no camera motion).
DEMO_FAMILIES = ("kind-motion", "motion")
# Late-fusion combinations reported in the table (those whose streams were trained), with the
# paper's weights (tsn.fuse.default_weights).
FUSIONS = (("rgb", "flow"), ("rgb", "warp"), ("flow", "warp"), ("rgb", "flow", "warp"), ("rgb", "rgbdiff"))
FACTORS = ("kind", "motion")  # what the kind-motion family's classes are made of (flowkit.synth.kinds)
# TV-L1 settings for the demo: OpenCV's defaults except fewer scales (the frames are small) and
# fewer warps and iterations, to keep the whole demo within minutes on 2 cores.
DEMO_FLOW_PARAMS = {"nscales": 3, "warps": 2, "inner_iterations": 10, "outer_iterations": 2}
# Training settings per modality, given to tsn train explicitly so that the demo's table does not move
# when the recipes (tsn.recipe) change: a tiny net from scratch needs a far larger lr than the
# recipe's 0.001 x 8/128 for a pretrained BN-Inception. Gradient clip, dropout, segments and crop
# positions are tsn-pytorch's (copied from tsn.recipe); crop scales still come from the recipe.
DEMO_TRAINING: dict[str, dict[str, Any]] = {
    "rgb": {"lr": 0.01, "clip_grad": 20.0, "dropout": 0.8, "segments": 3, "crop_positions": 13},
    "rgbdiff": {"lr": 0.02, "clip_grad": 40.0, "dropout": 0.8, "segments": 3, "crop_positions": 13},
    "flow": {"lr": 0.02, "clip_grad": 20.0, "dropout": 0.7, "segments": 3, "crop_positions": 13},
    "warp": {"lr": 0.02, "clip_grad": 20.0, "dropout": 0.7, "segments": 3, "crop_positions": 13},
}


@dataclass
class DemoConfig:
    """Sizes and settings of a demo run. size is (width, height) in pixels."""

    workdir: Path = Path("demo")
    family: str = "kind-motion"
    classes: int = 6
    videos_per_class: int = 48  # 16 of each class are test videos: a single stream's top-1 is less noisy
    frames: int = 16  # 15 flow fields: 3 segments of 5, as the flow streams sample them
    size: tuple[int, int] = (128, 96)
    camera_motion: str = "pan"
    seed: int = 0
    device: str = "cpu"
    arch: str = "tiny"
    input_size: int = 64
    epochs: int = 20
    batch_size: int = 8
    test_segments: int = 9
    flow_params: dict = field(default_factory=lambda: dict(DEMO_FLOW_PARAMS))
    modalities: tuple[str, ...] = DEMO_MODALITIES
    workers: int | None = None
    progress: bool = True


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_demo(config: DemoConfig) -> dict:
    """Run every step of the demo; returns the results dict also saved as results.json.

    results: {'config', 'accuracy': {name: {'top1', 'top5', 'mean_class'}, plus 'kind' and
    'motion' for the kind-motion family} for each modality and fusion (fractions in [0, 1]),
    'chance' (top-1 of a guess), 'factor_chance' ({'kind', 'motion'}, kind-motion family only),
    'timings' (seconds per step), 'files'}.
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
                     seed=config.seed, progress=config.progress, family=config.family)
    timings["synth"] = time.perf_counter() - started

    started = time.perf_counter()
    if not store.exists():
        _say(f"[2/5] extracting rgb, TV-L1 flow and warped flow into {store}")
        _extract_in_child(config, data_dir, store)
    timings["extract"] = time.perf_counter() - started

    factors = _class_factors(data_dir)
    scores: dict[str, Path] = {}
    accuracy: dict[str, dict] = {}
    for number, modality in enumerate(config.modalities, start=1):
        started = time.perf_counter()
        run_dir = workdir / "runs" / modality
        _say(f"[3/5] training the {modality} stream ({number}/{len(config.modalities)}) in {run_dir}")
        result = train(TrainConfig(
            store=str(store), modality=modality, arch=config.arch, input_size=config.input_size,
            epochs=config.epochs, batch_size=config.batch_size, lr_steps=(config.epochs * 2 // 3,),
            device=config.device, output=str(run_dir), **DEMO_TRAINING[modality],
            eval_every=config.epochs, workers=config.workers, seed=config.seed, progress=config.progress,
            flip=False,  # the synthetic classes come in mirror pairs (left/right, clockwise/counter-clockwise)
        ))
        timings[f"train_{modality}"] = time.perf_counter() - started
        started = time.perf_counter()
        scores[modality] = workdir / "scores" / f"{modality}.npz"
        tested = evaluate_checkpoint(store, result["checkpoint"], scores[modality], test_segments=config.test_segments,
                                     device=config.device, workers=config.workers, progress=config.progress)
        accuracy[modality] = _accuracy(tested["metrics"]) | _factor_accuracy(scores[modality], factors)
        timings[f"test_{modality}"] = time.perf_counter() - started

    _say("[4/5] late fusion")
    for combination in (c for c in FUSIONS if set(c) <= set(config.modalities)):
        name = " + ".join(combination)
        fused_path = workdir / "scores" / f"{'_'.join(combination)}.npz"
        fused = fuse_score_files([scores[m] for m in combination], output=fused_path)
        accuracy[name] = (_accuracy(fused["metrics"]) | _factor_accuracy(fused_path, factors)
                          | {"weights": fused["weights"]})

    _say("[5/5] pictures")
    files = {"store": str(store), "flow_png": str(_flow_picture(store, workdir / "flow.png")),
             "curves": [str(workdir / "runs" / m / "curves.png") for m in config.modalities]}
    results = {"config": _jsonable(asdict(config)), "chance": 1.0 / config.classes, "accuracy": accuracy,
               "timings": {k: round(v, 1) for k, v in timings.items()}, "files": files}
    if factors:
        results["factor_chance"] = {name: 1.0 / len({f[name] for f in factors}) for name in FACTORS}
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    (workdir / "results.md").write_text(format_table(results) + "\n")
    return results


# Settings that decide the dataset and the store: a work folder made with others must not be reused.
DATA_SETTINGS = ("family", "classes", "videos_per_class", "frames", "size", "camera_motion", "seed", "flow_params")
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
            raise UserValueError(f"{workdir} holds a demo made with other settings ({changed}); use another --workdir")
    else:
        path.write_text(json.dumps(settings, indent=2))


def _extract_step(config: DemoConfig, data_dir: Path, store: Path) -> None:
    from flowkit.extract import ContentOptions, RunOptions, extract, format_summary

    workers: dict[str, Any] = {} if config.workers is None else {"workers": config.workers}
    summary = extract(
        [data_dir / "videos"], store,
        ContentOptions(size=config.size, warped=True, algo="tvl1", flow_params=dict(config.flow_params)),
        RunOptions(device="cuda" if config.device.startswith("cuda") else "cpu", labels=str(data_dir),
                   progress=config.progress, **workers),
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


def _class_factors(data_dir: Path) -> list[dict]:
    """Per class {'name', 'motion', 'kind'} from the dataset's synth.json; [] unless every class has a kind."""
    factors = json.loads((data_dir / "synth.json").read_text()).get("class_factors", [])
    return factors if factors and all(f["kind"] is not None for f in factors) else []


def _factor_accuracy(score_path: Path, factors: list[dict]) -> dict:
    """{'kind', 'motion'}: fractions of the test videos whose predicted class (top-1 of the score
    file) has the right kind / the right motion; {} without factors."""
    if not factors:
        return {}
    import numpy as np

    from tsn.scores import load_scores

    saved = load_scores(score_path)
    predicted, labels = np.asarray(saved["scores"]).argmax(axis=1), np.asarray(saved["labels"])
    return {name: float(np.mean([factors[p][name] == factors[t][name] for p, t in zip(predicted, labels)]))
            for name in FACTORS}


def _accuracy(metrics: dict) -> dict:
    names = {"top1": "top1", "top5": "top5", "mean_class": "mean_class_accuracy"}
    return {ours: float(metrics[theirs]) for ours, theirs in names.items() if theirs in metrics}


def _jsonable(values: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in values.items()}


def _flow_picture(store_path: Path, path: Path, rows: int = 4) -> Path:
    """One row per class (up to `rows`): the RGB frame, its flow and its warped flow, side by side."""
    import cv2
    import numpy as np

    from flowkit.store import open_store
    from flowkit.store.show import compose, show_panels

    with open_store(store_path) as store:
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
    """Markdown table of the demo's accuracies (percent): top-1, then for the kind-motion family
    how often the predicted class has the right kind and the right motion, else the mean class
    accuracy; a last row with chance."""
    factor_chance = results.get("factor_chance")
    columns = list(FACTORS) if factor_chance else ["mean_class"]
    titles = {"kind": "right kind", "motion": "right motion", "mean_class": "mean class acc."}
    lines = ["| stream | top-1 | " + " | ".join(titles[c] for c in columns) + " |",
             "| --- | --- | " + " | ".join("---" for _ in columns) + " |"]
    for name, values in results["accuracy"].items():
        cells = [values["top1"]] + [values.get(c, float("nan")) for c in columns]
        lines.append(f"| {name} | " + " | ".join(f"{100 * v:.1f}" for v in cells) + " |")
    chance = [results["chance"]] + [factor_chance[c] if factor_chance else results["chance"] for c in columns]
    lines.append("| (chance) | " + " | ".join(f"{100 * v:.1f}" for v in chance) + " |")
    return "\n".join(lines)
