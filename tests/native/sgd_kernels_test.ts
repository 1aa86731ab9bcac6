import assert from "node:assert/strict";
import { sgdUpdate } from "../../lib/native/sgd_kernels.ts";
import { Rng } from "../../lib/data/rng.ts";
import { torchStep } from "../helpers.ts";

const f = Math.fround;

Deno.test("sgdUpdate() rounds like PyTorch's float32 SGD after every operation and leaves its inputs alone", () => {
  const rng = new Rng(3);
  const n = 1001;
  const make = (scale: number) => Float32Array.from({ length: n }, () => (rng.float() * 2 - 1) * scale);
  const param = make(1), grad = make(0.1), buffer = make(0.05);
  const copies = [param, grad, buffer].map((a) => a.slice());
  const hp = { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 };
  const [p, b] = sgdUpdate(param, grad, buffer, hp);
  const want = torchStep([...param], [...buffer], [...grad], hp.lr, hp.momentum, hp.weightDecay);
  for (let i = 0; i < n; i++) {
    assert.equal(b[i], want.buf[i], `buffer[${i}]`);
    assert.equal(p[i], want.p[i], `param[${i}]`);
  }
  assert.deepEqual([param, grad, buffer], copies);
  // With momentum 0 and no decay it is plain gradient descent.
  const [plain] = sgdUpdate(param, grad, new Float32Array(n), { lr: 0.5, momentum: 0, weightDecay: 0 });
  assert.deepEqual(plain, param.map((v, i) => f(v - f(0.5 * grad[i]))));
  const torchPlain = torchStep([...param], new Array(n).fill(0), [...grad], 0.5, 0, 0).p;
  assert.deepEqual(plain, Float32Array.from(torchPlain));
});
