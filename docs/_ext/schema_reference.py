"""Sphinx directive ``schema-reference``: a file format's fields, from its pydantic model.

``.. schema-reference:: epicast.scenario.ScenarioFile`` renders the model's JSON
Schema (the one ``epicast schema`` prints, so the page and the editors' schema
cannot disagree) as one table per object: every field with its type and
constraints, its default (or "required") and its description. Nested objects get
their own table, linked from the fields that hold them, in order of first use.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

CONSTRAINTS = {
    "exclusiveMinimum": "> {}",
    "minimum": ">= {}",
    "exclusiveMaximum": "< {}",
    "maximum": "<= {}",
    "minItems": "{} or more items",
    "maxItems": "{} or fewer items",
    "minLength": "{} or more characters",
    "maxLength": "{} or fewer characters",
    "minProperties": "{} or more entries",
    "pattern": "matching ``{}``",
}


class SchemaReference(SphinxDirective):
    """Tables of the fields of a pydantic model and of every object it nests."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module, _, name = self.arguments[0].rpartition(".")
        schema = getattr(importlib.import_module(module), name).model_json_schema()
        definitions = schema.get("$defs", {})
        lines: list[str] = []
        for title, obj in _objects(name, schema, definitions):
            lines += _table(title, obj)
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=self.arguments[0]), container)
        return container.children


def _objects(name: str, schema: dict, definitions: dict) -> list[tuple[str, dict]]:
    """Return the top object and the definitions it reaches, in order of first reference."""
    order = [name]
    found = {name: schema}
    for current in order:
        for ref in _refs(found[current]):
            if ref not in found:
                found[ref] = definitions[ref]
                order.append(ref)
    return [(title, found[title]) for title in order]


def _refs(obj: Any) -> list[str]:
    """Return the definition names referenced anywhere in ``obj``, in document order."""
    if isinstance(obj, dict):
        own = [obj["$ref"].rsplit("/", 1)[-1]] if "$ref" in obj else []
        return own + [r for key, value in obj.items() if key != "$defs" for r in _refs(value)]
    if isinstance(obj, list):
        return [r for value in obj for r in _refs(value)]
    return []


def _table(title: str, obj: dict) -> list[str]:
    """Return the reStructuredText of one object's section: its title, description and table."""
    lines = [title, "-" * len(title), ""]
    lines += [*obj.get("description", "").splitlines(), ""]
    lines += [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 18 30 12 40",
        "",
        "   * - field",
        "     - type",
        "     - default",
        "     - description",
    ]
    required = set(obj.get("required", ()))
    for field, spec in obj.get("properties", {}).items():
        default = "required" if field in required else _default(spec)
        cells = [f"``{field}``", _type(spec), default, spec.get("description", "")]
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {' '.join(cell.split())}" for cell in cells[1:]]
    return [*lines, ""]


def _default(spec: dict) -> str:
    if "default" not in spec:  # a default_factory: an empty list, or an object of defaults
        return "optional"
    return f"``{json.dumps(spec['default'])}``"


def _type(spec: dict) -> str:
    """Describe a JSON Schema type in words, with its constraints."""
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[-1]
        return f"`{name}`_"  # the section of that object, on the same page
    for key in ("anyOf", "oneOf"):
        if key in spec:
            return " or ".join(_type(option) for option in spec[key])
    if "enum" in spec:
        return "one of " + ", ".join(f"``{json.dumps(v)}``" for v in spec["enum"])
    if "const" in spec:
        return f"``{json.dumps(spec['const'])}``"
    kind = spec.get("type", "any value")
    if kind == "array":
        text = f"list of {_type(spec.get('items', {}))}"
    elif kind == "object" and isinstance(spec.get("additionalProperties"), dict):
        text = f"mapping of names to {_type(spec['additionalProperties'])}"
    else:
        text = {"number": "number", "integer": "integer", "string": "text", "null": "null"}.get(
            kind, kind
        )
    limits = [form.format(spec[key]) for key, form in CONSTRAINTS.items() if key in spec]
    return f"{text} ({', '.join(limits)})" if limits else text


def setup(app) -> dict[str, Any]:
    """Register the directive."""
    app.add_directive("schema-reference", SchemaReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
