"""The report's sections, each built from a stage's outputs: the data
(:mod:`.data`), training (:mod:`.training`), representations
(:mod:`.representations`), clustering (:mod:`.clustering`), and the parameters and
versions that produced them (:mod:`.provenance`); :mod:`.inputs` checks the inputs and
matches their rows."""

from irl_inr.reporting.sections.clustering import best_method, clustering_section
from irl_inr.reporting.sections.data import data_section
from irl_inr.reporting.sections.provenance import provenance_section, used_parameters
from irl_inr.reporting.sections.representations import representations_section
from irl_inr.reporting.sections.training import training_section

__all__ = [
    "best_method",
    "clustering_section",
    "data_section",
    "provenance_section",
    "representations_section",
    "training_section",
    "used_parameters",
]
