"""Sharded stores: an index and shard files that read exactly like one file (same records, same order),
written while extraction runs, appended to without rewriting, checked shard by shard, and opened
through one path by every command."""

import os

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from extract_videos import make_tree, records_of, sharded_content
from flowkit.extract import ContentOptions, RunOptions, extract
from flowkit.extract.parts import parts_dir_for
from flowkit.store import FlowStore, ShardedStore, open_store
from flowkit.store.errors import DamagedStoreError
from flowkit.store.inspect import summarize, verify
from flowkit.store.shards import is_sharded, shard_file_name
from flowkit.testing import make_tiny_store

FAST = dict(nscales=1, warps=1, inner_iterations=2, outer_iterations=1)
CONTENT = ContentOptions(size=(32, 24), flow_params=FAST)
INLINE = RunOptions(workers=0, progress=False)


def _flowkit(*args):
    from cli.flowkit_app import main

    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards") / "videos"
    make_tree(root, {f"C{k % 2}/v{k}": 5 + k for k in range(5)}, size=(32, 24))
    return root


@pytest.fixture(scope="module")
def single(videos, tmp_path_factory):
    return extract([videos], tmp_path_factory.mktemp("single") / "one.h5", CONTENT, INLINE).output


def test_a_sharded_extraction_holds_the_same_records_in_the_same_order(videos, single, tmp_path):
    output = tmp_path / "k400.h5"
    summary = extract([videos], output, CONTENT, RunOptions(workers=0, progress=False, shard_size=2))
    assert summary.videos_ok == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k400-00000.h5", "k400-00001.h5", "k400-00002.h5", "k400.h5"]
    assert is_sharded(output) and not is_sharded(single)
    assert records_of(output) == records_of(single)
    with ShardedStore(output) as store:
        assert [e.videos for e in store.shards] == [2, 2, 1] and store.shard_of.tolist() == [0, 0, 1, 1, 2]
        assert [v.name for v in FlowStore(tmp_path / "k400-00001.h5").videos] == [v.name for v in store.videos[2:4]]
    info = summarize(output)
    assert info["shards"] == 3 and info["streams"] == summarize(single)["streams"]
    assert verify(output) == []


def test_shards_assembled_by_assembler_processes_are_the_same(videos, tmp_path):
    inline = extract([videos], tmp_path / "a" / "s.h5", CONTENT, RunOptions(workers=0, progress=False, shard_size=2))
    pooled = extract([videos], tmp_path / "b" / "s.h5", CONTENT, RunOptions(workers=2, progress=False, shard_size=2))
    assert sharded_content(pooled.output) == sharded_content(inline.output)
    assert not parts_dir_for(pooled.output).exists()


