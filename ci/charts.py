"""The geometry of the dashboard's SVG charts: benchmarks' ratios and histories, calibrations' runs.

This module decides where every axis, tick, line, band and point goes, with
which class and tooltip; the macros of ``ci/templates/charts.html`` write
them as SVG, one macro per chart. So the site needs no JavaScript, no plotting
library and nothing from the network, and the same points give the same bytes:
coordinates are strings of px rounded to 0.1 with a fixed format. Styling
(colours, fonts) is left to the site's style sheet through class names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ci.comparison import Fit
from ci.history import History, HistoryPoint, Step
from ci.verdict import format_value

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 36, 56
"""Margins around the plot area, in px: room for the title, tick labels and axis labels."""
SLOWER = "slower"
Scale = Callable[[float], float]
"""Maps a value to its coordinate in px."""


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


# --- what the templates draw (coordinates in px, as written) -------------------------------


@dataclass(frozen=True)
class Line:
    """A straight line from (x1, y1) to (x2, y2); ``dashed`` for reference lines and steps."""

    cls: str
    x1: str
    y1: str
    x2: str
    y2: str
    dashed: bool = False


@dataclass(frozen=True)
class Label:
    """A text at (x, y), with a tooltip (``title``) if any."""

    x: str
    y: str
    text: str
    title: str = ""


@dataclass(frozen=True)
class Shape:
    """A polyline or polygon: its classes, its ``"X,Y X,Y ..."`` points, a tooltip if any."""

    cls: str
    points: str
    title: str = ""


@dataclass(frozen=True)
class Dot:
    """A point drawn as a circle of radius ``r``, with its tooltip and data attributes."""

    cls: str
    x: str
    y: str
    r: int
    title: str
    verdict: str = ""
    machine: str = ""


@dataclass(frozen=True)
class Frame:
    """What every chart has: its kind, identity, accessible label, title and size.

    ``kind`` is its class after ``chart``; ``attribute`` and ``name`` are the
    ``data-`` attribute naming what it shows and its value.
    """

    kind: str
    attribute: str
    name: str
    aria: str
    title: Label
    width: int = WIDTH
    height: int = HEIGHT


@dataclass(frozen=True)
class YAxis:
    """The y axis: its line, a grid line and label per tick, its label (rotated, at ``middle``)."""

    line: Line
    ticks: list[tuple[Line, Label]]
    label: str
    middle: str


@dataclass(frozen=True)
class XAxis:
    """The x axis: its line, its tick labels, and its label if it has one."""

    line: Line
    ticks: list[Label]
    label: Label | None = None


@dataclass(frozen=True)
class RatioChart:
    """A benchmark's ratios across versions (``ratio_chart`` in charts.html)."""

    frame: Frame
    y: YAxis
    band: Shape | None
    unity: Line
    x: XAxis
    trace: Shape | None
    points: list[Dot]


@dataclass(frozen=True)
class HistorySeries:
    """One line of a history chart: its trace and each point's interval and circle.

    The trace is ``None`` for a single point, an interval when it is unknown.
    """

    trace: Shape | None
    points: list[tuple[Line | None, Dot]]


@dataclass(frozen=True)
class HistoryChart:
    """A benchmark's level across versions (``history_chart`` in charts.html)."""

    frame: Frame
    y: YAxis
    x: XAxis
    steps: list[tuple[Line, Label]]
    series: list[HistorySeries]


@dataclass(frozen=True)
class OverlayRun:
    """One of the two runs of an overlay: its band (fits only), its line and its legend."""

    series: str
    band: Shape | None
    trace: Shape
    legend: Label


@dataclass(frozen=True)
class OverlayChart:
    """Two runs overlaid (``overlay_chart`` in charts.html).

    Densities have an x axis and a line per run; fits also have the y axis,
    the x axis' label, each run's band and the observations.
    """

    frame: Frame
    x: XAxis
    runs: list[OverlayRun]
    y: YAxis | None = None
    x_label: Label | None = None
    observed: Sequence[Dot] = ()


