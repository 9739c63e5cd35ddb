"""The TSN input pipeline: sampling, crops and flips, modalities, the dataset over a store,
loaders with workers, device-side decode (its CPU path) and the rawframes source."""

import os

import numpy as np
import pytest
import torch

from flowkit.quantize import dequantize_flow, quantize_flow
from flowkit.store import FlowStore
from flowkit.testing import class_velocity, make_tiny_store
from tsn.data import TSNDataset, build_loader, input_channels, prepare_batch
from tsn.data.device_decode import EncodedBatch, EncodedClip, clip_records
from tsn.data.modalities import IMAGENET_MEAN, get_modality
from tsn.data.presets import TestCrops, TrainCrops
from flowkit.rawframes import export_rawframes
from tsn.data.rawframes import RawFramesSource
from tsn.data.sampling import centred_offsets, contiguous_runs, random_offsets, sample_indices
from tsn.data import transforms as T

SIZE = (64, 48)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return make_tiny_store(tmp_path_factory.mktemp("tiny") / "tiny.h5", frames=12, size=SIZE)


@pytest.fixture(scope="module")
def jpeg_flow_store_path(tmp_path_factory):
    return make_tiny_store(tmp_path_factory.mktemp("tinyjpeg") / "tiny.h5", videos_per_class=2, frames=10,
                           streams=("rgb", "flow_x", "flow_y"), flow_codec="jpeg", seed=1)


# ---------------------------------------------------------------- sampling


def test_training_snippets_are_random_within_their_segments():
    rng = np.random.default_rng(0)
    # 100 records, snippets of 5: 96 valid starts, three segments of 32 starts each.
    seen = [set(), set(), set()]
    for _ in range(3000):
        starts = random_offsets(100, 3, 5, rng)
        for k, start in enumerate(starts):
            seen[k].add(int(start))
    assert seen == [set(range(0, 32)), set(range(32, 64)), set(range(64, 96))]


def test_test_snippets_are_centred_in_their_segments():
    np.testing.assert_array_equal(centred_offsets(100, 3, 5), [16, 48, 80])
    np.testing.assert_array_equal(centred_offsets(250, 25, 1), np.arange(5, 250, 10))
    indices = sample_indices(100, 3, 5, train=False)
    np.testing.assert_array_equal(indices[1], [48, 49, 50, 51, 52])
    # The snippet's middle record sits at its segment's middle (within one record).
    centres = indices.mean(axis=1)
    segment_centres = (np.arange(3) + 0.5) * 96 / 3 + 2
    assert np.abs(centres - segment_centres).max() <= 1


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("num_records", range(1, 21))
def test_short_videos_give_full_snippets_within_bounds(num_records, train):
    rng = np.random.default_rng(num_records)
    for _ in range(20 if train else 1):
        indices = sample_indices(num_records, 3, 5, train, rng)
        assert indices.shape == (3, 5) and indices.dtype == np.int64
        assert indices.min() >= 0 and indices.max() <= num_records - 1
        steps = np.diff(indices, axis=1)
        assert set(np.unique(steps)) <= {0, 1}  # consecutive, repeating the last record at the end
        # A repeat only happens at the end of the video.
        assert np.all(indices[:, 1:][steps == 0] == num_records - 1)
        assert np.all(np.diff(indices[:, 0]) >= 0)


def test_short_video_cases_follow_the_reference_rules():
    rng = np.random.default_rng(0)
    # 6 records, L 5: two valid starts for three segments -> sorted random starts in {0, 1}.
    for _ in range(20):
        starts = random_offsets(6, 3, 5, rng)
        assert set(starts) <= {0, 1} and list(starts) == sorted(starts)
    # 5 records: one valid start -> spread (all zero); 3 records: shorter than a snippet.
    np.testing.assert_array_equal(random_offsets(5, 3, 5, rng), [0, 0, 0])
    np.testing.assert_array_equal(sample_indices(3, 3, 5, True, rng), [[0, 1, 2, 2, 2]] * 3)
    np.testing.assert_array_equal(sample_indices(1, 3, 1, False), [[0]] * 3)
    # Fewer records than segments, one-record snippets: starts spread as evenly as possible.
    np.testing.assert_array_equal(random_offsets(2, 3, 1, rng), [0, 0, 1])
    np.testing.assert_array_equal(random_offsets(7, 3, 5, rng), [0, 1, 2])
    with pytest.raises(ValueError):
        sample_indices(0, 3, 1, False)
    with pytest.raises(ValueError):
        sample_indices(10, 3, 1, True)  # no generator


