#!/usr/bin/python3
"""Exports a randomly initialised torchvision model to ONNX and writes PyTorch reference tensors.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision, python3-onnx). Nothing is
downloaded: models are built with weights=None under a fixed seed. Output directory layout:
  model.onnx        inference graph, BatchNorm kept (not folded into Conv), dropout disabled
  index.tsv         one line per tensor: kind<TAB>name<TAB>dtype<TAB>dims(comma)<TAB>file
  *.bin             raw little-endian tensors
Kinds: input, labels, loss, grad (gradient of the initial loss), grad64 (the same computed in
float64), final (parameters and BatchNorm
running statistics after --steps optimizer steps on the same batch), losses (loss per step),
logits_eval (eval-mode logits of the final model). With --float64 1 the optimizer steps run in
float64 (model.double(), x.double()) and losses, final and logits_eval are written as float64.
--opset 18 to 21 exports at 17 and raises the file's opset by hand (see raise_opset).
"""
import argparse
import copy
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class Opset13Changes(nn.Module):
    """A small net made of the ops whose ONNX signatures changed at opset 13: Split, ReduceSum,
    Softmax (axis semantics), Squeeze and Unsqueeze (axes from attribute to input)."""

    def __init__(self, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(5, num_classes)

    def forward(self, x):
        y = F.relu(self.bn(self.conv(x)))
        a, b = torch.split(y, [3, 5], dim=1)
        gate = torch.softmax(a.sum(dim=1, keepdim=True), dim=-1)
        z = (b * gate).mean(dim=(2, 3)).unsqueeze(-1).unsqueeze(-1)
        return self.fc(torch.tanh(z).squeeze(-1).squeeze(-1))


def build(name, num_classes):
    if name == "opset13_changes":
        return Opset13Changes(num_classes)
    if name == "tiny":
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2), nn.BatchNorm2d(16), nn.ReLU6(),
            nn.Flatten(), nn.Linear(16 * 4 * 4, num_classes))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.Tanh(), nn.Linear(32, 16),
                             nn.Sigmoid(), nn.Linear(16, num_classes))
    factory = getattr(torchvision.models, name)
    return factory(weights=None, num_classes=num_classes)


def disable_randomness(model):
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
        if type(m).__name__ == "StochasticDepth":
            m.p = 0.0


# Ops whose axes moved from an attribute to an optional second input at opset 18 (ReduceSum
# already at 13). Between 18 and 21 no other op this engine reads changed its signature.
AXES_TO_INPUT_AT_18 = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                       "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"}


def raise_opset(path, opset):
    """Rewrites an opset-17 export in place to `opset` (18 to 21).

    torch 1.13 exports up to 17 and Debian's onnx 1.12 has no version converter beyond it, so the
    one signature change between 17 and 21 that concerns these models is made here by hand: the
    reductions' axes attribute becomes an int64 initializer input.
    """
    import onnx
    from onnx import helper, numpy_helper
    import numpy as np
    m = onnx.load(path)
    g = m.graph
    for n in g.node:
        if n.op_type in AXES_TO_INPUT_AT_18:
            axes = [a for a in n.attribute if a.name == "axes"]
            if axes:
                name = n.name + "_axes"
                g.initializer.append(numpy_helper.from_array(np.array(axes[0].ints, dtype=np.int64), name))
                n.attribute.remove(axes[0])
                del n.input[1:]
                n.input.append(name)
    for imp in m.opset_import:
        if imp.domain in ("", "ai.onnx"):
            imp.version = opset
    onnx.save(m, path)


def f32(v):
    """The float32 value nearest v, as a Python float."""
    return torch.tensor(v, dtype=torch.float32).item()


