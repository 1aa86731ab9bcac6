import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { parseCsv } from "../../lib/report/csv.ts";
import { selectBackend } from "../../lib/runtime/backend.ts";
import { NUM_CLASSES } from "../../lib/data/cifar.ts";
import { BN_EPS, BN_MOMENTUM, ResNet20 } from "../../lib/models/resnet20.ts";
import { decodeSafetensors } from "../../lib/formats/safetensors.ts";
import type { HostTensor, StateDict } from "../../lib/formats/state_dict.ts";
import { decodeWeights } from "../../lib/formats/weights.ts";

const fixture = (name: string) => Deno.readFileSync(new URL(`../fixtures/weights/${name}`, import.meta.url));
const reference = (): StateDict => decodeSafetensors(fixture("resnet20.safetensors")).state;

/** The 16 fixture images, NCHW `[16, 3, 32, 32]` in the file, as NHWC. */
function inputs(): tf.Tensor4D {
  const t = decodeSafetensors(fixture("inputs16.safetensors")).state.get("inputs")!;
  return tf.tidy(() =>
    tf.transpose(tf.tensor4d(t.data as Float32Array, t.shape as [number, number, number, number]), [
      0,
      2,
      3,
      1,
    ])
  ) as tf.Tensor4D;
}

/** PyTorch's eval-mode logits for those images, `[16][10]`. */
function torchLogits(): number[][] {
  const rows = parseCsv(Deno.readTextFileSync(new URL("../fixtures/weights/logits16.csv", import.meta.url)));
  return rows.map((r) => Array.from({ length: NUM_CLASSES }, (_, k) => Number(r[`logit${k}`])));
}

function evalLogits(model: ResNet20, x: tf.Tensor4D): number[][] {
  return tf.tidy(() => model.forward(x, false).arraySync());
}

function maxAbsDiff(a: number[][], b: number[][]): number {
  assert.equal(a.length, b.length);
  return Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i][j]))));
}

/** A copy of `state` with one tensor replaced. */
function replaced(state: StateDict, name: string, t: HostTensor): StateDict {
  return new Map([...state].map(([n, v]) => [n, n === name ? t : v]));
}

Deno.test("ResNet20 has 269,722 trainable parameters and PyTorch's 116-entry state_dict", async () => {
  await selectBackend("cpu");
  const model = new ResNet20();
  assert.equal(model.parameterCount(), 269_722);
  // 19 conv weights, 19 BN weights and biases, the linear weight and bias.
  assert.equal(model.trainable().size, 19 + 2 * 19 + 2);
  const state = await model.stateDict();
  assert.equal(state.size, 116);
  assert.deepEqual([...state.keys()], [...reference().keys()]);
  const tracked = [...state].filter(([n]) => n.endsWith(".num_batches_tracked"));
  assert.equal(tracked.length, 19);
  for (const [name, t] of tracked) {
    assert.equal(t.dtype, "I64", name);
    assert.deepEqual(t.shape, [], name);
    assert.deepEqual(t.data, BigInt64Array.of(0n), name);
  }
  for (const [name, t] of state) {
    const ref = reference().get(name)!;
    assert.equal(t.dtype, ref.dtype, name);
    assert.deepEqual(t.shape, ref.shape, name);
  }
  assert.deepEqual(state.get("conv1.weight")!.shape, [16, 3, 3, 3]);
  assert.deepEqual(state.get("layer3.2.conv2.weight")!.shape, [64, 64, 3, 3]);
  assert.deepEqual(state.get("linear.weight")!.shape, [10, 64]);
  assert.deepEqual(model.spec().get("layer2.0.bn1.num_batches_tracked"), {
    dtype: "I64",
    shape: [],
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  });
  assert.deepEqual(model.spec().get("layer2.0.bn1.running_var"), { dtype: "F32", shape: [32], min: 0 });
  model.dispose();
});

