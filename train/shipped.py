"""Where the shipped classifier lives, so the CLI, the exporter and the tests agree.

The project is installed editable (`pip install -e .`), so the `weights/` folder at the repository
root is found next to the packages.
"""

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
CHECKPOINT = WEIGHTS_DIR / "skelcam_penn15.pt"
ONNX_MODEL = WEIGHTS_DIR / "skelcam_penn15.onnx"
LABELS = WEIGHTS_DIR / "labels.txt"
METRICS = WEIGHTS_DIR / "metrics.json"
