"""Shared fixtures for the training-pipeline tests: the real data beside the repository.

The data lives in `../shared/data` (see its README) and is never copied into the repository;
tests that need it are skipped, with the reason, on a checkout that lacks it. Penn Action clips are
copied into pytest's temporary folders (never into the repo) and converted there.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import scipy.io

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PENN_DIR = SHARED / "penn_action_train"
CUSTOM16 = SHARED / "pyskl" / "custom16_coco17.pkl"

# Clips per Penn Action class in the session's converted subset: 7 x 15 = 105 clips (the
# learning test's ~100), and enough per class that the converter's 15 % `val` carve holds one
# clip of every class (round(7 * 0.15) = 1), which `evaluate --split val` needs.
CLIPS_PER_CLASS = 7


@dataclass(frozen=True)
class PennFile:
    """One Penn Action annotation file and the fields the tests select clips by."""

    path: Path
    action: str
    pose: str
    frames: int


@dataclass(frozen=True)
class PennSubset:
    """A folder of copied Penn Action clips and the pickle `convert_penn_action` made of it."""

    folder: Path
    pickle: Path
    files: tuple[PennFile, ...]


def copy_files(files: list[PennFile] | tuple[PennFile, ...], dest: Path) -> Path:
    """Copy real .mat files into `dest` (a temporary folder) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f.path, dest / f.path.name)
    return dest


@pytest.fixture(scope="session")
def penn_files() -> list[PennFile]:
    """Every Penn Action train file with its action, view and frame count, sorted by name."""
    if not PENN_DIR.is_dir() or not any(PENN_DIR.glob("*.mat")):
        pytest.skip(f"real Penn Action annotations not found at {PENN_DIR}")
    out = []
    for path in sorted(PENN_DIR.glob("*.mat")):
        mat = scipy.io.loadmat(str(path), variable_names=["action", "pose", "x"])
        out.append(PennFile(path, str(mat["action"][0]), str(mat["pose"][0]), mat["x"].shape[0]))
    return out


def first_per_class(files: list[PennFile], per_class: int) -> list[PennFile]:
    """The first `per_class` files (by name) of every action, so every class is present."""
    taken: dict[str, int] = {}
    out = []
    for f in files:
        if taken.get(f.action, 0) < per_class:
            taken[f.action] = taken.get(f.action, 0) + 1
            out.append(f)
    return out


@pytest.fixture(scope="session")
def penn_subset(penn_files: list[PennFile], tmp_path_factory: pytest.TempPathFactory) -> PennSubset:
    """105 real Penn clips (7 of each of the 15 classes) converted once for the whole session."""
    from skelcam.train.convert import convert_penn_action

    chosen = first_per_class(penn_files, CLIPS_PER_CLASS)
    root = tmp_path_factory.mktemp("penn_subset")
    folder = copy_files(chosen, root / "labels")
    out = root / "penn_subset.pkl"
    convert_penn_action(folder, out)
    return PennSubset(folder, out, tuple(chosen))


@pytest.fixture(scope="session")
def custom16_path() -> Path:
    """The real PYSKL-format pickle with 16 classes labelled 1..16."""
    if not CUSTOM16.is_file():
        pytest.skip(f"real PYSKL pickle not found at {CUSTOM16}")
    return CUSTOM16


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread: the two cores are shared, and two threads then run slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
