"""``kedro run --pipelines mnist_u_predict`` on PNGs after a tiny MNIST-U run."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.e2e.conftest import run_kedro


@pytest.mark.e2e
def test_predict_after_a_tiny_mnist_u_run(tiny_default_run):
    project = tiny_default_run
    training_images = np.load(project / "data/03_primary/mnist_u/images.npy")[:5]
    folder = project / "data/01_raw/mnist_u/new"
    folder.mkdir(parents=True)
    for index, image in enumerate(training_images):
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(folder / f"{index}.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 50), dtype=np.uint8)).save(folder / "9.png")
    run_kedro(project, "--pipelines", "mnist_u_predict")
    predictions = pd.read_parquet(project / "data/07_model_output/mnist_u/predictions.parquet")
    assert list(predictions.columns) == ["image_id", "source", "cluster", "confidence", "rotation_radians",
                                         "shift_x_pixels", "shift_y_pixels", "novelty_score", "is_novel"]
    assert len(predictions) == 6 and predictions["source"].str.endswith("9.png").iloc[-1]
    canonical = np.load(project / "data/07_model_output/mnist_u/new_canonical_images.npy")
    assert canonical.shape == (6, 50, 50) and np.isfinite(canonical).all()
