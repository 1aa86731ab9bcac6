#!/usr/bin/env python3
"""Where PyTorch's ResNet20 training time goes on this machine, for
bench/profile.ts to print beside ours (same box, same run).

step:  torch.profiler over --steps training steps of the reference model
       (pytorch_resnet20.py's ResNet20, SGD momentum 0.9, weight decay 1e-4,
       random data, batch --batch-size), after --warmup steps: each aten op's
       self CPU time per step; then the same steps without the profiler
       (its overhead is ~10%), the step time to compare.
epoch: with --epoch-images N and --data-dir, the reference's own training
       loop over the first N shuffled training images: time in augment +
       normalise (numpy, one thread) against time in the step.

  python3 bench/torch_profile.py --reference ../shared/reference [--epoch-images 5120]
Prints CSV: section,name,calls_per_step,ms_per_step (epoch rows: ms per batch).
"""
import argparse, os, sys, time

p = argparse.ArgumentParser()
p.add_argument("--reference", default="../shared/reference")
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--epoch-images", type=int, default=0)
p.add_argument("--data-dir", default=os.environ.get("CIFAR10_DIR", ""))
a = p.parse_args()
sys.path.insert(0, a.reference)
import numpy as np
import torch, torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from pytorch_resnet20 import ResNet20, augment, load_bin, normalise

torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = ResNet20()
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
B = a.batch_size
x, y = torch.randn(B, 3, 32, 32), torch.randint(0, 10, (B,))


def step(xb, yb):
    opt.zero_grad(); out = model(xb); loss = F.cross_entropy(out, yb); loss.backward(); opt.step()
    return loss.item()


print("section,name,calls_per_step,ms_per_step")
for _ in range(a.warmup):
    step(x, y)
with profile(activities=[ProfilerActivity.CPU]) as prof:
    t = time.perf_counter()
    for _ in range(a.steps):
        step(x, y)
    profiled = (time.perf_counter() - t) / a.steps * 1000
events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
shown = 0.0
for e in events:
    ms = e.self_cpu_time_total / 1000 / a.steps
    if ms < 0.05:
        continue
    shown += ms
    print(f"step,{e.key},{e.count / a.steps:g},{ms:.2f}")
print(f"step,(profiled step wall time),,{profiled:.1f}")
t = time.perf_counter()
for _ in range(a.steps):
    step(x, y)
print(f"step,(step wall time without the profiler),,{(time.perf_counter() - t) / a.steps * 1000:.1f}")

if a.epoch_images and a.data_dir:
    parts = [load_bin(os.path.join(a.data_dir, f"data_batch_{i}.bin")) for i in range(1, 6)]
    xtr, ytr = np.concatenate([q[0] for q in parts]), np.concatenate([q[1] for q in parts])
    rng = np.random.default_rng(0)
    order = rng.permutation(len(xtr))[:a.epoch_images]
    model.train()
    batch_s = step_s = 0.0
    n = 0
    for s in range(0, len(order), B):
        idx = order[s:s + B]
        t0 = time.perf_counter()
        xb, yb = normalise(augment(xtr[idx], rng)), torch.from_numpy(ytr[idx])
        t1 = time.perf_counter()
        step(xb, yb)
        t2 = time.perf_counter()
        batch_s += t1 - t0; step_s += t2 - t1; n += 1
    print(f"epoch,augment + normalise,1,{batch_s / n * 1000:.2f}")
    print(f"epoch,step,1,{step_s / n * 1000:.2f}")
    print(f"epoch,(images per second),,{len(order) / (batch_s + step_s):.1f}")
