import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../../lib/runtime/backend.ts";
import { decodeMlpModel, Mlp, mlpHidden, mlpSpec } from "../../lib/models/mlp.ts";
import { encodeSafetensors } from "../../lib/formats/safetensors.ts";
import { type HostTensor, numel, type StateDict } from "../../lib/formats/state_dict.ts";
import { mlpFile } from "../hostile_inputs.ts";

const f32 = (shape: number[], values: number[]): HostTensor => ({
  dtype: "F32",
  shape,
  data: new Float32Array(values),
});

/**
 * A hidden [2, 3] network with dyadic weights, so float32 is exact. PyTorch
 * gives the same outputs (/usr/bin/python3, torch 1.13):
 *
 * ```python
 * net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
 * net.load_state_dict({
 *   "0.weight": torch.tensor([[1.5], [-2.0]]), "0.bias": torch.tensor([-0.5, 1.0]),
 *   "2.weight": torch.tensor([[1.0, -1.0], [0.5, 2.0], [-3.0, 0.25]]), "2.bias": torch.tensor([0.125, -0.25, 0.375]),
 *   "4.weight": torch.tensor([[2.0, -1.0, 0.5]]), "4.bias": torch.tensor([0.25]),
 * })
 * net(torch.tensor([[-2.0], [-0.5], [0.0], [0.5], [1.0], [3.0]])).flatten().tolist()
 * # [-8.6875, -3.0625, -1.1875, 1.0, 2.25, 6.75]
 * ```
 *
 * By hand at x = 0: relu([-0.5, 1]) = [0, 1]; relu([-1 + 0.125, 2 - 0.25, 0.25 + 0.375]) =
 * [0, 1.75, 0.625]; 2 * 0 - 1.75 + 0.5 * 0.625 + 0.25 = -1.1875.
 */
function handState(): StateDict {
  return new Map([
    ["0.weight", f32([2, 1], [1.5, -2])],
    ["0.bias", f32([2], [-0.5, 1])],
    ["2.weight", f32([3, 2], [1, -1, 0.5, 2, -3, 0.25])],
    ["2.bias", f32([3], [0.125, -0.25, 0.375])],
    ["4.weight", f32([1, 3], [2, -1, 0.5])],
    ["4.bias", f32([1], [0.25])],
  ]);
}
const HAND_X = [-2, -0.5, 0, 0.5, 1, 3];
const HAND_Y = [-8.6875, -3.0625, -1.1875, 1.0, 2.25, 6.75];

function predictions(mlp: Mlp, xs: number[]): number[] {
  return tf.tidy(() => Array.from(mlp.forward(tf.tensor2d(xs, [xs.length, 1])).dataSync()));
}

/**
 * Runs `fn` with a fresh MLP on the cpu backend and checks that `fn` leaves
 * no tensor behind (errors included). The constructor's own count is tested
 * by "Mlp.dispose() frees every tensor the constructor made".
 */
async function withMlp(hidden: number[], fn: (mlp: Mlp) => void | Promise<void>, seed = 0): Promise<void> {
  await selectBackend("cpu");
  const mlp = new Mlp(hidden, { seed });
  try {
    const before = tf.memory().numTensors;
    await fn(mlp);
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
  } finally {
    mlp.dispose();
  }
}

Deno.test("new Mlp() lays out parameters as PyTorch's nn.Sequential state_dict", async () => {
  await withMlp([64, 64], async (mlp) => {
    const state = await mlp.stateDict();
    assert.deepEqual([...state.keys()], ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]);
    assert.deepEqual([...state.values()].map((t) => t.shape), [[64, 1], [64], [64, 64], [64], [1, 64], [1]]);
    for (const t of state.values()) {
      assert.equal(t.dtype, "F32");
      assert.ok(t.data instanceof Float32Array);
      assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1));
    }
    assert.deepEqual(mlp.variables().map((v) => v.shape), [[1, 64], [64], [64, 64], [64], [64, 1], [1]]);
    assert.deepEqual(mlp.hidden, [64, 64]);
  });
});

Deno.test("new Mlp() initialises uniformly in PyTorch's ±1/sqrt(fan_in)", async () => {
  await withMlp([64, 64], async (mlp) => {
    const state = await mlp.stateDict();
    const bounds: Record<string, number> = {
      "0.weight": 1,
      "0.bias": 1,
      "2.weight": 1 / 8,
      "2.bias": 1 / 8,
      "4.weight": 1 / 8,
      "4.bias": 1 / 8,
    };
    for (const [name, bound] of Object.entries(bounds)) {
      const v = Array.from(state.get(name)!.data as Float32Array);
      assert.ok(v.every((x) => Math.abs(x) <= bound), `${name} outside ±${bound}`);
      if (v.length >= 64) {
        assert.ok(Math.max(...v.map(Math.abs)) > 0.8 * bound, `${name} does not fill ±${bound}`);
      }
    }
  });
});