def test_contiguous_runs_split_sparse_snippets():
    runs = contiguous_runs(np.array([2, 3, 4, 10, 11, 30]))
    assert [r.tolist() for r in runs] == [[2, 3, 4], [10, 11], [30]]
    assert contiguous_runs(np.array([], dtype=np.int64)) == []


# ---------------------------------------------------------------- crops and flips


def _grid_positions(value, extent, crop):
    """Which of near edge (0), centre (2), far edge (4) `value` is (a set: when the crop spans
    the frame all three coincide)."""
    found = set()
    if value == 0:
        found.add(0)
    if abs(value - (extent - crop)) <= 3:
        found.add(4)
    if abs(value - (extent - crop) / 2) <= 2:
        found.add(2)
    return found


def test_multiscale_crops_use_allowed_sizes_and_the_five_positions():
    rng = np.random.default_rng(0)
    allowed = [256, 224, 192, 168]
    sizes, positions, flips = set(), set(), set()
    for _ in range(1500):
        box = T.sample_multiscale_crop(340, 256, 224, rng)
        assert box.w in allowed and box.h in allowed
        assert abs(allowed.index(box.w) - allowed.index(box.h)) <= 1  # max_distort 1
        candidates = {(px, py) for px in _grid_positions(box.x, 340, box.w)
                      for py in _grid_positions(box.y, 256, box.h)}
        matches = candidates & {(0, 0), (4, 0), (0, 4), (4, 4), (2, 2)}
        assert matches, box
        assert box.x + box.w <= 340 and box.y + box.h <= 256
        sizes.add((box.w, box.h))
        if len(candidates) == 1:
            positions.update(matches)
        flips.add(box.flip)
    assert len(sizes) == 10 and len(positions) == 5 and flips == {False, True}
    more = {(b.x, b.y) for b in (T.sample_multiscale_crop(340, 256, 224, rng, more_fix_crop=True, scales=(0.875,))
                                 for _ in range(600))}
    assert len(more) == 13


def test_crop_sizes_snap_and_follow_the_short_side():
    # A 48-pixel short side: int(48 * s) for the four scales, 31 snapped to the input size 32.
    assert {w for w, _ in T.multiscale_crop_sizes(64, 48, 32)} == {48, 42, 36, 32}
    assert {w for w, _ in T.multiscale_crop_sizes(64, 48, 24)} == {48, 42, 36, 31}
    # Within 3 px of the input size snaps to it: 256 * 0.875 = 224 exactly, 200 * 0.875 = 175 -> 176.
    assert {w for w, _ in T.multiscale_crop_sizes(300, 200, 176)} == {200, 176, 150, 132}


def test_test_crops_positions_and_sizes():
    assert T.centre_crop_box(340, 256, 224) == T.CropBox(58, 16, 224, 224, False)
    boxes = T.ten_crop_boxes(340, 256, 224)
    corners = [(0, 0), (116, 0), (0, 32), (116, 32), (58, 16)]
    assert [(b.x, b.y) for b in boxes] == [c for c in corners for _ in range(2)]
    assert [b.flip for b in boxes] == [False, True] * 5
    assert {(b.w, b.h) for b in boxes} == {(224, 224)}
    # The short side is scaled to 256/224 of the input first: 48 px frames, input 42 -> 42 px crops.
    assert T.centre_crop_box(64, 48, 42) == T.CropBox(11, 3, 42, 42, False)


