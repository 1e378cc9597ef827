"""Atomic writes: nothing partial on failure, and ordinary permissions on success."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from contagion._atomic import atomic_dir, atomic_file, atomic_write_text


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_written_file_gets_the_permissions_of_a_plain_open(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "hello\n")
    assert target.read_text() == "hello\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_written_folder_gets_the_permissions_of_mkdir(tmp_path: Path) -> None:
    target = tmp_path / "run"
    with atomic_dir(target) as tmp:
        (tmp / "a.csv").write_text("x\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~_umask()
    assert (target / "a.csv").read_text() == "x\n"


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failure_leaves_the_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "run"
    target.mkdir()
    (target / "keep.txt").write_text("old\n")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new\n")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
