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


def residual_model(dst, seed):
    """A small residual CNN model file (random weights): conv → BN → ReLU (30% kept) →
    conv → BN → Add (skip) → ReLU (all kept) → avg-pool → flatten → dense 16 → ReLU (half
    kept, 1-D) → dense 10. It exercises batch-norm folding, a residual Add and the masked
    encoding's diag MatMul, which the quickstart CNN does not."""
    rng = np.random.default_rng(seed)
    tensors, nodes = {}, []

    def t(name, shape, scale=0.3, positive=False):
        v = rng.uniform(0.5, 1.5, size=shape) if positive else rng.normal(0, scale, size=shape)
        tensors[name] = v.astype("<f8")
        return name

    def mask(n, fraction):
        m = np.zeros(n, dtype=bool)
        m[rng.choice(n, size=int(round(fraction * n)), replace=False)] = True
        return {"len": n, "kept": int(m.sum()), "bits": np.packbits(m, bitorder="little").tobytes().hex()}

    def bn(k, c):
        return {"op": "batch_norm", "inputs": [k], "weight": t(f"n{k}.g", [c], positive=True),
                "bias": t(f"n{k}.b", [c]), "running_mean": t(f"n{k}.m", [c]),
                "running_var": t(f"n{k}.v", [c], positive=True), "eps": 1e-5}

    nodes.append({"op": "conv2d", "inputs": [0], "weight": t("c1.w", [4, 1, 3, 3]), "bias": t("c1.b", [4]), "padding": [1, 1]})
    nodes.append(bn(1, 4))
    nodes.append({"op": "relu", "inputs": [2], "mask": mask(256, 0.3)})
    nodes.append({"op": "conv2d", "inputs": [3], "weight": t("c2.w", [4, 4, 3, 3]), "bias": t("c2.b", [4]), "padding": [1, 1]})
    nodes.append(bn(4, 4))
    nodes.append({"op": "add", "inputs": [5, 3]})
    nodes.append({"op": "relu", "inputs": [6], "mask": mask(256, 1.0)})
    nodes.append({"op": "avg_pool2d", "inputs": [7], "kernel": [2, 2], "stride": [2, 2]})
    nodes.append({"op": "flatten", "inputs": [8]})
    nodes.append({"op": "dense", "inputs": [9], "weight": t("f1.w", [16, 64]), "bias": t("f1.b", [16])})
    nodes.append({"op": "relu", "inputs": [10], "mask": mask(16, 0.5)})
    nodes.append({"op": "dense", "inputs": [11], "weight": t("f2.w", [10, 16]), "bias": t("f2.b", [10])})
    header, data, off = {}, b"", 0
    for name, v in tensors.items():
        raw = v.tobytes()
        header[name] = {"dtype": "F64", "shape": list(v.shape), "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    header["__metadata__"] = {
        "format": "snl",
        "format_version": "1",
        "network": json.dumps({"input_shape": [1, 8, 8], "nodes": nodes}),
    }
    write_safetensors(dst, header, data)


