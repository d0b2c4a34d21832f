"""Alert evidence as the analyst reads it: a picture per rule, then every key value.

Evidence is what the detection job recorded (docs/rules.md, "Alert evidence"): the matched event
ids plus the rule's key values. Known rules get a small inline SVG (no external assets): the two
locations and the implied speed for impossible_travel, the reading against its baseline for spike,
drift and any rule whose evidence carries a value with a mean/baseline (the adaptive rules' ``score``
gets a bar), the kill series for aimbot, the range for out_of_range… Every rule, known or not, also
gets the full key/value table, so a new rule shows sensibly before anyone writes a picture for it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

Evidence = Mapping[str, Any]
Params = Mapping[str, float]


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
    return float(value) if math.isfinite(value) else None


def fmt(value: Any) -> str:
    """Numbers readable (``12,345.6``, ``0.0312``); anything else as compact JSON or text."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        digits = max(0, 3 - math.floor(math.log10(abs(value)))) if value else 0
        text = f"{value:,.{min(digits, 6)}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, separators=(", ", ": "))


def _svg(width: int, height: int, body: list[str], label: str, cls: str = "chart") -> Markup:
    """The one place SVG markup becomes ``Markup``: ``body`` holds numbers and ``escape``d text only."""
    return Markup(f'<svg class="{cls}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '  # noqa: S704
                  f'role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>{"".join(body)}</svg>')


def _captioned(svg: Markup, caption: str) -> Markup:
    return svg + Markup("<figcaption>{}</figcaption>").format(caption)


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "lbl") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{escape(text)}</text>'


# --- pictures per rule --------------------------------------------------------------------------


def baseline_chart(value: float, mean: float, std: float, *, threshold_sigma: float | None, value_label: str,
                   baseline_label: str = "baseline") -> Markup:
    """A reading (or moving average) against its baseline: mean ± 1σ band, the alerting threshold (dashed)."""
    std = max(abs(std), 1e-9)
    reach = max(threshold_sigma or 3.0, 3.0, abs(value - mean) / std) * 1.15
    lo, hi = mean - reach * std, mean + reach * std
    width, height, left, right = 420, 86, 10, 410

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (right - left)

    body = [f'<line x1="{left}" y1="44" x2="{right}" y2="44" class="axis"/>',
            f'<rect x="{x(mean - std):.1f}" y="30" width="{x(mean + std) - x(mean - std):.1f}" height="28" '
            f'class="band"/>',
            f'<line x1="{x(mean):.1f}" y1="26" x2="{x(mean):.1f}" y2="62" class="mean"/>',
            _text(x(mean), 20, f"{baseline_label} {fmt(mean)} ± {fmt(std)}", "middle")]
    if threshold_sigma:
        for side in (-1, 1):
            tx = x(mean + side * threshold_sigma * std)
            body.append(f'<line x1="{tx:.1f}" y1="28" x2="{tx:.1f}" y2="60" class="threshold"/>')
        body.append(_text(x(mean + threshold_sigma * std), 76, f"threshold {fmt(threshold_sigma)}σ", "middle",
                          "lbl muted"))
    body += [f'<circle cx="{x(value):.1f}" cy="44" r="6" class="hit"/>',
             _text(min(max(x(value), 60), 360), 76 if not threshold_sigma else 12, f"{value_label} {fmt(value)}",
                   "middle", "lbl strong")]
    sigma = abs(value - mean) / std
    label = f"{value_label} {fmt(value)} is {sigma:.1f}σ from the {baseline_label} {fmt(mean)} ± {fmt(std)}"
    if threshold_sigma:
        label += f" (alerts beyond {fmt(threshold_sigma)}σ)"
    return _captioned(_svg(width, height, body, label), label)


