/**
 * Converts ResNet20 weights between formats PyTorch loads with
 * `load_state_dict`: safetensors (always) and `.pth` (`torch.save`'s zip
 * format, the state dict under `net` as the lab's checkpoints have it). The
 * input may be either format, or a training checkpoint (its optimizer
 * state is left out); it is checked against the model before anything is
 * written.
 *
 *   deno task export --weights runs/a/final.safetensors --format pth --out final.pth
 *
 * @module
 */
import { BACKENDS, selectBackend } from "../lib/runtime/backend.ts";
import { choiceFlag, parseFlags, runMain, UsageError } from "../lib/runtime/flags.ts";
import { readFileNamed, writeFileAtomic } from "../lib/runtime/files.ts";
import { encodePth } from "../lib/formats/pth.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { encodeSafetensors } from "../lib/formats/safetensors.ts";
import { decodeWeights } from "../lib/formats/weights.ts";

const HELP = `Usage: deno task export --weights FILE --format safetensors|pth --out FILE

  --weights FILE   ResNet20 weights or checkpoint (.safetensors or .pth)
  --format NAME    safetensors | pth (default: from --out's extension)
  --out FILE       where to write
`;

async function main(): Promise<void> {
  const { values: v } = parseFlags(Deno.args, {
    weights: { type: "string" },
    format: { type: "string" },
    out: { type: "string" },
    backend: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) return console.log(HELP);
  if (!v.weights) throw new UsageError(`--weights FILE is required`);
  if (!v.out) throw new UsageError(`--out FILE is required`);
  const format = choiceFlag(
    "format",
    v.format ?? (v.out.endsWith(".pth") || v.out.endsWith(".pt") ? "pth" : "safetensors"),
    ["safetensors", "pth"] as const,
  );
  const weights = decodeWeights(await readFileNamed(v.weights, "weights"), v.weights);
  // Validate names, shapes and values against the real model.
  await selectBackend(v.backend !== undefined ? choiceFlag("backend", v.backend, BACKENDS) : "cpu");
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

if (import.meta.main) await runMain(main);
