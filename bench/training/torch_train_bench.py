#!/usr/bin/python3
"""PyTorch CPU training throughput: SGD-momentum steps on random 32x32 batches, images/s.

Same setup as the engine's benchmark: torchvision model with random init, train mode, dropout
off, softmax cross-entropy, batch 64, a fixed number of threads. Prints one line per model:
  torch <model> batch <n> threads <t> images_per_s best <x> median <y>
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="resnet18,mobilenet_v2")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    for name in a.models.split(","):
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None, num_classes=10)
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(a.batch, 3, a.size, a.size)
        y = torch.randint(0, 10, (a.batch,))
        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        for _ in range(a.warmup):
            step()
        # Best and median of repeated short runs: other jobs only ever slow a run down.
        rates = []
        for _ in range(a.repeats):
            start = time.perf_counter()
            for _ in range(a.steps):
                step()
            rates.append(a.batch * a.steps / (time.perf_counter() - start))
        rates.sort()
        print("torch %s batch %d threads %d images_per_s best %.1f median %.1f" % (
            name, a.batch, a.threads, rates[-1], rates[len(rates) // 2]), flush=True)


if __name__ == "__main__":
    main()
