/**
 * Reads a ResNet20 weights file of either format the lab meets: safetensors
 * (this project's and `pytorch_resnet20.py`'s) or a PyTorch `.pth` checkpoint
 * (`torch.save`'s zip; the state dict directly or under `net`, `state_dict`
 * or `model`). The format is told by the bytes, not the name. Names are
 * brought to the reference's with {@linkcode normalizeResnet20Names}. Pure.
 *
 * @module
 */
import { clip, preview, quoteBare } from "../runtime/quote.ts";
import { decodePth, MAX_PTH_BYTES } from "./pth.ts";
import { decodeSafetensors } from "./safetensors.ts";
import { normalizeResnet20Names, type StateDict } from "./state_dict.ts";
import { isZip } from "./zip.ts";

/**
 * Largest weights file read, in bytes (and, for a `.pth`, of tensors
 * inflated): 256 MiB, a thousand ResNet20s. Pass it to `readFileNamed`.
 */
export const MAX_WEIGHTS_BYTES: number = MAX_PTH_BYTES;

/** A decoded weights file. */
export interface WeightsFile {
  state: StateDict;
  format: "safetensors" | "pth";
  /** One line on where the weights came from, e.g. `.pth, key "net"`. */
  note: string;
  /** safetensors: its `__metadata__`; `.pth`: the scalars beside the state dict (`acc`, `epoch`...) as text. */
  metadata: Record<string, string>;
}

/**
 * Decodes `bytes` as safetensors or `.pth` (zip magic `PK\x03\x04`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors } from "./safetensors.ts";
 * import { decodeWeights } from "./weights.ts";
 * // In a lab the bytes come from Deno.readFile(); then model.loadStateDict(w.state, source).
 * const bias = { dtype: "F32" as const, shape: [10], data: new Float32Array(10) };
 * const bytes = encodeSafetensors(new Map([["module.fc.bias", bias]]));
 * const w = decodeWeights(bytes, "final.safetensors");
 * assert.equal(w.format, "safetensors");
 * assert.deepEqual([...w.state.keys()], ["linear.bias"]); // the reference's names
 * ```
 */
export function decodeWeights(bytes: Uint8Array, source = "weights"): WeightsFile {
  const zip = isZip(bytes);
  // A legacy (pre-1.6) torch.save stream starts with a pickled magic number;
  // decodePth explains that format is unsupported.
  const legacy = bytes.length >= 4 && bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a &&
    bytes[3] === 0x0a;
  if (zip || legacy) {
    const { state, key, extra } = decodePth(bytes, { source, maxBytes: MAX_WEIGHTS_BYTES });
    // The per-epoch metrics a file of this toolkit carries are data, not a note.
    const shown = Object.entries(extra).filter(([k]) => k !== "metrics").slice(0, 8);
    const extras = shown.map(([k, v]) => `${quoteBare(k)}=${typeof v === "string" ? preview(v) : v}`)
      .join(", ") + (shown.length < Object.keys(extra).filter((k) => k !== "metrics").length ? ", ..." : "");
    return {
      state: normalizeResnet20Names(state),
      format: "pth",
      note: `PyTorch .pth, state dict ${key === null ? "at the top level" : `under key "${key}"`}` +
        (extras ? ` (${clip(extras, 120)})` : ""),
      metadata: Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, String(v)])),
    };
  }
  const { state, metadata } = decodeSafetensors(bytes, { source });
  const model: StateDict = new Map([...state].filter(([name]) => !name.startsWith("optimizer.")));
  return { state: normalizeResnet20Names(model), format: "safetensors", note: "safetensors", metadata };
}