Deno.test("new ResNet20() initialises like PyTorch: seeded uniform weights, BN 1/0, running stats 0/1", async () => {
  await selectBackend("cpu");
  const a = new ResNet20({ seed: 0 });
  const b = new ResNet20({ seed: 0 });
  const c = new ResNet20({ seed: 1 });
  const [sa, sb, sc] = [await a.stateDict(), await b.stateDict(), await c.stateDict()];
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa.get("conv1.weight"), sc.get("conv1.weight"));
  const conv1 = sa.get("conv1.weight")!.data as Float32Array;
  const bound = 1 / Math.sqrt(27);
  assert.ok(conv1.every((v) => Math.abs(v) <= bound), "conv1 within ±1/sqrt(fan_in)");
  assert.ok(Math.max(...conv1) > 0.8 * bound && Math.min(...conv1) < -0.8 * bound);
  assert.ok((sa.get("layer1.0.bn1.weight")!.data as Float32Array).every((v) => v === 1));
  assert.ok((sa.get("layer1.0.bn1.bias")!.data as Float32Array).every((v) => v === 0));
  assert.ok((sa.get("bn1.running_mean")!.data as Float32Array).every((v) => v === 0));
  assert.ok((sa.get("bn1.running_var")!.data as Float32Array).every((v) => v === 1));
  for (const m of [a, b, c]) m.dispose();
});

Deno.test("ResNet20.stateDict() and loadStateDict() round-trip to identical eval logits", async () => {
  await selectBackend("cpu");
  const x = inputs();
  const src = new ResNet20({ seed: 3 });
  // Non-trivial BN statistics and a counter, so a mix-up would show.
  tf.tidy(() => {
    src.forward(tf.slice(x, [0, 0, 0, 0], [4, 32, 32, 3]), true);
  });
  const dst = new ResNet20({ seed: 4 });
  const x2 = tf.slice(x, [0, 0, 0, 0], [2, 32, 32, 3]);
  assert.notDeepEqual(evalLogits(dst, x2), evalLogits(src, x2));
  dst.loadStateDict(await src.stateDict(), "src");
  assert.deepEqual(evalLogits(dst, x2), evalLogits(src, x2));
  assert.deepEqual(await dst.stateDict(), await src.stateDict());
  assert.equal(dst.tracked.get("layer3.2.bn2.num_batches_tracked")!.value, 1);
  tf.dispose([x, x2]);
  src.dispose();
  dst.dispose();
});

Deno.test("ResNet20.stateDict() returns copies: editing them leaves the model unchanged", async () => {
  await selectBackend("cpu");
  const model = new ResNet20();
  const before = await model.stateDict();
  for (const t of (await model.stateDict()).values()) {
    if (t.data instanceof Float32Array) t.data.fill(NaN);
  }
  assert.deepEqual(await model.stateDict(), before);
  model.dispose();
});

Deno.test("ResNet20 eval logits match PyTorch's on the fixture weights (safetensors and .pth)", async () => {
  await selectBackend("cpu");
  const x = inputs();
  const want = torchLogits();
  assert.equal(want.length, 16);
  for (const name of ["resnet20.safetensors", "resnet20_net.pth"]) {
    const model = new ResNet20({ seed: 9 });
    model.loadStateDict(decodeWeights(fixture(name), name).state, name);
    const got = evalLogits(model, x);
    const diff = maxAbsDiff(got, want);
    assert.ok(diff < 1e-4, `${name}: largest difference ${diff}`);
    model.dispose();
  }
  x.dispose();
});

Deno.test("ResNet20.loadStateDict() rejects a wrong shape, naming the tensor, and changes nothing", async () => {
  await selectBackend("cpu");
  const model = new ResNet20();
  const before = await model.stateDict();
  const bad = replaced(reference(), "layer2.0.conv1.weight", {
    dtype: "F32",
    shape: [32, 16, 3, 1],
    data: new Float32Array(32 * 16 * 3),
  });
  assert.throws(() => model.loadStateDict(bad, "bad.safetensors"), {
    name: "StateDictError",
    message:
      `Tensor 'layer2.0.conv1.weight' in 'bad.safetensors' is F32 [32, 16, 3, 1], expected F32 [32, 16, 3, 3]`,
  });
  const transposed = replaced(reference(), "linear.weight", {
    dtype: "F32",
    shape: [64, 10],
    data: new Float32Array(640),
  });
  assert.throws(() => model.loadStateDict(transposed, "t.pth"), {
    name: "StateDictError",
    message: `Tensor 'linear.weight' in 't.pth' is F32 [64, 10], expected F32 [10, 64]`,
  });
  assert.deepEqual(await model.stateDict(), before);
  model.dispose();
});

