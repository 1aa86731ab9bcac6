/**
 * Classifies PNG images with ResNet20 weights: prints the top classes with
 * their softmax probabilities. Images of other sizes are resampled to 32x32.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { CLASS_NAMES, IMAGE_BYTES, NUM_CLASSES } from "../lib/data/cifar.ts";
import { decodePng, MAX_PNG_BYTES, toCifarPlanar } from "../lib/data/image.ts";
import { decodeWeights, MAX_WEIGHTS_BYTES } from "../lib/formats/weights.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { selectBackend } from "../lib/runtime/backend.ts";
import { readFileNamed } from "../lib/runtime/files.ts";
import { defineFlags, flag, UsageError } from "../lib/runtime/flags.ts";
import { runMain } from "../lib/runtime/main.ts";
import { backendFlag } from "../lib/runtime/shared_flags.ts";
import { evaluate } from "../lib/train/train_epoch.ts";

const cli = defineFlags("deno task predict --weights FILE IMAGE.png [IMAGE.png...]", {
  weights: flag.string("ResNet20 weights: .safetensors or PyTorch .pth", {
    placeholder: "FILE",
    required: true,
  }),
  top: flag.int("classes to show per image", { default: 3, min: 1, max: 10, placeholder: "K" }),
  backend: backendFlag(),
}, {
  description: "Classifies images with ResNet20 weights: the top classes and their probabilities.",
  positionals: "IMAGE.png...",
  examples: ["deno task predict --weights runs/a/final.safetensors cat.png dog.png"],
});

async function main(): Promise<void> {
  const { values: v, positionals } = cli.parse(Deno.args);
  if (v.help) return console.log(cli.help());
  if (positionals.length === 0) throw new UsageError(`Give at least one PNG image to classify`);
  const top = v.top;
  // Read and check every input before starting the backend.
  const n = positionals.length;
  const images = new Uint8Array(n * IMAGE_BYTES);
  for (const [i, path] of positionals.entries()) {
    images.set(
      toCifarPlanar(decodePng(await readFileNamed(path, "image", { maxBytes: MAX_PNG_BYTES }), path), path),
      i * IMAGE_BYTES,
    );
  }
  const weights = decodeWeights(
    await readFileNamed(v.weights, "weights", { maxBytes: MAX_WEIGHTS_BYTES }),
    v.weights,
  );
  await selectBackend(v.backend);
  const model = new ResNet20();
  model.loadStateDict(weights.state, v.weights);
  // evaluate() runs the eval-mode forward in batches; the labels are unused.
  const { logits } = await evaluate(model, { images, labels: new Uint8Array(n), count: n }, { logits: true });
  model.dispose();
  const probsT = tf.tidy(() => tf.softmax(tf.tensor2d(logits!, [n, NUM_CLASSES])));
  const probs = await probsT.array() as number[][];
  probsT.dispose();
  for (const [i, path] of positionals.entries()) {
    const ranked = probs[i].map((p, c) => [p, c]).sort((a, b) => b[0] - a[0]).slice(0, top);
    console.log(
      `${path}: ${ranked.map(([p, c]) => `${CLASS_NAMES[c]} ${(100 * p).toFixed(1)}%`).join(", ")}`,
    );
  }
}

export { cli };

if (import.meta.main) await runMain(main);
