/**
 * Classifies PNG images with ResNet20 weights: prints the top classes with
 * their softmax probabilities. Images of other sizes are resampled to 32x32.
 *
 *   deno task predict --weights runs/a/final.safetensors cat.png dog.png
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { BACKENDS, selectBackend } from "../lib/runtime/backend.ts";
import { CLASS_NAMES, IMAGE_BYTES, NUM_CLASSES } from "../lib/data/cifar.ts";
import { choiceFlag, numberFlag, parseFlags, runMain, UsageError } from "../lib/runtime/flags.ts";
import { readFileNamed } from "../lib/runtime/files.ts";
import { decodePng, toCifarPlanar } from "../lib/data/image.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { evaluate } from "../lib/train/train_epoch.ts";
import { decodeWeights } from "../lib/formats/weights.ts";

const HELP = `Usage: deno task predict --weights FILE IMAGE.png [IMAGE.png...]

  --weights FILE   ResNet20 weights: .safetensors or PyTorch .pth (required)
  --top K          classes to show per image (default 3)
  --backend NAME   ${BACKENDS.join(" | ")} (default auto)
`;

async function main(): Promise<void> {
  const { values: v, positionals } = parseFlags(Deno.args, {
    weights: { type: "string" },
    top: { type: "string" },
    backend: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (v.help) return console.log(HELP);
  if (!v.weights) throw new UsageError(`--weights FILE is required (a .safetensors or .pth file)`);
  if (positionals.length === 0) throw new UsageError(`Give at least one PNG image to classify`);
  const top = v.top !== undefined ? numberFlag("top", v.top, { integer: true, min: 1, max: 10 }) : 3;
  // Read and check every input before starting the backend.
  const n = positionals.length;
  const images = new Uint8Array(n * IMAGE_BYTES);
  for (const [i, path] of positionals.entries()) {
    images.set(toCifarPlanar(decodePng(await readFileNamed(path, "image"), path), path), i * IMAGE_BYTES);
  }
  const weights = decodeWeights(await readFileNamed(v.weights, "weights"), v.weights);
  await selectBackend(v.backend !== undefined ? choiceFlag("backend", v.backend, BACKENDS) : "auto");
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

if (import.meta.main) await runMain(main);
