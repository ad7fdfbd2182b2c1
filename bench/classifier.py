"""How much the shipped classifier costs: parameters, GFLOPs per clip, latency per window.

    python bench/classifier.py                                  # the shipped .pt and .onnx
    python bench/classifier.py --repeats 300 --json bench.json  # more samples, numbers saved too

Why these numbers: the live loop classifies every tracked person once per step, so what matters
is the latency of one window at batch 1 (one person) and per window at batch 8 (a crowd, one
batched call), on the CPU that most users have. PyTorch and ONNX Runtime are both timed because
training and evaluation run the former and the live loop runs the latter (ONNX Runtime on CUDA is
added when this machine really has a GPU for it). Threads are PyTorch's default for both, so the
two runtimes get the same cores.

GFLOPs come from `torch.utils.flop_counter.FlopCounterMode` at batch 1: it counts matrix products
and convolutions (the model's whole cost, preprocessing is negligible), a multiply-add as 2 FLOPs.
PoseConv3D and ST-GCN++ are reference rows with their published figures, marked "published": they
were measured by their authors on their own inputs (NTU-style clips, more frames and persons than
our window) and with mmcv's counter, which counts a multiply-add as 1 FLOP; read them as orders of
magnitude, not as a like-for-like comparison.

Latency is wall-clock time of one call after warm-up, reported as median and 90th percentile over
`--repeats` calls, and divided by the batch size for the per-window figures. Inputs are random
plausible skeletons (the cost does not depend on the values). PyTorch's OpenMP threads degrade
badly when other processes keep the cores busy (a training run, say): the script warns when the
load average says so, and `--threads 1` gives numbers that survive a busy machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from skelcam.realtime.classifier import ActionClassifier
from skelcam.train.checkpoint import load_model
from skelcam.train.errors import SkelcamError, print_error
from skelcam.train.model import SkeletonClassifier, count_parameters, example_inputs
from skelcam.train.shipped import CHECKPOINT, ONNX_MODEL

BATCHES = (1, 8)
WARMUP = 10
# Published figures (GFLOPs per clip), not measured here: PoseConv3D (Duan et al., CVPR 2022) and
# ST-GCN++ (Duan et al., PYSKL, ACM MM 2022).
PUBLISHED = (("PoseConv3D", 20.6), ("ST-GCN++", 1.95))


@dataclass
class Latency:
    """One backend at one batch size; all times in milliseconds."""

    backend: str
    batch: int
    repeats: int
    median_ms_per_call: float
    p90_ms_per_call: float
    median_ms_per_window: float
    p90_ms_per_window: float


def gflops_per_clip(model: SkeletonClassifier) -> float:
    """FLOPs of one forward pass at batch 1, in billions."""
    keypoints, scores = example_inputs(model.config, batch=1)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(keypoints, scores)
    return counter.get_total_flops() / 1e9


def time_calls(call: Callable[[], object], repeats: int, warmup: int = WARMUP) -> np.ndarray:
    """Seconds per call, `repeats` times, after `warmup` untimed calls (allocations, kernels)."""
    for _ in range(warmup):
        call()
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        call()
        times[i] = time.perf_counter() - start
    return times


def summarise(backend: str, batch: int, seconds: np.ndarray) -> Latency:
    ms = seconds * 1e3
    return Latency(
        backend=backend,
        batch=batch,
        repeats=len(ms),
        median_ms_per_call=float(np.median(ms)),
        p90_ms_per_call=float(np.percentile(ms, 90)),
        median_ms_per_window=float(np.median(ms / batch)),
        p90_ms_per_window=float(np.percentile(ms / batch, 90)),
    )


def backends(model: SkeletonClassifier, onnx_path: Path, threads: int
             ) -> tuple[dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]], list[str]]:
    """The runtimes to time, each as a function of numpy inputs; and notes on what was left out."""

    @torch.inference_mode()
    def pytorch(keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(keypoints), torch.from_numpy(scores)).numpy()

    found: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {"PyTorch CPU": pytorch}
    notes = []
    found["ONNX Runtime CPU"] = ActionClassifier(onnx_path, "cpu", threads).logits
    if "CUDAExecutionProvider" in ort.get_available_providers():
        # The classifier logs its CPU-fallback warning before refusing 'cuda'; the note says it.
        quiet = logging.getLogger("skelcam.realtime.classifier")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            found["ONNX Runtime CUDA"] = ActionClassifier(onnx_path, "cuda", threads).logits
        except SkelcamError as exc:
            notes.append(f"ONNX Runtime CUDA not timed: {exc}")
        finally:
            quiet.setLevel(level)
    else:
        notes.append("ONNX Runtime CUDA not timed: this onnxruntime build has no CUDA provider")
    return found, notes


def cost_table(name: str, params: int, gflops: float, input_desc: str) -> Table:
    table = Table(title="Classifier cost per clip")
    for column, justify in (("model", "left"), ("source", "left"), ("params", "right"),
                            ("GFLOPs/clip", "right"), ("input (M x T x V)", "left")):
        table.add_column(column, justify=justify)
    table.add_row(name, "measured", f"{params / 1e6:.2f} M", f"{gflops:.3f}", input_desc)
    for ref, ref_gflops in PUBLISHED:
        table.add_row(ref, "[yellow]published[/]", "-", f"{ref_gflops:.2f}", "authors' own")
    return table


def latency_table(rows: list[Latency], threads: int, repeats: int) -> Table:
    table = Table(title=f"Latency, {threads} thread(s), {repeats} calls after {WARMUP} warm-up")
    table.add_column("backend", no_wrap=True)
    table.add_column("batch", justify="right")
    for column in ("ms/win median", "ms/win p90", "ms/call median", "win/s"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r.backend, str(r.batch), f"{r.median_ms_per_window:.2f}",
            f"{r.p90_ms_per_window:.2f}", f"{r.median_ms_per_call:.2f}",
            f"{1e3 / r.median_ms_per_window:.0f}",
        )
    return table


def run(checkpoint: Path, onnx_path: Path, repeats: int, json_out: Path | None,
        console: Console, threads: int | None = None) -> dict:
    if repeats < 1:
        raise SkelcamError("--repeats must be at least 1")
    if threads is not None and threads < 1:
        raise SkelcamError("--threads must be at least 1")
    if json_out is not None and not json_out.parent.is_dir():
        raise SkelcamError(f"folder for --json '{json_out.parent}' does not exist")
    model, class_names, _ = load_model(checkpoint)
    config = model.config
    if threads is not None:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    notes = []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    cores = os.cpu_count() or 1
    if load > max(0.5, 0.25 * cores):
        notes.append(f"[yellow]note:[/] load average {load:.1f} on {cores} cores before timing: "
                     "other processes share the CPU, so latencies (PyTorch's above all) are "
                     "pessimistic")
    params = count_parameters(model)
    gflops = gflops_per_clip(model)
    found, left_out = backends(model, onnx_path, threads)
    notes += left_out

    # The two files must be the same model, or the comparison means nothing.
    keypoints, scores = (t.numpy() for t in example_inputs(config, batch=max(BATCHES)))
    reference = found["PyTorch CPU"](keypoints, scores)
    onnx_diff = float(np.abs(found["ONNX Runtime CPU"](keypoints, scores) - reference).max())
    if onnx_diff > 1e-3:
        notes.append(f"[red]warning:[/] {onnx_path} and {checkpoint} disagree (max |logit diff| "
                     f"{onnx_diff:.2e}); is the ONNX file exported from this checkpoint?")

    rows = []
    with console.status("timing...") as status:
        for backend, call in found.items():
            for batch in BATCHES:
                status.update(f"timing {backend}, batch {batch} ({repeats} calls)")
                kp, sc = keypoints[:batch], scores[:batch]
                rows.append(summarise(backend, batch, time_calls(lambda c=call, k=kp, s=sc:
                                                                  c(k, s), repeats)))

    input_desc = f"{config.num_persons} x {config.window} x 17, {len(class_names)} classes"
    console.print(cost_table(checkpoint.stem, params, gflops, input_desc))
    console.print(latency_table(rows, threads, repeats))
    console.print(
        f"[dim]PyTorch {torch.__version__}, ONNX Runtime {ort.__version__}, "
        f"{platform.processor() or platform.machine()}; ONNX vs PyTorch max |logit diff| "
        f"{onnx_diff:.1e}. GFLOPs: FlopCounterMode (multiply-add = 2 FLOPs); published rows are "
        "their authors' figures on their own inputs (see this script's docstring).[/]"
    )
    for note in notes:
        console.print(note)

    result = {
        "checkpoint": str(checkpoint),
        "onnx": str(onnx_path),
        "parameters": params,
        "gflops_per_clip": gflops,
        "gflops_counter": "torch.utils.flop_counter.FlopCounterMode, batch 1, multiply-add = 2",
        "input": {"persons": config.num_persons, "frames": config.window, "joints": 17,
                  "classes": len(class_names)},
        "threads": threads,
        "load_average_before": load,
        "repeats": repeats,
        "warmup": WARMUP,
        "onnx_vs_pytorch_max_abs_diff": onnx_diff,
        "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__,
                     "python": platform.python_version()},
        "machine": {"processor": platform.processor(), "machine": platform.machine(),
                    "system": platform.system()},
        "latency": [asdict(r) for r in rows],
        "published": [{"model": m, "gflops_per_clip": g, "source": "published"}
                      for m, g in PUBLISHED],
        "notes": notes,
    }
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"numbers written to {json_out}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    parser.add_argument("--onnx", type=Path, default=ONNX_MODEL)
    parser.add_argument("--repeats", type=int, default=100, help="timed calls per row")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers here")
    parser.add_argument("--threads", type=int, help="CPU threads for both runtimes "
                        "(default: PyTorch's default, one per physical core)")
    args = parser.parse_args(argv)
    console = Console()
    try:
        run(args.checkpoint, args.onnx, args.repeats, args.json, console, args.threads)
    except SkelcamError as exc:
        print_error(str(exc))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
