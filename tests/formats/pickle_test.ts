import assert from "node:assert/strict";
import { preview } from "../../lib/runtime/quote.ts";
import { dagPickle, manyDictsPickle } from "../hostile_inputs.ts";
import { unzipSync } from "fflate";
import {
  type Buildable,
  PICKLE_BUILD,
  PickleError,
  STATE_DICT_GLOBALS,
  TorchStorageType,
  TorchTensorRef,
  unpickle,
  UnsafePickleError,
} from "../../lib/formats/pickle.ts";

const fixture = (name: string) => Deno.readFileSync(new URL(`../fixtures/weights/${name}`, import.meta.url));
const hex = (s: string) => new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));

// pickle.dumps({'a': [1, -3, 300, 70000, 2**40, -2**70, 0.5, True, False, None, 'é'],
//               'b': (1, 2, 3), 'c': ()}, protocol=2)
const PLAIN_P2 = hex(
  "80027d71002858010000006171015d7102284b014afdffffff4d2c014a701101008a060000000000018a09000000000000" +
    "0000c0473fe000000000000088894e5802000000c3a971036558010000006271044b014b024b03877105580100000063" +
    "710629752e",
);
// pickle.dumps(OrderedDict([('x', 1), ('y', [2.5])]), protocol=4): FRAME, MEMOIZE, STACK_GLOBAL
const ORDERED_P4 = hex(
  "8004953a000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0178" +
    "944b018c0179945d9447400400000000000061752e",
);
// pickle.dumps(Pwn(), protocol=4) where Pwn.__reduce__ returns (os.system, ("echo pwned",))
const PWN_P4 = hex(
  "80049525000000000000008c05706f736978948c0673797374656d9493948c0a6563686f2070776e656494859452942e",
);

Deno.test("unpickle() maps Python values to plain data", () => {
  const v = unpickle(PLAIN_P2) as Map<string, unknown>;
  assert.deepEqual([...v.keys()], ["a", "b", "c"]);
  assert.deepEqual(v.get("a"), [1, -3, 300, 70000, 2 ** 40, -(2n ** 70n), 0.5, true, false, null, "é"]);
  assert.deepEqual(v.get("b"), [1, 2, 3]);
  assert.ok(Object.isFrozen(v.get("b")), "tuples are frozen arrays");
  assert.deepEqual(v.get("c"), []);
});

Deno.test("unpickle() reads protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL) OrderedDicts", () => {
  const v = unpickle(ORDERED_P4) as Map<string, unknown>;
  assert.ok(v instanceof Map);
  assert.deepEqual([...v.entries()], [["x", 1], ["y", [2.5]]]);
});

Deno.test("unpickle() refuses os.system at the GLOBAL opcode, before REDUCE", () => {
  let loaded = false;
  const persistentLoad = () => (loaded = true);
  assert.throws(
    () => unpickle(fixture("hostile_os_system.pkl"), { source: "hostile_os_system.pkl", persistentLoad }),
    (e: Error) =>
      e instanceof UnsafePickleError &&
      e.message.startsWith("Refusing pickle global 'posix.system' at byte 13 of 'hostile_os_system.pkl'"),
  );
  assert.equal(loaded, false);
  assert.throws(() => unpickle(PWN_P4), {
    name: "UnsafePickleError",
    message: /^Refusing pickle global 'posix\.system' at byte 28 of 'pickle'/,
  });
  assert.throws(() => unpickle(fixture("hostile_eval.pkl")), {
    name: "UnsafePickleError",
    message: /^Refusing pickle global '__builtin__\.eval' at byte 5/,
  });
});

Deno.test("unpickle() refuses globals outside a custom allow-list", () => {
  assert.throws(() => unpickle(ORDERED_P4, { globals: {} }), {
    name: "UnsafePickleError",
    message: /^Refusing pickle global 'collections\.OrderedDict' at byte 39/,
  });
  assert.ok(UnsafePickleError.prototype instanceof PickleError);
  assert.ok(!("builtins.eval" in STATE_DICT_GLOBALS) && !("os.system" in STATE_DICT_GLOBALS));
});

