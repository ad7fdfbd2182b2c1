"""`python -m train ...` as a user runs it: real subprocesses, real files, exit codes and output.

Success paths (subprocesses): `convert penn-action`, `fit` and `evaluate` with the shipped
checkpoint. Failure paths: every mistake a user can make with their own files must end with a
non-zero exit and ONE line of output naming the problem, never a traceback. All of them run
through `train.__main__.main` in-process (each extra process costs seconds of torch import on the
shared cores) and one per subcommand also as a real `python -m train` process, which checks the
wiring around it (exit status 2, message on stderr). `COLUMNS=80` is set so that a message the
console would wrap at the usual terminal width shows up as the several lines it would be.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PennFile, PennSubset, copy_files

from skelcam.train.__main__ import main as train_main
from skelcam.train.data import load_pyskl
from skelcam.train.shipped import CHECKPOINT

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JSON_KEYS = {"top1", "top5", "mean_class_accuracy", "macro_f1", "num_samples"}
# Failing command lines with the fragment their error line must contain, and their scratch folder.
BadInputs = tuple[dict[str, tuple[list, str]], Path]


def run_cli(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "train", *map(str, args)],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout, check=False,
    )


@pytest.fixture(scope="module")
def shipped_checkpoint() -> Path:
    if not CHECKPOINT.is_file():
        pytest.skip(f"shipped checkpoint {CHECKPOINT} not present")
    return CHECKPOINT


# --- success paths -------------------------------------------------------------------------------


def test_convert_penn_action(penn_files: list[PennFile], tmp_path: Path) -> None:
    """`convert penn-action DIR OUT` on real .mat files exits 0, reports what it wrote, and the
    pickle loads with the training loader."""
    chosen = [penn_files[0], penn_files[400], penn_files[800], penn_files[1200]]
    folder = copy_files(chosen, tmp_path / "labels")
    out = tmp_path / "penn.pkl"
    proc = run_cli("convert", "penn-action", folder, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "4 clips" in proc.stdout
    data = load_pyskl(out)
    assert sorted(c.name for c in data.clips) == sorted(f.path.stem for f in chosen)
    assert data.class_names == sorted({f.action for f in chosen})


def test_fit_small(penn_subset: PennSubset, tmp_path: Path) -> None:
    """`fit` for one epoch on the 105-clip Penn pickle exits 0 and writes best.pt, last.pt and a
    summary describing the run it was asked for."""
    out = tmp_path / "run"
    proc = run_cli("fit", "--data", penn_subset.pickle, "--train-split", "train_fit",
                   "--val-split", "val", "--out", out, "--epochs", "1", "--batch-size", "16",
                   "--window", "16", "--device", "cpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert {"best.pt", "last.pt", "summary.json"} <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 1 and len(summary["history"]) == 1
    assert summary["train_clips"] == 90 and summary["val_clips"] == 15
    assert summary["val_split"] == "val"
    assert summary["options"]["window"] == 16


def test_evaluate_shipped_checkpoint(penn_subset: PennSubset, shipped_checkpoint: Path,
                                     tmp_path: Path) -> None:
    """`evaluate --checkpoint weights/skelcam_penn15.pt --split val --json --plots` on real Penn
    clips exits 0, writes JSON with the headline metrics over the 15 val clips and a PNG. The
    shipped model has seen most of these clips in training, so its top-1 must be high: a broken
    class order or joint layout between converter and checkpoint would put it near 1/15."""
    json_path, plots = tmp_path / "metrics.json", tmp_path / "plots"
    proc = run_cli("evaluate", "--checkpoint", shipped_checkpoint, "--data", penn_subset.pickle,
                   "--split", "val", "--json", json_path, "--plots", plots)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    metrics = json.loads(json_path.read_text())
    assert metrics.keys() >= JSON_KEYS
    assert metrics["num_samples"] == 15
    for key in JSON_KEYS - {"num_samples"}:
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["top5"] >= metrics["top1"] >= 0.6
    assert metrics["provenance"]["split"] == "val"
    pngs = list(plots.glob("*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == PNG_MAGIC


# --- failure paths -------------------------------------------------------------------------------


def make_bad_inputs(root: Path, penn_pickle: Path, checkpoint: Path) -> dict[str, tuple[list, str]]:
    """Each mistake: the command line, and a fragment the one error line must contain."""
    root.mkdir()
    corrupt = root / "corrupt.pkl"
    corrupt.write_bytes(b"\x8f" + np.random.default_rng(0).bytes(2048))
    rng = np.random.default_rng(1)
    ann25 = {
        "frame_dir": "a", "label": 0, "img_shape": (480, 640), "total_frames": 8,
        "keypoint": rng.random((1, 8, 25, 2)).astype(np.float32),
        "keypoint_score": rng.random((1, 8, 25)).astype(np.float32),
    }
    joints25 = root / "ntu25.pkl"
    joints25.write_bytes(pickle.dumps({"split": {"xsub_val": ["a"]}, "annotations": [ann25]}))
    empty = root / "empty_labels"
    empty.mkdir()
    foreign = root / "foreign.pt"
    torch.save({"a": 1}, foreign)
    garbage_ckpt = root / "garbage.pt"
    garbage_ckpt.write_bytes(b"not a checkpoint at all\n" * 10)
    missing = root / "missing.pkl"

    def evaluate(data: Path, split: str = "val", ckpt: Path = checkpoint) -> list:
        return ["evaluate", "--data", data, "--split", split, "--checkpoint", ckpt]

    def fit(data: Path, *extra: str) -> list:
        return ["fit", "--data", data, "--train-split", "train_fit", "--out", root / "run",
                "--epochs", "1", "--window", "16", "--device", "cpu", *extra]

    return {
        "missing-pickle": (evaluate(missing), "does not exist"),
        "missing-pickle-fit": (fit(missing), "does not exist"),
        "corrupt-pickle": (fit(corrupt), "cannot read"),
        "unknown-split": (evaluate(penn_pickle, "xsub_val"), "test, train, train_fit, val"),
        "unknown-train-split": (["fit", "--data", penn_pickle, "--train-split", "xsub_train",
                                 "--out", root / "run", "--epochs", "1", "--device", "cpu"],
                                "xsub_train"),
        "25-joint-pickle": (evaluate(joints25, "xsub_val"), "25 joints"),
        "empty-labels-folder": (["convert", "penn-action", empty, root / "out.pkl"],
                                "no .mat files"),
        "missing-labels-folder": (["convert", "penn-action", root / "nope", root / "out.pkl"],
                                  "does not exist"),
        "missing-checkpoint": (evaluate(penn_pickle, ckpt=root / "nope.pt"), "does not exist"),
        "foreign-checkpoint": (evaluate(penn_pickle, ckpt=foreign), "not a skelcam checkpoint"),
        "garbage-checkpoint": (evaluate(penn_pickle, ckpt=garbage_ckpt), "cannot read checkpoint"),
        "resume-without-last": (fit(penn_pickle, "--resume"), "does not exist"),
        "missing-label-names": (evaluate(penn_pickle) + ["--labels", root / "names.txt"],
                                "label names file"),
    }


@pytest.fixture(scope="module")
def bad_inputs(penn_subset: PennSubset, shipped_checkpoint: Path,
               tmp_path_factory: pytest.TempPathFactory) -> BadInputs:
    root = tmp_path_factory.mktemp("cli_bad") / "inputs"
    return make_bad_inputs(root, penn_subset.pickle, shipped_checkpoint), root


BAD_CASES = [
    "missing-pickle", "missing-pickle-fit", "corrupt-pickle", "unknown-split",
    "unknown-train-split", "25-joint-pickle", "empty-labels-folder", "missing-labels-folder",
    "missing-checkpoint", "foreign-checkpoint", "garbage-checkpoint", "resume-without-last",
    "missing-label-names",
]
# Also run as real `python -m train` processes: one per subcommand. Each process spends seconds
# importing torch on the shared cores, so every case runs in-process through the same `main()`
# that `python -m train` calls, and these three check the process wiring (exit status, stderr).
SUBPROCESS_CASES = ["corrupt-pickle", "empty-labels-folder", "foreign-checkpoint"]


def assert_one_error_line(text: str, code: int, fragment: str) -> None:
    lines = [line for line in text.splitlines() if line.strip()]
    assert code != 0
    assert "Traceback" not in text
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    assert fragment in lines[0]
    assert "error" in lines[0].lower()


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_one_line_and_nonzero(
    bad_inputs: BadInputs, case: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`python -m train`'s main() returns non-zero and prints exactly one non-empty line naming
    the problem (at an 80-column console width), with no traceback."""
    monkeypatch.setenv("COLUMNS", "80")
    argv, fragment = bad_inputs[0][case]
    code = train_main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert_one_error_line(captured.out + captured.err, code, fragment)


