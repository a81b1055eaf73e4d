"""Training guards: a non-finite loss or an undecodable image is skipped and counted, and past its
limit the run stops itself, saying why and where to resume.

Skipped steps (``train.max_consecutive_nonfinite`` in a row at most) leave the weights, optimiser
and EMA teacher untouched, so every checkpoint holds finite weights. Undecodable images are
replaced by another image of their caption (`synclr_ray.train.ingest`); the run may lose
``train.max_bad_fraction`` of the images it reads. Both limits are deterministic: retrying from
a checkpoint would meet them again, so instead of raising (which Ray Train retries up to
``train.max_failures`` times) every rank returns, rank 0 leaves the reason in the run
directory, and `raise_if_stopped` raises it in the driver.
"""

import logging
from dataclasses import dataclass

from synclr_ray import storage
from synclr_ray.config.train import TrainConfig
from synclr_ray.train.checkpoint import TrainState, checkpoint_uri

log = logging.getLogger(__name__)

STOP_FILE = "_stopped.json"


class TrainingStopped(RuntimeError):
    """The run stopped itself at a guard's limit; the message names the limit and the checkpoint to resume from."""


@dataclass
class Guards:
    """One rank's view of the run's health; every rank sees the same global counts and decides alike."""

    cfg: TrainConfig
    run_dir: str
    stop_step: int
    last_checkpoint: int | None  # step of the newest checkpoint of this run, if any
    streak: int = 0  # non-finite losses in a row

    def update(self, state: TrainState, skipped: bool, bad: int, images: int, example: str | None) -> str | None:
        """Count a finished step (``bad`` of ``images`` undecodable over all ranks); the reason to stop, if any."""
        state.records += images
        state.bad_records += bad
        if skipped:
            state.skipped_steps += 1
            self.streak += 1
        else:
            self.streak = 0
        if self.streak >= self.cfg.max_consecutive_nonfinite:
            first = state.step - self.streak + 1
            return (
                f"{self.streak} non-finite losses in a row (steps {first}-{state.step}, "
                f"train.max_consecutive_nonfinite={self.cfg.max_consecutive_nonfinite}); those steps were skipped, "
                f"no update was applied. {self._resume_hint()}; lower train.optim.lr or raise "
                "train.optim.warmup_steps first"
            )
        planned = self.stop_step * images  # every step reads the same number of images
        if state.bad_records > self.cfg.max_bad_fraction * planned:
            seen = f"e.g. {example}" if example else "see the trainer log for which"
            return (
                f"{state.bad_records} of the {state.records} images read so far could not be decoded ({seen}), "
                f"more than train.max_bad_fraction={self.cfg.max_bad_fraction:g} of the {planned} images this run "
                f"reads. Repair or remove those rows (or raise train.max_bad_fraction); {self._resume_hint().lower()}"
            )
        return None

    def _resume_hint(self) -> str:
        if self.last_checkpoint is None:
            return "No checkpoint was written yet: a rerun starts from scratch"
        uri = checkpoint_uri(self.run_dir, self.last_checkpoint)
        return f"The last good checkpoint is {uri} (step {self.last_checkpoint}): a rerun resumes from it"


def stop_uri(run_dir: str) -> str:
    """Where rank 0 leaves the reason a run stopped itself."""
    return storage.join(run_dir, STOP_FILE)


def record_stop(run_dir: str, step: int, reason: str) -> None:
    """Rank 0: leave the reason for the driver."""
    log.error("training stops at step %d: %s", step, reason)
    storage.write_json(stop_uri(run_dir), {"step": step, "reason": reason})


def clear_stop(run_dir: str) -> None:
    """Forget a previous run's stop before training again."""
    storage.delete(stop_uri(run_dir))


def raise_if_stopped(run_dir: str) -> None:
    """Raise `TrainingStopped` if the run that just ended stopped itself."""
    uri = stop_uri(run_dir)
    if storage.exists(uri):
        stop = storage.read_json(uri)
        raise TrainingStopped(f"training stopped at step {stop['step']}: {stop['reason']}")