Deno.test("ResNet20.loadStateDict() lists a missing tensor in a table and changes nothing", async () => {
  await selectBackend("cpu");
  const model = new ResNet20();
  const before = await model.stateDict();
  const state = reference();
  state.delete("layer1.1.bn2.running_var");
  assert.throws(() => model.loadStateDict(state, "partial.safetensors"), {
    name: "StateDictError",
    message: `Tensor names in 'partial.safetensors' do not match the model: expected 116, found 115; ` +
      `1 missing, 0 unexpected:\n` +
      `  name                      expected  found\n` +
      `  layer1.1.bn2.running_var  F32 [16]  -`,
  });
  assert.deepEqual(await model.stateDict(), before);
  model.dispose();
});

Deno.test("ResNet20.loadStateDict() rejects NaN weights, naming the tensor, and changes nothing", async () => {
  await selectBackend("cpu");
  const model = new ResNet20();
  const before = await model.stateDict();
  const data = Float32Array.from(reference().get("layer3.1.bn1.weight")!.data as Float32Array);
  data[5] = NaN;
  const state = replaced(reference(), "layer3.1.bn1.weight", { dtype: "F32", shape: [64], data });
  assert.throws(() => model.loadStateDict(state, "nan.safetensors"), {
    name: "StateDictError",
    message:
      `Tensor 'layer3.1.bn1.weight' in 'nan.safetensors' holds a non-finite value 'NaN' at flat index 5`,
  });
  assert.deepEqual(await model.stateDict(), before);
  model.dispose();
});

Deno.test("ResNet20.loadStateDict() rejects what a state dict cannot mean: a negative variance or count", async () => {
  // PyTorch's and the cpu backend's batch norm give NaN for a negative running_var, a fused kernel
  // finite nonsense: either way it is not a model, so it is refused before any backend sees it.
  await selectBackend("cpu");
  const model = new ResNet20();
  const before = await model.stateDict();
  const variance = Float32Array.from(reference().get("layer2.1.bn2.running_var")!.data as Float32Array);
  variance[3] = -0.25;
  const cases: [string, StateDict, string][] = [
    [
      "var.safetensors",
      replaced(reference(), "layer2.1.bn2.running_var", { dtype: "F32", shape: [32], data: variance }),
      "Tensor 'layer2.1.bn2.running_var' in 'var.safetensors' holds -0.25 at flat index 3, expected at least 0",
    ],
    [
      "count.pth",
      replaced(reference(), "bn1.num_batches_tracked", {
        dtype: "I64",
        shape: [],
        data: BigInt64Array.of(-1n),
      }),
      "Tensor 'bn1.num_batches_tracked' in 'count.pth' holds -1 at flat index 0, expected at least 0",
    ],
    [
      "big.pth",
      replaced(reference(), "bn1.num_batches_tracked", {
        dtype: "I64",
        shape: [],
        data: BigInt64Array.of(2n ** 60n),
      }),
      `Tensor 'bn1.num_batches_tracked' in 'big.pth' holds ${
        2n ** 60n
      } at flat index 0, expected at most ${Number.MAX_SAFE_INTEGER}`,
    ],
  ];
  for (const [source, state, message] of cases) {
    assert.throws(() => model.loadStateDict(state, source), { name: "StateDictError", message });
  }
  // Zero is a variance (a constant channel): eps keeps it finite.
  variance[3] = 0;
  model.loadStateDict(
    replaced(reference(), "layer2.1.bn2.running_var", { dtype: "F32", shape: [32], data: variance }),
  );
  model.loadStateDict(before);
  assert.deepEqual(await model.stateDict(), before);
  model.dispose();
});

