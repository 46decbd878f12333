"""The YAML file machinery on its own, with a small model unrelated to scenarios."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field, model_validator

from epicast._yamlfile import (
    Expected,
    PositiveFloat,
    StrictModel,
    exactly_one,
    load_yaml_model,
    problem,
    read_text,
)


class ShelfError(Exception):
    """Stands for the error type of a caller (scenarios use ScenarioError)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(source, problems)
        self.source, self.problems = source, problems


class Box(StrictModel):
    width: PositiveFloat = Field(description="Width in metres (outside).")
    depth: PositiveFloat = Field(1.0, description="Depth in metres.")


class Lid(StrictModel):
    colour: str | None = None
    material: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Lid:
        exactly_one(self, ("colour", "material"))
        return self


class Shelf(StrictModel):
    name: str = Field(description="What the shelf holds.")
    boxes: list[Box] = Field(default_factory=list)
    height: Annotated[
        PositiveFloat | list[PositiveFloat], Expected("a height or one height per level")
    ] = 1.0
    spacing: PositiveFloat | list[PositiveFloat] = 1.0
    lid: Lid | None = None
    levels: int = 1

    @model_validator(mode="after")
    def _fits(self) -> Shelf:
        if len(self.boxes) > self.levels:
            raise problem("levels", f"expected at least {len(self.boxes)}, got {self.levels}")
        return self


def load(text: str) -> tuple[Shelf, object]:
    return load_yaml_model(
        text, "shelf.yaml", Shelf, top_level="a mapping of shelf fields", error=ShelfError
    )


def load_and_check(text: str) -> Shelf:
    shelf, problems = load(text)
    problems.raise_if_any()
    return shelf


def problems_of(text: str) -> list[str]:
    with pytest.raises(ShelfError) as caught:
        load_and_check(text)
    assert caught.value.source == "shelf.yaml"
    return caught.value.problems


def test_valid_file_gives_the_model_and_an_empty_collector():
    shelf, problems = load("name: books\nboxes:\n  - width: 2\nheight: [1, 2]\nlevels: 3\n")

    assert shelf == Shelf(name="books", boxes=[Box(width=2)], height=[1, 2], levels=3)
    problems.raise_if_any()  # nothing recorded


def test_problems_added_later_are_located_and_sorted_by_line():
    _, problems = load("name: books\nboxes:\n  - width: 2\n  - {width: 3}\nlevels: 2\n")
    problems.add(["boxes", 1, "width"], "expected at most 2.5, got 3")
    problems.add(["name"], "expected a name of a known shelf, got 'books'")
    problems.add(["lid"], "required with 2 boxes")

    with pytest.raises(ShelfError) as caught:
        problems.raise_if_any()

    assert caught.value.problems == [
        "lid: required with 2 boxes",
        "line 1: name: expected a name of a known shelf, got 'books'",
        "line 4: boxes[1].width: expected at most 2.5, got 3",
    ]


def test_line_of_the_value_in_a_nested_list():
    text = "name: books\nlevels: 3\nboxes:\n  - width: 2\n  - depth: 1\n    width: -2\n"

    assert problems_of(text) == ["line 6: boxes[1].width: expected a number > 0, got -2"]


def test_unknown_key_with_a_suggestion_hides_the_missing_field():
    assert problems_of("name: books\nboxes:\n  - widht: 2\n") == [
        "line 3: boxes[0].widht: unknown field; did you mean width?"
    ]


def test_unknown_key_without_a_suggestion_lists_the_fields():
    assert problems_of("name: books\ncolour: red\n") == [
        "line 2: colour: unknown field; expected one of: name, boxes, height, spacing, lid, levels"
    ]


def test_missing_field_is_described_from_its_description():
    assert problems_of("boxes: [{depth: 2}]\n") == [
        "name: required field is missing (what the shelf holds)",
        "line 1: boxes[0].width: required field is missing (width in metres)",
    ]


