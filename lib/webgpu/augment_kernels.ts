/**
 * The WebGPU kernel of `lib/ops/augment_batch.ts`: a training batch built on
 * the GPU from images kept there as bytes (choose, crop from the padded
 * image, flip, normalise by table lookup), one thread per output value.
 * The host uploads the plan (four integers an example) instead of the
 * batch's floats: 2 KiB a step at batch 128 instead of 1.5 MiB.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { AUGMENT_BATCH_KERNEL, type AugmentBatchAttrs } from "../ops/mod.ts";
import { WEBGPU_BACKEND } from "./backend_internals.ts";
import { grid, type KernelRunner, u32, wgsl, type WgslKernel } from "./program.ts";

/** `out[b, y, x, c] = table[256 c + byte]`, the byte of the plan's crop, or 0 in the padding. */
export const augmentBatchWgsl: WgslKernel = wgsl("augmentBatch", {
  inputs: ["lo : u32", "hi : u32", "table", "plan : i32"],
  outputs: ["out"],
  uniforms: "size : u32, loImages : u32",
  linear: true,
  body: `
  let c = i % 3u;
  let x = (i / 3u) % 32u;
  let y = (i / 96u) % 32u;
  let b = i / 3072u;
  let index = u32(plan[4u * b]);
  let sy = i32(y) + plan[4u * b + 2u] - 4;
  let cx = select(i32(x), 31 - i32(x), plan[4u * b + 3u] != 0);
  let sx = cx + plan[4u * b + 1u] - 4;
  var v = 0u;
  if (sy >= 0 && sy < 32 && sx >= 0 && sx < 32) {
    let byte = c * 1024u + u32(sy) * 32u + u32(sx);
    var w = 0u;
    if (index < u.loImages) {
      w = lo[index * 768u + byte / 4u];
    } else {
      w = hi[(index - u.loImages) * 768u + byte / 4u];
    }
    v = (w >> ((byte % 4u) * 8u)) & 255u;
  }
  out[i] = table[c * 256u + v];`,
});

/** Every WGSL kernel of this file, to compile at startup. */
export const AUGMENT_WGSL: readonly WgslKernel[] = [augmentBatchWgsl];

/**
 * The kernel config of this file for the `webgpu` backend.
 *
 * @example
 * ```ts ignore
 * // Needs a WebGPU adapter.
 * for (const k of augmentKernels(() => runner)) tf.registerKernel(k);
 * ```
 */
export function augmentKernels(runnerOf: (backend: object) => KernelRunner): tf.KernelConfig[] {
  return [{
    kernelName: AUGMENT_BATCH_KERNEL,
    backendName: WEBGPU_BACKEND,
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { lo, hi, table, plan } = inputs as Record<string, tf.TensorInfo>;
      const { loImages } = attrs as unknown as AugmentBatchAttrs;
      const n = plan.shape[0] * 32 * 32 * 3;
      return runnerOf(backend).run(augmentBatchWgsl, {
        inputs: [lo, hi, table, plan],
        outputs: [{ shape: [plan.shape[0], 32, 32, 3], dtype: "float32" }],
        uniforms: u32(n, loImages),
        workgroups: grid(n),
      })[0];
    },
  }];
}