def test_an_interrupted_sharded_run_resumes_to_the_same_store(videos, tmp_path, monkeypatch):
    reference = extract([videos], tmp_path / "ref" / "s.h5", CONTENT,
                        RunOptions(workers=0, progress=False, shard_size=2)).output
    output = tmp_path / "run" / "s.h5"
    from flowkit.extract import assemble

    real, calls = assemble.assemble_shard, []

    def dies_on_the_second_shard(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt  # a kill while the second shard is assembled
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr("flowkit.extract.shards.assemble_shard", dies_on_the_second_shard)
        with pytest.raises(KeyboardInterrupt):
            extract([videos], output, CONTENT, RunOptions(workers=0, progress=False, shard_size=2))
    assert not output.exists() and (output.parent / "s-00000.h5").is_file()
    assert len(list(parts_dir_for(output).glob("*.npz"))) == 2  # shard 0's parts are gone, shard 1's are kept
    with pytest.raises(ValueError, match="videos per shard"):
        extract([videos], output, CONTENT, RunOptions(workers=0, progress=False, shard_size=3))
    summary = extract([videos], output, CONTENT, INLINE)  # the plan remembers the shard size
    assert summary.resumed == 4 and summary.videos_processed == 1
    assert sharded_content(output) == sharded_content(reference)


def test_videos_are_appended_as_new_shards_without_rewriting(videos, single, tmp_path):
    root = tmp_path / "videos"
    make_tree(root, {f"C{k % 2}/v{k}": 5 + k for k in range(5)}, size=(32, 24))
    first = extract([root / "C0"], tmp_path / "s.h5", CONTENT, INLINE).output  # one file: C0's three videos
    inode = os.stat(first).st_ino
    summary = extract([root / "C1"], first, CONTENT, RunOptions(workers=0, progress=False, append=True))
    assert summary.videos_processed == 2 and summary.videos_ok == 5
    assert os.stat(tmp_path / "s-00000.h5").st_ino == inode  # the old store is shard 0, not a copy
    with ShardedStore(first) as store:
        assert [v.name for v in store.videos] == ["v0", "v2", "v4", "v1", "v3"]
        assert store.classes == ["C0", "C1"] and [v.label for v in store.videos] == [0, 0, 0, 1, 1]
    # Every video's records are those of one extraction of the whole folder.
    whole, appended = records_of(single), records_of(first)
    order = [v["name"] for v in whole["videos"]]
    for row, data in zip(appended["videos"], np.array(appended["data"], dtype=object).reshape(5, -1)):
        k = order.index("C" + str(int(row["name"][1]) % 2) + "/" + row["name"])
        assert list(data) == whole["data"][3 * k:3 * k + 3]
    shard0 = (tmp_path / "s-00000.h5").stat().st_mtime_ns
    make_tree(tmp_path / "more", {"C2/w0": 6}, size=(32, 24))
    summary = extract([tmp_path / "more"], first, CONTENT, RunOptions(workers=0, progress=False, append=True))
    assert summary.videos_processed == 1 and (tmp_path / "s-00002.h5").is_file()
    assert (tmp_path / "s-00000.h5").stat().st_mtime_ns == shard0
    again = extract([tmp_path / "more"], first, CONTENT, RunOptions(workers=0, progress=False, append=True))
    assert again.videos_processed == 0 and again.videos_ok == 6
    assert verify(first) == []
    with pytest.raises(ValueError, match="other settings"):
        extract([root], first, ContentOptions(size=(48, 32), flow_params=FAST), RunOptions(workers=0, append=True))


def test_every_command_takes_the_index_path(videos, tmp_path):
    output = extract([videos], tmp_path / "s.h5", CONTENT, RunOptions(workers=0, progress=False, shard_size=2)).output
    result = _flowkit("info", output)
    assert result.exit_code == 0 and "in 3 shards" in result.output, result.output
    assert _flowkit("verify", output).exit_code == 0
    result = _flowkit("show", output, "C1/v3", "-o", tmp_path / "v3.png")
    assert result.exit_code == 0 and (tmp_path / "v3.png").is_file(), result.output
    result = _flowkit("export-rawframes", output, tmp_path / "frames")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "frames" / "C1" / "v3").glob("img_*.jpg"))) == 8
    lists = tmp_path / "list.txt"
    lists.write_text("C0/v0.mp4 0\nC1/v1.mp4 1\n")
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("s-*.h5")}
    result = _flowkit("set-labels", output, "--labels", lists)
    assert result.exit_code == 0, result.output
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("s-*.h5")} == before  # only the index changed
    with open_store(output) as store:
        labels = {v.name: v.label for v in store.videos}
        assert labels["C0/v0"] == 0 and labels["C1/v1"] == 1


