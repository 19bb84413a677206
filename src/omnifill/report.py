"""The HTML report: one self-contained file (inline SVG, CSS and a few lines of script; no
network, no external files) for a bench run (``bench_report``) or one plan
(``plan_report``, ``omnifill reroute --report``).

What it shows, per run (a policy on the baseline or on a what-if variant):

- a map in the city's projected metres (``geo.LocalProjection``): stores as circles sized by
  the packages they sent (warehouses as squares), each store's 30-minute delivery reach as a
  faint circle (the radius rule's zone; drawn up to ``MAX_REACH_CIRCLES`` stores), orders
  as dots coloured on time, late or unfilled (a seeded sample of ``MAX_ORDER_DOTS`` when
  there are more, said under the map);
- the ETA histogram (5-minute bins to 120 minutes, then one bin for everything later, parcels
  included) with the 30- and 60-minute promises marked;
- across runs: on-time rate per promise tier, packages per order and transfers, the KPI
  table and the differences: each variant against the baseline under the same policy, and
  the baseline under each further policy against it under the first.

Charts are drawn as SVG here, in Python; the page's script only toggles map layers. Every
number in a chart is also in the KPI table, and every mark has a tooltip (an SVG title).
"""

from __future__ import annotations

import html
import json
import math

import numpy as np
import shapely

from .geo import LocalProjection
from .travel import model_of

MAX_ORDER_DOTS = 6000
MAX_REACH_CIRCLES = 2000
MAX_ZONES_DRAWN = 3000  # zone outlines drawn on a map
ZONE_SIMPLIFY_DEG = 1e-4  # zone rings simplified to about 10 m for drawing
MAX_ROAD_SEGMENTS = 60_000  # streets drawn under the map (about 2 MB of SVG); a larger graph is not drawn
COLOURS = {"on_time": "#2a9d5c", "late": "#e08a1e", "unfilled": "#c0392b", "store": "#1f4e9c",
           "warehouse": "#6b3fa0", "reach": "#1f4e9c", "road": "#9aa3ad", "zone": "#7a3e9d"}
