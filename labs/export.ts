/**
 * Converts the weights of either lab's model between the formats PyTorch
 * loads with `load_state_dict`: safetensors and `.pth` (`torch.save`'s zip
 * format). Lab 2's ResNet20 goes into a `.pth` with its state dict under
 * `net` (as the lab's checkpoints, `torch.load(p)['net']`), plus `acc` and
 * `epoch` when the input records them; Lab 1's MLP as `nn.Sequential`'s
 * state dict itself (`model.load_state_dict(torch.load(p))`). The input may
 * be either format, or a training checkpoint (its optimizer state is left
 * out); the model is told by the tensor names and checked before anything
 * is written.
 *
 * @module
 */
import { handInPth } from "../lib/formats/hand_in_pth.ts";
import { encodePth } from "../lib/formats/pth.ts";
import { encodeSafetensors } from "../lib/formats/safetensors.ts";
import type { StateDict } from "../lib/formats/state_dict.ts";
import { decodeWeights, MAX_WEIGHTS_BYTES } from "../lib/formats/weights.ts";
import { Mlp, mlpHidden } from "../lib/models/mlp.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { selectBackend } from "../lib/runtime/backend.ts";
import { readFileNamed, sameFile, writeFileAtomic } from "../lib/runtime/files.ts";
import { defineFlags, flag, UsageError } from "../lib/runtime/flags.ts";
import { quote } from "../lib/runtime/quote.ts";
import { runMain } from "../lib/runtime/main.ts";
import { backendFlag } from "../lib/runtime/shared_flags.ts";

const FORMATS = ["safetensors", "pth"] as const;

const cli = defineFlags("deno task export --weights FILE --out FILE [--format safetensors|pth]", {
  weights: flag.path("ResNet20 or Lab 1 MLP weights, or a checkpoint (.safetensors or .pth)", {
    placeholder: "FILE",
    required: true,
  }),
  format: flag.choice("the output format", FORMATS, { defaultText: "from --out's extension" }),
  out: flag.path("where to write (.pth or .safetensors)", { placeholder: "FILE", required: true }),
  backend: backendFlag("what checks the weights against the model", "cpu"),
}, {
  description: "Converts Lab 2's ResNet20 or Lab 1's MLP weights between safetensors and PyTorch .pth.",
  examples: [
    "deno task export --weights runs/a/final.safetensors --out final.pth",
    "deno task export --weights runs/lab1/e1000-lr0.01.safetensors --out model.pth",
  ],
});

/** The format an output name asks for, or null for a name with neither extension. */
function formatOf(path: string): "pth" | "safetensors" | null {
  if (/\.(pth|pt)$/i.test(path)) return "pth";
  if (/\.safetensors$/i.test(path)) return "safetensors";
  return null;
}

async function main(): Promise<void> {
  const { values: v } = cli.parse(Deno.args);
  if (v.help) return console.log(cli.help());
  const named = formatOf(v.out);
  if (v.format && named && v.format !== named) {
    throw new UsageError(
      `--format ${v.format} does not match --out ${quote(v.out)}, a .${
        named === "pth" ? "pth" : named
      } name: ` +
        `give --out a .${v.format === "pth" ? "pth" : "safetensors"} name, or leave --format out`,
    );
  }
  if (named === null) {
    // Any other name could be a data or result file: only weights names are written.
    throw new UsageError(`--out ${quote(v.out)} must end in .pth, .pt or .safetensors`);
  }
  const format = v.format ?? named;
  if (v.out === v.weights || await sameFile(v.out, v.weights)) {
    throw new UsageError(`--out ${quote(v.out)} is the --weights file: give another name`);
  }
  const weights = decodeWeights(
    await readFileNamed(v.weights, "weights", { maxBytes: MAX_WEIGHTS_BYTES }),
    v.weights,
  );
  // Validate names, shapes and values against the real model.
  await selectBackend(v.backend);
  const hidden = mlpHidden(weights.state);
  let state: StateDict;
  let model: string;
  if (hidden !== null) {
    const mlp = new Mlp(hidden);
    mlp.loadStateDict(weights.state, v.weights);
    state = await mlp.stateDict();
    mlp.dispose();
    model = `Lab 1 MLP, hidden ${hidden.join(",")}`;
  } else {
    const net = new ResNet20();
    net.loadStateDict(weights.state, v.weights);
    state = await net.stateDict();
    net.dispose();
    model = "ResNet20";
  }
  const meta = weights.metadata;
  let bytes: Uint8Array;
  if (format === "pth") {
    // ResNet20 as the lab's checkpoints hold it; the MLP as nn.Sequential's state_dict.
    const acc = Number(
      meta.test_acc ?? lastTestAcc(meta.metrics) ?? (meta.acc !== undefined ? Number(meta.acc) / 100 : NaN),
    );
    const epoch = /^\d+$/.test(meta.epoch ?? meta.epochs ?? "")
      ? Number(meta.epoch ?? meta.epochs)
      : undefined;
    bytes = hidden !== null
      ? encodePth(state)
      : handInPth(state, { acc, epoch, metrics: meta.metrics || undefined });
  } else {
    const kept = Object.fromEntries(
      Object.entries(meta).filter(([k]) =>
        ["config", "epoch", "epochs", "schedule", "test_acc", "metrics"].includes(k)
      ),
    );
    bytes = encodeSafetensors(state, {
      metadata: { format: "pt", model: hidden !== null ? "mlp" : "resnet20", ...kept, source: v.weights },
    });
  }
  await writeFileAtomic(v.out, bytes);
  console.error(`export: wrote ${v.out} (${format}, ${model}, ${state.size} tensors from ${weights.note})`);
}

/** The `test_acc` of the last row of a `metrics` metadata entry (a checkpoint's), if any. */
function lastTestAcc(metrics: string | undefined): number | undefined {
  try {
    const rows = JSON.parse(metrics ?? "[]");
    const v = Array.isArray(rows) ? rows.at(-1)?.test_acc : undefined;
    return typeof v === "number" ? v : undefined;
  } catch {
    return undefined;
  }
}

export { cli };

if (import.meta.main) await runMain(main);
