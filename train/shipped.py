"""Where the shipped classifiers live, so the CLI, the exporter and the tests agree.

Shipped models are chosen on the command line by name (`skelcam --model NAME`): `penn`, the 15
Penn Action sports, and `daily`, the 29 everyday and two-person actions of `train.daily`
(trained on the Kinect sets). README "Which model" says which is the default and why.
The repository's `weights/` folder is the package `skelcam.weights`, so it is found through the
package, wherever it is installed: a wheel puts it in site-packages, an editable install
(`pip install -e .`) points at the checkout's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

# pip installs packages as plain folders, so the package's resources are real files (ONNX
# Runtime and torch need a path, not a stream).
WEIGHTS_DIR = Path(str(files("skelcam.weights")))


@dataclass(frozen=True)
class ShippedModel:
    """One shipped classifier: its checkpoint, the ONNX file the live loop runs, its metrics."""

    name: str
    stem: str
    labels_file: str
    metrics_file: str

    @property
    def checkpoint(self) -> Path:
        return WEIGHTS_DIR / f"{self.stem}.pt"

    @property
    def onnx(self) -> Path:
        return WEIGHTS_DIR / f"{self.stem}.onnx"

    @property
    def labels(self) -> Path:
        return WEIGHTS_DIR / self.labels_file

    @property
    def metrics(self) -> Path:
        return WEIGHTS_DIR / self.metrics_file


MODELS: dict[str, ShippedModel] = {
    "penn": ShippedModel("penn", "skelcam_penn15", "labels.txt", "metrics.json"),
    "daily": ShippedModel("daily", "skelcam_daily29", "labels_daily29.txt", "metrics_daily29.json"),
}
# The model `skelcam` runs when none is named (README "Which model").
DEFAULT_MODEL = "penn"

CHECKPOINT = MODELS["penn"].checkpoint
ONNX_MODEL = MODELS["penn"].onnx
LABELS = MODELS["penn"].labels
METRICS = MODELS["penn"].metrics
