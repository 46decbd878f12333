"""YAML input files validated by a pydantic model, every problem reported as one line.

A file is parsed with the line of every entry kept, checked for keys given
twice, and validated by a model built on :class:`StrictModel`. Each problem
becomes one line ``line N: field.path: expected X, got Y`` (the line is left
out when there is none to point at) in a :class:`Problems` collector, so that
all problems are reported together, in file order, by an exception the caller
chooses (called with the source and the list of lines).

Nothing here knows what a file describes: the models carry their own wording
(field descriptions, :class:`Expected` on union fields, :func:`problem` in
validators), and the caller checks fields against each other afterwards with
:meth:`Problems.add`.
"""

from __future__ import annotations

import difflib
import re
import stat
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

M = TypeVar("M", bound=BaseModel)
ErrorFactory = Callable[[str, list[str]], Exception]
"""Builds the exception raised for problems, from the source and one line per problem."""

_PROBLEM = "located_problem"  # the pydantic error type of problem()


def not_bool(value: object) -> object:
    """Refuse YAML booleans (true, yes, on) where a number is expected."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "expected a number")
    return value


def problem(field: str | None, message: str) -> PydanticCustomError:
    """Return an error for a model validator to raise, located at ``field`` of the model.

    ``message`` is reported as it is, e.g. ``expected a day after start (3), got 2``;
    with ``field`` None the problem is located at the model itself.
    """
    return PydanticCustomError(_PROBLEM, "{message}", {"field": field, "message": message})


def exactly_one(model: BaseModel, names: tuple[str, ...]) -> None:
    """Raise unless exactly one of the fields ``names`` of ``model`` is given."""
    given = [name for name in names if getattr(model, name) is not None]
    if len(given) != 1:
        raise problem(
            None,
            f"expected exactly one of {', '.join(names)}, got {' and '.join(given) or 'none'}",
        )


# Constraints come before the validator, or they are missing from the JSON Schema.
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False), BeforeValidator(not_bool)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False), BeforeValidator(not_bool)]
Fraction = Annotated[float, Field(gt=0, le=1), BeforeValidator(not_bool)]


class StrictModel(BaseModel):
    """Base of the file models: unknown keys are errors, numbers are accepted as labels."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


@dataclass(frozen=True)
class Expected:
    """What a union field expects, for the message when the value fits no member.

    Put it in the field's annotation::

        size: Annotated[float | list[float], Expected("a size or one size per level")]

    Without it the message joins what the members expect ("a number or a list").
    """

    text: str


MAX_INPUT_BYTES = 64 * 2**20
"""Largest scenario, calibration or data file read (64 MiB): far above any real one, and
small enough that reading it cannot exhaust memory."""
MAX_VALUES = 1_000_000
"""Most values a YAML file may hold with its aliases expanded: nested aliases (``&a`` used
nine times in ``&b``, and so on) make a few lines mean billions of values."""
ALIAS_BOMB = (
    f"the file holds more than {MAX_VALUES:,} values once its aliases (*name) are expanded;"
    " a scenario or calibration needs far fewer"
)


def input_problem(path: Path) -> str | None:
    """Return why ``path`` is no input file epicast reads, or None if it is one.

    Checked before reading, so that a device (``/dev/zero``), a pipe or a huge
    file is refused in one line instead of being read until memory runs out.
    """
    try:
        status = path.stat()
    except OSError as exc:
        return os_reason(exc)
    if stat.S_ISDIR(status.st_mode):
        return "expected a file, got a directory"
    if not stat.S_ISREG(status.st_mode):
        return "expected a regular file, got a device, pipe or socket"
    if status.st_size > MAX_INPUT_BYTES:
        most, size = MAX_INPUT_BYTES // 2**20, status.st_size / 2**20
        return f"expected at most {most} MiB, got {size:.0f} MiB"
    return None


