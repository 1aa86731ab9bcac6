import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "./lib/backend.ts";
import { ResNet20, batchNormTrainOps } from "./lib/resnet.ts";
import { decodeSafetensors } from "./lib/safetensors.ts";
import { Sgd } from "./lib/sgd.ts";
import { trainStep } from "./lib/trainer.ts";
const load = (p: string) => decodeSafetensors(Deno.readFileSync("tests/fixtures/" + p)).state;
await selectBackend(Deno.args[0] as "native");
const useOps = Deno.args[1] === "ops";
const nb = useOps ? batchNormTrainOps : (await import("./lib/native_backend.ts")).batchNormTrain;
const model = new ResNet20({ batchNormTrain: nb });
const init = load("weights/resnet20.safetensors");
model.loadStateDict(init);
const sgd = new Sgd(model.trainable(), { lr: 0.1 });
const t = load("weights/inputs16.safetensors").get("inputs")!;
const x = tf.transpose(tf.tensor(t.data as Float32Array, t.shape), [0, 2, 3, 1]).dataSync() as Float32Array;
const labels = Int32Array.from({length: 16}, (_, i) => i % 10);
const steps = Number(Deno.args[2] ?? 2);
for (let i = 0; i < steps; i++) { const [l, c] = trainStep(model, sgd, x, labels); console.log("loss", l.dataSync()[0]/16); }
const exp = load("train_step/after2.safetensors");
for (const [name, v] of model.stateDict()) {
  const e = exp.get(name)!, o = init.get(name)!;
  let num = 0, den = 0, maxd = 0;
  for (let i = 0; i < v.data.length; i++) { const a = Number(v.data[i]) - Number(o.data[i]), b = Number(e.data[i]) - Number(o.data[i]); num += (a-b)**2; den += b**2; maxd = Math.max(maxd, Math.abs(a-b)); }
  if (Math.sqrt(num/(den||1)) > 1e-3) console.log(name, "rel", Math.sqrt(num/(den||1)).toExponential(2), "max", maxd.toExponential(2));
}
