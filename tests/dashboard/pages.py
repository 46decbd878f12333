"""Read rendered pages back: elements with their attributes and classes (stdlib HTML parser)."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path


@dataclass(frozen=True)
class Element:
    tag: str
    attrs: dict[str, str]

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class Page(HTMLParser):
    """Every start tag of a document, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {k: v or "" for k, v in attrs}))

    def select(self, tag: str, cls: str | None = None) -> list[Element]:
        """Return the elements ``tag`` (``*``: any) having class ``cls`` (if given)."""
        return [
            e for e in self.elements if tag in ("*", e.tag) and (cls is None or cls in e.classes)
        ]

    @property
    def ids(self) -> set[str]:
        return {e.attrs["id"] for e in self.elements if "id" in e.attrs}

    @property
    def references(self) -> list[str]:
        """Every ``href`` and ``src`` value."""
        return [e.attrs[key] for e in self.elements for key in ("href", "src") if key in e.attrs]


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder``: relative path → content."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
