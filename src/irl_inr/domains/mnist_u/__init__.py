"""MNIST-U: MNIST digits (IDX files or the embedded 5,000) -> rotated and shifted images."""

from irl_inr.domains.domain import Domain
from irl_inr.domains.mnist_u.front_end import prepare_images
from irl_inr.domains.mnist_u.parameters import VALIDATORS
from irl_inr.domains.mnist_u.pipeline import create_new_image_front_end, create_pipeline
from irl_inr.domains.mnist_u.readers import IdxReader

DOMAIN = Domain(
    name="mnist_u",
    front_ends={"mnist_u": create_pipeline},
    new_image_front_end=create_new_image_front_end,
    prepare_images=prepare_images,
    readers=(IdxReader,),
    parameters=VALIDATORS,
)

__all__ = ["DOMAIN", "create_pipeline"]
