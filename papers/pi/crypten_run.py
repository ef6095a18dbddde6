"""papers/pi: run snl's exported ONNX files in CrypTen (2 parties) and measure bytes and rounds.

Expected (issue 10): 464 bytes per ReLU per party, 9 rounds per ReLU layer; the gathered
export of the 10%-budget CNN cuts the ReLU bytes ~10x, the masked export 1.00x; layers with
no kept unit vanish from the rounds.

usage (from the repository root, after scripts/setup.sh and papers/pi/setup.sh):
  OMP_NUM_THREADS=1 ~/.cache/snl/crypten-venv/bin/python papers/pi/crypten_run.py \
      --snl target/debug/snl --out papers/pi/results

It writes results/crypten.json (one row per exported file) and prints the table.
Model files: the quickstart CNN (all ReLUs) and its 10%-budget linearization; the budget
sweep uses the all-ReLU CNN's weights with random masks (cost depends on the masks only).
"""
import argparse
import importlib
import json
import os
import struct
import subprocess
import shutil
import tempfile
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # forked parties deadlock on a used OpenMP pool

import numpy as np  # noqa: E402
import torch  # noqa: E402

# Shim 1 (torch >= 2.9): CrypTen imports torch.onnx._internal.registration only as a flag;
# it moved to torch.onnx._internal.torchscript_exporter.registration.
try:
    importlib.import_module("torch.onnx._internal.registration")
except ImportError:
    sys.modules["torch.onnx._internal.registration"] = importlib.import_module(
        "torch.onnx._internal.torchscript_exporter.registration"
    )
# Shim 2 (torch >= 2.9) would pass dynamo=False to CrypTen's own torch.onnx.export; it is
# not needed here: the graphs come from snl's exporter and are read with crypten.nn.from_onnx.

import crypten  # noqa: E402
import crypten.communicator as comm  # noqa: E402
import crypten.mpc as mpc  # noqa: E402
import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=UserWarning)


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    return header, raw[8 + n :]