# --- the charts ----------------------------------------------------------------------------


def ratio_chart(name: str, unit: str, points: Sequence[Point]) -> RatioChart:
    """Return the chart (``svg.chart.ratio``) of a benchmark's ratios across versions.

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
    RatioChart
        A shaded confidence band, a dashed line at ratio 1, one circle per
        point (class ``regression`` when its verdict is slower) with a tooltip,
        the title, and both axes with labels.
    """
    low, high = _y_range(points)
    x = _x_positions(len(points))

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * (HEIGHT - TOP - BOTTOM)

    short = name.rsplit("::", 1)[-1]
    title = f"{short} ({unit})"
    return RatioChart(
        frame=_frame("ratio", "benchmark", name, f"ratio to baseline of {short} by version", title),
        y=_y_axis(low, high, y),
        band=_band(points, x, y),
        unity=_line("unity", LEFT, y(1.0), WIDTH - RIGHT, y(1.0), dashed=True),
        x=_x_axis([p.version for p in points], x),
        trace=Shape("trace", _path(x, [y(p.ratio) for p in points])) if len(points) > 1 else None,
        points=[_ratio_point(point, x[i], y(point.ratio)) for i, point in enumerate(points)],
    )


def _frame(kind: str, attribute: str, name: str, aria: str, title: str) -> Frame:
    return Frame(kind, attribute, name, aria, Label(str(LEFT), "20", title))


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


def _path(xs: Sequence[float], ys: Sequence[float]) -> str:
    """Return the ``"X,Y X,Y ..."`` points of a polyline or polygon through (xs, ys) px."""
    return " ".join(f"{_num(a)},{_num(b)}" for a, b in zip(xs, ys, strict=True))


def _line(cls: str, x1: float, y1: float, x2: float, y2: float, dashed: bool = False) -> Line:
    return Line(cls, _num(x1), _num(y1), _num(x2), _num(y2), dashed)


def _y_axis(
    low: float,
    high: float,
    y: Scale,
    label: str = "ratio candidate / baseline",
    tick_text: Callable[[float], str] = "{:.2f}".format,
) -> YAxis:
    """Return the y axis: line, ticks with grid lines and labels, and the axis label."""
    ticks = [
        (
            _line("grid", LEFT, y(tick), WIDTH - RIGHT, y(tick)),
            Label(str(LEFT - 6), _num(y(tick) + 4), tick_text(tick)),
        )
        for tick in _ticks(low, high)
    ]
    middle = _num((TOP + HEIGHT - BOTTOM) / 2)
    return YAxis(_line("axis", LEFT, TOP, LEFT, HEIGHT - BOTTOM), ticks, label, middle)


def _x_axis(versions: Sequence[str], x: list[float]) -> XAxis:
    """Return the x axis: line, one version label per slot and the axis label."""
    base = HEIGHT - BOTTOM
    return XAxis(
        _line("axis", LEFT, base, WIDTH - RIGHT, base),
        [Label(_num(p), str(base + 16), v) for v, p in zip(versions, x, strict=True)],
        _x_label("version"),
    )


def _x_label(text: str) -> Label:
    """Return the label under the x axis, centred."""
    return Label(_num((LEFT + WIDTH - RIGHT) / 2), str(HEIGHT - 8), text)


def _band(points: Sequence[Point], x: list[float], y: Scale) -> Shape | None:
    """Return the shaded confidence band through the points that have an interval."""
    known = [
        (x[i], p.ci_low, p.ci_high)
        for i, p in enumerate(points)
        if p.ci_low is not None and p.ci_high is not None
    ]
    if not known:
        return None
    if len(known) == 1:  # a band needs some width: a short bar around the single point
        position, low, high = known[0]
        known = [(position - 12, low, high), (position + 12, low, high)]
    xs = [px for px, _, _ in known]
    upper = _path(xs, [y(high) for _, _, high in known])
    lower = _path(xs[::-1], [y(low) for _, low, _ in reversed(known)])
    return Shape("band", f"{upper} {lower}")


