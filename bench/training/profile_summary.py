#!/usr/bin/python3
"""Summarises an ONNX Runtime profile (SessionOptions.enableProfiling) of train steps.

Drops the first run (allocation, planning), then sums the node kernel times of the remaining
runs per op type and per node, per step. Usage: profile_summary.py PROFILE.json [--top N]
"""
import argparse
import collections
import json


def main():
    p = argparse.ArgumentParser()
    p.add_argument("profile")
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    with open(a.profile) as f:
        events = json.load(f)
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])
    if len(runs) < 2:
        raise SystemExit("need at least two model_run events, found %d" % len(runs))
    timed = runs[1:]
    steps = len(timed)
    windows = [(r["ts"], r["ts"] + r["dur"]) for r in timed]

    def in_timed(e):
        return any(lo <= e["ts"] <= hi for lo, hi in windows)

    by_op = collections.Counter()
    by_node = collections.Counter()
    count_op = collections.Counter()
    shapes = {}
    op_of = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time") or not in_timed(e):
            continue
        node = e["name"][:-len("_kernel_time")]
        op = e.get("args", {}).get("op_name", "?")
        by_op[op] += e["dur"]
        by_node[node] += e["dur"]
        count_op[op] += 1
        op_of[node] = op
        shapes[node] = e.get("args", {}).get("input_type_shape", "")
    run_ms = sum(r["dur"] for r in timed) / 1000 / steps
    kernel_ms = sum(by_op.values()) / 1000 / steps
    print("steps %d  model_run %.1f ms/step  kernels %.1f ms/step" % (steps, run_ms, kernel_ms))
    print("\n%-28s %10s %7s %8s" % ("op", "ms/step", "share", "nodes"))
    for op, us in by_op.most_common():
        print("%-28s %10.2f %6.1f%% %8d" % (op, us / 1000 / steps, 100 * us / sum(by_op.values()),
                                          count_op[op] // steps))
    # Node names say where a node comes from: bn/ (BatchNorm expansion), grad/ (backward),
    # train/ (loss, optimizer, running statistics), depthwise/ (DepthwiseConvs), else the model.
    by_origin = collections.Counter()
    for node, us in by_node.items():
        origin = node.split("/")[0] + "/" if "/" in node and not node.startswith("/") else "model"
        by_origin[origin, op_of[node]] += us
    print("\n%-14s %-22s %10s" % ("origin", "op", "ms/step"))
    for (origin, op), us in by_origin.most_common(30):
        print("%-14s %-22s %10.2f" % (origin, op, us / 1000 / steps))
    print("\ntop %d nodes" % a.top)
    for node, us in by_node.most_common(a.top):
        shape = ";".join("x".join(str(d) for d in next(iter(s.values()))) for s in shapes[node]) \
            if isinstance(shapes[node], list) else ""
        print("%8.2f ms  %-18s %-60s %s" % (us / 1000 / steps, op_of[node], node[:60], shape))


if __name__ == "__main__":
    main()