Deno.test("new Mlp() is fixed by its seed", async () => {
  await selectBackend("cpu");
  const [a, b, c] = [new Mlp([8], { seed: 1 }), new Mlp([8], { seed: 1 }), new Mlp([8], { seed: 2 })];
  assert.deepEqual(await a.stateDict(), await b.stateDict());
  assert.notDeepEqual(await a.stateDict(), await c.stateDict());
  assert.deepEqual(await new Mlp([8]).stateDict(), await new Mlp([8], { seed: 0 }).stateDict());
  tf.disposeVariables();
});

Deno.test("new Mlp() rejects hidden widths outside 1..4096", async () => {
  await selectBackend("cpu");
  for (const h of [0, -1, 1.5, 4097, NaN]) {
    assert.throws(() => new Mlp([64, h]), {
      name: "RangeError",
      message: `Hidden width must be an integer in 1..4096, got ${h}`,
    });
  }
});

Deno.test("Mlp.dispose() frees every tensor the constructor made", async () => {
  await selectBackend("cpu");
  const before = tf.memory().numTensors;
  new Mlp([64, 64]).dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("Mlp.forward() maps [N, 1] to [N, 1] and leaves no tensor behind inside tidy", async () => {
  await withMlp([16, 16], async (mlp) => {
    const before = tf.memory().numTensors;
    for (const n of [1, 5, 300]) {
      const shape = tf.tidy(() => mlp.forward(tf.zeros([n, 1]) as tf.Tensor2D).shape);
      assert.deepEqual(shape, [n, 1]);
    }
    assert.equal(tf.memory().numTensors, before);
    // stateDict() allocates nothing that lives on either.
    await mlp.stateDict();
    assert.equal(tf.memory().numTensors, before);
  });
});

Deno.test("Mlp with no hidden layer is the affine map of its one Linear", async () => {
  await withMlp([], (mlp) => {
    mlp.loadStateDict(new Map([["0.weight", f32([1, 1], [3])], ["0.bias", f32([1], [-1])]]));
    assert.deepEqual(predictions(mlp, [0, 1, -2]), [-1, 2, -7]);
  });
});

Deno.test("Mlp.loadStateDict() of set weights gives PyTorch's outputs exactly (hidden [2, 3])", async () => {
  await withMlp([2, 3], async (mlp) => {
    const before = tf.memory().numTensors;
    mlp.loadStateDict(handState());
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(predictions(mlp, HAND_X), HAND_Y);
    assert.deepEqual(await mlp.stateDict(), handState());
  });
});

Deno.test("Mlp.stateDict() and loadStateDict() round-trip to identical predictions", async () => {
  await selectBackend("cpu");
  const a = new Mlp([8, 8], { seed: 1 });
  const b = new Mlp([8, 8], { seed: 2 });
  const before = tf.memory().numTensors;
  const xs = [-5, -1.25, 0, 0.3, 4.9];
  assert.notDeepEqual(predictions(a, xs), predictions(b, xs));
  b.loadStateDict(await a.stateDict());
  assert.deepEqual(predictions(b, xs), predictions(a, xs));
  assert.deepEqual(await b.stateDict(), await a.stateDict());
  assert.equal(tf.memory().numTensors, before);
  a.dispose();
  b.dispose();
});

Deno.test("Mlp.stateDict() returns copies that do not alias the model's weights", async () => {
  await withMlp([2, 3], async (mlp) => {
    mlp.loadStateDict(handState());
    const state = await mlp.stateDict();
    for (const t of state.values()) (t.data as Float32Array).fill(99);
    assert.deepEqual(predictions(mlp, HAND_X), HAND_Y);
  });
});

Deno.test("Mlp.loadStateDict() names a missing tensor", async () => {
  await withMlp([2, 3], (mlp) => {
    const state = handState();
    state.delete("2.bias");
    assert.throws(() => mlp.loadStateDict(state, "m.safetensors"), {
      message: `m.safetensors: missing tensor "2.bias"`,
    });
    assert.throws(() => mlp.loadStateDict(new Map()), { message: `state dict: missing tensor "0.weight"` });
  });
});

Deno.test("Mlp.loadStateDict() names an unexpected tensor", async () => {
  await withMlp([2, 3], (mlp) => {
    const state = handState();
    state.set("6.weight", f32([1, 1], [1]));
    assert.throws(() => mlp.loadStateDict(state, "m.safetensors"), {
      message: `m.safetensors: unexpected tensor "6.weight" for an MLP with hidden 2,3`,
    });
  });
});

Deno.test("Mlp.loadStateDict() names a tensor of the wrong shape or dtype", async () => {
  await withMlp([2, 3], (mlp) => {
    const transposed = handState();
    transposed.set("2.weight", f32([2, 3], [1, -1, 0.5, 2, -3, 0.25]));
    assert.throws(() => mlp.loadStateDict(transposed, "m.safetensors"), {
      message: `m.safetensors: tensor "2.weight" is F32 [2,3], expected F32 [3,2]`,
    });
    const i64 = handState();
    i64.set("4.bias", { dtype: "I64", shape: [1], data: new BigInt64Array([1n]) });
    assert.throws(() => mlp.loadStateDict(i64, "m.safetensors"), {
      message: `m.safetensors: tensor "4.bias" is I64 [1], expected F32 [1]`,
    });
  });
});

Deno.test("Mlp.loadStateDict() names a tensor whose data does not fill its shape", async () => {
  await withMlp([2, 3], (mlp) => {
    const short = handState();
    short.set("2.weight", { dtype: "F32", shape: [3, 2], data: new Float32Array(5) });
    assert.throws(() => mlp.loadStateDict(short, "m.safetensors"), (e: unknown) => {
      assert.match((e as Error).message, /^m\.safetensors: tensor "2\.weight"/);
      return true;
    });
  });
});

Deno.test("Mlp.loadStateDict() names a tensor with a non-finite value", async () => {
  await withMlp([2, 3], (mlp) => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const state = handState();
      (state.get("2.bias")!.data as Float32Array)[1] = bad;
      assert.throws(() => mlp.loadStateDict(state, "m.safetensors"), {
        message: `m.safetensors: tensor "2.bias" has a non-finite value at index 1`,
      });
    }
  });
});

