"""Startup time and peak memory of the live command, this checkout against an older one.

    git worktree add /tmp/before bc0da29
    python -m bench.startup --before /tmp/before --before-module realtime.cli

Two measurements per side, alternated run by run so that a busy machine slows both alike:
`import`, a Python process that imports everything `skelcam --video` runs (and reports whether
torch came with it), and `run`, a whole `skelcam --video S001 --no-show --pose mediapipe` on the
103-frame shared clip. Each is a fresh process; its wall time and peak resident memory (from
`wait4`, the child's own maximum) are taken, and the medians printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / \
    "S001C001P001R001A001_rgb.avi"
LIVE_MODULES = ("cli", "capture", "recognizer", "loop", "writer", "pose.mediapipe_backend")


def measure(command: list[str], env: dict[str, str], cwd: str) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of one fresh process."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"error: '{' '.join(command[:4])} ...' failed (exit {proc.returncode})")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, out


def side(package: str, cli_module: str, checkout: str | None) -> dict:
    """How to run one side. An old checkout runs from its own folder (Python puts the working
    folder first on the path, so its top-level packages win over anything installed)."""
    env = dict(os.environ)
    if checkout:
        env["PYTHONPATH"] = checkout
    imports = "; ".join(f"import {package}.{m}" for m in LIVE_MODULES)
    return {
        "env": env,
        "cwd": checkout or tempfile.gettempdir(),
        "import": [sys.executable, "-c",
                   f"{imports}; import sys; print('torch' in sys.modules)"],
        "run": [sys.executable, "-m", cli_module, "--video", str(CLIP), "--no-show", "--pose",
                "mediapipe"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="an older checkout (e.g. a git worktree)")
    parser.add_argument("--before-module", default="realtime.cli",
                        help="its command module (default: realtime.cli, before skelcam.*)")
    parser.add_argument("--before-package", default="realtime")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    sides = {"now": side("skelcam.realtime", "skelcam.realtime", None)}
    if args.before is not None:
        sides["before"] = side(args.before_package, args.before_module, str(args.before))
    results: dict[tuple[str, str], list[tuple[float, float, str]]] = {}
    for _ in range(args.repeats):
        for name, spec in sides.items():
            for kind in ("import", "run"):
                row = measure(spec[kind], spec["env"], spec["cwd"])
                results.setdefault((name, kind), []).append(row)
    table = Table(title=f"startup and memory, median of {args.repeats} alternated runs")
    for col in ("checkout", "what", "seconds", "peak RSS MB", "imports torch"):
        table.add_column(col, justify="left" if col in ("checkout", "what") else "right")
    for (name, kind), rows in results.items():
        torch = rows[0][2].strip() if kind == "import" else ""
        what = "import the live modules" if kind == "import" else f"skelcam --video {CLIP.name}"
        table.add_row(name, what, f"{statistics.median(r[0] for r in rows):.2f}",
                      f"{statistics.median(r[1] for r in rows):.0f}", torch)
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
