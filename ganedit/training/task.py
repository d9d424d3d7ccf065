"""The options every trainer shares (:class:`TrainParams`) and the base class of training tasks
(:class:`TrainTask`): a training task is its ``Params`` (a :class:`TrainParams` subclass), its
``trainer_class`` and its checks; ``run`` fits the trainer."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from ganedit.interfaces import Params, Task


class TrainParams(Params):
    """Options every trainer shares (a task's Params subclass this and add its own)."""

    steps: int = Field(10000, ge=1, description="total number of training iterations")
    batch_size: int = Field(16, ge=1, description="images per iteration per process")
    log_every: int = Field(10, ge=1, description="iterations between loss logs (TensorBoard, train_log.jsonl)")
    sample_every: int = Field(500, ge=0, description="iterations between image grids (0: only at the end)")
    checkpoint_every: int = Field(1000, ge=0, description="iterations between checkpoints/last.pt "
                                                         "(0: only at exit)")
    snapshot_every: int = Field(0, ge=0, description="also keep checkpoints/step-NNNNNNN.pt every this "
                                                     "many iterations (0: never)")
    resume: bool | str = Field(True, description="true: continue from OUTPUT/checkpoints/last.pt if "
                                                 "it exists; false: start fresh; or a checkpoint path")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes per training process")


class TrainTask(Task):
    """Base of training tasks: ``class MyTrain(TrainTask, name="my_train")`` with ``Params`` (a
    :class:`TrainParams` subclass) and ``trainer_class`` (a :class:`~ganedit.training.Trainer`);
    ``run`` builds the trainer with the run context and fits it."""

    Params: ClassVar[type[TrainParams]] = TrainParams
    trainer_class: ClassVar[type]  # a ganedit.training.Trainer subclass (which imports this module)

    def run(self, context: Any) -> dict[str, Any]:
        return self.trainer_class(self.params, context).fit()

    @staticmethod
    def dataset_resolution(params: Any) -> int | None:
        """The ``resolution`` param of the task's ``dataset`` slot, when it has one."""
        spec = getattr(params, "dataset", None)
        res = getattr(getattr(spec, "params", None), "resolution", None)
        return int(res) if res is not None else None


__all__ = ["TrainParams", "TrainTask"]
