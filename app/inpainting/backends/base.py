"""What every inpainting backend offers the high-resolution strategy."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PIL.Image import Image

DEFAULT_STEPS = 25
DEFAULT_GUIDANCE = 7.5


@dataclass(frozen=True)
class InpaintParams:
    prompt: str
    negative_prompt: str | None = None
    num_inference_steps: int = DEFAULT_STEPS
    guidance_scale: float = DEFAULT_GUIDANCE
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: its recursive deep copy cost a submit ~0.1 ms for five scalars.
        return {field.name: getattr(self, field.name) for field in fields(self)}


class InpaintingBackend(Protocol):
    """Regenerates the masked region of an image.

    ``max_side``: the longest side the backend is given; the crop around the mask is scaled
    to fit. ``upscale``: when true, smaller crops are scaled *up* to ``max_side`` too, because
    a diffusion model works best at the resolution it was trained at (SD2 inpainting: 512).
    ``size_multiple``: both sides of what the backend gets are multiples of this (8 for a
    latent diffusion model, whose VAE downsamples by 8; 1 for OpenCV).
    """

    name: str
    max_side: int
    upscale: bool
    size_multiple: int

    def inpaint(self, image: Image, mask: Image, params: InpaintParams) -> Image:
        """``image`` is RGB, ``mask`` is "L" (255 = regenerate) of the same size. The result may
        have another size (it is resized back); pixels outside the mask are ignored.

        ``image`` is the backend's to keep: the caller made it for this call (a crop) and does
        not use it again, so a backend may paint into it and return it (opencv-fill does: a
        second copy of a 3000 x 3000 crop is 27 MB)."""
        ...
