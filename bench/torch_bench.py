#!/usr/bin/env python3
"""ResNet20 training-step throughput of the PyTorch reference model on a chosen
device (the reference script's own `bench` runs on the CPU only). Same
method as `pytorch_resnet20.py bench`: SGD momentum 0.9, weight decay 1e-4,
random data, warm-up steps excluded; on CUDA the timing ends with a
synchronise so queued work is counted.

  python3 bench/torch_bench.py --device cuda --reference ../shared/reference
Prints one CSV line: framework,threads,batch_size,step_ms,images_per_second
"""
import argparse, sys, time

p = argparse.ArgumentParser()
p.add_argument("--device", default="cuda")
p.add_argument("--reference", default="../shared/reference")
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--steps", type=int, default=10)
p.add_argument("--warmup", type=int, default=3)
a = p.parse_args()
sys.path.insert(0, a.reference)
import torch, torch.nn.functional as F
from pytorch_resnet20 import ResNet20

dev = torch.device(a.device)
model = ResNet20().to(dev)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
x = torch.randn(a.batch_size, 3, 32, 32, device=dev)
y = torch.randint(0, 10, (a.batch_size,), device=dev)


def step():
    opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


for _ in range(a.warmup):
    step()
sync()
t = time.perf_counter()
for _ in range(a.steps):
    step()
sync()
ms = (time.perf_counter() - t) / a.steps * 1000
name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{torch.get_num_threads()} threads"
print("framework,threads,batch_size,step_ms,images_per_second")
print(f"pytorch-{torch.__version__}-{dev.type},{name},{a.batch_size},{ms:.1f},{a.batch_size / ms * 1000:.1f}")
