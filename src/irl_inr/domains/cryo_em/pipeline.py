"""The cryo-EM front end, un-namespaced: it ends in ``images`` and ``image_table``.

``source="simulate"`` (default): ``volume_file`` (a user's map, or nothing) -> ``volume``
(the map or the phantom) -> ``simulated_particles`` -> labelled -> ``images``.
``source="star"``: ``raw_particles`` (a RELION STAR file and its stacks) -> labelled ->
``images``.  A real stack is not augmented (its particles already lie at random poses),
so its whole front end is the ``ingestion`` stage."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from irl_inr.domains.cryo_em.nodes import (
    build_volume,
    particle_front_end,
    label_particles,
    preprocess_particles,
    preview_particles,
    simulate_particles,
)

SOURCES = ("simulate", "star")


def create_pipeline(source: str = "simulate", **kwargs) -> Pipeline:
    if source not in SOURCES:
        raise ValueError(f"cryo_em create_pipeline: source must be one of {SOURCES}, got {source!r}")
    if source == "simulate":
        reading = [
            Node(build_volume, inputs=["volume_file", "params:simulation"], outputs="volume",
                 name="build_volume", tags=["ingestion"]),
            Node(simulate_particles, inputs=["volume", "params:simulation"], outputs="simulated_particles",
                 name="simulate_particles", tags=["ingestion"]),
        ]
        particles = "simulated_particles"
        stage = "augmentation"
    else:
        reading = []
        particles = "raw_particles"
        stage = "ingestion"
    return Pipeline(
        reading
        + [
            Node(label_particles, inputs=[particles, "params:ingestion"], outputs="labelled_particles",
                 name="label_particles", tags=[stage]),
            Node(preprocess_particles, inputs=["labelled_particles", "params:preprocessing"],
                 outputs=["images", "image_table"], name="preprocess_particles", tags=[stage]),
            Node(preview_particles, inputs=["labelled_particles", "images", "image_table", "params:preprocessing"],
                 outputs="preview", name="preview_particles", tags=[stage]),
        ]
    )


def create_new_image_front_end(**kwargs) -> Pipeline:
    """Cryo-EM's front end for the ``predict`` pipeline's new particles: ``new_image_front_end``."""
    return Pipeline(
        [
            Node(particle_front_end, inputs="params:preprocessing", outputs="new_image_front_end",
                 name="new_image_front_end")
        ]
    )