SERIES = ["#1f4e9c", "#e08a1e", "#2a9d5c", "#c0392b", "#6b3fa0", "#17becf", "#8c564b", "#7f7f7f"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#222;
padding:0 16px}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:right}th:first-child,td:first-child{text-align:left}
thead th{background:#f5f6f8;position:sticky;top:0}
.good{color:#1e7b45}.bad{color:#b03a2e}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0}figcaption{font-size:12px;color:#555;max-width:560px}
svg text{font-size:11px;fill:#333}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}
.legend label{margin-right:14px;font-size:13px}
.dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px;vertical-align:middle}
"""

SCRIPT = """
document.querySelectorAll('.legend input[type=checkbox]').forEach(function (box) {
  box.addEventListener('change', function () {
    var map = document.getElementById(box.dataset.map);
    map.querySelectorAll('.' + box.dataset.layer).forEach(function (g) {
      g.style.display = box.checked ? '' : 'none';
    });
  });
});
document.body.dataset.ready = '1';
"""


def _e(s) -> str:
    return html.escape(str(s), quote=True)


def _fmt(v, key: str = "") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    if "rate" in key or "utilisation" in key or key.endswith("_loss") or key.startswith("gap_"):
        return f"{100 * v:.1f}%"
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and v == int(v) and abs(v) >= 1000):
        return f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 10 else f"{v:,.1f}"
    return _e(v)


# --- charts --------------------------------------------------------------------------------------

def _nice_max(v: float, *, counts: bool = False) -> float:
    """The axis top for data up to ``v``: four equal steps of 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8
    times a power of ten (whole steps of at least 1 for ``counts``), so grid lines fall on
    round numbers."""
    raw = max(float(v), 1e-9) / 4
    if counts:
        raw = max(raw, 1.0)
    mag = 10.0 ** math.floor(math.log10(raw))
    steps = (1, 2, 3, 4, 5, 6, 8, 10) if counts and mag < 10 else (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
    return 4 * next(m * mag for m in steps if m * mag >= raw * (1 - 1e-12))


def _frame(title: str, width: int, height: int, left: float, top: float, w: float, h: float, vmax: float,
           tick) -> list[str]:
    """A chart's opening: the svg element, its title, and five horizontal grid lines from 0
    to ``vmax`` over the plot area (``left``, ``top``, ``w`` x ``h``), labelled by ``tick``."""
    out = [(f'<svg class="chart" role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}"><text x="{left}" y="16" font-weight="600">{_e(title)}</text>')]
    for k in range(5):
        v = vmax * k / 4
        y = top + h - h * k / 4
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick(v)}</text>')
    return out


def _bars(title: str, groups: list[str], series: list[tuple[str, list]], *, pct: bool = False,
          width: int = 560, height: int = 260) -> str:
    """A grouped bar chart: one group per entry of ``groups``, one bar per series; the
    legend wraps onto as many rows as the series' names need (the chart grows to fit)."""
    left, right, top, bottom = 48, 12, 26, 36
    legend, lx, ly = [], left, 0
    for si, (name, _) in enumerate(series):
        wd = 14 + 7 * len(str(name)) + 16
        if lx > left and lx + wd > width - right:
            lx, ly = left, ly + 16
        legend.append((lx, ly, si, name))
        lx += wd
    height += ly
    w, h = width - left - right, height - top - bottom - 16 - ly
    vals = [v for _, vs in series for v in vs if v is not None and math.isfinite(v)]
    vmax = 1.0 if pct else _nice_max(max(vals + [1e-9]) * 1.02)  # a rate's axis ends at 100%
    ng, ns = max(1, len(groups)), max(1, len(series))
    gw = w / ng
    bw = gw * 0.8 / ns
    out = _frame(title, width, height, left, top, w, h, vmax,
                 (lambda v: f"{100 * v:.0f}%") if pct else (lambda v: _fmt(float(v))))
    for gi, g in enumerate(groups):
        x0 = left + gi * gw + gw * 0.1
        for si, (name, vs) in enumerate(series):
            v = vs[gi]
            if v is None or not math.isfinite(v):
                continue
            bh = h * min(v, vmax) / vmax
            x = x0 + si * bw
            out.append(f'<rect class="mark" x="{x:.1f}" y="{top + h - bh:.1f}" width="{max(bw - 1, 1):.1f}" '
                       f'height="{max(bh, 0.5):.1f}" fill="{SERIES[si % len(SERIES)]}"><title>{_e(name)}, '
                       f'{_e(g)}: {f"{100 * v:.1f}%" if pct else _fmt(float(v))}</title></rect>')
        out.append(f'<text x="{left + gi * gw + gw / 2:.1f}" y="{top + h + 14}" text-anchor="middle">'
                   f'{_e(g)}</text>')
    out.append(f'<line x1="{left}" x2="{left + w}" y1="{top + h}" y2="{top + h}" stroke="#999"/>')
    y0 = top + h + bottom - 12
    for lx, ly, si, name in legend:
        out.append(f'<rect x="{lx}" y="{y0 + ly}" width="10" height="10" fill="{SERIES[si % len(SERIES)]}"/>'
                   f'<text x="{lx + 14}" y="{y0 + ly + 9}">{_e(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def _eta_counts(eta: np.ndarray) -> np.ndarray:
    # orders per 5-minute bin of ETA up to 120, then one bin for 120 and later
    eta = eta[~np.isnan(eta)]
    later = int((eta >= 120).sum())
    return np.append(np.histogram(eta[eta < 120], bins=np.arange(0, 125, 5.0))[0], later)


def _histogram(title: str, eta: np.ndarray, *, top_count: int | None = None, width: int = 560,
               height: int = 220) -> str:
    """ETA histogram: 5-minute bins to 120, one bin for later; the 30 and 60 promises marked.
    ``top_count``: the count axis reaches at least this (one scale for histograms compared)."""
    counts = _eta_counts(eta)
    left, right, top, bottom = 48, 12, 26, 34
    w, h = width - left - right, height - top - bottom
    vmax = _nice_max(max(int(counts.max()), top_count or 0) * 1.02, counts=True)
    nb = len(counts)
    bw = w / nb
    out = _frame(title, width, height, left, top, w, h, vmax, lambda v: f"{v:,.0f}")
    for b, c in enumerate(counts.tolist()):
        lo = b * 5
        label = f"{lo}-{lo + 5} min" if b < nb - 1 else "120 min or later"
        colour = COLOURS["on_time"] if lo + 5 <= 30 else (COLOURS["late"] if b < nb - 1 else COLOURS["unfilled"])
        bh = h * c / vmax
        out.append(f'<rect class="mark" x="{left + b * bw:.1f}" y="{top + h - bh:.1f}" width="{bw - 1:.1f}" '
                   f'height="{max(bh, 0.5):.1f}" fill="{colour}" opacity="0.85"><title>{label}: {c:,} orders'
                   f'</title></rect>')
    for p in (30, 60):
        x = left + (p / 5) * bw
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + h}" stroke="#222" '
                   f'stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="{top + 10}">{p} min promise</text>')
    for t in (0, 30, 60, 90, 120):
        x = left + (t / 5) * bw
        out.append(f'<text x="{x:.1f}" y="{top + h + 14}" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{left + w}" y="{height - 4}" text-anchor="end">ETA, minutes from arrival</text>')
    out.append("</svg>")
    return "".join(out)


def _zone_paths(zones, proj, px) -> tuple[dict[int, str], int]:
    # each tier's zones as one SVG path (rings simplified to about 10 m), and how many drawn
    d: dict[int, list[str]] = {30: [], 60: []}
    drawn = 0
    for _, tier, geom in zones[:MAX_ZONES_DRAWN]:
        g = shapely.simplify(geom, ZONE_SIMPLIFY_DEG)
        drawn += 1
        for poly in shapely.get_parts(g):
            if poly.geom_type != "Polygon" or poly.is_empty:
                continue
            for ring in [poly.exterior, *poly.interiors]:
                xy = np.asarray(ring.coords)
                x, y = px(*proj.to_xy(xy[:, 1], xy[:, 0]))
                d.setdefault(int(tier), []).append("M" + "L".join(f"{a:.1f} {b:.1f}" for a, b in zip(x, y)) + "Z")
    return {t: "".join(v) for t, v in d.items() if v}, drawn


def _map(r, map_id: str, cfg=None, *, size: int = 620, seed: int = 0, zones=None) -> tuple[str, str]:
    """The run's map and its caption. zones: (store, tier, geometry) to draw (the network's)."""
    stores = np.flatnonzero(np.isfinite(r.store_lat))
    proj = LocalProjection.around(np.concatenate([r.store_lat, r.lat]), np.concatenate([r.store_lon, r.lon]))
    sx, sy = proj.to_xy(r.store_lat, r.store_lon)
    ox, oy = proj.to_xy(r.lat, r.lon)
    allx = np.concatenate([sx, ox])
    ally = np.concatenate([sy, oy])
    # the central 99.5% of points frame the map (a stray far point does not shrink the city)
    x0, x1 = np.percentile(allx, [0.25, 99.75]) if len(allx) > 50 else (allx.min(), allx.max())
    y0, y1 = np.percentile(ally, [0.25, 99.75]) if len(ally) > 50 else (ally.min(), ally.max())
    span = max(x1 - x0, y1 - y0, 1000.0) * 1.06
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    k = size / span

    def px(x, y):
        return (x - cx) * k + size / 2, size / 2 - (y - cy) * k

    out = [(f'<svg id="{map_id}" class="chart map" role="img" aria-label="map" width="{size}" height="{size}" '
           f'viewBox="0 0 {size} {size}" style="background:#fafbfc;border:1px solid #e3e3e3">')]
    # by road: the road graph under everything (each street once, both directions as one line)
    roads_drawn = None
    if cfg is not None and cfg.travel.provider == "road":
        from .roads import graph_of

        graph, name = graph_of(cfg.travel)
        a, b = np.minimum(graph.src, graph.dst), np.maximum(graph.src, graph.dst)
        keep = np.unique(a * len(graph) + b)
        a, b = keep // len(graph), keep % len(graph)
        if len(a) <= MAX_ROAD_SEGMENTS:
            gx, gy = proj.to_xy(graph.lat, graph.lon)
            x, y = px(gx, gy)
            d = "".join(f"M{x[i]:.1f} {y[i]:.1f}L{x[j]:.1f} {y[j]:.1f}" for i, j in zip(a.tolist(), b.tolist()))
            out.append(f'<g class="roads"><path d="{d}" stroke="{COLOURS["road"]}" stroke-width="0.6" '
                       'stroke-opacity="0.5" fill="none"/></g>')
            roads_drawn = f"grey lines: the road graph ({name}, {len(graph):,} nodes, {len(a):,} streets)"
        else:
            roads_drawn = f"the road graph ({len(a):,} streets) is too large to draw"
    # the delivery zones (from a zones file, such as omnifill zones writes): outlines by tier
    zones_drawn = None
    if zones:
        paths, drawn = _zone_paths(zones, proj, px)
        for tier, d in sorted(paths.items()):
            dash = ' stroke-dasharray="3 2"' if tier == 60 else ""
            out.append(f'<g class="zones tier{tier}"><path d="{d}" fill="{COLOURS["zone"]}" fill-opacity="0.04" '
                       f'fill-rule="evenodd" stroke="{COLOURS["zone"]}" stroke-opacity="0.45" stroke-width="0.7"'
                       f'{dash}/></g>')
        zones_drawn = (f"outlines: {drawn:,} delivery zones (30-minute solid, 60-minute dashed)"
                       + (f", the first {MAX_ZONES_DRAWN:,} of {len(zones):,}" if len(zones) > drawn else ""))
    # reach circles: the 30-minute tier's radius around each store (handling plus the courier
    # leg); by road a reach is no circle (omnifill zones draws it)
    reach_m = None
    if cfg is not None and cfg.travel.provider != "road" and len(stores) <= MAX_REACH_CIRCLES:
        reach_m = float(model_of(cfg.travel).reach_m(max(0.0, 30 - cfg.travel.handling_min)))
        out.append('<g class="reach">')
        for s in stores.tolist():
            if r.store_kind[s] != "store":
                continue
            x, y = px(sx[s], sy[s])
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{reach_m * k:.1f}" fill="{COLOURS["reach"]}" '
                       f'fill-opacity="0.025" stroke="{COLOURS["reach"]}" stroke-opacity="0.12" stroke-width="0.5"/>')
        out.append("</g>")
    n = len(r.order_id)
    show = np.arange(n)
    if n > MAX_ORDER_DOTS:
        show = np.sort(np.random.default_rng(seed).choice(n, MAX_ORDER_DOTS, replace=False))
    status = np.where(r.unfilled > 0, "unfilled", np.where(r.on_time, "on_time", "late"))
    for st in ("on_time", "late", "unfilled"):
        sel = show[status[show] == st]
        out.append(f'<g class="orders {st}">')
        for i in sel.tolist():
            x, y = px(ox[i], oy[i])
            eta = "no line filled" if math.isnan(r.eta[i]) else f"ETA {r.eta[i]:.0f} min"
            out.append(f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="1.8" fill="{COLOURS[st]}" '
                       f'fill-opacity="0.7"><title>{_e(r.order_id[i])}: {eta}, promise {r.promise[i]:g}'
                       f'</title></circle>')
        out.append("</g>")
    top = max(1, int(r.store_packages.max()) if len(r.store_packages) else 1)
    out.append('<g class="stores">')
    for s in stores.tolist():
        x, y = px(sx[s], sy[s])
        load = int(r.store_packages[s])
        rad = 2.0 + 9.0 * math.sqrt(load / top)
        tip = f"<title>{_e(r.store_id[s])} ({_e(r.store_kind[s])}): {load:,} packages</title>"
        if r.store_kind[s] == "warehouse":
            out.append(f'<rect class="mark" x="{x - rad:.1f}" y="{y - rad:.1f}" width="{2 * rad:.1f}" '
                       f'height="{2 * rad:.1f}" fill="{COLOURS["warehouse"]}" fill-opacity="0.8">{tip}</rect>')
        else:
            out.append(f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="{rad:.1f}" fill="{COLOURS["store"]}" '
                       f'fill-opacity="{0.85 if load else 0.25}" stroke="#fff" stroke-width="0.5">{tip}</circle>')
    out.append("</g>")
    # a scale bar
    bar_m = 10 ** math.floor(math.log10(span / 4))
    out.append(f'<line x1="16" x2="{16 + bar_m * k:.1f}" y1="{size - 16}" y2="{size - 16}" stroke="#333" '
               f'stroke-width="2"/><text x="16" y="{size - 22}">{bar_m / 1000:g} km</text></svg>')
    cap = (f"{len(stores):,} stores (circle area by packages sent), {n:,} orders"
           + (f" ({MAX_ORDER_DOTS:,} drawn, a seeded sample)" if n > MAX_ORDER_DOTS else "")
           + (f"; faint circles: each store's 30-minute reach ({reach_m / 1000:.1f} km)" if reach_m else "")
           + (f"; {roads_drawn}" if roads_drawn else "")
           + (f"; {zones_drawn}" if zones_drawn else "")
           + ". Projected metres around the city's centre (north up).")
    return "".join(out), cap