def test_verify_names_the_damaged_or_missing_shard(videos, tmp_path):
    output = extract([videos], tmp_path / "s.h5", CONTENT, RunOptions(workers=0, progress=False, shard_size=2)).output
    with h5py.File(tmp_path / "s-00001.h5", "r+") as file:
        data = file["streams/flow_y/data"]
        data[3] = data[3] ^ 0xFF
    problems = verify(output)
    assert problems and all(p.startswith("shard s-00001.h5: ") for p in problems), problems
    assert any("video 'C0/v4', stream flow_y, frame 0: checksum mismatch" in p for p in problems)
    with open_store(output) as store, pytest.raises(ValueError, match="s-00001.h5.*damaged record"):
        store.read("flow_y", 2, [0])
    (tmp_path / "s-00002.h5").unlink()
    assert "shard s-00002.h5: missing" in verify(output)
    result = _flowkit("verify", output)
    assert result.exit_code == 1 and "shard s-00002.h5: missing" in result.output
    with open_store(output) as store, pytest.raises(DamagedStoreError, match="shard s-00002.h5 is missing"):
        store.read("rgb", 4, [0])


@pytest.mark.parametrize("name", ["../outside.h5", "/tmp/outside.h5", ".hidden.h5", "a/b.h5", ""])
def test_shard_names_from_the_index_never_leave_its_folder(tmp_path, name):
    index = make_tiny_store(tmp_path / "s.h5", classes=2, videos_per_class=2, frames=3, size=(16, 16), shard_size=2)
    (tmp_path / "outside.h5").write_bytes((tmp_path / "s-00001.h5").read_bytes())
    with h5py.File(index, "r+") as file:
        files = file["shards/file"]
        files[1] = name
    with pytest.raises(DamagedStoreError, match="invalid shard file name"):
        open_store(index)
    with ShardedStore(index, check=False) as store, pytest.raises(DamagedStoreError, match="invalid shard file name"):
        store.read("rgb", 3, [0])
    assert any("invalid shard file name" in p for p in verify(index))


def test_an_index_whose_shard_holds_other_videos_is_refused(tmp_path):
    index = make_tiny_store(tmp_path / "s.h5", classes=2, videos_per_class=2, frames=3, size=(16, 16), shard_size=2)
    with h5py.File(index, "r+") as file:
        names = file["shards/file"]
        names[0], names[1] = names[1], names[0]
    with open_store(index) as store, pytest.raises(DamagedStoreError, match="shard s-00001.h5: holds"):
        store.read("rgb", 0, [0])
    assert any(p.startswith("shard s-00001.h5: holds 2 videos") for p in verify(index, decode=False))


def test_an_index_pointing_at_other_records_is_refused(tmp_path):
    index = make_tiny_store(tmp_path / "s.h5", classes=2, videos_per_class=2, frames=3, size=(16, 16), shard_size=2)
    with open_store(index) as store:
        good = store.read("rgb", 1, [0])
    with h5py.File(index, "r+") as file:
        starts = file["videos/rgb_start"]
        starts[1] = 0  # video 1 would read video 0's frames
    with open_store(index) as store, pytest.raises(DamagedStoreError, match="at row 1 the shard has"):
        store.read("rgb", 1, [0])
    assert good.shape == (1, 16, 16, 3)


@pytest.mark.slow
def test_a_sharded_store_reads_like_one_file_for_tsn(tmp_path):
    from tsn.data import TestCrops, TSNDataset

    one = make_tiny_store(tmp_path / "one.h5", videos_per_class=3, frames=6, size=(32, 24))
    many = make_tiny_store(tmp_path / "many.h5", videos_per_class=3, frames=6, size=(32, 24), shard_size=2)
    assert records_of(one) == records_of(many)
    for modality in ("rgb", "flow"):
        a = TSNDataset(str(one), split=1, subset="test", modality=modality, segments=2, preset=TestCrops(16, 1))
        b = TSNDataset(str(many), split=1, subset="test", modality=modality, segments=2, preset=TestCrops(16, 1))
        assert len(a) == len(b) == 3
        for i in range(len(a)):
            assert np.array_equal(a[i][0].numpy(), b[i][0].numpy()) and a[i][1] == b[i][1]


def test_an_old_reader_path_says_how_to_open_an_index(tmp_path):
    index = make_tiny_store(tmp_path / "s.h5", classes=2, videos_per_class=1, frames=3, size=(16, 16), shard_size=1)
    with pytest.raises(ValueError, match="open_store"):
        FlowStore(index)
    assert shard_file_name(index, 7) == "s-00007.h5"


