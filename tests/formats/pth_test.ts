import assert from "node:assert/strict";
import { zipSync } from "fflate";
import { PickleError, UnsafePickleError } from "../../lib/formats/pickle.ts";
import { decodePth, encodePth, PthError } from "../../lib/formats/pth.ts";
import { decodeSafetensors } from "../../lib/formats/safetensors.ts";
import {
  dagPickle,
  deepPickle,
  deflateZeros,
  makeZip,
  type PickleSlot,
  pthWith,
  smallStatePickle,
} from "../hostile_inputs.ts";

const fixture = (name: string) => Deno.readFileSync(new URL(`../fixtures/weights/${name}`, import.meta.url));
const reference = () => decodeSafetensors(fixture("resnet20.safetensors")).state;

function assertRefused(name: string, error: new (message: string) => Error, message: string | RegExp) {
  assert.throws(() => decodePth(fixture(name), { source: name }), (e: Error) => {
    assert.ok(e instanceof error, `${e}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

Deno.test("decodePth() reads {'net': sd, 'acc', 'epoch'} as exactly the safetensors tensors", () => {
  const { state, key, extra } = decodePth(fixture("resnet20_net.pth"), { source: "resnet20_net.pth" });
  assert.equal(key, "net");
  assert.deepEqual(extra, { acc: 0.5, epoch: 5 });
  assert.deepEqual(state, reference());
});

Deno.test("decodePth() reads a bare state_dict and reports key null", () => {
  const { state, key, extra } = decodePth(fixture("resnet20_plain.pth"));
  assert.equal(key, null);
  assert.deepEqual(extra, {});
  assert.deepEqual(state, reference());
});

Deno.test("decodePth() keeps DataParallel 'module.' names under 'state_dict'", () => {
  const { state, key, extra } = decodePth(fixture("resnet20_module.pth"));
  assert.equal(key, "state_dict");
  assert.deepEqual(extra, { best_prec1: 91.25 });
  assert.deepEqual([...state.keys()], [...reference().keys()].map((n) => `module.${n}`));
});

Deno.test("decodePth() copies out views that share a storage", () => {
  const { state } = decodePth(fixture("views.pth"));
  const get = (n: string) => [state.get(n)!.dtype, state.get(n)!.shape, [...state.get(n)!.data]];
  assert.deepEqual(get("a"), ["F32", [2, 3], [0, 1, 2, 3, 4, 5]]);
  assert.deepEqual(get("row"), ["F32", [3], [3, 4, 5]]);
  assert.deepEqual(get("mid"), ["F32", [3], [2, 3, 4]]);
  assert.deepEqual(get("empty"), ["F32", [0, 4], []]);
  assert.deepEqual(get("scalar"), ["F32", [], [2.5]]);
  assert.deepEqual(get("n"), ["I64", [], [7n]]);
  assert.notEqual(state.get("a")!.data.buffer, state.get("row")!.data.buffer);
});

Deno.test("decodePth() refuses unsupported layouts and dtypes naming the tensor", () => {
  assertRefused(
    "noncontiguous.pth",
    PthError,
    "Tensor 't' is not contiguous: shape [3, 2] with strides [1, 3] (save tensor.contiguous()) in 'noncontiguous.pth'",
  );
  assertRefused(
    "float64.pth",
    PthError,
    "Tensor 'd' has dtype 'float64', expected float32 or int64 in 'float64.pth'",
  );
});

Deno.test("decodePth() refuses every hostile fixture", () => {
  assertRefused(
    "hostile_os_system.pth",
    UnsafePickleError,
    /^Refusing pickle global 'posix\.system' at byte 26 of 'hostile_os_system\.pth:hostile_os_system\/data\.pkl'/,
  );
  assertRefused(
    "hostile_huge_storage.pth",
    PthError,
    "Storage '0' declares 1099511627776 float32 elements (4398046511104 bytes) but its zip entry " +
      "'archive/data/0' holds 24 bytes in 'hostile_huge_storage.pth'",
  );
  assertRefused(
    "hostile_truncated.pth",
    PthError,
    "Truncated or corrupt zip (no end of central directory record) in 'hostile_truncated.pth'",
  );
  assertRefused(
    "hostile_zip_slip.pth",
    PthError,
    "Refusing zip entry '../evil.txt': absolute, backslash or '..' paths are not allowed in 'hostile_zip_slip.pth'",
  );
});

Deno.test("decodePth() refuses unsafe entry names, oversized archives and non-zip input", () => {
  for (const name of ["/abs/data.pkl", "a\\b", "archive/./x", "C:/x"]) {
    const zip = zipSync({ [name]: new Uint8Array(1) });
    assert.throws(() => decodePth(zip), { name: "PthError", message: new RegExp(`^Refusing zip entry`) });
  }
  assert.throws(() => decodePth(fixture("resnet20_net.pth"), { maxBytes: 1000 }), {
    name: "PthError",
    message: /^Zip entries declare \d+ bytes in all, more than the 1000 allowed in 'pth'$/,
  });
  assert.throws(() => decodePth(new Uint8Array([0x80, 2, 0x8a])), {
    message:
      "Legacy (pre-1.6, non-zip) torch.save format is not supported; re-save with a newer torch in 'pth'",
  });
  assert.throws(() => decodePth(new Uint8Array(3)), { message: "File is not a zip archive in 'pth'" });
});

/** A .pth holding only `data.pkl`; `ops` are pickle opcodes after PROTO 2, strings as SHORT_BINUNICODE. */
function pthWithPickle(...ops: (number | string)[]): Uint8Array {
  const bytes = [0x80, 2];
  for (const op of ops) {
    if (typeof op === "number") bytes.push(op);
    else bytes.push(0x8c, op.length, ...new TextEncoder().encode(op));
  }
  return zipSync({ "archive/data.pkl": new Uint8Array([...bytes, 0x2e]) });
}

Deno.test("decodePth() reports checkpoints without exactly one state_dict", () => {
  const EMPTY_DICT = 0x7d, MARK = 0x28, SETITEMS = 0x75, NONE = 0x4e, BININT1 = 0x4b;
  assert.throws(
    () => decodePth(pthWithPickle(EMPTY_DICT, MARK, "epoch", NONE, "opt", EMPTY_DICT, SETITEMS)),
    {
      name: "PthError",
      message:
        "No state_dict found: expected a dict of tensors or one under 'net', 'state_dict' or 'model'; " +
        "top-level keys are 'epoch', 'opt' in 'pth'",
    },
  );
  assert.throws(
    () => decodePth(pthWithPickle(EMPTY_DICT, MARK, "net", EMPTY_DICT, "model", EMPTY_DICT, SETITEMS)),
    { message: "Ambiguous checkpoint: 'net' and 'model' both hold dicts in 'pth'" },
  );
  assert.throws(
    () =>
      decodePth(
        pthWithPickle(EMPTY_DICT, MARK, "net", EMPTY_DICT, MARK, "w", BININT1, 1, SETITEMS, SETITEMS),
      ),
    { message: "Tensor 'w' is not a tensor (got number) in 'pth'" },
  );
  assert.throws(() => decodePth(pthWithPickle(NONE)), { message: "Top level is not a dict in 'pth'" });
  assert.throws(() => decodePth(zipSync({ "archive/version": new Uint8Array(2) })), {
    message: "Expected one '<archive>/data.pkl' entry, found 0 among 1 entries ('archive/version') in 'pth'",
  });
});

Deno.test("encodePth() round-trips through decodePth()", () => {
  const state = reference();
  const nested = decodePth(
    encodePth(state, { key: "net", extra: { acc: 0.5, epoch: 5, tag: "x", ok: true } }),
  );
  assert.equal(nested.key, "net");
  assert.deepEqual(nested.extra, { acc: 0.5, epoch: 5, tag: "x", ok: true });
  assert.deepEqual(nested.state, state);
  const plain = decodePth(encodePth(state));
  assert.equal(plain.key, null);
  assert.deepEqual(plain.state, state);
  assert.deepEqual(encodePth(state), encodePth(state), "deterministic bytes");
});

Deno.test("decodePth() reads a hand-made zip, the base of the hostile cases below", () => {
  const { state } = decodePth(pthWith(smallStatePickle()), { source: "small.pth" });
  assert.deepEqual(state.get("w"), { dtype: "F32", shape: [4], data: new Float32Array(4) });
});

Deno.test("decodePth() refuses values shared or nested without bound in any slot, quickly and briefly", () => {
  const slots: PickleSlot[] = ["size", "persistent id", "key", "top-level key"];
  for (const slot of slots) {
    // 524 million integers once written out; a tuple a million deep (over the value budget) and
    // 900,000 deep (under it, so the message path meets it).
    for (
      const [what, pickle] of [
        ["shared", dagPickle(slot)],
        ["deep", deepPickle(slot, 1_000_000)],
        ["deep", deepPickle(slot, 900_000)],
      ] as const
    ) {
      const start = performance.now();
      assert.throws(() => decodePth(pthWith(pickle), { source: "hostile.pth" }), (e: Error) => {
        assert.ok(e instanceof PthError || e instanceof PickleError, `${slot} ${what}: ${e}`);
        assert.match(e.message, /'hostile\.pth(:archive\/data\.pkl)?'$/, `${slot} ${what}`);
        assert.ok(e.message.length < 400 && !e.message.includes("\n"), `${slot} ${what}: ${e.message}`);
        return true;
      });
      assert.ok(performance.now() - start < 5000, `${slot} ${what} took ${performance.now() - start} ms`);
    }
  }
});

Deno.test("decodePth() checks every entry against its declared size: a zip bomb stops at once", () => {
  // Like the 13.6 MB file of twelve entries that each declare 100 bytes and inflate to 1 GiB, at 64 MiB each.
  const bomb = deflateZeros(64 * 2 ** 20);
  const extra = Array.from(
    { length: 12 },
    (_, i) => ({ name: `archive/junk${i}`, data: bomb, method: 8, size: 100 }),
  );
  const start = performance.now();
  assert.throws(() => decodePth(pthWith(smallStatePickle(), extra), { source: "bomb.pth" }), {
    name: "PthError",
    message: "Zip entry 'archive/junk0' inflates to more than the 100 bytes it declares in 'bomb.pth'",
  });
  assert.ok(performance.now() - start < 2000);
  // Declared honestly, they are refused from the directory, before inflating anything.
  const honest = extra.map((e) => ({ ...e, size: 64 * 2 ** 20 }));
  assert.throws(() => decodePth(pthWith(smallStatePickle(), honest), { source: "bomb.pth" }), {
    message: /^Zip entries declare 805306\d{3} bytes in all, more than the 268435456 allowed in 'bomb\.pth'$/,
  });
  // A data.pkl larger than any state_dict's pickle is refused from its declared size.
  const bigPickle = makeZip([{
    name: "archive/data.pkl",
    data: deflateZeros(17 * 2 ** 20),
    method: 8,
    size: 17 * 2 ** 20,
  }]);
  assert.throws(() => decodePth(bigPickle), {
    message: "'archive/data.pkl' declares 17825792 bytes, more than the 16777216 a state_dict needs in 'pth'",
  });
});

Deno.test("encodePth() writes tensor extras (a 0-dim acc) that decodePth() reads back as numbers", () => {
  const state = new Map([["b", { dtype: "F32" as const, shape: [2], data: Float32Array.of(1, 2) }]]);
  const acc = { dtype: "F32" as const, shape: [], data: Float32Array.of(82.5) };
  const bytes = encodePth(state, { key: "net", extra: { acc, epoch: 10, metrics: "[]" } });
  const back = decodePth(bytes, { source: "final.pth" });
  assert.deepEqual(back.state, state);
  assert.deepEqual(back.extra, { epoch: 10, metrics: "[]", acc: 82.5 });
});