def _ratio_point(point: Point, px: float, py: float) -> Dot:
    cls = "point regression" if point.verdict == SLOWER else "point"
    return Dot(cls, _num(px), _num(py), 5, point.tooltip(), verdict=point.verdict)


def history_chart(history: History) -> HistoryChart:
    """Return the chart (``svg.chart.history``) of a benchmark's level across versions.

    One slot per version in release order; each comparable series (a machine's
    timings, or all instruction counts) is its own line (class ``series-K``),
    each point a circle with its interval as a vertical bar, classed
    ``regression``, ``accepted`` (an accepted regression) or ``improvement``
    by its run's verdict, with a tooltip naming the machine. Each step found
    is a dashed vertical line between its two versions, labelled with the
    change (``+15%``).
    """
    versions = list(dict.fromkeys(p.version for p in history.points))
    x = dict(zip(versions, _x_positions(len(versions)), strict=True))
    values = [v for p in history.points for v in (p.value, p.low, p.high) if v is not None]
    room = max((max(values) - min(values)) * 0.1, max(values) * 0.02)
    low, high = max(min(values) - room, 0.0), max(values) + room

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * (HEIGHT - TOP - BOTTOM)

    short = history.name.rsplit("::", 1)[-1]
    label = "typical time per call" if history.unit == "s" else f"{history.unit} per call"
    aria = f"{label} of {short} by version"
    series = []
    for k, points in enumerate(history.series().values()):
        path = _path([x[p.version] for p in points], [y(p.value) for p in points])
        marks = [
            (
                _line(f"interval series-{k}", x[p.version], y(p.low), x[p.version], y(p.high))
                if p.low is not None and p.high is not None
                else None,
                _history_point(p, k, x[p.version], y(p.value), history.unit),
            )
            for p in points
        ]
        series.append(
            HistorySeries(Shape(f"trace series-{k}", path) if len(points) > 1 else None, marks)
        )
    return HistoryChart(
        frame=_frame("history", "benchmark", history.name, aria, f"{short} ({label})"),
        y=_y_axis(low, high, y, label, _tick_text(history.unit)),
        x=_x_axis(versions, list(x.values())),
        steps=[_step(step, x) for step in history.steps],
        series=series,
    )


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


def _step(step: Step, x: dict[str, float]) -> tuple[Line, Label]:
    """Return a dashed line between the two versions of a step, and its change as a label."""
    position = (x[step.before] + x[step.after]) / 2
    machine = f" on {step.machine}" if step.machine else ""
    detail = f"{step.before} to {step.after}: {step.ratio - 1:+.1%}{machine}"
    return (
        _line("step", position, TOP, position, HEIGHT - BOTTOM, dashed=True),
        Label(_num(position + 4), str(TOP + 12), f"{step.ratio - 1:+.0%}", detail),
    )


def _history_point(point: HistoryPoint, series: int, px: float, py: float, unit: str) -> Dot:
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
    return Dot(cls, _num(px), _num(py), 5, tooltip, point.verdict, point.machine)


