"""PyTorch reference for `snl bench`: one linearization epoch of the Fashion-MNIST CNN
(Adam on weights and masks, CE + KD(T=4) from a frozen teacher + lambda*||c||_1, batch 128),
with SNL's masked ReLU written as the official code wrote it, c*relu(x) + (1-c)*x, and with
plain ReLUs. Prints one JSON line: {"masked_s": ..., "plain_s": ...}."""
import argparse
import gzip
import json
import os
import struct
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


class MaskedReLU(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.c = nn.Parameter(torch.ones(1, *shape))
        self.plain = False

    def forward(self, x):
        if self.plain:
            return F.relu(x)
        return self.c * F.relu(x) + (1 - self.c) * x


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


def epoch(net, teacher, masked, x, y, batch, batches, seed):
    for m in net.masks():
        m.plain = not masked
    params = [p for n, p in net.named_parameters() if masked or not n.endswith(".c")]
    opt = torch.optim.Adam(params, lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=g)

    def step(idx):
        xb, yb = x[idx], y[idx]
        logits = net(xb)
        with torch.no_grad():
            t = teacher(xb)
        loss = F.cross_entropy(logits, yb) + kd(logits, t)
        if masked:
            loss = loss + 1e-5 * sum(m.c.abs().sum() for m in net.masks())
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    step(order[:batch])  # warm-up, not timed
    n = min(batches, (len(x) + batch - 1) // batch)
    t0 = time.perf_counter()
    for b in range(n):
        step(order[b * batch:(b + 1) * batch])
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--batches", type=int, default=10**9)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = idx(os.path.join(a.data_dir, "train-images-idx3-ubyte.gz"))
    y = idx(os.path.join(a.data_dir, "train-labels-idx1-ubyte.gz"))
    keep = len(x) - round(a.val_fraction * len(x))  # the same train-split size as snl
    x, y = x[:keep], y[:keep]
    masked, plain = [], []
    for _ in range(a.epochs):
        for is_masked, out in ((True, masked), (False, plain)):
            torch.manual_seed(0)  # every timed epoch starts from the same fresh nets
            net, teacher = CNN().train(), CNN().eval()
            out.append(epoch(net, teacher, is_masked, x, y, a.batch, a.batches, 0))
    med = lambda v: sorted(v)[len(v) // 2]
    print(json.dumps({"masked_s": med(masked), "plain_s": med(plain), "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