def write_safetensors(path, header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def with_masks(src, dst, fraction, seed, layers=None):
    """A copy of model file `src` whose ReLU layers (all, or the `layers`-th ones) keep a
    random `fraction` of their units."""
    header, data = read_safetensors(src)
    net = json.loads(header["__metadata__"]["network"])
    rng = np.random.default_rng(seed)
    relus = [n for n in net["nodes"] if n["op"] == "relu"]
    for i, node in enumerate(relus):
        if layers is None or i in layers:
            n = node["mask"]["len"]
            m = np.zeros(n, dtype=bool)
            m[rng.choice(n, size=int(round(fraction * n)), replace=False)] = True
            node["mask"] = {
                "len": n,
                "kept": int(m.sum()),
                "bits": np.packbits(m, bitorder="little").tobytes().hex(),
            }
    header["__metadata__"]["network"] = json.dumps(net, separators=(",", ":"))
    write_safetensors(dst, header, data)


def export(snl, model, out, encoding, fold):
    cmd = [snl, "export", "--from", model, "--out", out, "--format", "onnx", "--encoding", encoding]
    if not fold:
        cmd.append("--no-fold")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def relu_layers(model):
    header, _ = read_safetensors(model)
    net = json.loads(header["__metadata__"]["network"])
    return [(n["mask"]["len"], n["mask"]["kept"]) for n in net["nodes"] if n["op"] == "relu"]


def measure(onnx_path, x):
    """Bytes and rounds per party of one private forward pass (model from party 0, input
    from party 1), and the decrypted output."""

    @mpc.run_multiprocess(world_size=2)
    def party():
        crypten.cfg.communicator.verbose = True  # otherwise no communication is counted
        with open(onnx_path, "rb") as f:
            model = crypten.nn.from_onnx(f)
        model.encrypt(src=0)
        model.eval()
        xe = crypten.cryptensor(x, src=1)
        comm.get().reset_communication_stats()
        t = time.time()
        y = model(xe)
        seconds = time.time() - t
        stats = comm.get().get_communication_stats()
        out = y.get_plain_text().reshape(-1).tolist()
        return {
            "bytes": int(stats["bytes"]),
            "rounds": int(stats["rounds"]),
            "seconds": seconds,
            "output": out,
        }

    return party()


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = [r for r in rows if r["case"].startswith("random")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [r["relu_kept"] / r["relu_total"] for r in sweep]
    ax.plot(xs, [r["predicted_relu_bytes"] / 1e6 for r in sweep], "-", label="snl-verify cost (464 B per kept ReLU)")
    ax.plot(xs, [r["relu_bytes_per_party"] / 1e6 for r in sweep], "o", label="CrypTen, gathered export (measured)")
    for r, marker in zip([r for r in rows if r["case"].startswith("10%")], ["^", "s", "v", "D"]):
        ax.plot([r["relu_kept"] / r["relu_total"]], [r["relu_bytes_per_party"] / 1e6],
                marker, label=f"{r['case']} (measured)")
    ax.set_xscale("log")
    ax.set_xlabel("kept ReLUs / all ReLUs (CNN, 18,944 ReLUs)")
    ax.set_ylabel("ReLU communication per party (MB)")
    ax.set_title("ReLU cost against the budget, CrypTen 0.4.1, 2 parties", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    fig.savefig(path.replace(".svg", ".png"), dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snl", default="target/debug/snl")
    ap.add_argument("--snl-verify", default="target/debug/snl-verify")
    ap.add_argument("--full", default="runs/quickstart/pretrain/model.safetensors")
    ap.add_argument("--budget", default="runs/quickstart/linearize/model.safetensors")
    ap.add_argument("--out", default="papers/pi/results")
    ap.add_argument("--sweep", default="0.01,0.02,0.05,0.1,0.2,0.5,1")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    crypten.init()
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))

    # (name, model file, encoding, fold). The first row is the baseline: every ReLU
    # linearized, the linear layers written as in the all-ReLU net (--no-fold), so that
    # "ReLU bytes" = bytes − baseline bytes counts the ReLUs and nothing else.
    cases = []
    work = tempfile.mkdtemp(prefix="snl-pi-")
    lin = os.path.join(work, "cnn-linear.safetensors")
    with_masks(args.full, lin, 0.0, 0)
    cases.append(("linear layers only (baseline, unfolded)", lin, "gathered", False))
    cases.append(("every ReLU linearized, deployed (fc1·fc2 folded)", lin, "gathered", True))
    cases.append(("full-ReLU CNN", args.full, "gathered", True))
    cases.append(("10% budget, gathered", args.budget, "gathered", True))
    cases.append(("10% budget, masked", args.budget, "masked", True))
    drop = os.path.join(work, "cnn-10pct-no-relu2.safetensors")
    with_masks(args.budget, drop, 0.0, 0, layers={1})
    cases.append(("10% budget, conv2 ReLU layer linearized, gathered", drop, "gathered", True))
    cases.append(("10% budget, conv2 ReLU layer linearized, masked", drop, "masked", True))
    for f in [float(s) for s in args.sweep.split(",")]:
        p = os.path.join(work, f"cnn-random-{f:g}.safetensors")
        with_masks(args.full, p, f, 1)
        cases.append((f"random {f:g}, gathered", p, "gathered", True))

    rows = []
    for name, model, enc, fold in cases:
        tag = enc if fold else f"{enc}-nofold"
        onnx_path = os.path.join(work, os.path.basename(model).replace(".safetensors", f"-{tag}.onnx"))
        export(args.snl, model, onnx_path, enc, fold)
        parties = measure(onnx_path, x)
        layers = relu_layers(model)
        rows.append(
            {
                "case": name,
                "model": model if model in (args.full, args.budget) else os.path.basename(model),
                "model_path": model,
                "encoding": enc,
                "fold": fold,
                "relu_total": sum(t for t, _ in layers),
                "relu_kept": sum(k for _, k in layers),
                "relu_layers": len(layers),
                "relu_layers_with_kept": sum(1 for _, k in layers if k > 0),
                "compared": sum((t if enc == "masked" and k < t else k) for t, k in layers),
                "bytes_per_party": [p["bytes"] for p in parties],
                "rounds_per_party": [p["rounds"] for p in parties],
                "seconds": max(p["seconds"] for p in parties),
                "output": parties[0]["output"],
            }
        )
        print(f"{name}: bytes {rows[-1]['bytes_per_party']}, rounds {rows[-1]['rounds_per_party']}", flush=True)

    base = rows[0]
    for r in rows:
        r["relu_bytes_per_party"] = r["bytes_per_party"][0] - base["bytes_per_party"][0]
        r["relu_rounds"] = r["rounds_per_party"][0] - base["rounds_per_party"][0]
        r["bytes_per_compared_relu"] = (
            r["relu_bytes_per_party"] / r["compared"] if r["compared"] else None
        )
        # the cost model's prediction for this model file and encoding
        cost = json.loads(
            subprocess.run(
                [args.snl_verify, "cost", "--model", r["model_path"], "--protocol", "crypten",
                 "--encoding", r["encoding"], "--output-format", "json"],
                check=True, capture_output=True, text=True,
            ).stdout
        )["protocols"][0]
        r["predicted_relu_bytes"] = cost["online_bytes"]
        r["predicted_relu_rounds"] = cost["rounds"]
    full = rows[2]["relu_bytes_per_party"]
    for r in rows:
        r["relu_bytes_reduction_vs_full"] = full / r["relu_bytes_per_party"] if r["relu_bytes_per_party"] else None
    shutil.rmtree(work)
    json.dump({"crypten": crypten.__version__ if hasattr(crypten, "__version__") else "0.4.1",
               "torch": torch.__version__, "rows": rows},
              open(os.path.join(args.out, "crypten.json"), "w"), indent=1)
    for r in rows:
        del r["model_path"]
    g, m = rows[3]["output"], rows[4]["output"]
    print("10% model, gathered vs masked outputs (decrypted): max |diff| =",
          max(abs(a - b) for a, b in zip(g, m)))
    plot(rows, os.path.join(args.out, "cost.svg"))
    print()
    print("| case | kept / total | compared | bytes/party | rounds | ReLU bytes/party | ReLU rounds | B per compared ReLU | predicted ReLU bytes / rounds | ReLU bytes vs full |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        bpr = f"{r['bytes_per_compared_relu']:.1f}" if r["bytes_per_compared_relu"] else "-"
        red = r["relu_bytes_reduction_vs_full"]
        red = f"{red:.2f}x" if red and red > 0 else "-"
        print(f"| {r['case']} | {r['relu_kept']} / {r['relu_total']} | {r['compared']} | "
              f"{r['bytes_per_party'][0]} / {r['bytes_per_party'][1]} | {r['rounds_per_party'][0]} / {r['rounds_per_party'][1]} | "
              f"{r['relu_bytes_per_party']} | {r['relu_rounds']} | {bpr} | "
              f"{r['predicted_relu_bytes']:.0f} / {r['predicted_relu_rounds']:.0f} | {red} |")


if __name__ == "__main__":
    main()
