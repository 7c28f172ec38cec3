"""Checkpoints of a training run that a kill at any moment cannot tear.

``RUN/checkpoints/ckpt-N.index`` and ``ckpt-N.data-*`` hold the model and optimizer state after epoch N
(TensorFlow's checkpoint format, so ``tf.train.latest_checkpoint`` and ``tf.train.Checkpoint.restore`` read them),
and ``RUN/checkpoints/checkpoint`` names the latest. A checkpoint is first written whole into a hidden temporary
directory, then its data files and last its index are renamed into place (each rename atomic and made durable),
and only then does the pointer file move to it (atomically). A kill leaves either the previous checkpoint as the
latest or the new one, never a half-written one; temporaries of killed writers are removed by the next save.
"""
from __future__ import annotations

import re
from pathlib import Path

from radsim.dataset import atomic

POINTER = "checkpoint"


class CheckpointStore:
    """Save and find the checkpoints of ``ckpt`` (a ``tf.train.Checkpoint``) in ``directory``, keeping the last
    ``keep``."""

    def __init__(self, ckpt, directory, keep: int = 2):
        self.ckpt = ckpt
        self.directory = Path(directory)
        self.keep = keep

    def epochs(self) -> list[int]:
        """Epochs with a complete checkpoint (its index in place), ascending."""
        found = (re.fullmatch(r"ckpt-(\d+)\.index", p.name) for p in self.directory.glob("ckpt-*.index"))
        return sorted(int(m.group(1)) for m in found if m)

    def latest(self) -> str | None:
        """The prefix of the latest checkpoint the pointer names (None when there is none)."""
        import tensorflow as tf
        return tf.train.latest_checkpoint(str(self.directory))

    def at(self, epoch: int) -> str | None:
        """The prefix of the latest complete checkpoint at or before ``epoch`` (None when there is none).

        The run record, written after the checkpoint, is what commits an epoch: a kill between the two leaves a
        checkpoint one epoch ahead of the record, whose history row and early-stopping state may be missing."""
        done = [e for e in self.epochs() if e <= epoch]
        return str(self.directory / f"ckpt-{done[-1]}") if done else None

    def save(self, epoch: int) -> str:
        """Write the checkpoint of ``epoch`` and make it the latest; returns its prefix."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in atomic.stale_temporaries(self.directory):
            atomic.remove(stale)
        name = f"ckpt-{epoch}"
        tmp = atomic.temporary_name(self.directory / name)
        atomic.remove(tmp)
        tmp.mkdir()
        try:
            self.ckpt.write(str(tmp / name))
            for f in sorted(tmp.iterdir(), key=lambda p: p.suffix == ".index"):     # the index last
                atomic.commit(f, self.directory / f.name)
        finally:
            atomic.remove(tmp)
        kept = [e for e in self.epochs() if e <= epoch][-self.keep:]
        lines = [f'model_checkpoint_path: "{name}"'] + [f'all_model_checkpoint_paths: "ckpt-{e}"' for e in kept]
        atomic.write_text(self.directory / POINTER, "\n".join(lines) + "\n")
        for e in self.epochs():
            if e not in kept:
                self._remove(e)
        return str(self.directory / name)

    def _remove(self, epoch: int) -> None:
        index = self.directory / f"ckpt-{epoch}.index"
        if index.exists():
            index.unlink()                  # first the index: without it the checkpoint is not complete
        for p in self.directory.glob(f"ckpt-{epoch}.data-*"):
            p.unlink()
