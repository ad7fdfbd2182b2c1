"""`torchrun --nproc-per-node 2 -m train fit` on CPUs (Gloo), as a user runs it on several GPUs.

Real processes on real data: the custom16 PYSKL pickle cut to 64 training and 16 validation
clips, one epoch of a 16-frame window at batch 8 per process: small enough that launching
(three processes importing torch) costs more than training. The two runs and the failing one are
started together: on the two shared cores they overlap their imports, and runs that differ in
timing must still give the same bits. Checked: both ranks end with the same weights (each rank's
digest, gathered into the summary by the real training loop, against the digest of rank 0's
checkpoint), the checkpoints have exactly the keys, weight names, shapes and types of a
single-process run's (so `load_model` and the ONNX export read them), the same seed and process
count give the same checkpoint, a checkpoint of two processes does not resume on one, and a bad
input ends the run with one error line, not one per rank. The epoch sampler's sharding is checked
in this process, for three ranks.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from rich.console import Console

from skelcam.train.checkpoint import load_model, read_checkpoint, weights_digest
from skelcam.train.data import load_pyskl
from skelcam.train.errors import SkelcamError
from skelcam.train.fit import FitOptions, _EpochSampler, fit

REPO = Path(__file__).resolve().parents[1]
TRAIN_CLIPS, VAL_CLIPS = 64, 16
FIT_ARGS = ["--train-split", "xsub_train", "--val-split", "xsub_test", "--epochs", "1",
            "--batch-size", "8", "--window", "16", "--device", "cpu", "--seed", "3"]
OPTIONS = FitOptions(epochs=1, batch_size=8, window=16, device="cpu", seed=3)

pytestmark = pytest.mark.skipif(not dist.is_gloo_available(), reason="torch built without Gloo")


@pytest.fixture(scope="module")
def tiny_pickle(custom16_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first clips of custom16's two splits, as a PYSKL pickle of their own."""
    with custom16_path.open("rb") as f:
        raw = pickle.load(f)
    split = {"xsub_train": raw["split"]["xsub_train"][:TRAIN_CLIPS],
             "xsub_test": raw["split"]["xsub_test"][:VAL_CLIPS]}
    keep = {name for names in split.values() for name in names}
    path = tmp_path_factory.mktemp("ddp") / "tiny.pkl"
    path.write_bytes(pickle.dumps({
        "split": split, "annotations": [a for a in raw["annotations"] if a["frame_dir"] in keep],
    }))
    return path


