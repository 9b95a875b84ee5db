"""Charts drawn on the server as SVG (no script, no library): bars with labelled axes.

Every label is XML-escaped; the result is inlined in pages as markup."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH = 620
HEIGHT = 220
PAD_LEFT = 44
PAD_BOTTOM = 38
PAD_TOP = 26


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    return float(((int(value) // step) + 1) * step)


def bar_chart(
    title: str, bars: Sequence[tuple[str, float]], *, label_every: int = 1, unit: str = ""
) -> Markup:
    """A bar chart of ``bars`` (label, value) with a title, a y axis and x labels (every
    ``label_every``-th one)."""
    top = _nice_max(max((v for _, v in bars), default=0.0))
    plot_w = WIDTH - PAD_LEFT - 10
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / max(1, len(bars))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="bar-chart">',
        f"<title>{escape(title)}</title>",
        f'<text x="{PAD_LEFT}" y="16" font-size="13" font-weight="600" fill="#1b2733">'
        f"{escape(title)}</text>",
    ]
    for i in range(5):
        value = top * i / 4
        y = PAD_TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e8ee"/>'
        )
        parts.append(
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" font-size="10" fill="#5b6b7a" '
            f'text-anchor="end">{value:g}{escape(unit)}</text>'
        )
    for index, (label, value) in enumerate(bars):
        height = plot_h * value / top
        x = PAD_LEFT + index * slot + slot * 0.15
        y = PAD_TOP + plot_h - height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}" '
            f'fill="#0b5cad"><title>{escape(label)}: {value:g}{escape(unit)}</title></rect>'
        )
        if index % label_every == 0:
            cx = x + slot * 0.35
            parts.append(
                f'<text x="{cx:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" font-size="10" '
                f'fill="#5b6b7a" text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
