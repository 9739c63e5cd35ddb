"""Every shell command shown in README.md and docs/*.md works as written.

Each fenced bash block is a script: its commands run in order in a fresh copy of a small workspace
whose files carry the names the docs use (videos/Run/v_Run_g01_c01.avi, videos.h5, ucf101.h5,
runs/ucf101_flow/checkpoint.pt, ...; tiny frames). `flowkit` and `tsn` commands run for real, in
this process; the ones that need GPUs, a Ray cluster, hours of CPU or a full dataset are parsed by
their real command (every option and path checked) with the work left out: `tsn train` goes through
its command into resolve_config, the store, the pretrained file and the resume checkpoint;
`python -m benchmarks.X` runs with --help; torchrun's `-m cli.tsn_app train ...` is checked as a
runnable module and as a train command. Commands of other tools are listed in SKIPPED with the
reason; any other command fails the test until it is given a category here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from extract_videos import textured_frames, write_video
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CLASSES = ("Jump", "Run")
# Commands that are not ours to run here, by their first words.
SKIPPED = {
    ("pip", "install"): "installs packages",
    ("python", "-m", "pytest"): "the test suite itself",
    ("ray", "start"): "starts a node of a Ray cluster",
    ("python", "main.py"): "tsn-pytorch's training script, run in its checkout",
    ("python", "test_models.py"): "tsn-pytorch's test script, run in its checkout",
}


def shell_blocks() -> list[tuple[str, list[list[str]]]]:
    """[(id, commands)] of every ```bash block: commands as argument lists, in order; lines joined
    at trailing backslashes, comments dropped, split at ';' and '&&', leading VAR=value dropped."""
    blocks = []
    for doc in DOCS:
        text = doc.read_text()
        for number, match in enumerate(re.finditer(r"```(?:bash|sh|shell)\n(.*?)```", text, re.S)):
            commands = []
            for line in match.group(1).replace("\\\n", " ").splitlines():
                current: list[str] = []
                for token in shlex.split(line, comments=True):
                    if token in (";", "&&"):
                        commands.append(current)
                        current = []
                    else:
                        current.append(token)
                commands.append(current)
            commands = [_without_assignments(c) for c in commands]
            blocks.append((f"{doc.relative_to(REPO)}#{number + 1}", [c for c in commands if c]))
    return blocks


def _without_assignments(argv: list[str]) -> list[str]:
    """The command without its leading VAR=value environment assignments (`PYTHONPATH=. python ...`):
    modules run here get the repository on PYTHONPATH anyway."""
    while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", argv[0]):
        argv = argv[1:]
    return argv


def category(argv: list[str]) -> str:
    """How the test handles a documented command: skip, help, torchrun, dry, dry-train or run."""
    if any(tuple(argv[: len(prefix)]) == prefix for prefix in SKIPPED):
        return "skip"
    if argv[:2] == ["python", "-m"] and argv[2].startswith("benchmarks."):
        return "help"
    if argv[0] == "torchrun":
        return "torchrun"
    if argv[:2] == ["flowkit", "extract"] and "--address" in argv:
        return "skip"  # joins a running Ray cluster
    if argv[:2] == ["flowkit", "extract"] and not _in_process(argv):
        return "dry"  # Ray workers or GPUs over whole folders: parsed, not run
    if argv[:2] == ["flowkit", "demo"]:
        return "dry"  # minutes of CPU (tests/test_tsn_demo.py runs a small one)
    if argv[:2] == ["tsn", "train"]:
        return "dry-train"  # hours at the recipe's epochs (tests/test_tsn_train.py trains small ones)
    if argv[0] in ("flowkit", "tsn"):
        return "run"
    return "unknown"


def _in_process(argv: list[str]) -> bool:
    return "--workers" in argv and argv[argv.index("--workers") + 1] == "0"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Files named as in the docs: videos/<class>/v_<class>_g0<j>_c01.avi and their UCF101 and HMDB51
    split files, the store extracted from them (videos.h5, also as ucf101.h5 and hmdb51.h5), tiny
    checkpoints under runs/ (rgb, flow, warp, learned-flow), score files, A.png / B.png, clip.mp4, the
    BN-Inception file name."""
    from cli.flowkit_app import main as flowkit
    from tsn.config import TrainConfig
    from tsn.train import train

    root = tmp_path_factory.mktemp("documented")
    for c, name in enumerate(CLASSES):
        for j in (1, 2):
            write_video(root / "videos" / name / f"v_{name}_g0{j}_c01.avi", frames=12, size=(48, 32),
                        shift=(2 * (1 - 2 * c), 1), seed=2 * c + j)
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {n}\r\n" for i, n in enumerate(CLASSES)))
    (lists / "trainlist01.txt").write_text("".join(f"{n}/v_{n}_g01_c01.avi {i + 1}\r\n" for i, n in enumerate(CLASSES)))
    (lists / "testlist01.txt").write_text("".join(f"{n}/v_{n}_g02_c01.avi\r\n" for n in CLASSES))
    hmdb = root / "testTrainMulti_7030_splits"
    hmdb.mkdir()
    for name in CLASSES:
        (hmdb / f"{name}_test_split1.txt").write_text(f"v_{name}_g01_c01.avi 1 \nv_{name}_g02_c01.avi 2 \n")
    for copy in ("UCF-101", "hmdb51_org"):
        shutil.copytree(root / "videos", root / copy)
    result = CliRunner().invoke(flowkit, ["extract", "--workers", "0", "--warped", "--size", "48x32", "--labels",
                                          str(lists), str(root / "videos"), "-o", str(root / "videos.h5")])
    assert result.exit_code == 0, result.output
    for copy in ("ucf101.h5", "hmdb51.h5"):
        shutil.copy(root / "videos.h5", root / copy)
    for modality in ("rgb", "flow", "warp", "learned-flow"):
        run = root / "runs" / f"videos_{modality}"
        train(TrainConfig(store=str(root / "videos.h5"), modality=modality, arch="tiny", input_size=32, epochs=1,
                          batch_size=2, workers=0, progress=False, output=str(run)))
        shutil.copytree(run, root / "runs" / f"ucf101_{modality}")
        scores = root / f"{modality}.npz"
        tested = CliRunner().invoke(_tsn(), ["test", "--store", str(root / "videos.h5"), "--checkpoint",
                                             str(run / "checkpoint.pt"), "--test-segments", "2", "--workers", "0",
                                             "-o", str(scores)])
        assert tested.exit_code == 0, tested.output
        (root / "scores").mkdir(exist_ok=True)
        shutil.copy(scores, root / "scores" / scores.name)
    _dataset_workspace(root)
    frames = textured_frames(2, (64, 48), shift=(2, 1))
    for name, frame in zip(("A.png", "B.png"), frames):
        cv2.imwrite(str(root / name), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    write_video(root / "clip.mp4", frames=4, size=(48, 32))
    (root / "bn_inception-9f5701afb96c8044.pth").write_bytes(b"")  # dry runs only resolve the file
    return root


def _dataset_workspace(root: Path) -> None:
    """docs/datasets.md's files: a Kinetics tree (kinetics400/, annotations/) and an SSv2 tree
    (20bn-something-something-v2/, ssv2-labels/), their stores k400.h5 and ssv2.h5, and tiny runs
    runs/k400_{rgb,flow}/ and runs/ssv2_rgb/."""
    from cli.flowkit_app import main as flowkit
    from dataset_trees import kinetics_tree, ssv2_tree
    from tsn.config import TrainConfig
    from tsn.train import train

    for tree, store, modalities in ((kinetics_tree, "k400", ("rgb", "flow")), (ssv2_tree, "ssv2", ("rgb",))):
        videos, labels = tree(root)
        result = CliRunner().invoke(flowkit, ["extract", "--workers", "0", "--short-side", "32", "--labels",
                                              str(labels), str(videos), "-o", str(root / f"{store}.h5")])
        assert result.exit_code == 0, result.output
        for modality in modalities:
            train(TrainConfig(store=str(root / f"{store}.h5"), modality=modality, arch="tiny", input_size=32,
                              epochs=1, batch_size=2, workers=0, progress=False,
                              output=str(root / "runs" / f"{store}_{modality}")))


def _flowkit():
    from cli.flowkit_app import main

    return main


def _tsn():
    from cli.tsn_app import main

    return main


def dry_train(config):
    """Stands in for tsn.train.train: everything up to the first epoch that can fail on the user's
    input (the configuration, the store's split and streams, the pretrained file, the checkpoint)."""
    from flowkit.store import open_store
    from tsn.checkpoint import load_checkpoint
    from tsn.data import get_modality
    from tsn.models.pretrained import resolve_pretrained
    from tsn.config import resolve_config

    resolved = resolve_config(config)
    with open_store(resolved.store) as store:
        assert store.split_videos(resolved.split, "train"), f"{resolved.store}: split {resolved.split} has no videos"
        missing = set(get_modality(resolved.modality).streams) - set(store.streams)
        assert not missing, f"{resolved.store} lacks {missing}"
    if resolved.resume:
        saved = load_checkpoint(resolved.resume)["model_config"]
        # (the workspace's checkpoints are tiny nets, so the architecture is not compared)
        for key in ("modality", "segments", "consensus"):
            assert saved[key] == getattr(resolved, key), f"{resolved.resume} has {key} {saved[key]!r}"
    elif resolved.pretrained:
        resolve_pretrained(resolved.pretrained, resolved.arch)
    return {"rank": 0, "metrics": {}, "epochs": resolved.epochs, "checkpoint": str(Path(resolved.output) / "x.pt")}


def _invoke(argv: list[str], dry: bool, monkeypatch) -> str | None:
    """Run a `flowkit` / `tsn` command line in this process; the command's callback replaced by a
    recorder when dry. Returns None, or what went wrong."""
    group = _flowkit() if argv[0] == "flowkit" else _tsn()
    if dry:
        command = group.get_command(None, argv[1])
        called = []
        monkeypatch.setattr(command, "callback", lambda **params: called.append(params))
    result = CliRunner().invoke(group, argv[1:])
    if result.exit_code != 0:
        return f"exit {result.exit_code}: {result.output.strip()[-600:]}"
    if dry and not called:
        return "the command did not reach its body"
    return None


def _module_help(module: str, *args: str) -> str | None:
    done = subprocess.run([sys.executable, "-m", module, *args, "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode != 0 or "usage" not in done.stdout.lower():
        return f"python -m {module} {' '.join(args)} --help: exit {done.returncode}: {done.stderr[-600:]}"
    return None


@pytest.mark.parametrize("block_id,commands", shell_blocks(), ids=[b[0] for b in shell_blocks()])
def test_documented_commands_work(block_id, commands, workspace, tmp_path, monkeypatch):
    folder = tmp_path / "ws"
    shutil.copytree(workspace, folder)
    monkeypatch.chdir(folder)
    monkeypatch.setattr("tsn.train.train", dry_train)
    failures = []
    for argv in commands:
        kind = category(argv)
        if kind == "skip":
            continue
        if kind == "help":
            problem = _module_help(argv[2])
        elif kind == "torchrun":
            module = argv.index("-m")
            assert argv[module + 1] == "cli.tsn_app", argv
            tsn_args = ["tsn", *argv[module + 2:]]
            problem = _module_help("cli.tsn_app", *tsn_args[1:2]) or _invoke(tsn_args, False, monkeypatch)
        elif kind in ("run", "dry", "dry-train"):
            problem = _invoke(argv, kind == "dry", monkeypatch)
        else:
            problem = "no category: give it one in tests/test_documented_commands.py"
        if problem:
            failures.append(f"{' '.join(argv)}\n    {problem}")
    assert not failures, f"{block_id}:\n" + "\n".join(failures)


def test_the_docs_show_commands_of_every_kind():
    """The extraction sees the blocks (a broken fence pattern would pass every command vacuously)."""
    kinds = {category(argv) for _, commands in shell_blocks() for argv in commands}
    assert {"run", "dry", "dry-train", "help", "torchrun", "skip"} <= kinds
    assert "unknown" not in kinds