def _ramp_flow(h=16, w=20):
    """A known flow field (2, H, W): x grows to the right, y downwards, both within +-10 px."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xs - w / 2, 0.5 * ys - 3])


def test_flip_negates_the_x_flow_of_quantized_records():
    flow = _ramp_flow(16, 16)  # known field, x then y, pixels
    q = quantize_flow(flow, 20.0)  # (2, H, W) uint8 levels
    records = np.moveaxis(q, 0, -1)[None]  # (1, H, W, 2), as the dataset stacks flow_x, flow_y
    flipped = T.crop_records(records, T.CropBox(0, 0, 16, 16, flip=True), 16, flow_x_channel=0)[0]
    got = dequantize_flow(np.moveaxis(flipped, -1, 0), 20.0)
    # The mirror image of the field: column c comes from column W-1-c, x negated, y kept.
    mirrored = flow[:, :, ::-1]
    step = 40 / 255
    np.testing.assert_allclose(got[0], -mirrored[0], atol=step / 2 + 1e-5)
    np.testing.assert_allclose(got[1], mirrored[1], atol=step / 2 + 1e-5)
    # Exact against the de-quantized original (255 - q is an exact negation).
    original = dequantize_flow(q, 20.0)
    np.testing.assert_allclose(got[0], -original[0][:, ::-1], atol=1e-5)
    np.testing.assert_allclose(got[1], original[1][:, ::-1], atol=1e-5)


def test_flip_leaves_rgb_values_alone():
    rgb = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    out = T.crop_records(rgb, T.CropBox(0, 0, 8, 8, True), 8, None)
    np.testing.assert_array_equal(out, rgb[:, :, ::-1])


# ---------------------------------------------------------------- modalities


def test_modality_channels_and_streams():
    assert [input_channels(m) for m in ("rgb", "rgbdiff", "flow", "warp")] == [3, 15, 10, 10]
    assert get_modality("warp").streams == ("warp_x", "warp_y")
    with pytest.raises(ValueError, match="unknown modality"):
        get_modality("depth")


def test_flow_input_is_dequantized_over_the_bound_and_interleaved():
    flow = get_modality("flow")
    snippet = torch.zeros(1, 5, 2, 2, 2, dtype=torch.uint8)
    for t in range(5):
        snippet[0, t, 0] = 10 * t  # x of pair t
        snippet[0, t, 1] = 200 + t  # y of pair t
    out = flow.to_input(snippet, bound=20.0)
    assert out.shape == (1, 10, 2, 2)
    expected = [v * 40 / 255 - 20 for t in range(5) for v in (10 * t, 200 + t)]
    np.testing.assert_allclose(out[0, :, 0, 0].numpy(), np.array(expected) / 20, atol=1e-6)
    assert out.min() >= -1 and out.max() <= 1


def test_rgb_and_rgbdiff_normalization():
    mean_colour = torch.tensor([round(255 * m) for m in IMAGENET_MEAN], dtype=torch.uint8)
    frame = mean_colour.view(1, 1, 3, 1, 1).expand(1, 1, 3, 4, 4)
    assert get_modality("rgb").to_input(frame, 20.0).abs().max() < 0.01
    frames = torch.arange(6, dtype=torch.float32).view(1, 6, 1, 1, 1).expand(1, 6, 3, 2, 2) * 51  # +51 each frame
    diff = get_modality("rgbdiff").to_input(frames, 20.0)
    assert diff.shape == (1, 15, 2, 2)
    np.testing.assert_allclose(diff.numpy(), 0.2 / (2 * np.mean([0.229, 0.224, 0.225])), rtol=1e-5)


# ---------------------------------------------------------------- the dataset


@pytest.mark.parametrize("modality", ["rgb", "rgbdiff", "flow", "warp"])
@pytest.mark.parametrize("train,crops", [(True, 1), (False, 1), (False, 10)])
def test_dataset_shapes_and_labels(store_path, modality, train, crops):
    store = FlowStore(store_path)
    subset = "train" if train else "test"
    preset = TrainCrops(32) if train else TestCrops(32, crops)
    dataset = TSNDataset(store, split=1, subset=subset, modality=modality, segments=3, preset=preset)
    assert len(dataset) == len(store.split_videos(1, subset))
    clip, label = dataset[len(dataset) - 1]
    assert clip.dtype == torch.float32 and clip.shape == (3 * crops, input_channels(modality), 32, 32)
    assert torch.isfinite(clip).all()
    assert isinstance(label, int) and label == store.videos[dataset.video_ids[-1]].label
    assert dataset.names[-1] == store.videos[dataset.video_ids[-1]].name


def test_flow_values_match_the_store_reader(store_path):
    store = FlowStore(store_path)
    dataset = TSNDataset(store, subset="test", modality="flow", segments=3, preset=TestCrops(42))
    clip, _ = dataset[0]
    video = dataset.video_ids[0]
    indices = sample_indices(store.num_records(video, "flow_x"), 3, 5, train=False)
    # Input 42 on 48-pixel frames: the centre crop is 42x42 at (11, 3), taken without resizing.
    for k in range(3):
        flow = store.read_flow(video, indices[k])[:, :, 3:45, 11:53] / store.bound  # (5, 2, 42, 42)
        np.testing.assert_allclose(clip[k].numpy(), flow.reshape(10, 42, 42), atol=1e-6)
    warped = TSNDataset(store, subset="test", modality="warp", preset=TestCrops(42))[0][0]
    warped_flow = store.read_flow(video, indices[0], warped=True)[:, :, 3:45, 11:53].reshape(10, 42, 42) / 20
    np.testing.assert_allclose(warped[0].numpy(), warped_flow, atol=1e-6)
    rgb = TSNDataset(store, subset="test", modality="rgb", preset=TestCrops(42))[0][0]
    frame = store.read("rgb", video, [int(centred_offsets(12, 3, 1)[1])])[0, 3:45, 11:53] / 255.0
    expected = (frame - np.array(IMAGENET_MEAN)) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(rgb[1].numpy(), expected.transpose(2, 0, 1), atol=1e-5)


def test_ten_crops_are_five_positions_and_their_mirrors(store_path):
    clip, _ = TSNDataset(store_path, subset="test", modality="flow", segments=2, preset=TestCrops(42, crops=10))[0]
    views = clip.view(10, 2, 10, 42, 42)
    for position in range(5):
        plain, mirrored = views[2 * position], views[2 * position + 1]
        torch.testing.assert_close(mirrored[:, 0::2], -plain[:, 0::2].flip(-1), atol=1e-6, rtol=0)  # x negated
        torch.testing.assert_close(mirrored[:, 1::2], plain[:, 1::2].flip(-1), atol=1e-6, rtol=0)
    # Each unflipped crop is the store's flow at its fixed position: 42-px crops of 64x48 frames
    # on a grid of steps (64 - 42) // 4 = 5 and (48 - 42) // 4 = 1 (the 10-crop centre is the
    # grid's, as tsn-pytorch's GroupOverSample, one pixel off the single centre crop here).
    store = FlowStore(store_path)
    video = TSNDataset(store, subset="test", modality="flow", preset=TestCrops(42)).video_ids[0]
    indices = sample_indices(store.num_records(video, "flow_x"), 2, 5, train=False)
    for position, (x, y) in enumerate([(0, 0), (20, 0), (0, 4), (20, 4), (10, 2)]):
        for k in range(2):
            flow = store.read_flow(video, indices[k])[:, :, y : y + 42, x : x + 42] / store.bound
            np.testing.assert_allclose(views[2 * position, k].numpy(), flow.reshape(10, 42, 42), atol=1e-6)


def test_classes_are_told_apart_by_their_flow(store_path):
    dataset = TSNDataset(store_path, subset="test", modality="flow", preset=TestCrops(32))
    for i in range(len(dataset)):
        clip, label = dataset[i]
        vx, vy = class_velocity(label, 3, speed=1.0)
        mean_x, mean_y = clip[:, 0::2].mean().item(), clip[:, 1::2].mean().item()
        # Direction of the mean flow within 20 degrees of the class direction.
        assert (mean_x * vx + mean_y * vy) / np.hypot(mean_x, mean_y) > np.cos(np.radians(20))


def test_training_flip_mirrors_and_negates(store_path):
    """Over many draws the training clips' mean x flow takes both signs (flips), y keeps its sign."""
    dataset = TSNDataset(store_path, subset="train", modality="flow", preset=TrainCrops(32), seed=3)
    index = dataset.labels.index(0)  # class 0 moves right: +x, y about 0
    signs = {np.sign(dataset[index][0][:, 0::2].mean().item()) for _ in range(30)}
    assert signs == {-1.0, 1.0}


