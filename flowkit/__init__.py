"""flowkit: optical flow extraction for two-stream action recognition.

Kept import-light on purpose: `import flowkit` must not import torch, cv2 or ray, so the CLI
starts fast. Import the submodules you need (`flowkit.flow`, `flowkit.store`, ...).
"""

__version__ = "0.1.0"