Deno.test("unpickle() rebuilds torch tensors as references to persistent storages", () => {
  const files = unzipSync(fixture("views.pth"));
  const pids: unknown[] = [];
  const v = unpickle(files["views/data.pkl"], {
    persistentLoad: (pid) => {
      pids.push(pid);
      return { pid };
    },
  }) as Map<string, TorchTensorRef>;
  assert.deepEqual([...v.keys()], ["a", "row", "mid", "empty", "scalar", "n"]);
  const row = v.get("row")!;
  assert.ok(row instanceof TorchTensorRef);
  assert.deepEqual([row.offset, row.shape, row.stride], [3, [3], [1]]);
  assert.deepEqual(v.get("a")!.shape, [2, 3]);
  const [kind, type, key, location, numel] = pids[0] as unknown[];
  assert.deepEqual([kind, key, location, numel], ["storage", "0", "cpu", 6]);
  assert.ok(
    type instanceof TorchStorageType && type.name === "torch.FloatStorage" && type.dtype === "float32",
  );
  assert.equal(((pids.at(-1) as unknown[])[1] as TorchStorageType).dtype, "int64");
});

Deno.test("unpickle() reports malformed input with the opcode and offset", () => {
  const cases: [Uint8Array, RegExp][] = [
    // BINUNICODE claiming 2^32-1 bytes
    [
      hex("800258ffffffff"),
      /^Pickle is truncated: BINUNICODE needs 4294967295 bytes, 0 left at byte 2 of 'p'$/,
    ],
    // BINUNICODE8 claiming 2^60 bytes
    [hex("80028d0000000000000010"), /^Pickle is truncated: BINUNICODE8 needs 1152921504606846976 bytes/],
    [hex("80024b01"), /^Pickle ends without STOP at byte 4 of 'p'$/],
    [hex("8002680a2e"), /^Pickle memo has no entry 10 at byte 2/],
    [hex("8002732e"), /^Pickle stack underflow at byte 2/],
    [hex("8002492e"), /^Unsupported pickle opcode 0x49 at byte 2/],
    [hex("8002694e"), /^Unsupported pickle opcode 0x69 \(INST\) at byte 2/],
    [hex("80024b014b022e"), /^Pickle STOP with 2 values on the stack at byte 6/],
    [hex("8002284b01512e"), /^Pickle has a persistent id but no loader was given at byte 5/],
    [hex("80095d2e"), /^Unsupported pickle protocol 9 at byte 0/],
    [hex("80028b00000100"), /^LONG length 65536 is outside 0\.\.1024 bytes at byte 2/],
    // BUILD on a list
    [hex("80025d4e622e"), /^BUILD is only allowed on a dict at byte 4/],
    // SETITEM on a list, APPEND on a tuple
    [hex("80025d4b014b02732e"), /^SETITEM\(S\) target is not a dict at byte 7/],
    [hex("8002294b01612e"), /^APPEND\(S\) target is not a list at byte 5/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => unpickle(bytes, { source: "p" }), (e: Error) => {
      assert.ok(e instanceof PickleError, `${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("unpickle() refuses to call markers or non-globals", () => {
  // GLOBAL torch FloatStorage, EMPTY_TUPLE, REDUCE
  const reduceStorage = new Uint8Array([
    0x80,
    2,
    0x63,
    ...new TextEncoder().encode("torch\nFloatStorage\n"),
    0x29,
    0x52,
    0x2e,
  ]);
  assert.throws(() => unpickle(reduceStorage), {
    name: "PickleError",
    message: /^REDUCE of 'torch\.FloatStorage'/,
  });
  // NONE, EMPTY_TUPLE, REDUCE
  assert.throws(() => unpickle(hex("80024e29522e")), {
    name: "PickleError",
    message: /^REDUCE of 'None' is not allowed at byte 4/,
  });
});

Deno.test("unpickle() bounds the stack and the memo", () => {
  const deep = new Uint8Array([0x80, 2, ...new Array(50).fill(0x28), 0x2e]);
  assert.throws(() => unpickle(deep, { maxStack: 10 }), {
    message: /^Pickle stack exceeds 10 entries at byte 12/,
  });
  // NONE, BINPUT 0, BINPUT 1, ...
  const memo = new Uint8Array([0x80, 2, 0x4e, 0x71, 0, 0x71, 1, 0x71, 2, 0x2e]);
  assert.throws(() => unpickle(memo, { maxMemo: 2 }), {
    message: /^Pickle memo exceeds 2 entries at byte 7/,
  });
});

Deno.test("unpickle() bounds the values it builds, counting containers and their items", () => {
  // 1,001 dicts in one list: 2 bytes each, ~100 bytes of memory each.
  assert.throws(() => unpickle(manyDictsPickle(1000), { maxValues: 2000, source: "wide.pkl" }), {
    name: "PickleError",
    message: /^Pickle builds more than 2000 values at byte \d+ of 'wide\.pkl'$/,
  });
  assert.equal((unpickle(manyDictsPickle(900), { maxValues: 2000 }) as unknown[]).length, 900);
  // The default budget stops a 4 MB pickle of 2 million dicts before it takes ~200 MB.
  assert.throws(() => unpickle(manyDictsPickle(2_000_000)), {
    message: /^Pickle builds more than 2000000 values/,
  });
});

Deno.test("unpickle() never walks a value to describe it: shared and deep sizes get short messages", () => {
  const slots = ["size", "persistent id"] as const;
  for (const slot of slots) {
    // Unpickled alone (no .pth around it), the shared size list reaches _rebuild_tensor_v2 or the loader.
    const pickle = dagPickle(slot);
    const persistentLoad = (pid: unknown) => {
      if (!Array.isArray(pid) || pid.length !== 5) throw new PickleError(`bad pid ${preview(pid)}`);
      return "storage";
    };
    assert.throws(() => unpickle(pickle, { persistentLoad, source: "dag.pkl" }), (e: Error) => {
      assert.ok(e instanceof PickleError, String(e));
      assert.ok(e.message.length < 300, e.message);
      return true;
    });
  }
  assert.throws(() => unpickle(dagPickle("size"), { persistentLoad: () => "s" }), {
    message:
      /^Tensor size \[\[\[\[\[\.\.\.\], \[\.\.\.\]\].* is not a tuple of at most 64 non-negative integers/,
  });
});

Deno.test("unpickle() reads byte strings as bytes and lets allow-listed builders take BUILD", () => {
  const enc = (s: string) => [...new TextEncoder().encode(s)];
  class Box implements Buildable {
    state: unknown = null;
    [PICKLE_BUILD](state: unknown) {
      if (!(state instanceof Uint8Array)) throw new PickleError("Box state is not bytes");
      this.state = state;
    }
  }
  const globals = { "m.Box": { call: () => new Box() } };
  // PROTO 2, GLOBAL m.Box, EMPTY_TUPLE, REDUCE, SHORT_BINSTRING "ab", BUILD, STOP
  const built = unpickle(
    Uint8Array.of(0x80, 2, 0x63, ...enc("m\nBox\n"), 0x29, 0x52, 0x55, 2, 97, 98, 0x62, 0x2e),
    {
      globals,
    },
  ) as Box;
  assert.deepEqual(built.state, Uint8Array.of(97, 98));
  // BINBYTES, and BINSTRING with its signed length.
  assert.deepEqual(unpickle(Uint8Array.of(0x80, 3, 0x42, 1, 0, 0, 0, 7, 0x2e)), Uint8Array.of(7));
  assert.throws(
    () => unpickle(Uint8Array.of(0x80, 2, 0x54, 0xff, 0xff, 0xff, 0xff, 0x2e)),
    /BINSTRING length -1/,
  );
  assert.throws(() => unpickle(Uint8Array.of(0x80, 2, 0x55, 9, 1, 2, 0x2e)), /truncated/);
  // A builder's own check becomes a PickleError with the position.
  assert.throws(
    () =>
      unpickle(Uint8Array.of(0x80, 2, 0x63, ...enc("m\nBox\n"), 0x29, 0x52, 0x4e, 0x62, 0x2e), { globals }),
    /Box state is not bytes at byte \d+/,
  );
});
