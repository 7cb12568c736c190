"""pytorch_common.py — the timing harness shared by bench/pytorch_*.py.

Measures what bench/bench_nets.c measures for cafetui, the same way:
training iterations (forward, backward, SGD step with momentum and
weight decay) on fixed pseudo-random data, best over `runs` of the mean
over `iters` iterations after 5 warm-ups; process CPU time per
iteration; FLOPs counted as bench_nets counts them (2 * weights * output
positions per Convolution / Linear, forward, weight gradient, and input
gradient when one is needed: not for the first layer); peak RSS; torch.mm
1024^3 GFLOP/s in the same process; forward latency in eval mode for one
image and for a batch.  Prints one RESULT line for bench/run_all.sh.
"""
import argparse
import resource
import time

import torch
import torch.nn as nn


def iteration_flops(model, x):
    """FLOPs of one training iteration, counted as bench_nets.c does."""
    total = 0.0
    first = [True]

    def hook(mod, inp, out):
        nonlocal total
        w = mod.weight.numel()
        positions = out.numel() / out.shape[1]
        fwd = 2.0 * w * positions
        total += fwd + fwd + (0 if first[0] else fwd)
        first[0] = False

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return total


def mm_gflops(n=1024):
    a = torch.rand(n, n)
    b = torch.rand(n, n)
    torch.mm(a, b)
    best = 1e30
    for _ in range(5):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def main(name, make_model, shape, lr, weight_decay):
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = make_model()
    batch = shape[0]
    g = torch.Generator().manual_seed(1)
    x = torch.rand(*shape, generator=g)
    y = torch.tensor([(i * 7) % 10 for i in range(batch)])
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    best, best_cpu = 1e30, 0.0
    for _ in range(a.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.iters):
            step()
        ms = (time.perf_counter() - t0) * 1e3 / a.iters
        cpu = (time.process_time() - c0) * 1e3 / a.iters
        if ms < best:
            best, best_cpu = ms, cpu
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    flops = iteration_flops(model, x)

    model.eval()
    lat = {}
    with torch.no_grad():
        for b in (1, batch):
            xb = x[:b].contiguous()
            for _ in range(3):
                model(xb)
            t = 1e30
            for _ in range(20):
                t0 = time.perf_counter()
                model(xb)
                t = min(t, time.perf_counter() - t0)
            lat[b] = t * 1e3
    mm = mm_gflops()
    achieved = flops / (best * 1e-3) / 1e9
    print("RESULT impl=pytorch-%s net=%s batch=%d threads=%d dnnl=%d train_ms=%.2f train_cpu_ms=%.2f gflop=%.3f "
          "gflops=%.1f sgemm_gflops=%.1f of_sgemm=%.2f rss_mb=%.1f infer1_ms=%.3f inferB_ms=%.2f"
          % (torch.__version__.split("a")[0], name, batch, a.threads, int(torch.backends.mkldnn.is_available()),
             best, best_cpu, flops / 1e9, achieved, mm, achieved / mm, rss_mb, lat[1], lat[batch]))
