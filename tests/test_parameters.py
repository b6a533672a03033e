"""The generic type check of every parameter section: each field against its annotation,
before any range check, with the parameter's full name in the error."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from irl_inr.parameter_registry import DOMAIN_VALIDATORS, SHARED_VALIDATORS, validate_parameters
from irl_inr.parameters import Parameters, is_int, is_number, type_problem


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("mnist_u.augmentation", {"max_shift_pixels": "abc"},
         "mnist_u.augmentation.max_shift_pixels = 'abc': must be a finite number"),
        ("mnist_u.augmentation", {"seed": "abc"}, "mnist_u.augmentation.seed = 'abc': must be an integer"),
        ("mnist_u.augmentation", {"image_size": 40.5}, "mnist_u.augmentation.image_size = 40.5: must be an integer"),
        ("mnist_u.ingestion", {"max_images": "all"}, "mnist_u.ingestion.max_images = 'all': must be an integer or null"),
        ("wm811k.ingestion", {"classes": "Center"}, "wm811k.ingestion.classes = 'Center': must be a list or null"),
        ("cryo_em.simulation", {"ctf": "yes"}, "cryo_em.simulation.ctf = 'yes': must be true or false"),
        ("mnist_u.embedding", {"neighbours": True}, "mnist_u.embedding.neighbours = True: must be an integer"),
        ("mnist_u.clustering", {"mining": {"neighbours": 2.5}},
         "mnist_u.clustering.mining.neighbours = 2.5: must be an integer"),
        ("mnist_u.reporting", {"domain": "mnist_u", "map_perplexity": float("nan")},
         "mnist_u.reporting.map_perplexity = nan: must be a finite number"),
        ("mnist_u.predict", {"device": 0}, "mnist_u.predict.device = 0: must be a string"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_its_domain(section, values, message):
    with pytest.raises(ValueError) as error:
        validate_parameters({section: values})
    assert str(error.value) == message


def sections() -> list[type[Parameters]]:
    """Every parameter section class the project validates."""
    validators = [*SHARED_VALIDATORS.values()]
    validators += [validator for own in DOMAIN_VALIDATORS.values() for validator in own.values()]
    return [validator.__self__ for validator in validators]


@pytest.mark.parametrize("section", sections(), ids=lambda section: section.__name__)
def test_every_field_of_every_section_rejects_a_value_of_another_type(section):
    required = {"domain": "mnist_u"} if section.section == "reporting" else {}
    hints = typing.get_type_hints(section)
    for field in dataclasses.fields(section):
        wrong = 3 if hints[field.name] is str else "abc"
        with pytest.raises(ValueError, match=rf"^{section.section}\.{field.name} = {wrong!r}: must be "):
            section.from_dict({**required, field.name: wrong})


def test_type_problem_reads_optional_and_nested_annotations():
    assert type_problem(None, int | None) is None and type_problem(3, int | None) is None
    assert type_problem(3.0, int | None) == "must be an integer or null"
    assert type_problem(2, float) is None and type_problem(True, float) == "must be a finite number"
    assert type_problem((1, 2), list) is None and type_problem({"a": 1}, dict) is None
    assert type_problem(1, typing.Any) is None
    with pytest.raises(TypeError, match="no type check for the annotation"):
        type_problem(1, set)


def test_is_int_and_is_number_exclude_bools_and_non_finite_values():
    assert is_int(3) and not is_int(True) and not is_int(3.0)
    assert is_number(3) and is_number(2.5) and not is_number(False) and not is_number(float("inf"))