@pytest.fixture(scope="module")
def bad_subprocesses(
    bad_inputs: BadInputs,
) -> dict[str, subprocess.CompletedProcess[str]]:
    """The SUBPROCESS_CASES run as real processes, concurrently."""
    cases = bad_inputs[0]
    with ThreadPoolExecutor(max_workers=len(SUBPROCESS_CASES)) as pool:
        futures = {name: pool.submit(run_cli, *cases[name][0]) for name in SUBPROCESS_CASES}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_bad_input_subprocess(
    bad_inputs: BadInputs,
    bad_subprocesses: dict[str, subprocess.CompletedProcess[str]], case: str,
) -> None:
    """As a real process: exit status 2 and one error line on stderr, nothing on stdout."""
    proc = bad_subprocesses[case]
    assert_one_error_line(proc.stdout + proc.stderr, proc.returncode, bad_inputs[0][case][1])
    assert proc.returncode == 2
    assert proc.stderr.strip() and not proc.stdout.strip()


def test_failed_convert_writes_nothing(
    bad_inputs: BadInputs,
    bad_subprocesses: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    """A convert that fails leaves no output pickle and no temporary file behind."""
    assert bad_subprocesses["empty-labels-folder"].returncode != 0
    root = bad_inputs[1]
    assert not (root / "out.pkl").exists()
    assert not list(root.glob(".out.pkl*"))


def test_every_prepared_case_is_checked(
    bad_inputs: BadInputs,
) -> None:
    """Every failing command make_bad_inputs prepares is in the parametrized list above."""
    assert sorted(bad_inputs[0]) == sorted(BAD_CASES)
    assert set(SUBPROCESS_CASES) <= set(BAD_CASES)


@pytest.mark.parametrize("folder", ["odd[/x]", "odd[bold]"])
def test_error_message_is_printed_verbatim(
    tmp_path: Path, folder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path containing brackets appears in the one error line exactly as given."""
    missing = tmp_path / folder / "data.pkl"
    code = train_main(["evaluate", "--data", str(missing), "--split", "val",
                       "--checkpoint", str(tmp_path / "x.pt")])
    captured = capsys.readouterr()
    assert_one_error_line(captured.out + captured.err, code, str(missing))