def test_errors_for_missing_streams_empty_splits_and_bad_options(tmp_path, store_path):
    rgb_only = make_tiny_store(tmp_path / "rgb.h5", classes=2, videos_per_class=1, frames=4, streams=("rgb",))
    with pytest.raises(ValueError, match="no stream flow_x, flow_y needed by modality 'flow'"):
        TSNDataset(rgb_only, modality="flow")
    with pytest.raises(ValueError, match="has no test videos"):
        TSNDataset(rgb_only, subset="test", modality="rgb")  # one video per class: all train
    with pytest.raises(ValueError, match="no split 2"):
        TSNDataset(store_path, split=2)
    with pytest.raises(ValueError, match="crops must be one of 1, 10"):
        TSNDataset(store_path, subset="test", preset=TestCrops(32, crops=5))
    with pytest.raises(TypeError, match="TrainCrops or TestCrops"):
        TSNDataset(store_path, subset="test", preset=32)
    with pytest.raises(ValueError, match="unknown modality"):
        TSNDataset(store_path, modality="optical")
    with pytest.raises(FileNotFoundError):
        TSNDataset(tmp_path / "missing.h5")


def test_videos_shorter_than_a_snippet_load(tmp_path):
    path = make_tiny_store(tmp_path / "short.h5", classes=2, videos_per_class=2, frames=3,
                           streams=("rgb", "flow_x", "flow_y"))
    for modality in ("rgb", "rgbdiff", "flow"):
        clip, _ = TSNDataset(path, subset="train", modality=modality, segments=3, preset=TrainCrops(24))[0]
        assert clip.shape == (3, input_channels(modality), 24, 24)
    # A 2-record flow video repeats its last pair: channels 2..9 are pair 1 repeated.
    clip, _ = TSNDataset(path, subset="test", modality="flow", segments=3, preset=TestCrops(24))[0]
    torch.testing.assert_close(clip[:, 4:6], clip[:, 8:10])