def test_duplicate_key_is_reported_with_both_lines():
    assert problems_of("name: books\nlevels: 2\nname: toys\n") == [
        "line 3: name: duplicate key (first given on line 1); give it once"
    ]


def test_a_duplicate_key_reached_through_aliases_is_reported_once():
    text = "name: books\nlid: &lid {colour: red, colour: blue}\nother: [*lid, *lid]\n"
    assert problems_of(text)[0] == (
        "line 2: lid.colour: duplicate key (first given on line 2); give it once"
    )
    assert sum("duplicate key" in line for line in problems_of(text)) == 1


def test_nested_aliases_expanding_to_billions_of_values_are_refused_unexpanded():
    """Nine aliases of nine aliases, ten levels deep: 3.5e9 values in eleven lines (read
    as written, each walk of them would take hours)."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]" for k in range(1, 10)]
    assert problems_of("\n".join(["name: books", *lines])) == [
        "the file holds more than 1,000,000 values once its aliases (*name) are expanded;"
        " a scenario or calibration needs far fewer"
    ]


def test_lists_nested_thousands_deep_are_one_problem():
    assert problems_of("name: books\nheight: " + "[" * 3000 + "]" * 3000) == [
        "lists or mappings nested too deeply to read"
    ]


def test_duplicate_key_is_reported_with_validation_problems():
    assert problems_of("name: a\nname: b\nlevels: x\n") == [
        "line 2: name: duplicate key (first given on line 1); give it once",
        "line 3: levels: expected a whole number, got 'x'",
    ]


def test_union_value_of_no_member_kind_gets_the_expected_wording():
    assert problems_of("name: books\nheight: tall\n") == [
        "line 2: height: expected a height or one height per level, got 'tall'"
    ]


def test_union_without_wording_joins_what_the_members_expect():
    assert problems_of("name: books\nspacing: {a: 1}\n") == [
        "line 2: spacing: expected a number or a list, got a mapping"
    ]


def test_union_value_like_one_member_gets_that_member_problem():
    assert problems_of("name: books\nheight: [1, -1]\n") == [
        "line 2: height[1]: expected a number > 0, got -1"
    ]


def test_model_validator_problem_is_located_at_the_model():
    assert problems_of("name: books\nlid: {}\n") == [
        "line 2: lid: expected exactly one of colour, material, got none"
    ]


def test_model_validator_problem_names_its_field_even_if_not_in_the_file():
    assert problems_of("name: books\nboxes: [{width: 1}, {width: 1}]\n") == [
        "levels: expected at least 2, got 1"
    ]


def test_boolean_is_not_a_number():
    assert problems_of("name: books\nboxes: [{width: yes}]\n") == [
        "line 2: boxes[0].width: expected a number, got true"
    ]


def test_yaml_syntax_error_names_the_line():
    assert problems_of("name: books\nboxes: [{width: 1}\nlevels: 2\n") == [
        "line 3: invalid YAML: expected ',' or ']', but got '<scalar>' "
        "(while parsing a flow sequence on line 2)"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the file is empty; expected a mapping of shelf fields"),
        ("# nothing\n", "the file is empty; expected a mapping of shelf fields"),
        ("- name: books\n", "expected a mapping of shelf fields, got a list"),
        ("books\n", "expected a mapping of shelf fields, got 'books'"),
    ],
)
def test_file_that_is_not_a_mapping(text, problem):
    assert problems_of(text) == [problem]


def test_read_text_reports_missing_and_non_utf8_files(tmp_path):
    path = tmp_path / "shelf.yaml"
    with pytest.raises(ShelfError) as missing:
        read_text(path, ShelfError)
    path.write_bytes(b"name: books\nlabel: caf\xe9\n")
    with pytest.raises(ShelfError) as latin1:
        read_text(path, ShelfError)

    assert missing.value.problems == ["cannot read the file: No such file or directory"]
    assert latin1.value.problems == [
        "line 2: cannot read the file: expected UTF-8 text, got byte 0xe9"
    ]