def export(snl, model, out, encoding, fold, snl_verify=None):
    if snl_verify is not None:
        # a model file not written by `snl` (no snl.arch): `snl-verify vnnlib --onnx` writes
        # the same graph (theory::onnx::export, folded) next to a throwaway query
        assert fold, "snl-verify vnnlib --onnx always folds"
        cmd = [snl_verify, "vnnlib", "--model", model, "--input-box", "0:1", "--property", "argmax=0",
               "--out", out + ".vnnlib", "--onnx", out, "--encoding", encoding]
    else:
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

    sweep = [r for r in rows if r["case"].startswith("random") and r["encoding"] == "gathered"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [r["relu_kept"] / r["relu_total"] for r in sweep]
    ax.plot(xs, [r["predicted_bytes"] / 1e6 for r in sweep], "-",
            label="snl-verify cost: total (464 B per kept ReLU + 16 B per Beaver-opened element)")
    ax.plot(xs, [r["predicted_linear_bytes"] / 1e6 for r in sweep], ":", color="gray",
            label="snl-verify cost: linear layers only")
    ax.plot(xs, [r["bytes_per_party"][0] / 1e6 for r in sweep], "o",
            label="CrypTen, gathered export, random masks (measured)")
    marked = [r for r in rows if r["case"].startswith("10%") or r["case"] == "random 0.1, masked"]
    for r, marker in zip(marked, ["^", "s", "v", "D", "P"]):
        ax.plot([r["relu_kept"] / r["relu_total"]], [r["bytes_per_party"][0] / 1e6],
                marker, label=f"{r['case']} (measured)")
    ax.set_xscale("log")
    ax.set_xlabel("kept ReLUs / all ReLUs (CNN, 18,944 ReLUs)")
    ax.set_ylabel("communication per party (MB, sent + received)")
    ax.set_title("Total cost against the budget, CrypTen 0.4.1, 2 parties, encrypted model", fontsize=10)
    ax.legend(fontsize=6.5)
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
    x8 = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))

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
    # the masked form of a partially kept 1-D layer (fc1's ReLU): Mul by -1, Relu, MatMul
    # by a constant diag(m), Add
    p = os.path.join(work, "cnn-random-0.1-m.safetensors")
    with_masks(args.full, p, 0.1, 1)
    cases.append(("random 0.1, masked", p, "masked", True))
    # a residual CNN with foldable batch norms (other input shape: 8×8)
    res = os.path.join(work, "resnet-tiny.safetensors")
    residual_model(res, 2)
    for enc in ["gathered", "masked"]:
        cases.append((f"residual CNN, {enc}", res, enc, True))

    rows = []
    for name, model, enc, fold in cases:
        tag = enc if fold else f"{enc}-nofold"
        onnx_path = os.path.join(work, os.path.basename(model).replace(".safetensors", f"-{tag}.onnx"))
        export(args.snl, model, onnx_path, enc, fold, args.snl_verify if model == res else None)
        parties = measure(onnx_path, x if model != res else x8)
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
        # "ReLU bytes" = bytes − the unfolded all-linear baseline (quickstart CNN rows only)
        same = r["model"] != "resnet-tiny.safetensors"
        r["relu_bytes_per_party"] = r["bytes_per_party"][0] - base["bytes_per_party"][0] if same else None
        r["relu_rounds"] = r["rounds_per_party"][0] - base["rounds_per_party"][0] if same else None
        r["bytes_per_compared_relu"] = (
            r["relu_bytes_per_party"] / r["compared"] if r["compared"] and same else None
        )
        # the cost model's prediction for this model file and encoding
        cmd = [args.snl_verify, "cost", "--model", r["model_path"], "--protocol", "crypten",
               "--encoding", r["encoding"], "--output-format", "json"]
        if not r["fold"]:
            cmd.append("--no-fold")
        cost = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        cost = cost["protocols"][0]
        r["predicted_relu_bytes"] = cost["relu"]["online_bytes"]
        r["predicted_relu_rounds"] = cost["relu"]["rounds"]
        r["predicted_linear_bytes"] = cost["linear"]["online_bytes"]
        r["predicted_linear_rounds"] = cost["linear"]["rounds"]
        r["predicted_bytes"] = cost["total"]["online_bytes"]
        r["predicted_rounds"] = cost["total"]["rounds"]
        r["exact"] = all(b == r["predicted_bytes"] for b in r["bytes_per_party"]) and all(
            n == r["predicted_rounds"] for n in r["rounds_per_party"])
    full = rows[2]["relu_bytes_per_party"]
    for r in rows:
        r["relu_bytes_reduction_vs_full"] = full / r["relu_bytes_per_party"] if r["relu_bytes_per_party"] else None
    shutil.rmtree(work)
    for r in rows:
        del r["model_path"]
    json.dump({"crypten": crypten.__version__ if hasattr(crypten, "__version__") else "0.4.1",
               "torch": torch.__version__, "rows": rows},
              open(os.path.join(args.out, "crypten.json"), "w"), indent=1)
    g, m = rows[3]["output"], rows[4]["output"]
    print("10% model, gathered vs masked outputs (decrypted): max |diff| =",
          max(abs(a - b) for a, b in zip(g, m)))
    plot(rows, os.path.join(args.out, "cost.svg"))
    print()
    print("| case | kept / total | compared | bytes / party, measured (P0 / P1) | predicted | rounds, measured | predicted | ReLU bytes (− baseline) | predicted ReLU / linear bytes | ReLU bytes vs full |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        red = r["relu_bytes_reduction_vs_full"]
        red = f"{red:.2f}×" if red and red > 0 else "-"
        rb = f"{r['relu_bytes_per_party']:,}" if r["relu_bytes_per_party"] is not None else "-"
        print(f"| {r['case']} | {r['relu_kept']} / {r['relu_total']} | {r['compared']} | "
              f"{r['bytes_per_party'][0]:,} / {r['bytes_per_party'][1]:,} | {r['predicted_bytes']:,.0f} | "
              f"{r['rounds_per_party'][0]} / {r['rounds_per_party'][1]} | {r['predicted_rounds']:.0f} | "
              f"{rb} | {r['predicted_relu_bytes']:,.0f} / {r['predicted_linear_bytes']:,.0f} | {red} |")
    bad = [r["case"] for r in rows if not r["exact"]]
    print(f"\npredicted = measured (bytes and rounds, both parties) in {len(rows) - len(bad)} of {len(rows)} rows"
          + (f"; differs: {bad}" if bad else ""))


if __name__ == "__main__":
    main()
