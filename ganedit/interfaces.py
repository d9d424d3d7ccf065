"""Abstract component interfaces: Generator, Encoder, Inverter, Editor, Discriminator, Dataset, Task.

Conventions for every component:

* Images are float tensors ``[B, 3, H, W]`` in ``[-1, 1]``.
* Latent codes travel in :class:`ganedit.latent.Latent`, which records its space.
* A component declares its registry name where it is defined, ``class X(Editor, name="x")``; its
  kind follows from the interface it implements. It carries a nested pydantic ``Params`` model
  (extra keys forbidden) and is built from validated params by :meth:`Component.from_params`
  (by default ``cls(params)``: the base constructor stores ``self.params``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Sequence

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ganedit.latent import Latent

NoiseMode = Literal["const", "random", "none"]

KINDS: tuple[str, ...] = (
    "generator",
    "encoder",
    "inverter",
    "editor",
    "discriminator",
    "dataset",
    "loss",
    "task",
)


class Params(BaseModel):
    """Base of every component's parameter model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class Component:
    """Mixin shared by all components: a kind, a registry name, a typed ``Params`` model.

    The name is declared at the class, ``class Sharpen(ganedit.Editor, name="sharpen")`` (one grep
    from a config's ``type:`` to its code); a subclass that declares none is not registrable by
    itself (it does not inherit its parent's name).
    """

    kind: ClassVar[str] = ""
    name: ClassVar[str | None] = None
    Params: ClassVar[type[Params]] = Params
    params: Params

    def __init_subclass__(cls, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = name

    def __init__(self, params: Params) -> None:
        """The base constructor: keep the validated ``params`` (``self.params``)."""
        self.params = params

    @classmethod
    def from_params(cls, params: Params, context: Any = None) -> "Component":
        """Build an instance from validated params (may load weights); ``cls(params)`` unless
        overridden. ``context`` is the :class:`~ganedit.context.BuildContext` building it: nested
        component slots are built with ``context.build(kind, params.slot)``."""
        return cls(params)  # type: ignore[call-arg]

    @classmethod
    def check_params(cls, params: Params) -> list[str]:
        """Extra validation that needs no weights (file presence beyond pydantic, ranges across fields).

        Returns a list of problems; an empty list means valid.
        """
        return []


class Generator(nn.Module, Component, abc.ABC):
    """Maps a latent to images.

    ``generate(latent, noise_mode)`` -> ``[B, 3, H, W]``. StyleGAN-family generators also expose
    ``z_dim``, ``w_dim``, ``num_ws``, ``img_resolution``, ``mapping(z, truncation_psi,
    truncation_cutoff) -> ws [B, num_ws, w_dim]`` and ``synthesis(ws, noise_mode) -> images``.
    """

    kind: ClassVar[str] = "generator"
    img_resolution: int

    @classmethod
    def latent_spaces(cls, params: Params | None = None) -> tuple[str, ...]:
        """Latent spaces ``generate`` accepts (checked at config-validation time)."""
        return ("w", "w+")

    @abc.abstractmethod
    def generate(self, latent: Latent, noise_mode: NoiseMode = "const") -> torch.Tensor:
        """Images ``[B, 3, H, W]`` from ``latent``."""

    def sample_latent(self, batch: int, generator: torch.Generator | None = None,
                      truncation_psi: float = 1.0) -> Latent:
        """Random latents from the prior, in this generator's native space."""
        raise NotImplementedError(f"{type(self).__name__} cannot sample latents")

    def discriminator(self) -> "Discriminator | None":
        """The discriminator stored with this generator's checkpoint, if any."""
        return getattr(self, "_discriminator", None)


class Encoder(nn.Module, Component, abc.ABC):
    """Maps images ``[B, 3, H, W]`` to a latent in :meth:`output_space`."""

    kind: ClassVar[str] = "encoder"

    @classmethod
    def output_space(cls, params: Params | None = None) -> str:
        return "w+"

    @abc.abstractmethod
    def encode(self, images: torch.Tensor) -> Latent:
        """Latent codes of ``images``."""


class Discriminator(nn.Module, Component, abc.ABC):
    """``D(images [B, 3, H, W]) -> logits [B, 1]`` (raw, no sigmoid)."""

    kind: ClassVar[str] = "discriminator"


@dataclass
class InversionResult:
    """What an inverter returns for a batch (usually a single image).

    ``generator`` is the generator to use with ``latent``: the input one, or a tuned copy.
    ``noise`` holds per-image noise maps (one ``[B, 1, r, r]`` tensor per noise layer) that
    ``latent`` is rendered with instead of the generator's constant buffers, when the inverter
    fitted them (they are image state, like the latent; ``generator`` keeps its own buffers).
    ``metrics`` holds numbers for ``metrics.json`` (e.g. ``steps``); ``history`` per-step scalars.
    """

    latent: Latent
    generator: Generator
    metrics: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    initial_latent: Latent | None = None
    initial_images: torch.Tensor | None = None
    tuned: bool = False
    noise: list[torch.Tensor] | None = None


class Inverter(Component, abc.ABC):
    """Finds a latent (and possibly a tuned generator) that reproduces target images."""

    kind: ClassVar[str] = "inverter"

    @classmethod
    def output_space(cls, params: Params | None = None) -> str:
        return "w+"

    @classmethod
    def required_generator_spaces(cls, params: Params | None = None) -> tuple[str, ...]:
        """The generator must accept at least one of these spaces."""
        return (cls.output_space(params),)

    def independent_images(self) -> bool:
        """True when the images of one :meth:`invert` call are inverted independently of each other
        (per-image losses, an elementwise optimiser, no state shared between images), so that a batch
        gives each image what a call with it alone gives, up to the random draws. The ``invert`` task
        then inverts ``batch_size`` images per call. Default False: one image per call."""
        return False

    @abc.abstractmethod
    def invert(self, generator: Generator, images: torch.Tensor, *,
               discriminator: "Discriminator | None" = None,
               callback: Any = None) -> InversionResult:
        """Invert ``images`` ``[B, 3, H, W]`` into ``generator``'s latent space."""


@dataclass
class Edit:
    """One labelled edited batch of images ``[B, 3, H, W]``; ``latent`` is the edited latent when
    the editor edits in a latent space (it lets the ``invert`` task measure edit drift)."""

    label: str
    images: torch.Tensor
    latent: Latent | None = None


class Editor(Component, abc.ABC):
    """Edits images through their latents: takes the (possibly tuned) generator and a latent."""

    kind: ClassVar[str] = "editor"

    @classmethod
    def supported_spaces(cls, params: Params | None = None) -> tuple[str, ...]:
        return ("w", "w+")

    @abc.abstractmethod
    def edit(self, generator: Generator, latent: Latent, context: Any = None) -> list[Edit]:
        """Edited images for ``latent``; ``context`` may invert extra images (see ``RunContext``)."""


class Dataset(torch.utils.data.Dataset, Component):
    """Images ``[3, H, W]`` in ``[-1, 1]`` at ``resolution``."""

    kind: ClassVar[str] = "dataset"
    resolution: int

    def __len__(self) -> int:  # pragma: no cover - abstract in spirit
        raise NotImplementedError

    def __getitem__(self, index: int) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class Loss(nn.Module, Component):
    """A loss between two image batches ``forward(x, y) -> scalar``."""

    kind: ClassVar[str] = "loss"


class Task(Component, abc.ABC):
    """A runnable job (inversion, training, swapping); its ``Params`` are the run config's body."""

    kind: ClassVar[str] = "task"

    @classmethod
    def check_compatibility(cls, params: Params, registry: Any) -> list[tuple[str, str]]:
        """Cross-component checks (latent spaces, ...) as ``(path, message)`` pairs."""
        return []

    @abc.abstractmethod
    def run(self, context: Any) -> dict[str, Any]:
        """Do the work; return the ``summary`` for ``metrics.json``."""

    # Hooks of interactive front ends (``ganedit serve``), which edit a task's results again
    # without importing the task's plugin.
    def load_result(self, folder: Any, record: dict[str, Any], context: Any) -> tuple[Generator | None, Latent]:
        """The generator (``None``: the config's own) and latent of one item of a finished run of
        this task in ``folder``; ``record`` is the item's entry in ``metrics.json``."""
        raise NotImplementedError(f"{type(self).__name__} results cannot be loaded back")

    def edit_context(self, context: Any, generator: Generator, encoder: Encoder | None = None,
                     images: torch.Tensor | None = None) -> Any:
        """What this task hands its editors as ``context`` when they edit a result with
        ``generator`` (``images``: the item's input pixels): by default the run context itself."""
        return context


def check_latent(latent: Latent, spaces: Sequence[str], who: str) -> None:
    """Raise a clear error when ``latent`` is not in one of ``spaces``."""
    from ganedit.latent import LatentError

    if latent.space not in spaces:
        raise LatentError(f"{who} accepts latents in {list(spaces)}, got {latent.space!r}")


#: The interface of each kind: a component's kind is the one of the interface it subclasses.
INTERFACES: dict[str, type[Component]] = {
    "generator": Generator,
    "encoder": Encoder,
    "inverter": Inverter,
    "editor": Editor,
    "discriminator": Discriminator,
    "dataset": Dataset,
    "loss": Loss,
    "task": Task,
}