def read_text(path: Path, error: ErrorFactory) -> str:
    """Return the text of a UTF-8 file, or raise ``error`` with one line saying why not."""
    if (reason := input_problem(path)) is not None:
        raise error(str(path), [f"cannot read the file: {reason}"])
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(path), [f"cannot read the file: {os_reason(exc)}"]) from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        byte = exc.object[exc.start]
        message = f"line {line}: cannot read the file: expected UTF-8 text, got byte {byte:#04x}"
        raise error(str(path), [message]) from exc


def bundled_names(package: str, folder: str) -> list[str]:
    """Return the names (file names without ``.yaml``) of the YAML files bundled in a folder."""
    files = resources.files(package) / folder
    return sorted(p.name.removesuffix(".yaml") for p in files.iterdir() if p.name.endswith(".yaml"))


@contextmanager
def bundled_or_path(
    name_or_path: str | Path, package: str, folder: str, kind: str, error: ErrorFactory
) -> Iterator[Path]:
    """Yield a file system path for a bundled file's name or a given path.

    A name with a ``.yaml``/``.yml`` suffix, or one that exists, is a path;
    anything else must be the name of a file bundled in ``package/folder``.
    ``kind`` names what the file is (e.g. "scenario") in the error messages.
    """
    path = Path(name_or_path)
    if path.is_dir():
        raise error(str(path), [f"expected a {kind} YAML file, got a directory"])
    if path.suffix in (".yaml", ".yml") or path.exists():
        reason = input_problem(path) if path.exists() else "no such file"
        if reason is not None:
            raise error(str(path), [reason])
        yield path
        return
    known = bundled_names(package, folder)
    names = ", ".join(known)
    if str(name_or_path) not in known:
        raise error(
            str(name_or_path),
            [f"neither a file nor a bundled {kind}; expected a .yaml path or one of: {names}"],
        )
    resource = resources.files(package) / folder / f"{name_or_path}.yaml"
    with resources.as_file(resource.parent) as files:
        yield files / resource.name


def os_reason(exc: OSError) -> str:
    """Return the reason of an OS error without repeating the file name."""
    return exc.strerror or str(exc)


def load_yaml_model(
    text: str, source: str, model: type[M], *, top_level: str, error: ErrorFactory
) -> tuple[M, Problems]:
    """Parse YAML ``text`` and validate it with ``model``.

    Parameters
    ----------
    text
        The YAML text.
    source
        The file it was read from, given to ``error`` with the problems.
    model
        The pydantic model of the whole file, usually built on :class:`StrictModel`.
    top_level
        What the file should hold, e.g. ``"a mapping of ... fields"``, for the
        message when it holds nothing or something else.
    error
        Builds the exception raised for problems (see :data:`ErrorFactory`).

    Returns
    -------
    tuple
        The validated model, and the :class:`Problems` of the file. Call its
        :meth:`~Problems.raise_if_any` after adding problems found by checking
        fields against each other: it may already hold problems that did not
        stop validation (keys given twice).

    Raises
    ------
    Exception
        Built by ``error``: the YAML is invalid, the file is not a mapping, or
        the model rejects it (then with one line per problem).
    """
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None and _expanded_size(root, {}) > MAX_VALUES:
            raise error(source, [ALIAS_BOMB])
        raw = None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        raise error(source, [_yaml_problem(exc)]) from exc
    except yaml.YAMLError as exc:
        raise error(source, [f"invalid YAML: {exc}"]) from exc
    except RecursionError as exc:  # hundreds of levels of [[[...]]]: no file needs more than 5
        raise error(source, ["lists or mappings nested too deeply to read"]) from exc
    finally:
        loader.dispose()
    if raw is None:
        raise error(source, [f"the file is empty; expected {top_level}"])
    if not isinstance(raw, dict):
        raise error(source, [f"expected {top_level}, got {_show(raw)}"])
    problems = Problems(source, root, error)
    _duplicate_keys(root, [], problems, set())
    try:
        validated = model.model_validate(raw)
    except ValidationError as exc:
        _describe(exc, model, problems)
        raise problems.error() from exc
    return validated, problems