Deno.test("ResNet20.forward() in training mode updates running stats with momentum 0.1 and unbiased variance", async () => {
  await selectBackend("cpu");
  const model = new ResNet20();
  const ref = reference();
  model.loadStateDict(ref, "resnet20.safetensors");
  const x = inputs();
  const batch = tf.slice(x, [0, 0, 0, 0], [3, 32, 32, 3]);
  const xs = batch.arraySync() as number[][][][];
  tf.tidy(() => {
    model.forward(batch, true);
  });
  // conv1 by hand in float64: OIHW weights, padding 1, stride 1, over the 3 images.
  const w = ref.get("conv1.weight")!.data as Float32Array;
  const sums = new Float64Array(16);
  const squares = new Float64Array(16);
  for (const img of xs) {
    for (let y = 0; y < 32; y++) {
      for (let xx = 0; xx < 32; xx++) {
        for (let o = 0; o < 16; o++) {
          let v = 0;
          for (let i = 0; i < 3; i++) {
            for (let ky = 0; ky < 3; ky++) {
              for (let kx = 0; kx < 3; kx++) {
                const [sy, sx] = [y + ky - 1, xx + kx - 1];
                if (sy < 0 || sy >= 32 || sx < 0 || sx >= 32) continue;
                v += w[((o * 3 + i) * 3 + ky) * 3 + kx] * img[sy][sx][i];
              }
            }
          }
          sums[o] += v;
          squares[o] += v * v;
        }
      }
    }
  }
  const n = 3 * 32 * 32;
  const oldMean = ref.get("bn1.running_mean")!.data as Float32Array;
  const oldVar = ref.get("bn1.running_var")!.data as Float32Array;
  const state = await model.stateDict();
  const newMean = state.get("bn1.running_mean")!.data as Float32Array;
  const newVar = state.get("bn1.running_var")!.data as Float32Array;
  assert.equal(BN_MOMENTUM, 0.1);
  assert.equal(BN_EPS, 1e-5);
  for (let o = 0; o < 16; o++) {
    const mean = sums[o] / n;
    const unbiased = (squares[o] - n * mean * mean) / (n - 1);
    const wantMean = 0.9 * oldMean[o] + 0.1 * mean;
    const wantVar = 0.9 * oldVar[o] + 0.1 * unbiased;
    assert.ok(Math.abs(newMean[o] - wantMean) < 1e-5, `running_mean[${o}] ${newMean[o]} vs ${wantMean}`);
    // Measured |newVar - wantVar| <= 6e-8 here; the biased variance lies
    // 0.1 * unbiased / n (6e-6 to 1.4e-5) away, so this tolerance tells them apart.
    const tol = 1e-6 * Math.max(1, wantVar);
    assert.ok(Math.abs(newVar[o] - wantVar) < tol, `running_var[${o}] ${newVar[o]} vs ${wantVar}`);
    const biased = 0.9 * oldVar[o] + 0.1 * unbiased * (n - 1) / n;
    assert.ok(
      Math.abs(wantVar - biased) > tol,
      `running_var[${o}]: biased ${biased} is within ${tol} of unbiased ${wantVar}`,
    );
  }
  // Every BN layer counted one batch; eval mode counts none.
  for (const [name, t] of state) {
    if (name.endsWith("num_batches_tracked")) {
      assert.equal(t.data[0], (ref.get(name)!.data as BigInt64Array)[0] + 1n, name);
    }
  }
  tf.tidy(() => {
    model.forward(batch, false);
  });
  assert.deepEqual(await model.stateDict(), state);
  tf.dispose([x, batch]);
  model.dispose();
});

Deno.test("ResNet20.forward() keeps tf.memory().numTensors flat in tidy, eval and training mode", async () => {
  await selectBackend("cpu");
  const model = new ResNet20();
  const x = tf.tidy(() => tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 1)) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  for (let i = 0; i < 2; i++) {
    tf.tidy(() => {
      model.forward(x, false);
    });
    assert.equal(tf.memory().numTensors, before, `eval forward ${i}`);
  }
  for (let i = 0; i < 2; i++) {
    tf.tidy(() => {
      model.forward(x, true);
    });
    assert.equal(tf.memory().numTensors, before, `training forward ${i}`);
  }
  const logits = tf.tidy(() => model.forward(x, false));
  assert.deepEqual(logits.shape, [2, NUM_CLASSES]);
  logits.dispose();
  await model.stateDict();
  model.loadStateDict(await model.stateDict());
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
});

Deno.test("ResNet20.dispose() frees every variable it made", async () => {
  await selectBackend("cpu");
  const before = tf.memory().numTensors;
  const model = new ResNet20();
  assert.equal(tf.memory().numTensors, before + 19 * 4 + 19 + 2);
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});
