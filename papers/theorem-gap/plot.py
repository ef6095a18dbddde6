#!/usr/bin/env python3
"""Draws papers/theorem-gap/certified.svg from certified.json (no third-party modules):
accuracy against B per data set; filled circles: the MILP optimum (margin 1, coefficient box),
open circles: the best re-checked network found up to that B (certified lower bound)."""
import json
import sys

rows = json.load(open(sys.argv[1]))
out = sys.argv[2]
sets = []
for r in rows:
    if r["dataset"] not in sets:
        sets.append(r["dataset"])
colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
W, H, L, R, T, B = 720, 440, 60, 170, 30, 50
max_b = max(r["b"] for r in rows)
lo = 0.5
sx = lambda b: L + (W - L - R) * b / max(max_b, 1)
sy = lambda a: T + (H - T - B) * (1 - (a - lo) / (1 - lo))
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="18" font-size="14">Best accuracy of one hidden layer vs kept ReLUs B (certified)</text>']
for k in range(6):
    a = lo + k * (1 - lo) / 5
    svg.append(f'<line x1="{L}" x2="{W-R}" y1="{sy(a):.1f}" y2="{sy(a):.1f}" stroke="#ddd"/>')
    svg.append(f'<text x="{L-8}" y="{sy(a)+4:.1f}" text-anchor="end">{a:.1f}</text>')
for b in range(max_b + 1):
    svg.append(f'<text x="{sx(b):.1f}" y="{H-B+18}" text-anchor="middle">{b}</text>')
svg.append(f'<text x="{(L+W-R)/2}" y="{H-10}" text-anchor="middle">B (kept ReLUs, plus linearized units)</text>')
for i, name in enumerate(sets):
    c = colors[i % len(colors)]
    mine = sorted((r for r in rows if r["dataset"] == name), key=lambda r: r["b"])
    best_so_far, lower = 0, []
    for r in mine:
        best_so_far = max(best_so_far, r["found"])
        lower.append((r["b"], best_so_far / r["n"]))
    pts = " ".join(f"{sx(b):.1f},{sy(a):.1f}" for b, a in lower)
    svg.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
    for b, a in lower:
        svg.append(f'<circle cx="{sx(b):.1f}" cy="{sy(a):.1f}" r="6" fill="white" stroke="{c}" stroke-width="2"/>')
    for r in mine:
        if r["best"] is not None:
            svg.append(f'<circle cx="{sx(r["b"]):.1f}" cy="{sy(r["best"]/r["n"]):.1f}" r="3" fill="{c}"/>')
    y = T + 20 + 22 * i
    svg.append(f'<line x1="{W-R+15}" x2="{W-R+40}" y1="{y}" y2="{y}" stroke="{c}" stroke-width="2"/>')
    svg.append(f'<text x="{W-R+46}" y="{y+4}">{name} (n = {mine[0]["n"]})</text>')
svg.append("</svg>")
open(out, "w").write("\n".join(svg) + "\n")
print(f"wrote {out}")
