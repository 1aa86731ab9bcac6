import assert from "node:assert/strict";
import { join } from "node:path";
import {
  readFileNamed,
  removeStaleTemps,
  sameFile,
  writeFileAtomic,
  writeJsonAtomic,
} from "../../lib/runtime/files.ts";
import { names, withTempDir } from "../helpers.ts";

Deno.test("writeFileAtomic() writes text and bytes, creating folders, and leaves no temporary file", async () => {
  await withTempDir("files_test_", async (dir) => {
    const csv = join(dir, "runs", "a", "summary.csv");
    await writeFileAtomic(csv, "epoch,loss\n1,0.5\n");
    assert.equal(await Deno.readTextFile(csv), "epoch,loss\n1,0.5\n");
    const bin = join(dir, "m.bin");
    const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => i % 251);
    await writeFileAtomic(bin, bytes);
    assert.deepEqual(await Deno.readFile(bin), bytes);
    // A view into a larger buffer writes only the view.
    await writeFileAtomic(bin, bytes.subarray(10, 20));
    assert.deepEqual(await Deno.readFile(bin), bytes.slice(10, 20));
    await writeFileAtomic(join(dir, "empty"), "");
    assert.equal((await Deno.stat(join(dir, "empty"))).size, 0);
    assert.deepEqual(await names(dir), ["empty", "m.bin", "runs"]);
    assert.deepEqual(await names(join(dir, "runs", "a")), ["summary.csv"]);
  });
});

Deno.test("writeFileAtomic() replaces an existing file", async () => {
  await withTempDir("files_test_", async (dir) => {
    const path = join(dir, "f.txt");
    await writeFileAtomic(path, "a much longer old content\n");
    await writeFileAtomic(path, "new\n");
    assert.equal(await Deno.readTextFile(path), "new\n");
    assert.deepEqual(await names(dir), ["f.txt"]);
  });
});

Deno.test("writeFileAtomic() keeps the old file and removes its temporary file when writing fails", async () => {
  await withTempDir("files_test_", async (dir) => {
    const path = join(dir, "f.txt");
    await writeFileAtomic(path, "old\n");
    // Bytes whose reading fails half-way, after the temporary file exists.
    const failing = {
      length: 10,
      subarray: () => {
        throw new Error("Read failed");
      },
    } as unknown as Uint8Array;
    await assert.rejects(writeFileAtomic(path, failing), { message: "Read failed" });
    assert.equal(await Deno.readTextFile(path), "old\n");
    assert.deepEqual(await names(dir), ["f.txt"]);
  });
});

Deno.test("writeFileAtomic() fails on a folder, leaves it alone and removes its temporary file", async () => {
  await withTempDir("files_test_", async (dir) => {
    const target = join(dir, "out");
    await Deno.mkdir(target);
    await Deno.writeTextFile(join(target, "keep.txt"), "kept\n");
    await assert.rejects(writeFileAtomic(target, "data"));
    assert.ok((await Deno.stat(target)).isDirectory);
    assert.equal(await Deno.readTextFile(join(target, "keep.txt")), "kept\n");
    assert.deepEqual(await names(dir), ["out"]);
    // An empty folder too (rename(2) gives EISDIR rather than ENOTEMPTY).
    const empty = join(dir, "empty");
    await Deno.mkdir(empty);
    await assert.rejects(writeFileAtomic(empty, "data"));
    assert.ok((await Deno.stat(empty)).isDirectory);
    assert.deepEqual(await names(dir), ["empty", "out"]);
  });
});

Deno.test("writeJsonAtomic() writes pretty JSON with a final newline", async () => {
  await withTempDir("files_test_", async (dir) => {
    const path = join(dir, "run.json");
    await writeJsonAtomic(path, { lab: "exp1", hidden: [64, 64] });
    const text = await Deno.readTextFile(path);
    assert.equal(text, '{\n  "lab": "exp1",\n  "hidden": [\n    64,\n    64\n  ]\n}\n');
  });
});

