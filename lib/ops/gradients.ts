/**
 * Registers TensorFlow.js's gradient for every kernel, as importing
 * `@tensorflow/tfjs` does, without loading layers, converter, data or the
 * webgl backend: `tfjs-core` alone registers none. The registrations come
 * from `vendor/tfjs_gradients.js`, tfjs-core's own `register_all_gradients`
 * bundled by `tools/vendor_gradients.sh` (Deno cannot load tfjs-core's
 * unbundled modules: their imports omit `.js`). Importing this module only
 * fills tfjs's global gradient registry; no backend starts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "./gradients.ts";
 * assert.ok(tf.getGradient(tf.Conv2D));
 * ```
 *
 * @module
 */
// tfjs-core first: the bundle then finds its engine and registries in place.
import "@tensorflow/tfjs-core";
import "./vendor/tfjs_gradients.js";
