"""The leaderboard figures as hand-written SVG: deterministic, theme-aware, accessible.

Why not matplotlib: its SVG embeds a creation date, random clip-path ids and font-dependent
glyph paths, so two builds of the same data differ byte for byte and ``repro build --check``
could never hold a figure fresh. Here every coordinate is formatted with fixed precision from
the data alone, so the same results always give the same bytes.

Readability in GitHub's light and dark themes: GitHub shows an SVG through ``<img>``, where the
page's CSS cannot reach it, but the SVG's own ``prefers-color-scheme`` media query follows the
viewer's colour scheme. The default palette is mid-tone (legible on white and on GitHub's dark
background alike) and the dark-scheme rule lightens text and axes further. Each figure has a
``<title>`` and ``<desc>`` (``role="img"``, ``aria-labelledby``) and the pages give alt text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

_FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif"
_STYLE = f"""<style>
text{{font-family:{_FONT};font-size:12px;fill:#6e7781}}
.title{{font-size:14px;font-weight:600;fill:#6e7781}}
.axis{{stroke:#8c959f;stroke-width:1;fill:none}}
.grid{{stroke:#8c959f;stroke-opacity:0.25;stroke-width:1}}
.reported{{fill:#218bff;stroke:#218bff}}
.reproduced{{fill:#e16f24;stroke:#e16f24}}
.bar-reported{{fill:#218bff}}
.bar-reproduced{{fill:#e16f24}}
@media (prefers-color-scheme: dark){{
text{{fill:#9198a1}}
.title{{fill:#d1d7e0}}
.axis{{stroke:#656c76}}
.grid{{stroke:#656c76}}
}}
</style>"""


def _n(x: float) -> str:
    """A coordinate with one decimal and no ``-0.0``: the same number always prints the same."""
    text = f"{x:.1f}"
    return "0.0" if text == "-0.0" else text


def _text(x: float, y: float, body: str, *, anchor: str = "start", cls: str = "",
          extra: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{klass}{extra}>'
            f"{escape(body)}</text>")


def _document(width: float, height: float, ident: str, title: str, desc: str,
              body: list[str]) -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width)}" height="{_n(height)}" '
            f'viewBox="0 0 {_n(width)} {_n(height)}" role="img" '
            f'aria-labelledby="{ident}-title {ident}-desc">')
    return "\n".join([head, f'<title id="{ident}-title">{escape(title)}</title>',
                      f'<desc id="{ident}-desc">{escape(desc)}</desc>', _STYLE, *body,
                      "</svg>"]) + "\n"


def _legend(x: float, y: float, kinds: list[str], *, bars: bool = False) -> list[str]:
    out = []
    for kind in kinds:
        mark = (f'<rect x="{_n(x)}" y="{_n(y - 9)}" width="10" height="10" '
                f'class="bar-{kind}"/>' if bars else
                f'<circle cx="{_n(x + 5)}" cy="{_n(y - 4)}" r="4" class="{kind}"/>')
        out += [mark, _text(x + 15, y, kind)]
        x += 110
    return out


@dataclass(frozen=True)
class Point:
    """One result in the scatter: trainable parameters (x, log scale) against its value."""

    params: float
    value: float
    label: str
    kind: str


def scatter(title: str, desc: str, panels: list[tuple[str, list[Point]]], *,
            ident: str = "params", y_label: str = "accuracy (%)") -> str:
    """One log-x panel per backbone, stacked; an empty figure still says why it is empty."""
    width, margin_l, margin_r, panel_h, gap = 900.0, 70.0, 340.0, 230.0, 56.0
    top = 64.0
    plot_w = width - margin_l - margin_r
    body = [_text(margin_l, 24, title, cls="title")]
    body += _legend(margin_l, 46, ["reported", "reproduced"])
    if not panels:
        body.append(_text(margin_l, top + 20, "No result with a trainable-parameter count yet."))
        return _document(width, top + 40, ident, title, desc, body)
    for index, (name, points) in enumerate(panels):
        y0 = top + index * (panel_h + gap) + 18
        plot_h = panel_h - 40
        xs = [math.log10(max(p.params, 1.0)) for p in points]
        lo, hi = math.floor(min(xs)), math.ceil(max(xs))
        if hi == lo:
            hi = lo + 1
        values = [p.value for p in points]
        vlo = max(0.0, math.floor(min(values) / 10) * 10 - 10)
        vhi = min(100.0, math.ceil(max(values) / 10) * 10 + 10) if max(values) <= 100 else \
            math.ceil(max(values) / 10) * 10
        if vhi <= vlo:
            vhi = vlo + 10

        def px(v: float, lo: float = lo, hi: float = hi) -> float:
            return margin_l + (v - lo) / (hi - lo) * plot_w

        def py(v: float, y0: float = y0, vlo: float = vlo, vhi: float = vhi,
               plot_h: float = plot_h) -> float:
            return y0 + plot_h - (v - vlo) / (vhi - vlo) * plot_h

        body.append(_text(margin_l, y0 - 8, name, cls="title"))
        for e in range(lo, hi + 1):
            x = px(e)
            body.append(f'<line x1="{_n(x)}" y1="{_n(y0)}" x2="{_n(x)}" '
                        f'y2="{_n(y0 + plot_h)}" class="grid"/>')
            body.append(_text(x, y0 + plot_h + 16, f"1e{e}", anchor="middle"))
        step = 10 if vhi - vlo <= 60 else 20
        v = vlo
        while v <= vhi + 1e-9:
            y = py(v)
            body.append(f'<line x1="{_n(margin_l)}" y1="{_n(y)}" x2="{_n(margin_l + plot_w)}" '
                        f'y2="{_n(y)}" class="grid"/>')
            body.append(_text(margin_l - 8, y + 4, f"{v:g}", anchor="end"))
            v += step
        body.append(f'<rect x="{_n(margin_l)}" y="{_n(y0)}" width="{_n(plot_w)}" '
                    f'height="{_n(plot_h)}" class="axis"/>')
        body.append(_text(margin_l + plot_w / 2, y0 + plot_h + 32,
                          "trainable parameters (log scale)", anchor="middle"))
        body.append(_text(margin_l - 50, y0 + plot_h / 2, y_label, anchor="middle",
                          extra=f' transform="rotate(-90 {_n(margin_l - 50)} '
                                f'{_n(y0 + plot_h / 2)})"'))
        label_y = y0 + 4
        for p, x in sorted(zip(points, xs), key=lambda t: (-t[0].value, t[0].label)):
            cx, cy = px(x), py(p.value)
            body.append(f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="4" class="{p.kind}">'
                        f"<title>{escape(p.label)}: {p.value:g}</title></circle>")
            # labels in a column to the right, joined to their point, so they never overlap
            lx = margin_l + plot_w + 12
            body.append(f'<line x1="{_n(cx)}" y1="{_n(cy)}" x2="{_n(lx - 2)}" '
                        f'y2="{_n(label_y - 4)}" class="grid"/>')
            body.append(_text(lx, label_y, f"{p.label} ({p.value:g})"))
            label_y += 15
    height = top + len(panels) * (panel_h + gap)
    return _document(width, height, ident, title, desc, body)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    kind: str


def bars(title: str, desc: str, items: list[Bar], *, ident: str = "averages",
         x_label: str = "mean accuracy (%)", maximum: float = 100.0) -> str:
    """Horizontal bars, one per item in the order given, values printed at their ends."""
    width, label_w, margin_r, row = 900.0, 440.0, 60.0, 20.0
    top = 64.0
    plot_w = width - label_w - margin_r
    body = [_text(12, 24, title, cls="title")]
    body += _legend(label_w, 46, sorted({b.kind for b in items}) or ["reported"], bars=True)
    if not items:
        body.append(_text(12, top + 20, "No suite has a complete set of results yet."))
        return _document(width, top + 40, ident, title, desc, body)
    top_axis = top + 4
    for tick in range(0, int(maximum) + 1, 20):
        x = label_w + tick / maximum * plot_w
        body.append(f'<line x1="{_n(x)}" y1="{_n(top_axis)}" x2="{_n(x)}" '
                    f'y2="{_n(top_axis + row * len(items))}" class="grid"/>')
        body.append(_text(x, top_axis + row * len(items) + 16, f"{tick}", anchor="middle"))
    for i, b in enumerate(items):
        y = top_axis + i * row
        w = max(0.0, min(b.value, maximum)) / maximum * plot_w
        body.append(f'<rect x="{_n(label_w)}" y="{_n(y + 3)}" width="{_n(w)}" '
                    f'height="{_n(row - 6)}" class="bar-{b.kind}">'
                    f"<title>{escape(b.label)}: {b.value:g}</title></rect>")
        body.append(_text(label_w - 8, y + row - 6, b.label, anchor="end"))
        body.append(_text(label_w + w + 6, y + row - 6, f"{b.value:g}"))
    body.append(_text(label_w + plot_w / 2, top_axis + row * len(items) + 34, x_label,
                      anchor="middle"))
    height = top_axis + row * len(items) + 50
    return _document(width, height, ident, title, desc, body)
