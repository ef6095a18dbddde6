"""PyTorch reference for `snl bench`: one linearization epoch of the Fashion-MNIST CNN
(Adam on weights and masks, CE + KD(T=4) from a frozen plain-ReLU teacher run on every batch
+ lambda*||c||_1, batch 128), one timed epoch per row. Base rows:

  official      c*relu(x) + (1-c)*x as the official SNL code writes it, torch.optim.Adam defaults
  <formula>     the masked ReLU spelled as snl's MaskFormula <formula> (neg-relu, prelu,
                addcmul), Adam(fused=True)
  plain         plain ReLUs (no masks, no L1), Adam(fused=True)
  plain-default plain ReLUs, torch.optim.Adam defaults

and, for every base row R (same formula, same Adam keyword arguments):

  R-cl          channels-last: student and teacher converted with
                .to(memory_format=torch.channels_last) (conv weights, the 4-d masks c and the
                mean/std buffers; shapes unchanged, the fc masks [1,F] are untouched), and each
                input batch made .contiguous(memory_format=torch.channels_last) inside the timed
                step, before the forward (avg_pool2d is much faster channels-last on CPU)
  R-compile     torch.compile(dynamic=False) (inductor, CPU) of the function that runs the
  R-cl-compile  student's and the teacher's forward and the loss, so the student's backward is
                inductor's too; optimizer.step() stays eager. torch._dynamo.reset() before each
                such row (the rows share code objects and would hit dynamo's recompile limit)

Every row gets untimed warm-up steps first: one full batch and, when the timed epoch ends with a
smaller batch (54000 = 421*128 + 112 for a whole epoch), one batch of that size, so compilation
(both static shapes for the compile rows) happens outside the timed loop; a recompile inside it
is reported on stderr. Prints one JSON line: {"rows": {row: seconds}, ...}."""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        x = torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).view(n, 1, rows, cols)
        return x.float() / 255.0
    return torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8).long()


FORMULAS = {
    "official": lambda x, c: c * F.relu(x) + (1 - c) * x,
    "neg-relu": lambda x, c: x + c * F.relu(-x),
    "prelu": lambda x, c: torch._prelu_kernel(x, 1 - c),
    "addcmul": lambda x, c: x.addcmul(-c, x.clamp_max(0)),
}
# base row -> (masked-ReLU formula or None for plain ReLU, Adam keyword arguments)
BASE = {
    "official": ("official", {}),
    "neg-relu": ("neg-relu", {"fused": True}),
    "prelu": ("prelu", {"fused": True}),
    "addcmul": ("addcmul", {"fused": True}),
    "plain": (None, {"fused": True}),
    "plain-default": (None, {}),
}
# row -> (formula, Adam kwargs, channels_last, torch.compile): every base row in NCHW and in
# channels-last (suffix -cl); torch.compile rows (suffix -compile) for the bases in COMPILED.
COMPILED = list(BASE)
ROWS = {}
for _r, (_f, _adam) in BASE.items():
    ROWS[_r] = (_f, _adam, False, False)
    ROWS[_r + "-cl"] = (_f, _adam, True, False)
for _r in COMPILED:
    ROWS[_r + "-compile"] = (*BASE[_r], False, True)
    ROWS[_r + "-cl-compile"] = (*BASE[_r], True, True)


