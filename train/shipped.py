"""Where the shipped classifiers live, so the CLI, the exporter and the tests agree.

Two models ship, chosen on the command line by name (`skelcam --model penn|daily`): the Penn
Action sports model and the everyday-action model trained on the Kinect sets (`train.daily`).
The project is installed editable (`pip install -e .`), so the `weights/` folder at the
repository root is found next to the packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


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
    "daily": ShippedModel("daily", "skelcam_daily29", "labels_daily.txt", "metrics_daily.json"),
}
# The model `skelcam` runs when none is named (README "Which model").
DEFAULT_MODEL = "penn"

CHECKPOINT = MODELS["penn"].checkpoint
ONNX_MODEL = MODELS["penn"].onnx
LABELS = MODELS["penn"].labels
METRICS = MODELS["penn"].metrics
