/**
 * Converts ResNet20 weights between formats PyTorch loads with
 * `load_state_dict`: safetensors (always) and `.pth` (`torch.save`'s zip
 * format, the state dict under `net` as the lab's checkpoints have it). The
 * input may be either format, or a training checkpoint (its optimizer
 * state is left out); it is checked against the model before anything is
 * written.
 *
 * @module
 */
import { encodePth } from "../lib/formats/pth.ts";
import { encodeSafetensors } from "../lib/formats/safetensors.ts";
import { decodeWeights, MAX_WEIGHTS_BYTES } from "../lib/formats/weights.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { selectBackend } from "../lib/runtime/backend.ts";
import { readFileNamed, writeFileAtomic } from "../lib/runtime/files.ts";
import { defineFlags, flag } from "../lib/runtime/flags.ts";
import { runMain } from "../lib/runtime/main.ts";
import { backendFlag } from "../lib/runtime/shared_flags.ts";

const FORMATS = ["safetensors", "pth"] as const;

const cli = defineFlags("deno task export --weights FILE --out FILE [--format safetensors|pth]", {
  weights: flag.string("ResNet20 weights or checkpoint (.safetensors or .pth)", {
    placeholder: "FILE",
    required: true,
  }),
  format: flag.choice("the output format", FORMATS, { defaultText: "from --out's extension" }),
  out: flag.string("where to write", { placeholder: "FILE", required: true }),
  backend: backendFlag("what checks the weights against the model", "cpu"),
}, {
  description: "Converts ResNet20 weights between safetensors and PyTorch .pth (state dict under `net`).",
  examples: ["deno task export --weights runs/a/final.safetensors --format pth --out final.pth"],
});

async function main(): Promise<void> {
  const { values: v } = cli.parse(Deno.args);
  if (v.help) return console.log(cli.help());
  const format = v.format ?? (v.out.endsWith(".pth") || v.out.endsWith(".pt") ? "pth" : "safetensors");
  const weights = decodeWeights(
    await readFileNamed(v.weights, "weights", { maxBytes: MAX_WEIGHTS_BYTES }),
    v.weights,
  );
  // Validate names, shapes and values against the real model.
  await selectBackend(v.backend);
  const model = new ResNet20();
  model.loadStateDict(weights.state, v.weights);
  const state = await model.stateDict();
  model.dispose();
  const bytes = format === "pth"
    ? encodePth(state, { key: "net" })
    : encodeSafetensors(state, { metadata: { format: "pt", model: "resnet20", source: v.weights } });
  await writeFileAtomic(v.out, bytes);
  console.error(`export: wrote ${v.out} (${format}, ${state.size} tensors from ${weights.note})`);
}

export { cli };

if (import.meta.main) await runMain(main);