# ---------------------------------------------------------------- loaders


class _PidDataset(TSNDataset):
    def __getitem__(self, index):
        clip, label = super().__getitem__(index)
        return clip, label, os.getpid(), self.store._pid


def test_loader_with_two_workers_opens_a_handle_per_worker_and_is_reproducible(store_path):
    dataset = _PidDataset(store_path, subset="train", modality="flow", preset=TrainCrops(32))
    pids = set()
    loader = build_loader(dataset, batch_size=2, workers=2, seed=5)
    for clips, labels, pid, store_pid in loader:
        assert clips.shape == (len(labels), 3, 10, 32, 32)
        assert torch.equal(pid, store_pid)  # the handle was (re)opened in the worker that read
        pids.update(pid.tolist())
    assert len(pids) == 2 and os.getpid() not in pids

    def first_epoch(seed):
        dataset = TSNDataset(store_path, subset="train", modality="flow", preset=TrainCrops(32))
        loader = build_loader(dataset, batch_size=3, workers=2, seed=seed)
        return [(clips.clone(), labels.clone()) for clips, labels in loader]

    a, b, c = first_epoch(7), first_epoch(7), first_epoch(8)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(torch.equal(x[0], y[0]) for x, y in zip(a, c))
    clips, labels = prepare_batch(a[0], "cpu")
    assert clips.shape == (3, 3, 10, 32, 32) and labels.dtype == torch.int64


# ---------------------------------------------------------------- device-side decode


def _compare_device_path(path, modality, subset, crops, device, seed=11, workers=0):
    """The device path (decode on `device`, loader with `workers`) against the CPU path, for test
    crops or the train crops (drawn by the same seeded stream only without workers)."""
    preset = TrainCrops(32) if subset == "train" else TestCrops(32, crops)
    cpu = TSNDataset(path, subset=subset, modality=modality, preset=preset, seed=seed)
    dev = TSNDataset(path, subset=subset, modality=modality, preset=preset, seed=seed, decode="device")
    assert dev.decode == "device"
    items = [dev[i] for i in range(len(dev))]
    assert all(isinstance(item, EncodedClip) for item in items)
    expected = torch.stack([cpu[i][0] for i in range(len(cpu))])
    loader = build_loader(dev, batch_size=(len(dev) + 1) // 2 if workers else len(dev), workers=workers,
                          shuffle=False, seed=seed)
    batches = list(loader)
    assert all(isinstance(batch, EncodedBatch) for batch in batches) and len(batches) == (2 if workers else 1)
    decoded = [prepare_batch(batch, device) for batch in batches]
    clips, labels = torch.cat([c for c, _ in decoded]), torch.cat([la for _, la in decoded])
    assert clips.device.type == torch.device(device).type and clips.shape == expected.shape
    assert labels.tolist() == cpu.labels
    # Same crops and flips; only the JPEG decoder and uint8 rounding of the resize differ.
    diff = (clips.cpu() - expected).abs()
    scale = 1 / 255 / 0.225 if modality == "rgb" else 2 / 255
    assert diff.mean() < 0.5 * scale and diff.max() < 3 * scale
    return diff