def density_chart(
    quantity: str, labels: tuple[str, str], samples: tuple[Sequence[float], ...]
) -> OverlayChart:
    """Return the chart (``svg.chart.density``) of two runs' posterior densities, overlaid.

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
    frame, x_axis, x, y = _overlay(("density", "quantity", quantity), aria, (low, high), top)
    runs = []
    for k, (label, height) in enumerate(zip(labels, heights, strict=True)):
        xs = [edges[0], *(edge for i in range(len(height)) for edge in edges[i : i + 2])]
        ys = [0.0, *(h for h in height for _ in range(2))]
        path = _path([x(v) for v in [*xs, edges[-1]]], [y(v) for v in [*ys, 0.0]])
        trace = Shape(f"trace series-{k}", path, label)
        runs.append(OverlayRun(f"series-{k}", None, trace, _legend(k, label)))
    return OverlayChart(frame, x_axis, runs)


def _legend(k: int, label: str) -> Label:
    """Return the label of run ``k`` of an overlay, at the top right."""
    return Label(str(WIDTH - RIGHT), str(20 + 14 * k), label)


def fit_chart(column: str, labels: tuple[str, str], fits: tuple[Fit, Fit]) -> OverlayChart:
    """Return the chart (``svg.chart.fit``) of two runs' fits to one target, overlaid.

    Each run's 90% posterior predictive band (a polygon) and median (a line)
    in classes ``series-0`` and ``series-1``, labelled by run; the observations
    as points (class ``observed``), the earlier run's too if its data differ.
    """
    import numpy as np

    days = np.concatenate([fit.days for fit in fits])
    span = _span(float(days.min()), float(days.max()))
    top = max(max(float(fit.bands.max()), float(fit.observed.max())) for fit in fits) * 1.05 or 1.0
    aria = f"{column}: data and the fits of two runs"
    frame, x_axis, x, y = _overlay(("fit", "target", column), aria, span, top)
    runs = []
    for k, (label, fit) in enumerate(zip(labels, fits, strict=True)):
        xs = [x(d) for d in fit.days]
        low, median, high = ([y(v) for v in fit.bands[:, i]] for i in range(3))
        band = f"{_path(xs, high)} {_path(xs[::-1], low[::-1])}"
        runs.append(
            OverlayRun(
                f"series-{k}",
                Shape(f"band series-{k}", band, f"{label}: 90% predictive interval"),
                Shape(f"trace series-{k}", _path(xs, median), f"{label}: predictive median"),
                _legend(k, label),
            )
        )
    shown = [(fits[1], "observed")]
    if not (
        np.array_equal(fits[0].days, fits[1].days)
        and np.array_equal(fits[0].observed, fits[1].observed)
    ):
        shown.append((fits[0], "observed series-0"))  # the data changed between the runs
    observed = [
        Dot(cls, _num(x(d)), _num(y(v)), 3, f"day {d:g}: {v:g} observed")
        for fit, cls in shown
        for d, v in zip(fit.days, fit.observed, strict=True)
    ]
    y_axis = _y_axis(0.0, top, y, column, "{:.4g}".format)
    return OverlayChart(frame, x_axis, runs, y_axis, _x_label("day"), observed)


def _span(low: float, high: float) -> tuple[float, float]:
    """Return the range ``low`` to ``high``, widened to 1 around a single value."""
    return (low - 0.5, high + 0.5) if high <= low else (low, high)


def _overlay(
    kind: tuple[str, str, str], aria: str, span: tuple[float, float], top: float
) -> tuple[Frame, XAxis, Scale, Scale]:
    """Return the frame and x axis of a chart of two runs overlaid, and its x and y scales.

    ``kind`` is the chart's class, the name of its ``data-`` attribute and what
    it shows (also the title). The x axis has ticks over ``span`` and no label;
    y runs from 0 to ``top``.
    """
    chart, attribute, title = kind
    low, high = span

    def x(value: float) -> float:
        return LEFT + (value - low) / (high - low) * (WIDTH - LEFT - RIGHT)

    def y(value: float) -> float:
        return TOP + (top - value) / top * (HEIGHT - TOP - BOTTOM)

    base = HEIGHT - BOTTOM
    x_axis = XAxis(
        _line("axis", LEFT, base, WIDTH - RIGHT, base),
        [Label(_num(x(t)), str(base + 16), f"{t:.4g}") for t in _ticks(low, high)],
    )
    return _frame(chart, attribute, title, aria, title), x_axis, x, y
