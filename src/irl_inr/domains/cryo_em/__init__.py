"""Cryo-EM particles (simulated from a density, or a RELION stack) as a domain of irl-inr."""

from functools import partial

from irl_inr.domains.cryo_em.parameters import VALIDATORS
from irl_inr.domains.cryo_em.pipeline import create_new_image_front_end, create_pipeline
from irl_inr.domains.cryo_em.preprocess import prepare_images
from irl_inr.domains.cryo_em.readers import MrcReader
from irl_inr.domains.domain import Domain

DOMAIN = Domain(
    name="cryo_em",
    # simulated particles, and a RELION stack (``--params cryo_em_star=<file>``) in the same namespace
    front_ends={"cryo_em": partial(create_pipeline, source="simulate"),
                "cryo_em_star": partial(create_pipeline, source="star")},
    new_image_front_end=create_new_image_front_end,
    prepare_images=prepare_images,
    readers=(MrcReader,),
    parameters=VALIDATORS,
)

__all__ = ["DOMAIN", "create_pipeline"]