def series_chart(points: Sequence[tuple[datetime, float, float | None, float | None]], *, label: str,
                 marked: Sequence[bool] | None = None, reference: tuple[float, str] | None = None) -> Markup:
    """Values over time (``(t, value, mean, std)``), each with its baseline band when it has one.

    ``marked``: which points to draw red (the alert's own events; the rest are context); ``reference``:
    a labelled horizontal line (a threshold)."""
    width, height, left, right, top, bottom = 420, 120, 46, 410, 10, 96
    values = [v for _, v, _, _ in points] + ([reference[0]] if reference else [])
    for _, _, m, s in points:
        if m is not None and s is not None:
            values += [m - s, m + s]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.1
    lo, hi = lo - pad, hi + pad
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()

    def x(t: datetime) -> float:
        return (left + right) / 2 if t1 == t0 else left + (t.timestamp() - t0) / (t1 - t0) * (right - left)

    def y(v: float) -> float:
        return bottom - (v - lo) / (hi - lo) * (bottom - top)

    body = [f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" class="axis"/>',
            _text(left - 4, y(hi - pad) + 4, fmt(hi - pad), "end", "lbl muted"),
            _text(left - 4, y(lo + pad) + 4, fmt(lo + pad), "end", "lbl muted"),
            _text(left, 114, points[0][0].strftime("%H:%M:%S"), "start", "lbl muted"),
            _text(right, 114, points[-1][0].strftime("%H:%M:%S"), "end", "lbl muted")]
    for t, _, m, s in points:
        if m is not None and s is not None:
            body.append(f'<rect x="{x(t) - 5:.1f}" y="{y(m + s):.1f}" width="10" height="{y(m - s) - y(m + s):.1f}" '
                        f'class="band"/>')
    if reference is not None:
        ry = y(reference[0])
        body += [f'<line x1="{left}" y1="{ry:.1f}" x2="{right}" y2="{ry:.1f}" class="threshold"/>',
                 _text(right, ry - 3, reference[1], "end", "lbl muted")]
    if len(points) > 1:
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v, _, _ in points)
        body.append(f'<polyline points="{path}" class="line"/>')
    for i, (t, v, _, _) in enumerate(points):
        cls = "hit" if marked is None or marked[i] else "reading"
        body.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="{4 if cls == "hit" else 3}" class="{cls}"><title>'
                    f'{escape(t.strftime("%H:%M:%S"))}: {escape(fmt(v))}</title></circle>')
    return _captioned(_svg(width, height, body, label), label)


def travel_map(a: tuple[float, float], b: tuple[float, float], *, distance_km: float | None,
               speed_kmh: float | None, limit_kmh: float | None) -> Markup:
    """The two locations on a lat/lon grid (equirectangular, zoomed to them), joined by the implied trip."""
    (lat1, lon1), (lat2, lon2) = a, b
    mid = math.radians((lat1 + lat2) / 2)
    span = max(abs(lat2 - lat1), abs(lon2 - lon1) * math.cos(mid), 0.5) * 1.5
    width, height = 420, 220
    lon_span = span / max(math.cos(mid), 0.2) * width / height
    clat, clon = (lat1 + lat2) / 2, (lon1 + lon2) / 2

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (width / 2 + (lon - clon) / lon_span * width, height / 2 - (lat - clat) / span * height)

    step = next((s for s in (0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 45, 90) if lon_span * 2 / s <= 10), 90)
    body = [f'<rect x="0" y="0" width="{width}" height="{height}" class="sea"/>']
    lat = math.floor((clat - span) / step) * step
    while lat <= clat + span:
        _, gy = xy(lat, clon)
        if 0 < gy < height and -90 <= lat <= 90:
            body += [f'<line x1="0" y1="{gy:.1f}" x2="{width}" y2="{gy:.1f}" class="grid"/>',
                     _text(3, gy - 2, f"{lat:g}°", "start", "lbl muted")]
        lat += step
    lon = math.floor((clon - lon_span) / step) * step
    while lon <= clon + lon_span:
        gx, _ = xy(clat, lon)
        if 0 < gx < width and -180 <= lon <= 180:
            body += [f'<line x1="{gx:.1f}" y1="0" x2="{gx:.1f}" y2="{height}" class="grid"/>',
                     _text(gx + 2, height - 3, f"{lon:g}°", "start", "lbl muted")]
        lon += step
    (x1, y1), (x2, y2) = xy(lat1, lon1), xy(lat2, lon2)
    body += [f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" class="trip"/>',
             f'<circle cx="{x1:.1f}" cy="{y1:.1f}" r="6" class="from"/>', _text(x1 + 9, y1 + 4, "A", cls="lbl strong"),
             f'<circle cx="{x2:.1f}" cy="{y2:.1f}" r="6" class="hit"/>', _text(x2 + 9, y2 + 4, "B", cls="lbl strong")]
    summary = f"A {lat1:.4f}, {lon1:.4f} to B {lat2:.4f}, {lon2:.4f}"
    if distance_km is not None:
        summary += f": {fmt(distance_km)} km"
    if speed_kmh is not None:
        summary += f", implied speed {fmt(speed_kmh)} km/h"
        if limit_kmh:
            summary += f" (limit {fmt(limit_kmh)} km/h)"
    return _captioned(_svg(width, height, body, summary), summary)