def _legend(map_id: str) -> str:
    items = [("on_time", "on time"), ("late", "late"), ("unfilled", "unfilled"), ("reach", "30-min reach"),
             ("stores", "stores")]
    return ('<div class="legend">' + "".join(
        f'<label><input type="checkbox" checked data-map="{map_id}" data-layer="{cls}">'
        f'<span class="dot" style="background:{COLOURS.get(cls, "#1f4e9c")}"></span>{_e(name)}</label>'
        for cls, name in items) + "</div>")


# --- tables --------------------------------------------------------------------------------------

KPI_ROWS = [
    ("orders", "orders"), ("lines", "lines"), ("on_time_rate", "on-time rate"),
    ("on_time_rate_by_tier", "on-time rate, tier"), ("eta_mean_min", "ETA mean (min)"),
    ("eta_p90_min", "ETA p90 (min)"), ("packages_per_order", "packages per order"), ("transfers", "transfers"),
    ("parcels", "parcels"), ("unfilled_lines", "unfilled lines"), ("unfilled_orders", "orders with a line unfilled"),
    ("moved", "orders moved"), ("total_cost", "total cost"), ("cost_per_order", "cost per order"),
    ("stores_used", "stores sending"), ("store_packages_mean", "packages per store, mean"),
    ("store_packages_max", "packages per store, max"), ("store_utilisation_mean", "store utilisation, mean"),
    ("store_utilisation_max", "store utilisation, max"), ("replans", "plans made"),
    # (only for a day that simulated stores rejecting lines)
    ("rejected_lines", "rejected lines"), ("rejected_line_rate", "share of lines rejected"),
    ("rejected_orders", "orders with a rejection"), ("reroutes", "re-routes after a rejection"),
    ("rejection_extra_cost", "rejections: extra cost"), ("rejection_on_time_loss", "rejections: on-time loss"),
    # (only with the hindsight policy among the runs)
    ("gap_to_hindsight", "cost above the hindsight plan"), ("gap_to_hindsight_bound", "cost above its lower bound"),
    ("hindsight_lower_bound", "hindsight lower bound"),
    # (only for online+prices)
    ("reprices", "shadow prices: LP solves"), ("price_seconds", "shadow prices: seconds solving"),
    ("price_changed_orders", "decisions a price changed"),
    ("price_unpriced_orders", "orders decided unpriced (search budget)"),
    ("priced_units_mean", "stock rows priced, mean"),
    ("route_p50_us", "priced decision p50 (us)"), ("route_p99_us", "priced decision p99 (us)"),
    ("orders_per_second", "orders per second simulated"), ("wall_s", "wall time (s)"),
]
# lower is better for these; higher for on-time rates
LOWER_BETTER = {"eta_mean_min", "eta_p90_min", "packages_per_order", "transfers", "parcels", "unfilled_lines",
                "total_cost", "cost_per_order", "moved", "rejected_lines", "rejection_extra_cost", "gap_to_hindsight"}


