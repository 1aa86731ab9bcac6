#!/usr/bin/env bash
# The GPU run, prepared (about 5 minutes): the adapter (a software one is
# refused), what single WebGPU calls cost the host, and ResNet20 training
# steps on WebGPU (compiled) beside PyTorch CUDA on the same GPU, with the
# WebGPU calls per step, the host-only step time (op by op and compiled) and
# the GPU time of each kernel of one step (top 15, where the adapter offers
# timestamp-query); then the step again with tfjs's other kernel for the
# convolutions' input gradient (--conv-input-grad mm), to choose between them.
#
# Here, before sending the checkout to a GPU machine (../shared/device/README.md):
#   ../shared/device/pack.sh bench/main.ts bench/webgpu_calls.ts
#   cp bench/torch_bench.py ../shared/reference/pytorch_resnet20.py .device/
# On the GPU machine, from the checkout (with .device carried along):
#   bash bench/gpu_check.sh
# On a GPU machine with Deno and the npm cache, the bundles are not needed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .device/env.sh ]; then
  # shellcheck disable=SC1091
  source .device/env.sh
  calls=(deno run -A .device/webgpu_calls.js)
  bench=(deno run -A .device/main.js)
  reference=.device
else
  calls=(deno run -A bench/webgpu_calls.ts)
  bench=(deno run -A bench/main.ts)
  reference=../shared/reference
fi
python=${PYTHON:-python3}
echo "== WebGPU calls, microseconds each"
timeout 60 "${calls[@]}" --require-hardware
echo "== ResNet20 training steps, batch 128: WebGPU vs PyTorch CUDA (same GPU)"
timeout 200 "${bench[@]}" --lab exp2 --backend webgpu --torch-device cuda --reference "$reference" \
  --python "$python" --steps 20 --warmup 3 --profile
echo "== The same with tfjs's tiled (matrix-multiply) input gradient of the convolutions"
timeout 100 "${bench[@]}" --lab exp2 --backend webgpu --no-reference --conv-input-grad mm --steps 20 --warmup 3 \
  --profile