class Writer:
    def __init__(self, out):
        self.out = out
        self.lines = []

    def put(self, kind, name, tensor, keep64=False):
        """Writes integers as int64, floats as float32, or as float64 where keep64 and t is float64."""
        t = tensor.detach().contiguous().cpu()
        dtype = {torch.int64: "int64", torch.float64: "float64" if keep64 else "float32"}.get(t.dtype, "float32")
        t = t.to({"int64": torch.int64, "float64": torch.float64}.get(dtype, torch.float32))
        fname = "%s_%d.bin" % (kind, len(self.lines))
        with open(os.path.join(self.out, fname), "wb") as f:
            f.write(t.numpy().astype({"int64": "<i8", "float64": "<f8"}.get(dtype, "<f4")).tobytes())
        dims = ",".join(str(d) for d in t.shape)
        self.lines.append("\t".join([kind, name, dtype, dims, fname]))

    def close(self):
        with open(os.path.join(self.out, "index.tsv.tmp"), "w") as f:
            f.write("\n".join(self.lines) + "\n")
        os.replace(os.path.join(self.out, "index.tsv.tmp"), os.path.join(self.out, "index.tsv"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--opset", type=int, default=14)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"])
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--nesterov", type=int, default=0)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--clip-norm", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--float64", type=int, default=0, help="run the optimizer steps in float64")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--export-only", type=int, default=0)
    p.add_argument("--trace-grads", type=int, default=0, help="write every step's gradients")
    p.add_argument("--pretrain-same", type=int, default=0, help="pretrain on the reference batch itself")
    p.add_argument("--pretrain-steps", type=int, default=0,
                   help="SGD steps on other random batches before export, so that the reference "
                        "point has BatchNorm weights and biases away from 1 and 0")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)
    model = build(a.model, a.classes)
    disable_randomness(model)
    channels_hw = (3, 8, 8) if a.model == "mlp" else (3, a.size, a.size)
    x = torch.randn(a.batch, *channels_hw)
    y = torch.randint(0, a.classes, (a.batch,))
    if a.pretrain_steps > 0:
        model.train()
        pre = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for _ in range(a.pretrain_steps):
            pre.zero_grad()
            xb, yb = (x, y) if a.pretrain_same else (torch.randn(a.batch, *channels_hw),
                                                     torch.randint(0, a.classes, (a.batch,)))
            F.cross_entropy(model(xb), yb).backward()
            pre.step()
    pretrained = copy.deepcopy(model.state_dict())

    model.eval()
    torch.onnx.export(model, x, os.path.join(a.out, "model.onnx"), opset_version=min(a.opset, 17),
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                      input_names=["input"], output_names=["logits"])
    if a.opset > 17:
        raise_opset(os.path.join(a.out, "model.onnx"), a.opset)

    w = Writer(a.out)
    w.put("input", "input", x)
    w.put("labels", "labels", y)
    if a.export_only:
        w.close()
        return
    model.train()
    params = dict(model.named_parameters())
    initial = copy.deepcopy(model)
    loss = F.cross_entropy(model(x), y, label_smoothing=a.label_smoothing)
    grads = torch.autograd.grad(loss, list(params.values()))
    w.put("loss", "loss", loss)
    for (name, _), g in zip(params.items(), grads):
        w.put("grad", name, g)
    # The same gradients in float64 tell how well conditioned each one is in float32 at all.
    model64 = initial.double()
    loss64 = F.cross_entropy(model64(x.double()), y, label_smoothing=a.label_smoothing)
    for (name, _), g in zip(params.items(), torch.autograd.grad(loss64, list(model64.parameters()))):
        w.put("grad64", name, g)

    if a.steps > 0:
        # A fresh copy of the initial state: the gradient pass above updated BN running stats.
        torch.manual_seed(a.seed)
        model = build(a.model, a.classes)
        disable_randomness(model)
        model.load_state_dict(pretrained)
        xs, momentum = x, a.momentum
        if a.float64:
            model, xs = model.double(), x.double()
            # The ONNX graph holds BatchNorm's epsilon and momentum as float32 attributes and the
            # engine builds the optimizer's constants in float32: use the same float32-rounded
            # values here, so that the two float64 runs differ only in their arithmetic.
            momentum = f32(momentum)
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eps, m.momentum = f32(m.eps), f32(m.momentum)
        model.train()
        if a.optimizer == "sgd":
            opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=momentum,
                                  nesterov=bool(a.nesterov), weight_decay=a.weight_decay)
        else:
            opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
        losses = []
        for _ in range(a.steps):
            opt.zero_grad()
            l = F.cross_entropy(model(xs), y, label_smoothing=a.label_smoothing)
            l.backward()
            if a.trace_grads:
                for name, prm in model.named_parameters():
                    w.put("grad_step%d" % len(losses), name, prm.grad)
            if a.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip_norm)
            opt.step()
            losses.append(l.detach())
        w.put("losses", "losses", torch.stack(losses), keep64=True)
        for name, t in model.state_dict().items():
            if t.dtype.is_floating_point:
                w.put("final", name, t, keep64=True)
        model.eval()
        with torch.no_grad():
            w.put("logits_eval", "logits", model(xs), keep64=True)
    w.close()


if __name__ == "__main__":
    main()