Deno.test("Mlp.loadStateDict() changes nothing when it rejects a state dict", async () => {
  await withMlp([2, 3], (mlp) => {
    mlp.loadStateDict(handState());
    const before = tf.memory().numTensors;
    const state = handState();
    (state.get("0.weight")!.data as Float32Array).fill(7);
    (state.get("4.bias")!.data as Float32Array)[0] = NaN; // the last tensor is bad
    assert.throws(() => mlp.loadStateDict(state));
    assert.deepEqual(predictions(mlp, HAND_X), HAND_Y, "the first layer was replaced before the error");
    assert.equal(tf.memory().numTensors, before);
  });
});

/** The config exp1 saves with a model, for decodeMlpModel(). */
const SAVED = {
  epochs: 10,
  lr: 0.01,
  samples: 100,
  batchSize: 10,
  hidden: [2, 3],
  optimizer: "adam",
  xMin: -5,
  xMax: 5,
  seed: 0,
  fn: "x^2",
};

/** Zero tensors of an MLP with `hidden`, as mlpSpec() describes them. */
function zeros(hidden: number[]): StateDict {
  return new Map([...mlpSpec(hidden)].map(([n, s]) => [n, f32(s.shape, new Array(numel(s.shape)).fill(0))]));
}

Deno.test("decodeMlpModel() returns the checked config and tensors of a file exp1 saved", async () => {
  await selectBackend("cpu");
  const mlp = new Mlp([2, 3], { seed: 4 });
  const state = await mlp.stateDict();
  mlp.dispose();
  const { config, state: read } = decodeMlpModel(
    mlpFile(state, { ...SAVED, extra: "dropped" }),
    "m.safetensors",
  );
  assert.deepEqual(config, SAVED);
  assert.deepEqual(read, state);
});

