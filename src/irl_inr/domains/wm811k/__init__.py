"""WM-811K: wafer maps (LSWMD.pkl, converted once to Parquet) -> fixed-size, rotated images."""

from irl_inr.domains.domain import Domain
from irl_inr.domains.wm811k.front_end import prepare_images
from irl_inr.domains.wm811k.parameters import VALIDATORS
from irl_inr.domains.wm811k.pipeline import create_new_image_front_end, create_pipeline
from irl_inr.domains.wm811k.readers import WaferReader

DOMAIN = Domain(
    name="wm811k",
    front_ends={"wm811k": create_pipeline},
    new_image_front_end=create_new_image_front_end,
    prepare_images=prepare_images,
    readers=(WaferReader,),
    parameters=VALIDATORS,
)

__all__ = ["DOMAIN", "create_pipeline"]