def torchrun(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m torch.distributed.run --standalone --nproc-per-node 2 -m train ARGS`."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", "2", "-m", "train", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=240, check=False)


@pytest.fixture(scope="module")
def runs(tiny_pickle: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two identical 2-process runs and one with a missing pickle, started together, and the
    same training in this process (`single`) while they run."""
    root = tmp_path_factory.mktemp("ddp_runs")
    commands = {
        "a": ["fit", "--data", tiny_pickle, "--out", root / "a", *FIT_ARGS],
        "b": ["fit", "--data", tiny_pickle, "--out", root / "b", *FIT_ARGS],
        "missing": ["fit", "--data", root / "missing.pkl", "--out", root / "c", *FIT_ARGS],
    }
    threads = torch.get_num_threads()
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        futures = {name: pool.submit(torchrun, *cmd) for name, cmd in commands.items()}
        torch.set_num_threads(1)
        try:
            fit(load_pyskl(tiny_pickle), "xsub_train", "xsub_test", root / "single", OPTIONS,
                Console(file=io.StringIO()))
        finally:
            torch.set_num_threads(threads)
        procs = {name: future.result() for name, future in futures.items()}
    return {"root": root, "procs": procs}


def succeeded(runs: dict, name: str) -> Path:
    proc = runs["procs"][name]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return runs["root"] / name


def digest_of(path: Path) -> str:
    return weights_digest(read_checkpoint(path)["model"])


def test_two_ranks_train_one_model(runs: dict) -> None:
    """The run exits 0 with one copy of the console output (rank 0's), splits every epoch over
    both ranks, and both ranks end with the weights rank 0 saved."""
    out = succeeded(runs, "a")
    text = runs["procs"]["a"].stdout
    assert text.count("training on cpu x 2 processes (batch 8 each)") == 1
    assert text.count("best validation top-1") == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["train_clips"] == TRAIN_CLIPS and summary["val_clips"] == VAL_CLIPS
    rank0, rank1 = summary["rank_weights_sha256"]
    assert rank0 == rank1 == digest_of(out / "last.pt") == digest_of(out / "best.pt")
    last = read_checkpoint(out / "last.pt")
    assert last["world_size"] == 2 and last["history"] == summary["history"]
    # 64 windows over 2 ranks at 8 each: 4 steps per rank and epoch, and the LR schedule counts
    # those (warm-up of 3 epochs: 4 of 12 steps done).
    assert last["scheduler"]["last_epoch"] == 4
    assert summary["history"][0]["lr"] == pytest.approx(OPTIONS.lr * 5 / 12)


def test_checkpoint_format_matches_single_process(runs: dict) -> None:
    """best.pt and last.pt of the 2-process run hold the same keys as a single-process run's,
    the model's own state_dict (no DDP "module." prefix) with the same names, shapes and
    dtypes, and rebuild into the model (`load_model` loads the state_dict strictly)."""
    out, single = succeeded(runs, "a"), runs["root"] / "single"
    for name in ("best.pt", "last.pt"):
        ours, theirs = read_checkpoint(out / name), read_checkpoint(single / name)
        assert ours.keys() == theirs.keys()
        assert ours["config"] == theirs["config"]
        assert ours["format"] == theirs["format"] and ours["class_names"] == theirs["class_names"]
        assert {k: (v.shape, v.dtype) for k, v in ours["model"].items()} == \
            {k: (v.shape, v.dtype) for k, v in theirs["model"].items()}
    assert read_checkpoint(single / "last.pt")["world_size"] == 1
    model, names, _ = load_model(out / "best.pt")
    assert names == [f"class_{i}" for i in range(1, 17)] and model.config.window == 16


def test_same_seed_and_world_size_give_the_same_checkpoint(runs: dict) -> None:
    """Two 2-process runs with the same seed, started at the same time, train bit-identical
    weights and the same history."""
    a, b = succeeded(runs, "a"), succeeded(runs, "b")
    for name in ("best.pt", "last.pt"):
        assert digest_of(a / name) == digest_of(b / name)
    summaries = [json.loads((out / "summary.json").read_text()) for out in (a, b)]
    assert summaries[0]["history"] == summaries[1]["history"]


def test_resume_needs_the_same_process_count(runs: dict, tiny_pickle: Path) -> None:
    """A 2-process last.pt does not resume in one process: the epochs would be sharded and the
    schedule's steps counted differently. One error line, nothing written."""
    out = succeeded(runs, "a")
    before = (out / "last.pt").read_bytes()
    with pytest.raises(SkelcamError, match=r"trained by 2 process\(es\)") as exc:
        fit(load_pyskl(tiny_pickle), "xsub_train", "xsub_test", out,
            FitOptions(**{**OPTIONS.__dict__, "epochs": 2}), Console(file=io.StringIO()),
            resume=True)
    assert "\n" not in str(exc.value)
    assert (out / "last.pt").read_bytes() == before


def test_epoch_sampler_shards_one_plan() -> None:
    """With 3 ranks, each epoch's plan (all 50 known windows and a fresh 20 of 40 negatives) is
    the one a single process draws from the same seed, dealt out round-robin and cut to a
    multiple of 3: disjoint shards of equal length, and the generators stay equal (a resume)."""
    def sampler(rank: int, world: int) -> _EpochSampler:
        return _EpochSampler(50, 40, 0.4, torch.Generator().manual_seed(7), rank, world)

    alone = sampler(0, 1)
    shards = [sampler(rank, 3) for rank in range(3)]
    for _ in range(2):
        plan = list(alone)
        dealt = [list(shard) for shard in shards]
        assert len(plan) == 70 and [len(d) for d in dealt] == [len(s) for s in shards] == [23] * 3
        assert [dealt[i % 3][i // 3] for i in range(69)] == plan[:69]
        everything = [i for d in dealt for i in d]
        assert len(set(everything)) == 69 and set(range(50)) - {plan[69]} <= set(everything)
    states = [shard.generator.get_state() for shard in shards]
    assert all(torch.equal(state, alone.generator.get_state()) for state in states)


def test_bad_input_is_one_error_line(runs: dict) -> None:
    """A missing pickle fails on both ranks at once; the run prints one `error:` line (then
    torchrun's own failure report) and no traceback from a rank, and exits non-zero."""
    proc = runs["procs"]["missing"]
    assert proc.returncode != 0
    lines = (proc.stdout + proc.stderr).splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, proc.stdout + proc.stderr
    assert "missing.pkl' does not exist" in errors[0]
    # Torch prefixes a rank's uncaught traceback with "[rankN]:".
    assert not any(line.startswith("[rank") for line in lines), proc.stderr
    assert not proc.stdout.strip()
