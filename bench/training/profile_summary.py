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
    print("\ntop %d nodes" % a.top)
    for node, us in by_node.most_common(a.top):
        shape = ";".join("x".join(str(d) for d in next(iter(s.values()))) for s in shapes[node]) \
            if isinstance(shapes[node], list) else ""
        print("%8.2f ms  %-18s %-60s %s" % (us / 1000 / steps, op_of[node], node[:60], shape))


if __name__ == "__main__":
    main()
