"""Whose fault a failed flow call is: the one classification every extraction path applies.

- out of memory (torch.OutOfMemoryError, which is also torch.cuda.OutOfMemoryError; MemoryError on the
  CPU): the batch was too big for the device. The FlowBatcher splits it and tries again, down to one
  pair; a pair that fails alone fails only its own video.
- a broken device: a CUDA error that leaves the process's CUDA context unusable (an illegal memory
  access, a device-side assert, an unspecified launch failure, ...): every later CUDA call of that
  process fails too, so the process must be replaced (Ray restarts the GPU actor, whose pending calls
  run again) or, without Ray, the run stops; the videos done are kept and a rerun resumes.
- anything else: the error of that call, handed to its callers.

torch is never imported here: when it is not loaded, no error can be one of its own.
"""

from __future__ import annotations

import sys

OUT_OF_MEMORY = "out of memory"
BROKEN_DEVICE = "broken device"
OTHER = "other"

# Lower-case fragments of the messages of CUDA's sticky errors (torch: "CUDA error: ...", Triton:
# "Triton Error [CUDA]: ..."): after one of them the context refuses every later call.
BROKEN_CONTEXT_MESSAGES = (
    "illegal memory access",
    "device-side assert",
    "unspecified launch failure",
    "illegal instruction",
    "misaligned address",
    "invalid program counter",
    "hardware stack error",
    "uncorrectable ecc error",
    "launch timed out",
)


class BrokenDeviceError(RuntimeError):
    """The flow device of this process cannot be used again (its CUDA context is broken, or the
    process that held it is gone for good). Never a video's fault: its video is not recorded failed."""


def failure_kind(exc: BaseException) -> str:
    """OUT_OF_MEMORY, BROKEN_DEVICE or OTHER for an error raised by a flow function (module docstring)."""
    if isinstance(exc, BrokenDeviceError):
        return BROKEN_DEVICE
    message = str(exc).lower()
    if isinstance(exc, RuntimeError) and any(text in message for text in BROKEN_CONTEXT_MESSAGES):
        return BROKEN_DEVICE
    if isinstance(exc, MemoryError) or isinstance(exc, _torch_out_of_memory()):
        return OUT_OF_MEMORY
    if isinstance(exc, RuntimeError) and "out of memory" in message:  # e.g. cuBLAS/cuDNN allocations
        return OUT_OF_MEMORY
    return OTHER


def _torch_out_of_memory() -> tuple[type, ...]:
    torch = sys.modules.get("torch")
    if torch is None:
        return ()
    # torch.OutOfMemoryError is the same class as torch.cuda.OutOfMemoryError (the latter also in torch 2.4).
    cls = getattr(torch, "OutOfMemoryError", None) or getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    return (cls,) if isinstance(cls, type) else ()


def broken_device_error(exc: BaseException) -> BrokenDeviceError:
    """A new BrokenDeviceError for `exc` (one already, or the CUDA error that broke the device)."""
    if isinstance(exc, BrokenDeviceError):
        return BrokenDeviceError(str(exc))
    return BrokenDeviceError(f"the flow device cannot be used again by this process ({describe(exc)}); the videos "
                             "done are kept: run the same extraction again to resume")


def describe(exc: BaseException) -> str:
    """'ErrorType: first line of its message' (the type alone when it has no message)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