class Problems:
    """Collects problems so that all of them are reported at once, in file order.

    Parameters
    ----------
    source
        The file the problems are found in.
    root
        The file's YAML node, which locates fields on lines (None: no lines).
    error
        Builds the exception raised for the problems.
    """

    def __init__(self, source: str, root: yaml.Node | None, error: ErrorFactory) -> None:
        self.source, self._root, self._error = source, root, error
        self._items: list[tuple[int, str]] = []

    def add(self, loc: list[object], message: str) -> None:
        """Record ``message`` about the field at ``loc``, e.g. ``["levels", 2, "height"]``.

        The line reported is the one of that field, or of its nearest parent in the file.
        """
        line = _line_of(self._root, loc)
        where = f"line {line}: " if line else ""
        self._items.append((line or 0, f"{where}{_format_loc(loc) or '(top level)'}: {message}"))

    def error(self) -> Exception:
        """Return the exception reporting every problem recorded, in line order."""
        ordered = sorted(self._items, key=lambda item: item[0])
        return self._error(self.source, [text for _, text in ordered])

    def raise_if_any(self) -> None:
        """Raise :meth:`error` if any problem was recorded."""
        if self._items:
            raise self.error()


# --- YAML: syntax errors, lines, keys given twice ----------------------------------------


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """Describe a YAML syntax error with the line it was found on."""
    message = f"invalid YAML: {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} on line {exc.context_mark.line + 1})"
    mark = exc.problem_mark or exc.context_mark
    return f"line {mark.line + 1}: {message}" if mark is not None else message