Deno.test("readFileNamed() reads a file and names a missing one", async () => {
  await withTempDir("files_test_", async (dir) => {
    const path = join(dir, "m.safetensors");
    await Deno.writeFile(path, Uint8Array.of(1, 2, 3));
    assert.deepEqual(await readFileNamed(path), Uint8Array.of(1, 2, 3));
    const missing = join(dir, "missing.safetensors");
    await assert.rejects(readFileNamed(missing, "model"), (e: unknown) => {
      assert.ok(e instanceof Deno.errors.NotFound);
      assert.equal(e.message, `Cannot read model "${missing}": no such file`);
      return true;
    });
    await assert.rejects(readFileNamed(missing), { message: `Cannot read file "${missing}": no such file` });
    // A folder is not a file.
    await assert.rejects(readFileNamed(dir), (e: unknown) => !(e instanceof Deno.errors.NotFound));
  });
});

Deno.test("readFileNamed() refuses what is not a regular file, naming it, without blocking on a FIFO", async () => {
  await withTempDir("files_test_", async (dir) => {
    const fifo = join(dir, "weights.safetensors");
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success, "mkfifo");
    const cases: [string, string][] = [
      [dir, `Cannot read weights "${dir}": it is a directory, not a regular file`],
      [fifo, `Cannot read weights "${fifo}": it is a FIFO (named pipe), not a regular file`],
      ["/dev/zero", `Cannot read weights "/dev/zero": it is a character device, not a regular file`],
    ];
    for (const [path, message] of cases) {
      await assert.rejects(readFileNamed(path, "weights"), { name: "FileReadError", message });
    }
    // A link to a file is read; a link to a FIFO is refused like the FIFO.
    await Deno.writeFile(join(dir, "real"), Uint8Array.of(7));
    await Deno.symlink(join(dir, "real"), join(dir, "link"));
    assert.deepEqual(await readFileNamed(join(dir, "link")), Uint8Array.of(7));
    await Deno.symlink(fifo, join(dir, "fifo-link"));
    await assert.rejects(readFileNamed(join(dir, "fifo-link"), "weights"), { message: /it is a FIFO/ });
  });
});

Deno.test("readFileNamed() refuses a file over maxBytes from its size, before reading it", async () => {
  await withTempDir("files_test_", async (dir) => {
    const path = join(dir, "big.png");
    // Sparse: 3 GiB of size, nothing written, so a read would be what costs.
    const file = await Deno.open(path, { write: true, create: true });
    await file.truncate(3 * 2 ** 30);
    file.close();
    await assert.rejects(readFileNamed(path, "image", { maxBytes: 2 ** 20 }), {
      name: "FileReadError",
      message: `Cannot read image "${path}": its 3221225472 bytes exceed the 1048576-byte limit for image`,
    });
    // The default limit is 1 GiB.
    await assert.rejects(readFileNamed(path), { message: /exceed the 1073741824-byte limit for file$/ });
  });
});

Deno.test("sameFile() sees through links and dots; removeStaleTemps() removes only old temp files of others", async () => {
  await withTempDir("files_test_", async (dir) => {
    await Deno.writeTextFile(join(dir, "w.safetensors"), "x");
    await Deno.symlink(join(dir, "w.safetensors"), join(dir, "link"));
    assert.equal(await sameFile(join(dir, "link"), join(dir, "sub", "..", "w.safetensors")), true);
    assert.equal(await sameFile(join(dir, "w.safetensors"), join(dir, "none")), false);

    const old = "metrics.csv.tmp-123-0a1b2c3d";
    const fresh = "final.pth.tmp-124-0a1b2c3d";
    const mine = `x.tmp-${Deno.pid}-0a1b2c3d`;
    for (const f of [old, fresh, mine, "notes.tmp-1-zz"]) await Deno.writeTextFile(join(dir, f), "half");
    for (const f of [old, mine]) await Deno.utime(join(dir, f), 0, 0);
    assert.deepEqual(await removeStaleTemps(dir), [old]);
    assert.deepEqual(
      (await names(dir)).filter((n) => n.includes(".tmp")),
      [fresh, "notes.tmp-1-zz", mine].sort(),
    );
    assert.deepEqual(await removeStaleTemps(join(dir, "missing")), []);
  });
});