def ratio_bar(value: float, limit: float, *, label: str, unit: str = "", worse: str = "above",
              scale_max: float | None = None) -> Markup:
    """One figure on a bar with its limit marked (``worse``: which side of the limit is suspicious)."""
    width, left, right = 420, 10, 410
    top = scale_max or max(value, limit) * 1.25 or 1.0

    def x(v: float) -> float:
        return left + min(max(v / top, 0), 1) * (right - left)

    fill = ("fill-bad" if value > limit else "fill") if worse == "above" else ("fill-bad" if value < limit else "fill")
    body = [f'<rect x="{left}" y="20" width="{right - left}" height="14" class="track"/>',
            f'<rect x="{left}" y="20" width="{x(value) - left:.1f}" height="14" class="{fill}"/>',
            f'<line x1="{x(limit):.1f}" y1="14" x2="{x(limit):.1f}" y2="40" class="threshold"/>',
            _text(left, 12, f"{label} {fmt(value)}{unit}", cls="lbl strong"),
            _text(x(limit), 52, f"limit {fmt(limit)}{unit}", "middle", "lbl muted")]
    return _svg(width, 56, body, f"{label} {fmt(value)}{unit} (limit {fmt(limit)}{unit})")


def kill_strip(event_ids: Sequence[str], headshots: int | None, link: Callable[[str], str]) -> Markup:
    """The kill series: one marker per kill event, in order, each a link to the raw event."""
    n = len(event_ids)
    width = max(60, 30 * n + 20)
    body = []
    for i, event_id in enumerate(event_ids):
        cx = 20 + 30 * i
        body.append(f'<a href="{escape(link(event_id))}"><circle cx="{cx}" cy="20" r="9" class="kill"><title>kill '
                    f'{i + 1}: {escape(event_id)}</title></circle></a>')
        body.append(_text(cx, 44, str(i + 1), "middle", "lbl muted"))
    label = f"{n} kills" + (f", {headshots} headshots" if headshots is not None else "")
    return _svg(width, 50, body, label)


# --- per rule -------------------------------------------------------------------------------------


def _point(value: Any) -> tuple[float, float] | None:
    if isinstance(value, Mapping):
        lat, lon = number(value.get("lat")), number(value.get("lon"))
        if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
            return lat, lon
    return None


def _impossible_travel(ev: Evidence, params: Params, link: Callable[[str], str]) -> Markup | None:
    a, b = _point(ev.get("from")), _point(ev.get("to"))
    if a is None or b is None:
        return None
    return travel_map(a, b, distance_km=number(ev.get("distance_km")), speed_kmh=number(ev.get("speed_kmh")),
                      limit_kmh=params.get("max_speed_kmh"))


def baseline_of(ev: Evidence) -> tuple[float, float, float, str, str] | None:
    """``(value, mean, std, value label, baseline label)`` from any evidence that has them (spike, drift,
    adaptive rules with ``value`` + ``baseline``/``mean`` [+ ``std``/``baseline_std``])."""
    value = next((number(ev.get(k)) for k in ("value", "moving_avg") if number(ev.get(k)) is not None), None)
    mean = next((number(ev.get(k)) for k in ("mean", "baseline_mean", "baseline") if number(ev.get(k)) is not None),
                None)
    if value is None or mean is None:
        return None
    std = next((number(ev.get(k)) for k in ("std", "baseline_std", "sigma_baseline") if number(ev.get(k)) is not None),
               None)
    z = number(ev.get("z")) or number(ev.get("sigma"))
    if std is None and z:
        std = abs(value - mean) / abs(z)
    if not std:
        return None
    label = "moving average" if "moving_avg" in ev else "reading"
    return value, mean, std, label, "baseline"


