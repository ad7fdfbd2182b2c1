"""Which pose backends the benches compare: a backend name with its own options, one per row.

    mediapipe                                          a backend with its defaults
    yolo:pose_model=/tmp/yolo11n-pose-320.onnx         a backend with options (comma-separated)
    yolo:pose_model=dyn.onnx,input_size=960

The benches compare backends side by side, and two variants of one backend (say YOLO at 320 and
at 640) are two rows, so options belong to each variant rather than to the whole run.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skelcam.realtime.pose import available_backends

SHARED_YOLO = Path(__file__).resolve().parents[2] / "shared" / "models" / "yolo11n-pose-640.onnx"


@dataclass(frozen=True)
class Variant:
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The backend name and what sets this variant apart, e.g. 'yolo 320 (x-320.onnx)'."""
        parts = [self.name]
        if "input_size" in self.options:
            parts.append(str(self.options["input_size"]))
        parts += [f"({Path(str(v)).name})" for k, v in self.options.items() if k.endswith("model")]
        parts += [f"{k}={v}" for k, v in self.options.items()
                  if k != "input_size" and not k.endswith("model")]  # fmt: skip
        return " ".join(parts)


def parse_variant(text: str) -> Variant:
    name, _, rest = text.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value  # a plain string such as a path
    return Variant(name, options)


def default_variants() -> list[Variant]:
    """Every backend that can run here with what is installed and cached, plus yolo on the
    shared YOLO11n-pose export when that sits beside the repository."""
    variants = [Variant(name) for name in available_backends()]
    if SHARED_YOLO.is_file() and "yolo" not in available_backends():
        variants.append(Variant("yolo", {"pose_model": str(SHARED_YOLO)}))
    return variants
