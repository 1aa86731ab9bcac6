/**
 * Debian's PyTorch and the reference scripts, for the tests that load our
 * files in PyTorch. Probed when this module is imported (a subprocess that
 * imports torch, seconds): only those tests import it.
 */
import { join } from "node:path";
import { CIFAR_DIR, REPO } from "./helpers.ts";

/** The Python that has PyTorch: Debian's. */
export const PYTHON = "/usr/bin/python3";

/** Whether {@linkcode PYTHON} imports torch (tests that load files in PyTorch are skipped, with a notice, without). */
export const haveTorch: boolean = await (async () => {
  try {
    const r = await new Deno.Command(PYTHON, { args: ["-c", "import torch"], stdout: "null", stderr: "null" })
      .output();
    if (r.success) return true;
  } catch {
    // No python.
  }
  console.warn(`PyTorch tests skipped: ${PYTHON} cannot import torch`);
  return false;
})();

/**
 * The folder of `pytorch_resnet20.py`: `../shared/reference` beside the
 * checkout, or beside the data of `$CIFAR10_DIR` (a checkout elsewhere);
 * null, with a notice, where neither has it.
 */
export const REFERENCE: string | null = (() => {
  for (const dir of [join(REPO, "../shared/reference"), join(CIFAR_DIR, "../../reference")]) {
    try {
      if (Deno.statSync(join(dir, "pytorch_resnet20.py")).isFile) return dir;
    } catch {
      // Not here.
    }
  }
  console.warn(`PyTorch reference tests skipped: no ../shared/reference/pytorch_resnet20.py`);
  return null;
})();