def _baseline(ev: Evidence, params: Params, link: Callable[[str], str]) -> Markup | None:
    found = baseline_of(ev)
    if found is None:
        return None
    value, mean, std, label, base = found
    threshold = params.get("z_threshold") or params.get("drift_sigma")
    return baseline_chart(value, mean, std, threshold_sigma=threshold, value_label=label, baseline_label=base)


def _aimbot(ev: Evidence, params: Params, link: Callable[[str], str]) -> Markup | None:
    ids = [str(e) for e in ev.get("event_ids") or []]
    ratio, reaction = number(ev.get("headshot_ratio")), number(ev.get("avg_reaction_ms"))
    parts = []
    if ids:
        headshots = round(ratio * len(ids)) if ratio is not None else None
        parts.append(kill_strip(ids, headshots, link))
    if ratio is not None:
        parts.append(ratio_bar(ratio, params.get("min_headshot_ratio", 0.8), label="headshot ratio", worse="above",
                               scale_max=1.0))
    if reaction is not None:
        parts.append(ratio_bar(reaction, params.get("max_avg_reaction_ms", 150), label="mean reaction", unit=" ms",
                               worse="below"))
    return Markup("").join(parts) if parts else None


def _out_of_range(ev: Evidence, params: Params, link: Callable[[str], str]) -> Markup | None:
    value, lo, hi = number(ev.get("value")), number(ev.get("min")), number(ev.get("max"))
    if value is None or lo is None or hi is None or hi <= lo:
        return None
    return baseline_chart(value, (lo + hi) / 2, (hi - lo) / 2, threshold_sigma=1.0, value_label="reading",
                          baseline_label="allowed range, centre")


def _speed_hack(ev: Evidence, params: Params, link: Callable[[str], str]) -> Markup | None:
    speed = number(ev.get("speed_ups"))
    return None if speed is None else ratio_bar(speed, params.get("max_speed_ups", 20), label="speed", unit=" u/s")


def _score(ev: Evidence, params: Params, link: Callable[[str], str]) -> Markup | None:
    score = number(ev.get("score"))
    return None if score is None or not 0 <= score <= 1 else ratio_bar(score, params.get("min_score", 0.5),
                                                                      label="score", scale_max=1.0)


PICTURES: dict[str, Callable[[Evidence, Params, Callable[[str], str]], Markup | None]] = {
    "impossible_travel": _impossible_travel,
    "aimbot": _aimbot,
    "out_of_range": _out_of_range,
    "speed_hack": _speed_hack,
}


def picture(rule_id: str, ev: Evidence, params: Params, link: Callable[[str], str]) -> Markup | None:
    """The rule's picture; for other rules, a baseline chart and/or score bar when the evidence has them."""
    render = PICTURES.get(rule_id)
    if render is not None:
        return render(ev, params, link)
    parts = [p for p in (_score(ev, params, link), _baseline(ev, params, link)) if p is not None]
    return Markup("").join(parts) if parts else None


def key_values(ev: Evidence) -> list[tuple[str, str]]:
    """Every key except ``event_ids``, values readable (nested objects as compact JSON)."""
    return [(str(k), fmt(v)) for k, v in ev.items() if k != "event_ids"]


def incident_series(alerts: Sequence[Mapping[str, Any]]) -> Markup | None:
    """For spike/drift-like evidence: the alerting readings of the incident over time, each with its baseline."""
    points = []
    for a in alerts:
        found = baseline_of(a["evidence"])
        if found is not None:
            value, mean, std, _, _ = found
            points.append((a["last_event_time"], value, mean, std))
    if len(points) < 2:
        return None
    points.sort(key=lambda p: p[0])
    return series_chart(points, label=f"{len(points)} alerting readings over time, each with its baseline ± 1σ")


def sparkline(values: Sequence[int], label: str) -> Markup:
    """Counts as tiny bars (rule quality: alerts per day, oldest first)."""
    top = max(values, default=0) or 1
    bars = [f'<rect x="{i * 6}" y="{20 - 20 * v / top:.1f}" width="5" height="{20 * v / top:.1f}" class="fill">'
            f'<title>{v}</title></rect>' for i, v in enumerate(values)]
    return _svg(max(6 * len(values), 6), 20, bars, label, cls="spark")
