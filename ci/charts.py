"""Inline SVG charts of the dashboard: benchmarks' ratios and histories, calibrations' runs.

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

from ci.comparison import Fit
from ci.history import History, HistoryPoint, Step
from ci.verdict import format_value

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
    """Return an ``<svg class="chart ratio">`` of a benchmark's ratios across versions.

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
        f'<svg class="chart ratio" data-benchmark="{escape(name)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(f"ratio to baseline of {short} by version")}">',
        f'<text class="chart-title" x="{LEFT}" y="20">{escape(short)} ({escape(unit)})</text>',
        *_y_axis(low, high, y),
        _band(points, x, y),
        _line("unity", LEFT, y(1.0), WIDTH - RIGHT, y(1.0), dashed=True),
        _x_axis([p.version for p in points], x),
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


def _y_axis(
    low: float,
    high: float,
    y: Scale,
    label: str = "ratio candidate / baseline",
    tick_text: Callable[[float], str] = "{:.2f}".format,
) -> list[str]:
    """Return the y axis: line, ticks with labels and the axis label."""
    parts = [_line("axis", LEFT, TOP, LEFT, HEIGHT - BOTTOM)]
    for tick in _ticks(low, high):
        parts.append(_line("grid", LEFT, y(tick), WIDTH - RIGHT, y(tick)))
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{_num(y(tick) + 4)}" '
            f'text-anchor="end">{escape(tick_text(tick))}</text>'
        )
    middle = _num((TOP + HEIGHT - BOTTOM) / 2)
    parts.append(
        f'<text class="axis-label" transform="translate(12 {middle}) rotate(-90)" '
        f'text-anchor="middle">{escape(label)}</text>'
    )
    return parts


