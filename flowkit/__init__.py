"""flowkit: optical flow extraction for two-stream action recognition.

Kept import-light on purpose: `import flowkit` must not import torch, cv2 or ray, so the CLI
starts fast. Import the submodules you need (`flowkit.flow`, `flowkit.store`, ...).
"""

from flowkit.limits import set_opencv_default

__version__ = "0.1.0"

# Before anything imports OpenCV: its decoders refuse pictures over flowkit's pixel limit.
set_opencv_default()
