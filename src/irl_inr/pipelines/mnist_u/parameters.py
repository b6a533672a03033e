"""MNIST-U's own parameter sections (the shared ones are checked by ``irl_inr.parameters``)."""

from irl_inr.parameters import AugmentationParameters, IngestionParameters

VALIDATORS = {"ingestion": IngestionParameters.from_dict, "augmentation": AugmentationParameters.from_dict}
