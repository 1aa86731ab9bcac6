/**
 * Classifies PNG and JPEG images with ResNet20 weights: prints the top
 * classes with their softmax probabilities, one line per image. Images of
 * other sizes are resampled to 32x32. A file that cannot be read gets an
 * `error:` line of its own and the others are still classified (exit 1 when
 * any failed). Paths are relative to the folder the task was started from.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { CLASS_NAMES, IMAGE_BYTES, NUM_CLASSES } from "../lib/data/cifar.ts";
import { decodeImage, MAX_IMAGE_FILE_BYTES, toCifarPlanar } from "../lib/data/image.ts";
import { decodeWeights, MAX_WEIGHTS_BYTES } from "../lib/formats/weights.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { selectBackend } from "../lib/runtime/backend.ts";
import { userPath } from "../lib/runtime/env.ts";
import { readFileNamed } from "../lib/runtime/files.ts";
import { defineFlags, flag, UsageError } from "../lib/runtime/flags.ts";
import { runMain } from "../lib/runtime/main.ts";
import { backendFlag } from "../lib/runtime/shared_flags.ts";
import { evaluate } from "../lib/train/train_epoch.ts";

const cli = defineFlags("deno task predict --weights FILE IMAGE [IMAGE...]", {
  weights: flag.path("ResNet20 weights: .safetensors or PyTorch .pth", {
    placeholder: "FILE",
    required: true,
  }),
  top: flag.int("classes to show per image", { default: 3, min: 1, max: 10, placeholder: "K" }),
  backend: backendFlag(),
}, {
  description: "Classifies images with ResNet20 weights: the top classes and their probabilities.",
  positionals: "IMAGE...",
  examples: ["deno task predict --weights runs/a/final.pth cat.jpg dog.png"],
});

async function main(): Promise<void> {
  const { values: v, positionals } = cli.parse(Deno.args);
  if (v.help) return console.log(cli.help());
  if (positionals.length === 0) throw new UsageError(`Give at least one PNG or JPEG image to classify`);
  const top = v.top;
  // The weights first: without them nothing can be classified.
  const weights = decodeWeights(
    await readFileNamed(v.weights, "weights", { maxBytes: MAX_WEIGHTS_BYTES }),
    v.weights,
  );
  // Read every image; one that fails is reported and skipped, the others go on.
  const ok: { path: string; planar: Uint8Array }[] = [];
  const failed: string[] = [];
  for (const given of positionals) {
    const path = userPath(given);
    try {
      ok.push({
        path: given,
        planar: toCifarPlanar(
          decodeImage(await readFileNamed(path, "image", { maxBytes: MAX_IMAGE_FILE_BYTES }), given),
          given,
        ),
      });
    } catch (e) {
      failed.push(given);
      console.error(`error: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  if (ok.length > 0) {
    await selectBackend(v.backend);
    const model = new ResNet20();
    model.loadStateDict(weights.state, v.weights);
    const n = ok.length;
    const images = new Uint8Array(n * IMAGE_BYTES);
    ok.forEach((img, i) => images.set(img.planar, i * IMAGE_BYTES));
    // evaluate() runs the eval-mode forward in batches; the labels are unused.
    const { logits } = await evaluate(model, { images, labels: new Uint8Array(n), count: n }, {
      logits: true,
    });
    model.dispose();
    const probsT = tf.tidy(() => tf.softmax(tf.tensor2d(logits!, [n, NUM_CLASSES])));
    const probs = await probsT.array() as number[][];
    probsT.dispose();
    for (const [i, { path }] of ok.entries()) {
      const ranked = probs[i].map((p, c) => [p, c]).sort((a, b) => b[0] - a[0]).slice(0, top);
      console.log(
        `${path}: ${ranked.map(([p, c]) => `${CLASS_NAMES[c]} ${(100 * p).toFixed(1)}%`).join(", ")}`,
      );
    }
  }
  if (failed.length > 0) {
    console.error(
      `predict: ${failed.length} of ${positionals.length} images could not be read: ${failed.join(", ")}`,
    );
    Deno.exit(1);
  }
}

export { cli };

if (import.meta.main) await runMain(main);
