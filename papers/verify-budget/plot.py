"""Plots results.json as plot.svg: certified accuracy and mean verification time against the
share of kept ReLUs (log scale), one line per ε. Plain SVG, no plotting library needed."""
import json
import math
import sys

here = sys.argv[1] if len(sys.argv) > 1 else "papers/verify-budget"
rows = json.load(open(f"{here}/results.json"))
epss = sorted({r["eps"] for r in rows})
colours = ["#1f77b4", "#d62728", "#2ca02c"]
W, H, M = 420, 300, 55


def panel(x0, title, key, ymax, fmt):
    out = [f'<g transform="translate({x0},0)">',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
           f'<line x1="{M}" y1="{H - M}" x2="{W - 15}" y2="{H - M}" stroke="black"/>',
           f'<line x1="{M}" y1="30" x2="{M}" y2="{H - M}" stroke="black"/>']
    xs = [1, 2, 5, 10, 20, 50, 100]

    def px(pct):
        return M + (math.log10(pct) - 0) / 2 * (W - 15 - M)

    def py(v):
        return H - M - v / ymax * (H - M - 30)

    for x in xs:
        out.append(f'<text x="{px(x):.1f}" y="{H - M + 16}" text-anchor="middle" font-size="11">{x}%</text>')
    for k in range(5):
        v = ymax * k / 4
        out.append(f'<text x="{M - 6}" y="{py(v) + 4:.1f}" text-anchor="end" font-size="11">{fmt(v)}</text>')
        out.append(f'<line x1="{M}" y1="{py(v):.1f}" x2="{W - 15}" y2="{py(v):.1f}" stroke="#ddd"/>')
    out.append(f'<text x="{(M + W) / 2}" y="{H - 15}" text-anchor="middle" font-size="12">kept ReLUs (% of 18,944)</text>')
    for c, eps in zip(colours, epss):
        pts = sorted((100 * r["kept"] / r["total"], r[key]) for r in rows if r["eps"] == eps)
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>')
    out.append("</g>")
    return out


tmax = max(r["mean_seconds"] for r in rows)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H + 20}" font-family="sans-serif">',
       '<rect width="100%" height="100%" fill="white"/>']
svg += panel(0, "certified robust accuracy", "certified", 1.0, lambda v: f"{100 * v:.0f}%")
svg += panel(W, "mean seconds per correctly classified example", "mean_seconds", tmax * 1.1, lambda v: f"{v:.1f}")
for k, (c, eps) in enumerate(zip(colours, epss)):
    svg.append(f'<text x="{W - 120}" y="{60 + 16 * k}" font-size="12" fill="{c}">ε = {eps}</text>')
svg.append("</svg>")
open(f"{here}/plot.svg", "w").write("\n".join(svg))
print(f"wrote {here}/plot.svg")
