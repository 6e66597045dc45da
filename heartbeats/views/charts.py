"""Server-rendered SVG charts: drawn as markup with classes, so the page needs no script and no inline style
(the Content-Security-Policy allows neither)."""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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
    # (x, label, text-anchor): a label near either edge is anchored to stay inside the drawing.
    x_ticks: list[tuple[float, str, str]]
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    empty: bool
    bands: list[Band] = field(default_factory=list)


# Steps a time axis ticks at: whole seconds, minutes, hours or days, the ones a clock is read in.
TIME_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def value_ticks(top: float, most: int = 6) -> list[float]:
    """Round ticks from 0 to the first one at or above `top`, at most `most` of them, a step of 1, 2 or 5
    times a power of ten: 0, 20, 40 … 100 for a top of 87."""
    top = max(top, 1e-9)
    magnitude = 10 ** math.floor(math.log10(top / (most - 1)))
    step = next(m * magnitude for m in (1, 2, 5, 10) if math.ceil(top / (m * magnitude)) <= most - 1)
    digits = max(0, -math.floor(math.log10(step)))  # 0.2 stays 0.2, not 0.20000000000000001
    return [round(n * step, digits) for n in range(math.ceil(top / step - 1e-9) + 1)]


def time_ticks(start: datetime, end: datetime, most: int = 6) -> list[datetime]:
    """The moments in [start, end] at the smallest round step (whole seconds, minutes, hours, days in UTC)
    that gives at most `most` of them."""
    first_s, last_s = start.timestamp(), end.timestamp()
    for step in TIME_STEPS_S:
        first, last = math.ceil(first_s / step), math.floor(last_s / step)
        if last - first + 1 <= most:
            break
    else:
        step = TIME_STEPS_S[-1] * math.ceil((last_s - first_s) / TIME_STEPS_S[-1] / most)
        first, last = math.ceil(first_s / step), math.floor(last_s / step)
    return [datetime.fromtimestamp(n * step, UTC) for n in range(first, last + 1)]


def time_label(moment: datetime, step_s: float) -> str:
    """10:05:30 on a seconds axis, 10:05 on a minutes or hours one, 7 Dec 12:00 on one of quarter or half
    days, 7 Dec on a days axis (UTC)."""
    moment = moment.astimezone(UTC)
    if step_s >= 86400:
        return f"{moment.day} {moment:%b}"
    if step_s >= 21600:
        return f"{moment.day} {moment:%b %H:%M}"
    return f"{moment:%H:%M}" if step_s % 60 == 0 else f"{moment:%H:%M:%S}"


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
    # Never below 10 ms: a handful of fast beats should not draw a scale of fractions of a millisecond.
    values = value_ticks(max([b.latency_ms or 0 for b in beats] + [10]), most=6)
    top_ms = values[-1]

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
    y_ticks = [(y_of(v), f"{v:g}") for v in values]
    moments = time_ticks(start, start + timedelta(seconds=span))
    step = (moments[1] - moments[0]).total_seconds() if len(moments) > 1 else 1
    x_ticks = []
    for moment in moments:
        x = x_of(moment)
        anchor = "start" if x < LEFT + 30 else "end" if x > WIDTH - RIGHT - 30 else "middle"
        x_ticks.append((x, time_label(moment, step), anchor))
    return LatencyChart(
        points=points,
        lines=[" ".join(line) for line in lines if len(line) > 1],
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        empty=False,
        bands=bands,
        **base,
    )