class MaskedReLU(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.c = nn.Parameter(torch.ones(1, *shape))
        self.formula = None  # None: plain ReLU

    def forward(self, x):
        if self.formula is None:
            return F.relu(x)
        return FORMULAS[self.formula](x, self.c)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.relu1 = nn.Conv2d(1, 16, 5, padding=2), MaskedReLU((16, 28, 28))
        self.conv2, self.relu2 = nn.Conv2d(16, 32, 5, padding=2), MaskedReLU((32, 14, 14))
        self.fc1, self.relu3 = nn.Linear(32 * 7 * 7, 128), MaskedReLU((128,))
        self.fc2 = nn.Linear(128, 10)
        self.register_buffer("mean", torch.tensor([0.2860]).view(1, 1, 1, 1))
        self.register_buffer("std", torch.tensor([0.3530]).view(1, 1, 1, 1))

    def masks(self):
        return [self.relu1, self.relu2, self.relu3]

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = F.avg_pool2d(self.relu1(self.conv1(x)), 2)
        x = F.avg_pool2d(self.relu2(self.conv2(x)), 2)
        return self.fc2(self.relu3(self.fc1(x.flatten(1))))


def kd(s, t, temp=4.0):
    return F.kl_div(F.log_softmax(s / temp, 1), F.softmax(t / temp, 1), reduction="batchmean") * temp * temp


def epoch(net, teacher, row, x, y, batch, batches, seed):
    formula, adam, cl, compiled = ROWS[row]
    masked = formula is not None
    for m in net.masks():
        m.formula = formula
    for m in teacher.masks():
        m.formula = None  # a plain-ReLU teacher, as snl's
    if cl:  # weights, 4-d masks c and the mean/std buffers become channels-last (same shapes)
        net.to(memory_format=torch.channels_last)
        teacher.to(memory_format=torch.channels_last)
    params = [p for n, p in net.named_parameters() if masked or not n.endswith(".c")]
    opt = torch.optim.Adam(params, lr=1e-3, **adam)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=g)

    def loss_fn(xb, yb):
        logits = net(xb)
        with torch.no_grad():
            t = teacher(xb)
        loss = F.cross_entropy(logits, yb) + kd(logits, t)
        if masked:
            loss = loss + 1e-5 * sum(m.c.abs().sum() for m in net.masks())
        return loss

    if compiled:  # forward + loss of student and teacher, and the student's backward, by inductor
        torch._dynamo.reset()  # fresh caches per row: rows share code objects (recompile limit 8)
        loss_fn = torch.compile(loss_fn, dynamic=False)

    def step(idx):
        xb, yb = x[idx], y[idx]
        if cl:
            xb = xb.contiguous(memory_format=torch.channels_last)
        loss = loss_fn(xb, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    # Untimed warm-up: one full batch and, when the timed epoch ends with a smaller batch, one
    # batch of that size too, so neither a compiled row (dynamic=False) recompiles nor an eager
    # row meets a new batch shape inside the timed loop.
    n = min(batches, (len(x) + batch - 1) // batch)
    step(order[:batch])
    tail = len(x) - (n - 1) * batch
    if tail < batch:
        step(order[:tail])
    frames = compiled_frames()
    t0 = time.perf_counter()
    for b in range(n):
        step(order[b * batch:(b + 1) * batch])
    dt = time.perf_counter() - t0
    if compiled_frames() != frames:
        print(f"bench_torch: {row} recompiled inside the timed loop", file=sys.stderr)
    return dt


def compiled_frames():  # how many frames torch.compile has (re)compiled so far in this process
    import torch._dynamo.utils
    return torch._dynamo.utils.counters["frames"]["total"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--batches", type=int, default=10**9)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows to time")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = idx(os.path.join(a.data_dir, "train-images-idx3-ubyte.gz"))
    y = idx(os.path.join(a.data_dir, "train-labels-idx1-ubyte.gz"))
    keep = len(x) - round(a.val_fraction * len(x))  # the same train-split size as snl
    x, y = x[:keep], y[:keep]
    rows = a.rows.split(",")
    times = {r: [] for r in rows}
    for _ in range(a.epochs):
        for r in rows:
            torch.manual_seed(0)  # every timed epoch starts from the same fresh nets
            net, teacher = CNN().train(), CNN().eval()
            times[r].append(epoch(net, teacher, r, x, y, a.batch, a.batches, 0))
    med = lambda v: sorted(v)[len(v) // 2]
    print(json.dumps({"rows": {r: med(v) for r, v in times.items()}, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
