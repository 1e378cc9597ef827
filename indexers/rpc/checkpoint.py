"""Checkpoints that let an interrupted run resume with the same result.

A checkpoint is a folder holding

* ``state.json``: what the run is (its ``key``: source, chain, block, contracts, range) and
  how far the log scan has come (``scanned_to`` and the accounts found so far), rewritten
  atomically after each log chunk;
* ``batches.jsonl``: one line per completed Multicall3 batch (a hash of its calls and the
  returned data), appended and flushed to disk after each batch.

A run killed at any instant leaves either the previous ``state.json`` or the new one (rename
is atomic) and at worst one incomplete last line in ``batches.jsonl``, which is ignored. The
block is fixed for the whole run, so a re-read batch returns the same bytes and a resumed run
writes exactly the output of an uninterrupted one. A checkpoint made for a different key is
discarded, never mixed in.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from contagion._atomic import atomic_write_text

__all__ = ["Checkpoint"]


class Checkpoint:
    """Resume state of one indexer run, kept in ``folder``.

    Parameters
    ----------
    folder
        Where the checkpoint lives (created when needed).
    key
        JSON-serialisable description of the run; a checkpoint for another key is reset.
    """

    def __init__(self, folder: str | os.PathLike[str], key: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.key = json.loads(json.dumps(key, sort_keys=True))
        self.resumed = False
        self._state: dict[str, Any] = {"key": self.key, "scanned_to": None, "accounts": []}
        self._batches: dict[str, list[str | None]] = {}
        state_file = self.folder / "state.json"
        if state_file.exists():
            try:
                saved = json.loads(state_file.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, OSError):
                saved = None
            if isinstance(saved, dict) and saved.get("key") == self.key:
                self._state = saved
                self._batches = self._read_batches()
                self.resumed = True
            else:
                shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.resumed:
            atomic_write_text(state_file, json.dumps(self._state))
            (self.folder / "batches.jsonl").write_text("", encoding="utf-8")

    def _read_batches(self) -> dict[str, list[str | None]]:
        found: dict[str, list[str | None]] = {}
        path = self.folder / "batches.jsonl"
        if not path.exists():
            return found
        good = 0
        with path.open("rb") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                    found[entry["k"]] = entry["r"]
                    good += len(line)
                except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
                    break
        # Cut an incomplete last line so later appends start on a fresh line.
        with path.open("r+b") as fh:
            fh.truncate(good)
        return found

    # -- log scan --------------------------------------------------------------------------
    @property
    def scanned_to(self) -> int | None:
        """Last block whose logs are in :attr:`accounts` (None: nothing scanned)."""
        value = self._state.get("scanned_to")
        return None if value is None else int(value)

    @property
    def accounts(self) -> list[str]:
        """Accounts found by the log scan so far (sorted)."""
        return list(self._state.get("accounts", []))

    @property
    def extra(self) -> dict[str, Any]:
        """Other scan results an indexer keeps (JSON values)."""
        value: dict[str, Any] = self._state.get("extra", {})
        return value

    def record_scan(
        self, scanned_to: int, accounts: set[str], extra: dict[str, Any] | None = None
    ) -> None:
        """Record that logs up to ``scanned_to`` have been read and gave ``accounts``."""
        self._state["scanned_to"] = scanned_to
        self._state["accounts"] = sorted(accounts)
        if extra is not None:
            self._state["extra"] = extra
        atomic_write_text(self.folder / "state.json", json.dumps(self._state))

    # -- multicall batches -----------------------------------------------------------------
    def batch(self, key: str) -> list[bytes | None] | None:
        """Results of a completed batch, or None if it has not run yet."""
        found = self._batches.get(key)
        if found is None:
            return None
        return [None if r is None else bytes.fromhex(r) for r in found]

    def record_batch(self, key: str, results: list[bytes | None]) -> None:
        encoded = [None if r is None else r.hex() for r in results]
        self._batches[key] = encoded
        line = json.dumps({"k": key, "r": encoded}, separators=(",", ":")) + "\n"
        with (self.folder / "batches.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    @property
    def batches_done(self) -> int:
        return len(self._batches)

    def discard(self) -> None:
        """Remove the checkpoint (after the output has been written)."""
        shutil.rmtree(self.folder, ignore_errors=True)