Deno.test("decodeMlpModel() refuses a config that cannot mean a Lab 1 model, naming the field", () => {
  const cases: [unknown, string][] = [
    [{ ...SAVED, xMin: null }, `config xMin is null, expected a finite number`],
    [{ ...SAVED, xMax: "abc" }, `config xMax is "abc", expected a finite number`],
    [{ ...SAVED, xMin: 5, xMax: -5 }, `config xMin 5 is not below xMax -5`],
    [{ ...SAVED, xMax: 1e39 }, `config xMax is 1e+39, expected a finite number`],
    [{ ...SAVED, hidden: [2, 0] }, `config hidden is [2, 0], expected at most 16 integer widths in 1..4096`],
    [
      { ...SAVED, hidden: "64,64" },
      `config hidden is "64,64", expected at most 16 integer widths in 1..4096`,
    ],
    [
      { ...SAVED, hidden: new Array(17).fill(2) },
      `config hidden is [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2], expected at most 16 integer widths in 1..4096`,
    ],
    [{ ...SAVED, optimizer: "rmsprop" }, `config optimizer is "rmsprop", expected "adam" or "sgd"`],
    [
      { ...SAVED, fn: "log(x)" },
      `config fn "log(x)": f(x) = log(x) is not finite at x = -5 (value NaN): choose a function defined on [-5, 5]`,
    ],
    [{ ...SAVED, fn: 7 }, `config fn is 7, expected a string`],
    [[1, 2], `its metadata "config" is not an object`],
  ];
  for (const [config, why] of cases) {
    assert.throws(() => decodeMlpModel(mlpFile(zeros([2, 3]), config), "m.safetensors"), {
      message: `m.safetensors: not an exp1 model (${why})`,
    });
  }
  const other = encodeSafetensors(zeros([2, 3]), { metadata: { model: "resnet20" } });
  assert.throws(() => decodeMlpModel(other, "r.safetensors"), {
    message: `r.safetensors: not an exp1 model (metadata model is "resnet20", expected "mlp")`,
  });
});

Deno.test("decodeMlpModel() checks the tensors against the widths before anything is built", () => {
  // A 3 KB file whose metadata asks for sixteen 4096-wide layers (1 GB of weights) but holds a [2, 3] net's.
  const huge = mlpFile(zeros([2, 3]), { ...SAVED, hidden: new Array(16).fill(4096) });
  const before = tf.memory().numBytes;
  assert.throws(() => decodeMlpModel(huge, "huge.safetensors"), {
    message:
      "huge.safetensors: not an exp1 model (config hidden is [4096, 4096, 4096, 4096, 4096, 4096, 4096, " +
      "4096, 4096, 4096, 4096, 4096, 4096... but the file holds 6 tensors, with no tensor '6.weight')",
  });
  const wide = mlpFile(zeros([2, 3]), { ...SAVED, hidden: [2, 4096] });
  assert.throws(() => decodeMlpModel(wide, "wide.safetensors"), {
    message:
      "wide.safetensors: not an exp1 model (config hidden is [2, 4096] but the file holds 6 tensors, " +
      "with tensor '2.weight' of shape [3, 2], not [4096, 2])",
  });
  const extra = new Map([...zeros([2, 3]), ["6.weight", f32([1], [0])]]);
  assert.throws(() => decodeMlpModel(mlpFile(extra, SAVED), "x.safetensors"), {
    message: "x.safetensors: not an exp1 model (config hidden is [2, 3] but the file holds 7 tensors, " +
      "with an unexpected tensor '6.weight')",
  });
  assert.equal(tf.memory().numBytes, before);
  const nan = zeros([2, 3]);
  (nan.get("2.bias")!.data as Float32Array)[1] = NaN;
  assert.throws(() => decodeMlpModel(mlpFile(nan, SAVED), "nan.safetensors"), {
    message: "Tensor '2.bias' in 'nan.safetensors' holds a non-finite value 'NaN' at flat index 1",
  });
});

Deno.test("new Mlp() rejects more than 16 hidden layers", () => {
  assert.throws(() => new Mlp(new Array(17).fill(1)), {
    name: "RangeError",
    message: "An MLP has at most 16 hidden layers, got 17",
  });
});

Deno.test("mlpHidden() reads the widths of an nn.Sequential MLP's state dict and rejects anything else", () => {
  const z = (shape: number[]) => f32(shape, new Array(shape.reduce((a, b) => a * b, 1)).fill(0));
  const mlp = new Map([
    ["0.weight", z([64, 1])],
    ["0.bias", z([64])],
    ["2.weight", z([32, 64])],
    ["2.bias", z([32])],
    ["4.weight", z([1, 32])],
    ["4.bias", z([1])],
  ]);
  assert.deepEqual(mlpHidden(mlp), [64, 32]);
  assert.equal(mlpHidden(new Map([...mlp].filter(([k]) => k !== "4.bias"))), null);
  assert.equal(mlpHidden(new Map([...mlp, ["2.weight", z([32, 63])]])), null, "widths must chain");
  assert.equal(mlpHidden(new Map([["conv1.weight", z([16, 3, 3, 3])]])), null);
  assert.equal(mlpHidden(new Map()), null);
});