def kpi_table(runs: list[dict]) -> str:
    """The KPI table: one column per run (``{"variant", "policy", "kpis"}``)."""
    tiers = sorted({t for r in runs for t in r["kpis"].get("on_time_rate_by_tier", {})}, key=float)
    head = "".join(f"<th>{_e(r['variant'])}<br><small>{_e(r['policy'])}</small></th>" for r in runs)
    body = []
    for key, name in KPI_ROWS:
        if key == "on_time_rate_by_tier":
            for t in tiers:
                cells = "".join(f"<td>{_fmt(r['kpis']['on_time_rate_by_tier'].get(t), 'rate')}</td>" for r in runs)
                body.append(f"<tr><td>{_e(name)} {_e(t)} min</td>{cells}</tr>")
            continue
        if all(key not in r["kpis"] for r in runs):
            continue
        cells = "".join(f"<td>{_fmt(r['kpis'].get(key), key)}</td>" for r in runs)
        body.append(f"<tr><td>{_e(name)}</td>{cells}</tr>")
    return (f'<table class="kpis"><thead><tr><th>KPI</th>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table>")


def diff_table(runs: list[dict]) -> str:
    """Each variant against the baseline under the same policy (``vs_baseline``), and the
    baseline under each further policy against it under the first (``vs_first_policy``):
    the change and its share. A run is never shown against itself."""
    first = _first_policy(runs)
    cols = []  # (run, its differences, what they are against)
    for r in runs:
        if r["variant"] != "baseline":
            cols.append((r, r.get("vs_baseline", {}), f"baseline / {r['policy']}"))
        elif r["policy"] != first and "vs_first_policy" in r:
            cols.append((r, r["vs_first_policy"], f"baseline / {first}"))
    if not cols:
        return "<p>Only the baseline under one policy ran: nothing to compare.</p>"
    keys = []
    for _, d, _ in cols:
        for k in d:
            if k not in keys:
                keys.append(k)
    head = "".join(f"<th>{_e(r['variant'])} / {_e(r['policy'])}<br><small>against {_e(ag)}</small></th>"
                   for r, _, ag in cols)
    body = []
    for k in keys:
        cells = []
        for _, diffs, _ in cols:
            d = diffs.get(k)
            if d is None:
                cells.append("<td>n/a</td>")
                continue
            delta, rel = d["delta"], d["relative"]
            better = (delta < 0) if k in LOWER_BETTER else (delta > 0)
            cls = "" if abs(delta) < 1e-12 else ("good" if better else "bad")
            txt = (f"{100 * delta:+.1f} pts" if "rate" in k else f"{delta:+,.3g}" if abs(delta) < 10
                   else f"{delta:+,.0f}")
            if rel is not None and "rate" not in k:
                txt += f" ({100 * rel:+.1f}%)"
            cells.append(f'<td class="{cls}">{txt}</td>')
        body.append(f"<tr><td>{_e(k.replace('_', ' '))}</td>{''.join(cells)}</tr>")
    return (f"<table class=\"diffs\"><thead><tr><th>change</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _first_policy(runs):
    return runs[0]["policy"] if runs else None


# --- pages ---------------------------------------------------------------------------------------

def _page(title: str, subtitle: str, sections: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width\"><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1><p class=\"sub\">{_e(subtitle)}</p>"
            + "".join(sections) + f"<script>{SCRIPT}</script></body></html>\n")


def bench_report(results, doc: dict, *, title: str = "omnifill bench", config=None, zones=None) -> str:
    """The bench report: ``results`` (DayResult, one per run) and the kpis document; zones:
    the network's delivery zones, (store, tier, geometry), drawn on the maps."""
    runs = doc["runs"]
    names = [f"{r['variant']} / {r['policy']}" for r in runs]
    tiers = sorted({t for r in runs for t in r["kpis"].get("on_time_rate_by_tier", {})}, key=float)
    sec = []
    p = doc.get("params", {})
    sub = (f"scenario {doc.get('scenario')}, seed {doc.get('seed')}; policies {', '.join(doc.get('policies', []))}; "
           f"re-plan every {p.get('reroute_every_min')} min, hold {p.get('hold_min')} min, planner limit "
           f"{p.get('time_limit_s')} s per plan; omnifill {doc.get('versions', {}).get('omnifill')}")
    sec.append("<h2>KPIs</h2>" + kpi_table(runs))
    sec.append("<h2>Differences</h2>" + diff_table(runs))
    charts = [
        _bars("On-time rate per promise tier", [f"{t} min" for t in tiers] + ["all"],
              [(nm, [r["kpis"]["on_time_rate_by_tier"].get(t) for t in tiers] + [r["kpis"]["on_time_rate"]])
               for nm, r in zip(names, runs)], pct=True),
        _bars("Packages per order", ["packages per order"],
              [(nm, [r["kpis"]["packages_per_order"]]) for nm, r in zip(names, runs)]),
        _bars("Transfers and parcels", ["transfers", "parcels"],
              [(nm, [float(r["kpis"]["transfers"]), float(r["kpis"]["parcels"])]) for nm, r in zip(names, runs)]),
        _bars("Cost per order", ["cost per order"],
              [(nm, [r["kpis"]["cost_per_order"]]) for nm, r in zip(names, runs)]),
    ]
    sec.append('<h2>Policies and variants</h2><div class="charts">'
               + "".join(f"<figure>{c}</figure>" for c in charts) + "</div>")
    top = max((int(_eta_counts(r.eta).max()) for r in results), default=0)  # one count scale for all runs
    sec.append('<h2>ETA</h2><div class="charts">' + "".join(
        f"<figure>{_histogram(nm, r.eta, top_count=top)}<figcaption>{_e(nm)}: the customer's ETA (minutes from "
        "the order's arrival to its last package); green within 30 minutes; all runs on one scale.</figcaption>"
        "</figure>"
        for nm, r in zip(names, results)) + "</div>")
    sec.append("<h2>Maps</h2>" + "".join(_map_section(r, nm, f"map{i}", config, open_=i == 0, zones=zones)
                                         for i, (nm, r) in enumerate(zip(names, results))))
    return _page(title, sub, sec)


def _map_section(r, name: str, map_id: str, config, *, open_: bool, zones=None) -> str:
    svg, cap = _map(r, map_id, config, zones=zones)
    return (f"<details{' open' if open_ else ''}><summary>{_e(name)}</summary>{_legend(map_id)}<figure>{svg}"
            f"<figcaption>{_e(cap)}</figcaption></figure></details>")


def plan_report(result, summary: dict, *, title: str = "omnifill reroute", config=None, zones=None) -> str:
    """The report of one plan (``omnifill reroute --report``): the map, the ETA histogram,
    on-time rate per tier, and the summary's KPIs, objective, bound and gap."""
    k = result.kpis()
    runs = [{"variant": "plan", "policy": summary.get("policy", "plan"), "kpis": k}]
    tiers = sorted(k["on_time_rate_by_tier"], key=float)
    lb, gap = summary.get("lower_bound"), summary.get("gap")
    sub = (f"objective {_fmt(summary.get('objective'))}, lower bound {_fmt(lb)}"
           + (f", gap {100 * gap:.2f}%" if gap is not None else "")
           + f"; solver {summary.get('solver_status')}; greedy {_fmt(summary.get('greedy_objective'))}")
    sec = ["<h2>KPIs</h2>" + kpi_table(runs),
           '<h2>On time and ETA</h2><div class="charts"><figure>'
           + _bars("On-time rate per promise tier", [f"{t} min" for t in tiers] + ["all"],
                   [("plan", [k["on_time_rate_by_tier"][t] for t in tiers] + [k["on_time_rate"]])], pct=True)
           + "</figure><figure>" + _histogram("ETA of the plan's orders", result.eta) + "</figure></div>",
           "<h2>Map</h2>" + _map_section(result, "plan", "map0", config, open_=True, zones=zones),
           "<h2>Summary</h2><pre>" + _e(json.dumps({x: summary[x] for x in summary if x != "versions"}, indent=1,
                                                   default=str)) + "</pre>"]
    return _page(title, sub, sec)


__all__ = ["bench_report", "diff_table", "kpi_table", "plan_report"]
