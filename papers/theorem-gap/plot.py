#!/usr/bin/env python3
"""Draws papers/theorem-gap/certified.svg from certified.json (no third-party modules):
accuracy against B per data set; filled circles: the MILP optimum (margin 1, coefficient box),
open circles: the best re-checked network found up to that B (certified lower bound).
With a third argument snl.json (snl_curve.sh): crosses on a dashed line, SNL's best seed
(points verified by snl-verify robust), a bar over the seeds' range; and the README table
(data, n, B, MILP best, certified found, SNL, gap) is printed."""
import json
import sys

rows = json.load(open(sys.argv[1]))
out = sys.argv[2]
snl = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else []
snl = [r for r in snl if r.get("verified") is not None]


def snl_at(name, b):
    """SNL's verified counts over the seeds at budget b, and the kept counts."""
    mine = [r for r in snl if r["dataset"] == name and r["b"] == b]
    return [r["verified"] for r in mine], [r["kept"] for r in mine]

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
       f'<text x="{L}" y="18" font-size="14">Best accuracy of one hidden layer vs kept ReLUs B (certified{" and SNL" if snl else ""})</text>']
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
    cross = []
    for b in range(max_b + 1):
        v, _ = snl_at(name, b)
        if v:
            n = mine[0]["n"]
            cross.append((b, max(v) / n))
            x0 = sx(b) + 8
            svg.append(f'<line x1="{x0:.1f}" x2="{x0:.1f}" y1="{sy(min(v)/n):.1f}" y2="{sy(max(v)/n):.1f}" stroke="{c}" stroke-width="1.5"/>')
    if cross:
        pts = " ".join(f"{sx(b)+8:.1f},{sy(a):.1f}" for b, a in cross)
        svg.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.5" stroke-dasharray="5,4"/>')
        for b, a in cross:
            x, y0 = sx(b) + 8, sy(a)
            svg.append(f'<path d="M{x-5:.1f},{y0-5:.1f}L{x+5:.1f},{y0+5:.1f}M{x-5:.1f},{y0+5:.1f}L{x+5:.1f},{y0-5:.1f}" stroke="{c}" stroke-width="2"/>')
    y = T + 20 + 22 * i
    svg.append(f'<line x1="{W-R+15}" x2="{W-R+40}" y1="{y}" y2="{y}" stroke="{c}" stroke-width="2"/>')
    svg.append(f'<text x="{W-R+46}" y="{y+4}">{name} (n = {mine[0]["n"]})</text>')
if snl:
    y = T + 20 + 22 * len(sets) + 10
    svg.append(f'<text x="{W-R+15}" y="{y}">o certified found</text>')
    svg.append(f'<text x="{W-R+15}" y="{y+18}">• MILP optimum (box)</text>')
    svg.append(f'<text x="{W-R+15}" y="{y+36}">x SNL, best seed</text>')
    svg.append(f'<text x="{W-R+15}" y="{y+54}">| SNL, seed range</text>')
svg.append("</svg>")
open(out, "w").write("\n".join(svg) + "\n")
print(f"wrote {out}")

if snl:
    # the README table: gap = certified lower curve (best found up to B) − SNL's best seed
    print("| data | n | B | MILP best | certified found | SNL accuracy (points, best of seeds) | SNL seeds (kept) | gap |")
    print("|---|---|---|---|---|---|---|---|")
    for name in sets:
        mine = sorted((r for r in rows if r["dataset"] == name), key=lambda r: r["b"])
        curve = 0
        for r in mine:
            curve = max(curve, r["found"])
            v, kept = snl_at(name, r["b"])
            best = "unknown" if r["best"] is None else str(r["best"])
            if v:
                s_best = f"{max(v)}/{r['n']} ({100*max(v)/r['n']:.1f}%)"
                seeds = ", ".join(f"{a} ({k})" for a, k in zip(v, kept))
                gap = f"{curve - max(v):+d}"
            else:
                s_best, seeds, gap = "not run", "", ""
            print(f"| {name} | {r['n']} | {r['b']} | {best} | {curve} | {s_best} | {seeds} | {gap} |")
