"""Decompression bombs: a small file declaring a huge picture is refused from its header, before
anything is decoded, with one line; the limit is documented and can be moved (--max-pixels,
FLOWKIT_MAX_PIXELS)."""

import struct
import subprocess
import sys
import zlib

import numpy as np
from click.testing import CliRunner

from extract_videos import make_tree
from flowkit.extract import ContentOptions, RunOptions, extract
from flowkit.limits import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV


def png_bomb(path, width: int, height: int):
    """A gray PNG of width x height zero pixels: a few hundred KB that decode to width * height bytes."""
    row = b"\0" * (width + 1)  # filter byte + pixels
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def _flow(*args):
    from cli.flowkit_app import main

    return CliRunner().invoke(main, ["flow", *[str(a) for a in args]])


def test_an_image_bomb_is_refused_from_its_header(tmp_path):
    bomb = png_bomb(tmp_path / "bomb.png", 9000, 9000)  # 81 Mpx, 140 KB on disk
    assert bomb.stat().st_size < 1 << 20
    result = _flow(bomb, bomb, "-o", tmp_path / "flow.npy")
    assert result.exit_code == 2 and not (tmp_path / "flow.npy").exists()
    assert result.output.strip() == (
        f"Error: image {bomb} is 9000x9000 (81,000,000 pixels), over the limit of {DEFAULT_MAX_PIXELS:,} pixels; "
        f"not decoded (raise the limit with --max-pixels or {MAX_PIXELS_ENV} if it is genuine)")
    beyond_pillow = png_bomb(tmp_path / "huge.png", 13500, 13500)  # over Pillow's own bomb limit (179 Mpx) too
    result = _flow(beyond_pillow, beyond_pillow, "-o", tmp_path / "flow.npy")
    assert (result.exit_code == 2
            and f"image {beyond_pillow} declares 182,250,000 pixels, over the limit" in result.output)


def test_the_limit_moves_with_the_option_and_the_environment(tmp_path, monkeypatch):
    import cv2

    frame = (np.random.default_rng(0).random((24, 32)) * 255).astype(np.uint8)
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), frame)
    monkeypatch.setenv(MAX_PIXELS_ENV, "700")
    monkeypatch.setenv("OPENCV_IO_MAX_IMAGE_PIXELS", str(DEFAULT_MAX_PIXELS))
    result = _flow(tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "f.npy", "--algo", "farneback")
    assert result.exit_code == 2 and "is 32x24 (768 pixels), over the limit of 700 pixels" in result.output
    result = _flow(tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "f.npy", "--algo", "farneback",
                   "--max-pixels", "768")
    assert result.exit_code == 0 and np.load(tmp_path / "f.npy").shape == (2, 24, 32)


def test_a_video_announcing_frames_over_the_limit_fails_alone(tmp_path, monkeypatch):
    root = tmp_path / "videos"
    make_tree(root, {"big/v": 4}, size=(96, 72))
    make_tree(root / "small", {"v": 4}, size=(48, 32))
    monkeypatch.setenv(MAX_PIXELS_ENV, str(48 * 32))
    summary = extract([root], tmp_path / "s.h5", ContentOptions(size=(32, 24), algo="farneback"),
                      RunOptions(workers=0, progress=False))
    assert (summary.videos_ok, summary.videos_failed) == (1, 1)
    name, reason = summary.failures[0]
    assert name == "big/v" and reason.startswith(f"a frame of video {root / 'big' / 'v.mp4'} is 96x72 (6,912 pixels), "
                                                 "over the limit of 1,536 pixels")


def test_opencv_refuses_a_bomb_inside_a_store_record(tmp_path):
    """JPEG/PNG records are decoded by OpenCV, which flowkit gives the same limit when imported."""
    bomb = png_bomb(tmp_path / "bomb.png", 9000, 9000)
    code = ("import flowkit, numpy as np; from flowkit.store.codec import decode_image\n"
            f"try:\n    decode_image(np.fromfile({str(bomb)!r}, np.uint8), color=False)\n"
            "except ValueError as e:\n    print(e)\n")
    env_without_limit = {k: v for k, v in __import__("os").environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env=env_without_limit)
    assert (result.stdout.startswith("does not decode as an image:")
            and "CV_IO_MAX_IMAGE_PIXELS" in result.stdout), result