@pytest.mark.slow
def test_the_scale_benchmark_runs_at_a_tiny_size(tmp_path, capsys):
    from benchmarks.store_scale import main

    result = main(["--videos", "60", "--frames", "4", "--shard-size", "25", "--workers", "0", "--clips", "5",
                   "--dir", str(tmp_path)])
    assert result["shards"] == 3 and result["train_videos"] == 54
    assert result["info_s"] > 0 and result["open_s"] > 0 and result["rss_after_open_bytes"] > 0
    with open_store(tmp_path / "k400.h5") as store:
        assert len(store.videos) == 60 and len(store.classes) == 400 and verify(store.path) == []
    assert capsys.readouterr().out.count("\n") == 1


def test_batched_writes_give_the_same_file_content(tmp_path, monkeypatch):
    from extract_videos import store_content
    from flowkit.store import writer

    batched = make_tiny_store(tmp_path / "batched.h5", classes=2, videos_per_class=3, frames=4, size=(16, 16))
    monkeypatch.setattr(writer, "WRITE_BUFFER_BYTES", 0)  # every video written as it comes
    each = make_tiny_store(tmp_path / "each.h5", classes=2, videos_per_class=3, frames=4, size=(16, 16))
    monkeypatch.setattr(writer, "WRITE_BUFFER_BYTES", 700)  # batches cut inside the table
    some = make_tiny_store(tmp_path / "some.h5", classes=2, videos_per_class=3, frames=4, size=(16, 16))
    assert store_content(batched) == store_content(each) == store_content(some)


def test_an_interrupted_append_resumes_and_leaves_the_old_store_readable(tmp_path, monkeypatch):
    root = tmp_path / "videos"
    make_tree(root, {f"C{k % 2}/v{k}": 5 + k for k in range(4)}, size=(32, 24))
    sharded = RunOptions(workers=0, progress=False, shard_size=1)
    reference = extract([root / "C0"], tmp_path / "ref" / "s.h5", CONTENT, sharded).output
    extract([root / "C1"], reference, CONTENT, RunOptions(workers=0, progress=False, append=True))
    output = extract([root / "C0"], tmp_path / "run" / "s.h5", CONTENT, sharded).output
    before = records_of(output)
    with monkeypatch.context() as patch:
        patch.setattr("flowkit.extract.shards.assemble_shard", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            extract([root / "C1"], output, CONTENT, RunOptions(workers=0, progress=False, append=True))
    assert records_of(output) == before  # the old index still stands until the new one replaces it
    summary = extract([root / "C1"], output, CONTENT, INLINE)  # the plan says it was an append
    assert summary.videos_ok == 4 and not parts_dir_for(output).exists()
    assert sharded_content(output) == sharded_content(reference)


def test_large_jobs_are_sharded_by_default_small_ones_are_not(videos, monkeypatch):
    from flowkit.extract import shards
    from flowkit.extract.jobs import plan_jobs

    jobs = plan_jobs([videos]) * 60  # 300 jobs: enough to be estimated
    assert shards.default_shard_size(jobs[:200], CONTENT) == 0  # too few videos to ask
    per_video = shards.estimated_video_bytes(jobs, CONTENT)
    frames = [5, 6, 7, 8, 9]  # the tree's videos, RGB and two flow planes of 32x24 each
    bytes_per_frame = 32 * 24 * (shards.RGB_BYTES_PER_PIXEL + 2 * shards.FLOW_BYTES_PER_PIXEL["zstd"])
    assert per_video == pytest.approx(np.mean(frames) * bytes_per_frame, rel=0.25)
    assert shards.default_shard_size(jobs, CONTENT) == 0  # ~1 MB in all: one file, as always
    monkeypatch.setattr(shards, "SHARD_FROM_BYTES", 100 * per_video)
    monkeypatch.setattr(shards, "TARGET_SHARD_BYTES", 40 * per_video)
    assert shards.default_shard_size(jobs, CONTENT) == 40
