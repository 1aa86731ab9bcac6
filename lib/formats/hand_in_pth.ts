/**
 * The `.pth` a Lab 2 run hands in, laid out as the lab's `exp2.py` saves its
 * checkpoints: the ResNet20 state dict under `net` (`torch.load(p)['net']`),
 * beside it `acc` (test accuracy in percent) and `epoch` (epochs trained),
 * plus this toolkit's `schedule` and per-epoch `metrics` where known. Both
 * `deno task exp2` (its `final.pth`) and `deno task export` write it. Pure:
 * bytes out.
 *
 * @module
 */
import { encodePth } from "./pth.ts";
import type { HostTensor, StateDict } from "./state_dict.ts";

/** What {@linkcode handInPth} writes beside the state dict; each is left out when absent. */
export interface HandInPthOptions {
  /**
   * Test accuracy in [0, 1] (a fraction, as `metrics.csv`'s `test_acc`);
   * written as `acc`, in percent rounded to 2 decimals, as a 0-dim float32
   * tensor (torch 1.13's `weights_only` loader refuses pickled floats). Left
   * out when not a finite number. @default undefined
   */
  acc?: number;
  /** Epochs trained, written as a Python int. @default undefined */
  epoch?: number;
  /** The LR schedule trained with, e.g. `"0.1:5,0.01:5"`. @default undefined */
  schedule?: string;
  /**
   * The per-epoch `metrics.csv` rows: as JSON text (as a file's metadata
   * holds it), or rows to write as JSON. @default undefined
   */
  metrics?: string | readonly object[];
}

/**
 * The hand-in `.pth` of `state`: `{"net": state, "acc": ..., "epoch": ...,
 * "schedule": ..., "metrics": ...}`, in that key order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { handInPth } from "./hand_in_pth.ts";
 * import { decodePth } from "./pth.ts";
 * const bias = { dtype: "F32" as const, shape: [2], data: new Float32Array([1, 2]) };
 * const bytes = handInPth(new Map([["linear.bias", bias]]), { acc: 0.83104, epoch: 10 });
 * const { key, extra } = decodePth(bytes, { source: "final.pth" });
 * assert.equal(key, "net");
 * assert.deepEqual(extra, { acc: Math.fround(83.1), epoch: 10 }); // acc in percent
 * ```
 */
export function handInPth(state: StateDict, options: HandInPthOptions = {}): Uint8Array {
  const { acc, epoch, schedule, metrics } = options;
  const extra: Record<string, number | string | HostTensor> = {};
  if (acc !== undefined && Number.isFinite(acc)) {
    extra.acc = { dtype: "F32", shape: [], data: Float32Array.of(Number((100 * acc).toFixed(2))) };
  }
  if (epoch !== undefined) extra.epoch = epoch;
  if (schedule !== undefined) extra.schedule = schedule;
  if (metrics !== undefined) extra.metrics = typeof metrics === "string" ? metrics : JSON.stringify(metrics);
  return encodePth(state, { key: "net", extra });
}
