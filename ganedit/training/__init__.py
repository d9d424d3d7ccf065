"""Shared GAN training machinery, by concern:

* :mod:`~ganedit.training.loop`: :class:`Trainer`, the step loop (progress, logging to
  ``train_log.jsonl`` and TensorBoard, image grids, NaN/inf detection, checkpoints, graceful stop);
* :mod:`~ganedit.training.data`: :class:`DataStream`, the deterministic sharded data stream;
* :mod:`~ganedit.training.state`: seeding, RNG states and the trainer checkpoint (exact resume);
* :mod:`~ganedit.training.signals`: SIGINT/SIGTERM as a request to stop after the step;
* :mod:`~ganedit.training.optim`: EMA, gradient switches, lazy-regularisation Adam;
* :mod:`~ganedit.training.task`: :class:`TrainParams` and :class:`TrainTask`, the base of the
  training tasks.

A concrete trainer subclasses :class:`Trainer` (see its module) and its task subclasses
:class:`TrainTask`::

    class MyTrain(TrainTask, name="my_train"):
        Params = MyTrainParams
        trainer_class = MyTrainer
"""

from ganedit.training.data import DataStream, move_to
from ganedit.training.loop import LOG_FILE, NonFiniteLossError, Trainer, TrainingInterrupted, read_train_log
from ganedit.training.optim import accumulate, frozen, lazy_ratio, make_adam, requires_grad
from ganedit.training.state import capture_rng_state, restore_rng_state, seed_everything
from ganedit.training.task import TrainParams, TrainTask

__all__ = [
    "LOG_FILE",
    "DataStream",
    "NonFiniteLossError",
    "TrainParams",
    "TrainTask",
    "Trainer",
    "TrainingInterrupted",
    "accumulate",
    "capture_rng_state",
    "frozen",
    "lazy_ratio",
    "make_adam",
    "move_to",
    "read_train_log",
    "requires_grad",
    "restore_rng_state",
    "seed_everything",
]
