"""Images: any folder of images (PNG, JPEG, TIFF, BMP, ``.npy``), labelled by class folders
or ``labels.csv`` or not at all, brought to S x S, gray or colour (``channels``), optionally
posed."""

from irl_inr.domains.domain import Domain
from irl_inr.domains.images.front_end import prepare_images
from irl_inr.domains.images.parameters import VALIDATORS
from irl_inr.domains.images.pipeline import create_new_image_front_end, create_pipeline
from irl_inr.domains.images.readers import ImageFileReader

DOMAIN = Domain(
    name="images",
    front_ends={"images": create_pipeline},
    new_image_front_end=create_new_image_front_end,
    prepare_images=prepare_images,
    readers=(ImageFileReader,),
    parameters=VALIDATORS,
)

__all__ = ["DOMAIN", "create_pipeline"]
