"""Inline SVG charts of the dashboard: one benchmark's ratio to its baseline across versions.

Drawn in Python as plain SVG text, so the site needs no JavaScript, no
plotting library and nothing from the network, and the same points give the
same bytes (coordinates are rounded to 0.1 px with fixed formatting). Styling
(colours, fonts) is left to the site's style sheet through class names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 36, 56
"""Margins around the plot area, in px: room for the title, tick labels and axis labels."""
SLOWER = "slower"
Scale = Callable[[float], float]
"""Maps a ratio to its y coordinate in px."""


@dataclass(frozen=True)
class Point:
    """One version's comparison of a benchmark with its baseline.

    ``ratio`` is candidate / baseline (dimensionless); ``ci_low`` and
    ``ci_high`` bound its confidence interval (``None`` if unknown).
    """

    version: str
    baseline: str
    ratio: float
    ci_low: float | None
    ci_high: float | None
    verdict: str

    def tooltip(self) -> str:
        """Return ``VERSION vs BASELINE: ratio 1.07 [1.04, 1.10], slower``."""
        interval = (
            f" [{self.ci_low:.2f}, {self.ci_high:.2f}]"
            if self.ci_low is not None and self.ci_high is not None
            else ""
        )
        return (
            f"{self.version} vs {self.baseline}: ratio {self.ratio:.2f}{interval}, {self.verdict}"
        )


def ratio_chart(name: str, unit: str, points: Sequence[Point]) -> str:
    """Return an ``<svg class="chart">`` of a benchmark's ratios across versions.

    Parameters
    ----------
    name
        Benchmark name, shown in the title and kept in ``data-benchmark``.
    unit
        What the benchmark measures per call (``s`` or ``instructions``).
    points
        One per version, in version order (left to right).

    Returns
    -------
    str
        SVG markup: a shaded confidence band, a dashed line at ratio 1, one
        circle per point (class ``regression`` when its verdict is slower) with
        a ``<title>`` tooltip, the title, and both axes with labels.
    """
    low, high = _y_range(points)
    x = _x_positions(len(points))

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * (HEIGHT - TOP - BOTTOM)

    short = name.rsplit("::", 1)[-1]
    parts = [
        f'<svg class="chart" data-benchmark="{escape(name)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(f"ratio to baseline of {short} by version")}">',
        f'<text class="chart-title" x="{LEFT}" y="20">{escape(short)} ({escape(unit)})</text>',
        *_y_axis(low, high, y),
        _band(points, x, y),
        _line("unity", LEFT, y(1.0), WIDTH - RIGHT, y(1.0), dashed=True),
        _x_axis(points, x),
        _trace(points, x, y),
        *(_point(point, x[i], y(point.ratio)) for i, point in enumerate(points)),
        "</svg>",
    ]
    return "\n".join(part for part in parts if part)


def _x_positions(count: int) -> list[float]:
    """Return the centre of each of ``count`` equal slots across the plot area."""
    slot = (WIDTH - LEFT - RIGHT) / max(count, 1)
    return [LEFT + (i + 0.5) * slot for i in range(count)]


def _y_range(points: Sequence[Point]) -> tuple[float, float]:
    """Return the ratio range shown: every ratio, interval and 1.0, with 10% room."""
    values = [1.0]
    for point in points:
        values += [v for v in (point.ratio, point.ci_low, point.ci_high) if v is not None]
    low, high = min(values), max(values)
    room = max((high - low) * 0.1, 0.02)
    return low - room, high + room


def _ticks(low: float, high: float) -> list[float]:
    """Return round tick values (steps of 1, 2 or 5 times a power of ten) within the range."""
    raw = (high - low) / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step)
    return [round(k * step, 10) for k in range(first, math.floor(high / step) + 1)]


def _num(value: float) -> str:
    return f"{value:.1f}"


def _line(cls: str, x1: float, y1: float, x2: float, y2: float, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    return (
        f'<line class="{cls}" x1="{_num(x1)}" y1="{_num(y1)}" '
        f'x2="{_num(x2)}" y2="{_num(y2)}"{dash}/>'
    )


def _y_axis(low: float, high: float, y: Scale) -> list[str]:
    """Return the y axis: line, ticks with labels and the axis label."""
    parts = [_line("axis", LEFT, TOP, LEFT, HEIGHT - BOTTOM)]
    for tick in _ticks(low, high):
        parts.append(_line("grid", LEFT, y(tick), WIDTH - RIGHT, y(tick)))
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{_num(y(tick) + 4)}" '
            f'text-anchor="end">{tick:.2f}</text>'
        )
    middle = _num((TOP + HEIGHT - BOTTOM) / 2)
    parts.append(
        f'<text class="axis-label" transform="translate(14 {middle}) rotate(-90)" '
        'text-anchor="middle">ratio candidate / baseline</text>'
    )
    return parts


def _x_axis(points: Sequence[Point], x: list[float]) -> str:
    """Return the x axis: line, one version label per point and the axis label."""
    base = HEIGHT - BOTTOM
    parts = [_line("axis", LEFT, base, WIDTH - RIGHT, base)]
    for point, position in zip(points, x, strict=True):
        parts.append(
            f'<text class="tick" x="{_num(position)}" y="{base + 16}" '
            f'text-anchor="middle">{escape(point.version)}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="{_num((LEFT + WIDTH - RIGHT) / 2)}" y="{HEIGHT - 8}" '
        'text-anchor="middle">version</text>'
    )
    return "\n".join(parts)


def _band(points: Sequence[Point], x: list[float], y: Scale) -> str:
    """Return the shaded confidence band through the points that have an interval."""
    known = [
        (x[i], p.ci_low, p.ci_high)
        for i, p in enumerate(points)
        if p.ci_low is not None and p.ci_high is not None
    ]
    if not known:
        return ""
    if len(known) == 1:  # a band needs some width: a short bar around the single point
        position, low, high = known[0]
        known = [(position - 12, low, high), (position + 12, low, high)]
    upper = [f"{_num(px)},{_num(y(high))}" for px, _, high in known]
    lower = [f"{_num(px)},{_num(y(low))}" for px, low, _ in reversed(known)]
    return f'<polygon class="band" points="{" ".join(upper + lower)}"/>'


def _trace(points: Sequence[Point], x: list[float], y: Scale) -> str:
    """Return the line joining the points, if there are at least two."""
    if len(points) < 2:
        return ""
    path = " ".join(f"{_num(x[i])},{_num(y(p.ratio))}" for i, p in enumerate(points))
    return f'<polyline class="trace" points="{path}"/>'


def _point(point: Point, px: float, py: float) -> str:
    cls = "point regression" if point.verdict == SLOWER else "point"
    return (
        f'<circle class="{cls}" data-verdict="{escape(point.verdict)}" cx="{_num(px)}" '
        f'cy="{_num(py)}" r="5"><title>{escape(point.tooltip())}</title></circle>'
    )