@pytest.mark.parametrize("subset,crops", [("train", 1), ("test", 10)])
def test_device_decode_cpu_fallback_matches_the_worker_decode(store_path, subset, crops):
    _compare_device_path(store_path, "rgb", subset, crops, "cpu")


def test_device_decode_through_two_loader_workers(jpeg_flow_store_path):
    """Clips cross from 2 worker processes as one tensor each, and decode (on the CPU here) to what
    the host path gives; the records split from that tensor are the store's bytes."""
    for modality in ("rgb", "flow"):
        _compare_device_path(jpeg_flow_store_path, modality, "test", 1, "cpu", workers=2)
    dataset = TSNDataset(jpeg_flow_store_path, subset="test", modality="flow", preset=TestCrops(32), decode="device")
    clip = dataset[1]
    unique = np.unique(dataset.sample(1).reshape(-1))
    with FlowStore(jpeg_flow_store_path) as store:
        for stream, records in clip_records(clip).items():
            stored = store.read_encoded(stream, dataset.video_ids[1], unique)
            assert [r.numpy().tobytes() for r in records] == [r.tobytes() for r in stored], stream


def _tensors(item) -> int:
    """How many torch tensors a sample holds (each one crossing a process needs a file descriptor)."""
    if isinstance(item, torch.Tensor):
        return 1
    if isinstance(item, dict):
        return sum(_tensors(v) for v in item.values())
    if isinstance(item, (list, tuple)):
        return sum(_tensors(v) for v in item)
    if hasattr(item, "__dataclass_fields__"):
        return sum(_tensors(getattr(item, name)) for name in item.__dataclass_fields__)
    return 0


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_device_decode_sends_one_tensor_per_clip_whatever_its_length(jpeg_flow_store_path, modality):
    counts = {}
    for segments in (1, 3, 7):
        dataset = TSNDataset(jpeg_flow_store_path, subset="train", modality=modality, segments=segments,
                             preset=TrainCrops(32), decode="device")
        clip = dataset[0]
        counts[segments] = (_tensors(clip), clip.lengths.size)
    assert {tensors for tensors, _ in counts.values()} == {1}, counts
    assert counts[7][1] > counts[1][1]  # longer clips, more records, still one tensor


def test_device_decode_of_jpeg_flow_and_png_fallback(store_path, jpeg_flow_store_path):
    _compare_device_path(jpeg_flow_store_path, "flow", "train", 1, "cpu")
    _compare_device_path(jpeg_flow_store_path, "rgbdiff", "test", 1, "cpu")
    with pytest.warns(UserWarning, match="not JPEG"):
        png = TSNDataset(store_path, modality="flow", decode="device", preset=TrainCrops(32))
    assert png.decode == "cpu" and "on the CPU" in png.decode_note
    clip, _ = png[0]
    assert clip.shape == (3, 10, 32, 32)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_decode_on_cuda(store_path, jpeg_flow_store_path):
    _compare_device_path(store_path, "rgb", "train", 1, "cuda")
    _compare_device_path(jpeg_flow_store_path, "flow", "test", 10, "cuda")


# ---------------------------------------------------------------- rawframes


def test_rawframes_source_gives_the_same_clips_as_the_store(tmp_path, jpeg_flow_store_path):
    store = FlowStore(jpeg_flow_store_path)
    root = tmp_path / "frames"
    export_rawframes(jpeg_flow_store_path, root)  # the store's JPEG bytes, one file per record
    assert (root / store.videos[0].name / "img_00001.jpg").is_file()
    assert (root / store.videos[0].name / "flow_y_00009.jpg").is_file()
    source = RawFramesSource.from_list_files(root, root / "rawframes_train_split_1.txt",
                                             root / "rawframes_val_split_1.txt",
                                             classes=store.classes, bound=store.bound)
    assert set(source.streams) == {"rgb", "flow_x", "flow_y"}
    for modality in ("rgb", "flow"):
        for subset in ("train", "test"):
            preset = TrainCrops(32) if subset == "train" else TestCrops(32)
            a = TSNDataset(store, subset=subset, modality=modality, preset=preset, seed=2)
            b = TSNDataset(source, subset=subset, modality=modality, preset=preset, seed=2)
            assert a.names == b.names and a.labels == b.labels
            for i in range(len(a)):
                torch.testing.assert_close(a[i][0], b[i][0], atol=0, rtol=0)
    with pytest.raises(ValueError, match="invalid video name"):
        RawFramesSource(root, [("../outside", 3, 0)])