def _show(value: object) -> str:
    """Describe a value read from YAML for a 'got ...' message."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return repr(value) if isinstance(value, str | int | float) else f"'{value}'"


def _format_loc(loc: list[object]) -> str:
    """Format a location like ('levels', 2, 'height') as 'levels[2].height'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _line_of(node: yaml.Node | None, loc: list[object]) -> int | None:
    """Return the 1-based line of the entry at ``loc`` or of its nearest parent.

    A mapping entry is located at its key, a list item at the item; there is no
    line for the top level (a missing top-level field is not on any line).
    """
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            # the last of duplicate keys wins, as in yaml.safe_load
            entry = next((kv for kv in reversed(node.value) if kv[0].value == part), None)
            if entry is None:
                break
            line, node = entry[0].start_mark.line + 1, entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Return how many values ``node`` holds once its aliases are expanded.

    Each node is counted once (``sizes`` remembers them by id), so a file of
    nested aliases is measured in the time it takes to read, not to expand.
    """
    if id(node) not in sizes:
        children = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return sizes[id(node)]


def _duplicate_keys(
    node: yaml.Node, loc: list[object], problems: Problems, visited: set[int]
) -> None:
    """Report keys given twice in a mapping: YAML silently keeps only the last.

    A node reached again through an alias is not checked again (``visited``).
    """
    if id(node) in visited:
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name in seen and name != "<<":
                problems.add(
                    [*loc, name],
                    f"duplicate key (first given on line {seen[name]}); give it once",
                )
            if name is not None:
                seen.setdefault(name, key.start_mark.line + 1)
            _duplicate_keys(value, [*loc, name], problems, visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _duplicate_keys(item, [*loc, index], problems, visited)


# --- pydantic errors as one line each ----------------------------------------------------

# What each pydantic error type expected; the first three lines are "wrong kind of value".
_EXPECTED = {
    **dict.fromkeys(["number_type", "float_type", "float_parsing"], "a number"),
    **dict.fromkeys(["int_type", "int_parsing", "int_from_float"], "a whole number"),
    **dict.fromkeys(["dict_type", "model_type", "model_attributes_type"], "a mapping"),
    "list_type": "a list",
    "string_type": "a text string",
    "literal_error": "{expected}",
    "finite_number": "a finite number",
    "greater_than": "a number > {gt}",
    "greater_than_equal": "a number >= {ge}",
    "less_than_equal": "a number <= {le}",
    "multiple_of": "a multiple of {multiple_of}",
    "too_short": "at least {min_length} item(s)",
    "invalid_key": "a field name (text)",
}


def _describe(exc: ValidationError, model: type[BaseModel], problems: Problems) -> None:
    """Turn pydantic errors into problems, one per mistake."""
    errors, unions = [], {}
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        union = _union_in(model, loc)
        if union is None:
            errors.append((loc, error))
        else:
            index, field = union
            members = unions.setdefault(tuple(loc[: index + 1]), (field, []))[1]
            members.append((loc[index + 1], [*loc[: index + 1], *loc[index + 2 :]], error))
    for union_loc, (field, members) in unions.items():
        errors.extend(_union_errors(list(union_loc), field, members))
    typos = {
        (*loc[:-1], _suggest(model, loc)) for loc, e in errors if e["type"] == "extra_forbidden"
    }
    for loc, error in errors:
        if error["type"] == "missing" and tuple(loc) in typos:
            continue  # reported as the misspelled key
        if error["type"] == _PROBLEM and error["ctx"]["field"]:
            loc = [*loc, error["ctx"]["field"]]
        problems.add(loc, _message(model, loc, error))


def _union_in(model: type[BaseModel], loc: list[Any]) -> tuple[int, FieldInfo] | None:
    """Return the index in ``loc`` and the field of the first union that ``loc`` enters.

    Pydantic reports an error of each member of a union, naming the member by a
    tag in the location just after the union field.
    """
    for index, field in _walk(model, loc)[0]:
        tag = loc[index + 1] if index + 1 < len(loc) else None
        if _is_union(_unwrap(field)[0]) and isinstance(tag, str):
            return index, field
    return None


def _union_errors(
    union_loc: list[Any], field: FieldInfo, members: list[tuple[str, list, dict]]
) -> list[tuple]:
    """Keep the errors of the union members that the value looks like, else one error."""
    wrong_kind = {
        tag: error
        for tag, loc, error in members
        if len(loc) == len(union_loc)
        and (error["type"].endswith(("_type", "_parsing")) or error["type"] == "literal_error")
    }
    kept = [(loc, error) for tag, loc, error in members if tag not in wrong_kind]
    if kept:
        return kept
    described = [meta.text for meta in _unwrap(field)[1] if isinstance(meta, Expected)]
    each = dict.fromkeys(_expected(error) or error["msg"] for error in wrong_kind.values())
    expected = described[0] if described else " or ".join(each)
    return [(union_loc, {"type": "union", "input": members[0][2]["input"], "expected": expected})]


def _suggest(model: type[BaseModel], loc: list[Any]) -> object:
    """Return the field that an unknown key at ``loc`` probably meant, or None.

    That is a field spelled alike (``heigth`` for ``height``) or the only field
    that contains the key (``size`` for ``box_size``).
    """
    parent = _model_at(model, loc[:-1])
    if parent is None:
        return None
    key = str(loc[-1]).lower()
    lowered = {name.lower(): name for name in parent.model_fields}
    containing = [name for name in lowered if len(key) > 2 and key in name]
    match = difflib.get_close_matches(key, lowered, n=1, cutoff=0.7)
    match = match or (containing if len(containing) == 1 else [])
    return lowered[match[0]] if match else None


def value_problems(exc: ValidationError, model: type[BaseModel], prefix: str) -> list[str]:
    """Return one ``prefix.field: expected X, got Y`` line per error of values given in code."""
    return [
        f"{_format_loc([prefix, *error['loc']])}: {_message(model, list(error['loc']), error)}"
        for error in exc.errors(include_url=False)
    ]


def _message(model: type[BaseModel], loc: list[Any], error: dict[str, Any]) -> str:
    """Return 'expected X, got Y' for one pydantic error."""
    kind, value = error["type"], error.get("input")
    if kind == "union":
        return f"expected {error['expected']}, got {_show(value)}"
    if kind == _PROBLEM:
        return error["ctx"]["message"]
    if kind == "union_tag_invalid":  # a discriminated union: the key that tells the member
        ctx = error["ctx"]
        key = ctx["discriminator"].strip("'")
        return f"expected {key} to be one of {ctx['expected_tags']}, got {ctx['tag']!r}"
    if kind == "union_tag_not_found":
        return f"required field {error['ctx']['discriminator'].strip(chr(39))} is missing"
    if kind == "missing":
        field = _field_at(model, loc)
        short = re.split(r" \(|[:;.]", (field and field.description) or "")[0]
        what = f" ({short[:1].lower()}{short[1:]})" if short else ""
        return f"required field is missing{what}"
    if kind == "extra_forbidden":
        suggestion = _suggest(model, loc)
        if suggestion is not None:
            return f"unknown field; did you mean {suggestion}?"
        parent = _model_at(model, loc[:-1])
        if parent is None:
            return "unknown field"
        return f"unknown field; expected one of: {', '.join(parent.model_fields)}"
    expected = _expected(error)
    if expected is None:  # pragma: no cover - a pydantic error this module did not foresee
        return f"{error['msg']}, got {_show(value)}"
    return f"expected {expected}, got {_show(value)}"


def _expected(error: dict[str, Any]) -> str | None:
    """Return what a pydantic error expected, e.g. 'a number > 0'; None for unknown types."""
    template = _EXPECTED.get(error["type"])
    ctx = {k: f"{v:g}" if isinstance(v, float) else v for k, v in error.get("ctx", {}).items()}
    return None if template is None else template.format(**ctx)


# --- where a location leads in the model -------------------------------------------------


def _walk(
    model: type[BaseModel], loc: list[Any]
) -> tuple[list[tuple[int, FieldInfo]], list[type[BaseModel]] | None]:
    """Follow ``loc``, a location in the file, through ``model`` and the models of its fields.

    Returns the fields passed, each with its index in ``loc``, and the models
    the last one can hold (several for a union); None instead of the models if
    ``loc`` leads out of them (into a dict, or to a union member tag). List
    indexes are stepped over.
    """
    fields: list[tuple[int, FieldInfo]] = []
    models = [model]
    for index, part in enumerate(loc):
        if isinstance(part, int):
            continue
        owner = next((m for m in models if part in m.model_fields), None)
        if owner is None:
            return fields, None
        fields.append((index, owner.model_fields[part]))
        models = _models_in(owner.model_fields[part].annotation)
    return fields, models


def _model_at(model: type[BaseModel], loc: list[Any]) -> type[BaseModel] | None:
    """Return the model of the mapping at ``loc`` (the first, for a union of models)."""
    models = _walk(model, loc)[1]
    return models[0] if models else None


def _field_at(model: type[BaseModel], loc: list[Any]) -> FieldInfo | None:
    """Return the field named by the end of ``loc``, or None if it is not one of the models."""
    fields, models = _walk(model, loc)
    return fields[-1][1] if fields and models is not None else None


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """Return the models in a type annotation (a model, a list of them, a union...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _unwrap(field: FieldInfo) -> tuple[object, list[object]]:
    """Return a field's type and metadata, seeing through ``Annotated[...] | None``."""
    members = [a for a in typing.get_args(field.annotation) if a is not type(None)]
    if len(members) == 1 and typing.get_origin(members[0]) is Annotated:
        inner, *metadata = typing.get_args(members[0])
        return inner, [*field.metadata, *metadata]
    return field.annotation, list(field.metadata)


def _is_union(annotation: object) -> bool:
    """Tell whether pydantic tags errors of this annotation by member (not just Optional)."""
    origin = typing.get_origin(annotation)
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    return origin in (typing.Union, types.UnionType) and len(members) > 1