def _x_axis(versions: Sequence[str], x: list[float]) -> str:
    """Return the x axis: line, one version label per slot and the axis label."""
    base = HEIGHT - BOTTOM
    parts = [_line("axis", LEFT, base, WIDTH - RIGHT, base)]
    for version, position in zip(versions, x, strict=True):
        parts.append(
            f'<text class="tick" x="{_num(position)}" y="{base + 16}" '
            f'text-anchor="middle">{escape(version)}</text>'
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


def history_chart(history: History) -> str:
    """Return an ``<svg class="chart history">`` of a benchmark's level across versions.

    One slot per version in release order; each comparable series (a machine's
    timings, or all instruction counts) is its own line (class ``series-K``),
    each point a circle with its interval as a vertical bar, classed
    ``regression``, ``accepted`` (an accepted regression) or ``improvement``
    by its run's verdict, with a ``<title>`` tooltip naming the machine. Each
    step found is a dashed vertical line between its two versions, labelled
    with the change (``+15%``).
    """
    versions = list(dict.fromkeys(p.version for p in history.points))
    x = dict(zip(versions, _x_positions(len(versions)), strict=True))
    values = [v for p in history.points for v in (p.value, p.low, p.high) if v is not None]
    room = max((max(values) - min(values)) * 0.1, max(values) * 0.02)
    low, high = max(min(values) - room, 0.0), max(values) + room

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * (HEIGHT - TOP - BOTTOM)

    short = history.name.rsplit("::", 1)[-1]
    timing = history.unit == "s"
    label = "typical time per call" if timing else f"{history.unit} per call"
    parts = [
        f'<svg class="chart history" data-benchmark="{escape(history.name)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(f"{label} of {short} by version")}">',
        f'<text class="chart-title" x="{LEFT}" y="20">{escape(short)} ({escape(label)})</text>',
        *_y_axis(low, high, y, label, _tick_text(history.unit)),
        _x_axis(versions, list(x.values())),
        *(_step(step, x) for step in history.steps),
    ]
    for k, series in enumerate(history.series().values()):
        path = " ".join(f"{_num(x[p.version])},{_num(y(p.value))}" for p in series)
        parts.append(
            f'<polyline class="trace series-{k}" points="{path}"/>' if len(series) > 1 else ""
        )
        for p in series:
            if p.low is not None and p.high is not None:
                parts.append(
                    _line(f"interval series-{k}", x[p.version], y(p.low), x[p.version], y(p.high))
                )
            parts.append(_history_point(p, k, x[p.version], y(p.value), history.unit))
    parts.append("</svg>")
    return "\n".join(part for part in parts if part)


def _tick_text(unit: str) -> Callable[[float], str]:
    """Return the tick formatter of a unit: times with their prefix, counts in 3 digits."""
    if unit == "s":
        return lambda value: format_value(value, unit) if value > 0 else "0"
    return _compact


def _compact(value: float) -> str:
    """Return a count in at most 3 digits and a suffix: ``1.35M``, ``820k``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _step(step: Step, x: dict[str, float]) -> str:
    """Return a dashed line between the two versions of a step, labelled with its change."""
    position = (x[step.before] + x[step.after]) / 2
    change = f"{step.ratio - 1:+.0%}"
    return "\n".join(
        [
            _line("step", position, TOP, position, HEIGHT - BOTTOM, dashed=True),
            f'<text class="step-label" x="{_num(position + 4)}" y="{TOP + 12}">'
            f"{escape(change)}<title>{escape(_step_text(step))}</title></text>",
        ]
    )


def _step_text(step: Step) -> str:
    machine = f" on {step.machine}" if step.machine else ""
    return f"{step.before} to {step.after}: {step.ratio - 1:+.1%}{machine}"


def _history_point(point: HistoryPoint, series: int, px: float, py: float, unit: str) -> str:
    classes = {"slower": "accepted" if point.accepted else "regression", "faster": "improvement"}
    cls = " ".join(["point", f"series-{series}", *filter(None, [classes.get(point.verdict)])])
    interval = (
        f" [{format_value(point.low, unit)}, {format_value(point.high, unit)}]"
        if point.low is not None and point.high is not None
        else ""
    )
    tooltip = (
        f"{point.version}: {format_value(point.value, unit)}{interval}, {point.verdict}"
        f"{' (accepted)' if point.accepted else ''}, measured on {point.machine}"
    )
    return (
        f'<circle class="{cls}" data-verdict="{escape(point.verdict)}" '
        f'data-machine="{escape(point.machine)}" cx="{_num(px)}" cy="{_num(py)}" r="5">'
        f"<title>{escape(tooltip)}</title></circle>"
    )


def density_chart(
    quantity: str, labels: tuple[str, str], samples: tuple[Sequence[float], ...]
) -> str:
    """Return an ``<svg class="chart density">`` of two runs' posterior densities, overlaid.

    Both are histograms on the same 40 bins spanning the two samples' 0.5% to
    99.5% quantiles, drawn as step lines (classes ``series-0`` and
    ``series-1``), each labelled by its run.
    """
    import numpy as np

    pooled = np.concatenate([np.asarray(s, dtype=float) for s in samples])
    low, high = _span(*(float(q) for q in np.quantile(pooled, [0.005, 0.995])))
    edges = np.linspace(low, high, 41)
    heights = [np.histogram(s, bins=edges, density=True)[0] for s in samples]
    top = max(float(h.max()) for h in heights) * 1.1 or 1.0
    aria = f"posterior density of {quantity} in two runs"
    parts, x, y = _overlay(("density", "quantity", quantity), aria, (low, high), top)
    for k, (label, height) in enumerate(zip(labels, heights, strict=True)):
        points = [f"{_num(x(edges[0]))},{_num(y(0))}"]
        for i, h in enumerate(height):
            points += [f"{_num(x(edges[i]))},{_num(y(h))}", f"{_num(x(edges[i + 1]))},{_num(y(h))}"]
        points.append(f"{_num(x(edges[-1]))},{_num(y(0))}")
        parts.append(
            f'<polyline class="trace series-{k}" points="{" ".join(points)}">'
            f"<title>{escape(label)}</title></polyline>"
        )
        parts.append(
            f'<text class="legend series-{k}" x="{WIDTH - RIGHT}" y="{20 + 14 * k}" '
            f'text-anchor="end">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def fit_chart(column: str, labels: tuple[str, str], fits: tuple[Fit, Fit]) -> str:
    """Return an ``<svg class="chart fit">`` of two runs' fits to one target, overlaid.

    Each run's 90% posterior predictive band (a polygon) and median (a line)
    in classes ``series-0`` and ``series-1``, labelled by run; the observations
    as points (class ``observed``), the earlier run's too if its data differ.
    """
    import numpy as np

    days = np.concatenate([fit.days for fit in fits])
    span = _span(float(days.min()), float(days.max()))
    top = max(max(float(fit.bands.max()), float(fit.observed.max())) for fit in fits) * 1.05 or 1.0
    aria = f"{column}: data and the fits of two runs"
    parts, x, y = _overlay(("fit", "target", column), aria, span, top)
    parts += [
        *_y_axis(0.0, top, y, column, "{:.4g}".format),
        f'<text class="axis-label" x="{_num((LEFT + WIDTH - RIGHT) / 2)}" y="{HEIGHT - 8}" '
        'text-anchor="middle">day</text>',
    ]
    for k, (label, fit) in enumerate(zip(labels, fits, strict=True)):
        low, median, high = (_coordinates(fit.days, fit.bands[:, i], x, y) for i in range(3))
        parts += [
            f'<polygon class="band series-{k}" points="{" ".join(high + low[::-1])}">'
            f"<title>{escape(label)}: 90% predictive interval</title></polygon>",
            f'<polyline class="trace series-{k}" points="{" ".join(median)}">'
            f"<title>{escape(label)}: predictive median</title></polyline>",
            f'<text class="legend series-{k}" x="{WIDTH - RIGHT}" y="{20 + 14 * k}" '
            f'text-anchor="end">{escape(label)}</text>',
        ]
    shown = [(fits[1], "observed")]
    if not (
        np.array_equal(fits[0].days, fits[1].days)
        and np.array_equal(fits[0].observed, fits[1].observed)
    ):
        shown.append((fits[0], "observed series-0"))  # the data changed between the runs
    for fit, cls in shown:
        parts += [
            f'<circle class="{cls}" cx="{_num(x(d))}" cy="{_num(y(v))}" r="3">'
            f"<title>day {d:g}: {v:g} observed</title></circle>"
            for d, v in zip(fit.days, fit.observed, strict=True)
        ]
    parts.append("</svg>")
    return "\n".join(parts)


def _coordinates(xs: Sequence[float], ys: Sequence[float], x: Scale, y: Scale) -> list[str]:
    """Return ``"X,Y"`` SVG coordinates of the points (xs, ys)."""
    return [f"{_num(x(a))},{_num(y(b))}" for a, b in zip(xs, ys, strict=True)]


def _span(low: float, high: float) -> tuple[float, float]:
    """Return the range ``low`` to ``high``, widened to 1 around a single value."""
    return (low - 0.5, high + 0.5) if high <= low else (low, high)


def _overlay(
    kind: tuple[str, str, str], aria: str, span: tuple[float, float], top: float
) -> tuple[list[str], Scale, Scale]:
    """Return the start of a chart of two runs overlaid, and its x and y scales.

    ``kind`` is the chart's class, the name of its ``data-`` attribute and what
    it shows (also the title). The start is the ``<svg>`` tag, the title and
    the x axis with its ticks over ``span``; y runs from 0 to ``top``.
    """
    chart, attribute, title = kind
    low, high = span

    def x(value: float) -> float:
        return LEFT + (value - low) / (high - low) * (WIDTH - LEFT - RIGHT)

    def y(value: float) -> float:
        return TOP + (top - value) / top * (HEIGHT - TOP - BOTTOM)

    parts = [
        f'<svg class="chart {chart}" data-{attribute}="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(aria)}">',
        f'<text class="chart-title" x="{LEFT}" y="20">{escape(title)}</text>',
        _line("axis", LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, HEIGHT - BOTTOM),
        *(
            f'<text class="tick" x="{_num(x(t))}" y="{HEIGHT - BOTTOM + 16}" '
            f'text-anchor="middle">{t:.4g}</text>'
            for t in _ticks(low, high)
        ),
    ]
    return parts, x, y
