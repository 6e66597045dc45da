"""Server-rendered SVG charts: drawn as markup with classes, so the page needs no script and no inline style
(the Content-Security-Policy allows neither)."""

from dataclasses import dataclass, field

from heartbeats.formats.durations import duration

WIDTH, HEIGHT = 960, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 30


@dataclass
class Point:
    x: float
    y: float
    outcome: str
    title: str


@dataclass
class Band:
    """A stretch of time the countdown had run out: drawn as a shaded band across the plot."""

    x: float
    width: float
    title: str


@dataclass
class LatencyChart:
    width: int
    height: int
    points: list[Point]
    # Polyline points of the acknowledged beats, one line per stretch: a line never bridges a lapse.
    lines: list[str]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    empty: bool
    bands: list[Band] = field(default_factory=list)


def _nice_ceiling(value: float) -> float:
    for step in (10, 20, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000):
        if value <= step:
            return float(step)
    return float(value)


def latency_chart(beats, lapses=()) -> LatencyChart:
    """Latency of each beat over time, oldest on the left; beats without a latency (no answer) sit on the top
    edge so they stay visible. Each lapse (heartbeats.domain.lapses) is a shaded band from the expiry to the
    next acknowledged beat, and the line breaks there."""
    beats = sorted(beats, key=lambda b: b.sent_at)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    base = {
        "width": WIDTH,
        "height": HEIGHT,
        "plot_left": LEFT,
        "plot_right": WIDTH - RIGHT,
        "plot_top": TOP,
        "plot_bottom": HEIGHT - BOTTOM,
    }
    if not beats:
        return LatencyChart(points=[], lines=[], y_ticks=[], x_ticks=[], empty=True, **base)
    start, end = beats[0].sent_at, beats[-1].sent_at
    span = max((end - start).total_seconds(), 1.0)
    top_ms = _nice_ceiling(max([b.latency_ms or 0 for b in beats] + [1]))

    def x_of(moment):
        return round(LEFT + plot_w * (moment - start).total_seconds() / span, 1)

    def y_of(latency):
        if latency is None:
            return float(TOP)
        return round(TOP + plot_h * (1 - min(latency, top_ms) / top_ms), 1)

    breaks = sorted(lapse.resumed_at for lapse in lapses)
    points = []
    lines = [[]]
    for b in beats:
        latency = duration(b.latency_ms, empty="no answer")
        title = f"{b.sent_at:%H:%M:%S} UTC · {b.get_kind_display()} · {b.outcome_text} · {latency}"
        point = Point(x_of(b.sent_at), y_of(b.latency_ms), b.outcome, title)
        points.append(point)
        while breaks and b.sent_at >= breaks[0]:
            breaks.pop(0)
            lines.append([])
        if b.latency_ms is not None and b.outcome == "confirmed":
            lines[-1].append(f"{point.x},{point.y}")
            if b.kind == "disarm":  # nothing beats while disarmed: the line stops here
                lines.append([])
    bands = []
    for lapse in lapses:
        left = max(x_of(lapse.expired_at), float(LEFT))
        right = x_of(lapse.resumed_at)
        if right > left:
            title = (
                f"Countdown ran out {lapse.expired_at:%H:%M:%S} UTC: open orders cancelled; "
                f"next acknowledged beat {lapse.resumed_at:%H:%M:%S} UTC"
            )
            bands.append(Band(left, round(right - left, 1), title))
    y_ticks = [(round(TOP + plot_h * (1 - f), 1), f"{top_ms * f:.0f}") for f in (0, 0.25, 0.5, 0.75, 1)]
    x_ticks = []
    for f in (0, 0.5, 1):
        moment = start + (end - start) * f
        x_ticks.append((round(LEFT + plot_w * f, 1), f"{moment:%H:%M:%S}"))
    return LatencyChart(
        points=points,
        lines=[" ".join(line) for line in lines if len(line) > 1],
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        empty=False,
        bands=bands,
        **base,
    )
