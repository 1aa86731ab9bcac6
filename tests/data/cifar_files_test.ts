import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { packTar, type TarEntry } from "modern-tar";
import { RECORD_BYTES, TEST_FILE, TRAIN_FILES } from "../../lib/data/cifar.ts";
import {
  CIFAR_FILES,
  CIFAR_TARBALL_MD5,
  CifarArchiveError,
  CifarFilesError,
  type CifarProgress,
  DEFAULT_CIFAR_DIR,
  downloadCifar10,
  extractCifarTarball,
  loadCifar10,
  locateCifar10,
  resolveCifarDir,
} from "../../lib/data/cifar_files.ts";
import { decodeCifarPython } from "../../lib/formats/cifar_python.ts";
import { CIFAR_DIR, pythonBatch } from "../helpers.ts";

const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
const META = new TextEncoder().encode(
  "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n",
);

/** Two records per file; file k's records have labels k and (k + 1) % 10 and pixels filled with k. */
function tinyBin(k: number, records = 2): Uint8Array {
  const bytes = new Uint8Array(records * RECORD_BYTES).fill(k);
  for (let i = 0; i < records; i++) bytes[i * RECORD_BYTES] = (k + i) % 10;
  return bytes;
}

const BINS = [...TRAIN_FILES, TEST_FILE];
const CONTENT = new Map<string, Uint8Array>(
  BINS.map((f, k) => [f, tinyBin(k + 1)]),
);
const FILE_MD5 = Object.fromEntries(BINS.map((f) => [f, md5(CONTENT.get(f)!)]));

function fileEntry(name: string, body: Uint8Array): TarEntry {
  return { header: { name, type: "file", size: body.length }, body };
}

/** The seven expected entries, laid out like the official archive (directory, readme). */
function officialEntries(): TarEntry[] {
  return [
    { header: { name: "cifar-10-batches-bin/", type: "directory", size: 0 } },
    ...BINS.map((f) => fileEntry(`cifar-10-batches-bin/${f}`, CONTENT.get(f)!)),
    fileEntry("cifar-10-batches-bin/batches.meta.txt", META),
    fileEntry(
      "cifar-10-batches-bin/readme.html",
      new TextEncoder().encode("<html></html>"),
    ),
  ];
}

async function tarball(entries: TarEntry[]): Promise<Uint8Array> {
  return gzipSync(await packTar(entries));
}

const TEST_MD5S = { tarballMd5: null, fileMd5: FILE_MD5 };

Deno.test("resolveCifarDir() prefers the flag, then CIFAR10_DIR, then the default", () => {
  const saved = Deno.env.get("CIFAR10_DIR");
  try {
    Deno.env.set("CIFAR10_DIR", "/from/env");
    assert.equal(resolveCifarDir("/from/flag"), "/from/flag");
    assert.equal(resolveCifarDir(), "/from/env");
    assert.equal(resolveCifarDir(""), "/from/env");
    Deno.env.delete("CIFAR10_DIR");
    assert.equal(resolveCifarDir(), DEFAULT_CIFAR_DIR);
    assert.equal(DEFAULT_CIFAR_DIR, "data/cifar-10-batches-bin");
  } finally {
    if (saved === undefined) Deno.env.delete("CIFAR10_DIR");
    else Deno.env.set("CIFAR10_DIR", saved);
  }
});

Deno.test("extractCifarTarball() returns exactly the seven expected files", async () => {
  const gz = await tarball(officialEntries());
  const files = await extractCifarTarball(gz, {
    tarballMd5: md5(gz),
    fileMd5: FILE_MD5,
  });
  assert.deepEqual([...files.keys()].sort(), [...CIFAR_FILES].sort());
  assert.deepEqual(files.get("test_batch.bin"), CONTENT.get("test_batch.bin"));
  assert.deepEqual(files.get("batches.meta.txt"), META);
  assert.equal(files.has("readme.html"), false);
});

Deno.test("extractCifarTarball() checks the tarball's md5 against the official one by default", async () => {
  const gz = await tarball(officialEntries());
  await assert.rejects(extractCifarTarball(gz), {
    name: "CifarArchiveError",
    message: `CIFAR-10 tarball has md5 "${md5(gz)}", expected "${CIFAR_TARBALL_MD5}" (${gz.length} bytes): ` +
      "the download is corrupt or not the official cifar-10-binary.tar.gz",
  });
});

Deno.test("extractCifarTarball() checks each file's md5", async () => {
  const entries = officialEntries();
  const bad = tinyBin(1);
  bad[5] ^= 1;
  entries[1] = fileEntry("cifar-10-batches-bin/data_batch_1.bin", bad);
  await assert.rejects(extractCifarTarball(await tarball(entries), TEST_MD5S), {
    name: "CifarArchiveError",
    message: `CIFAR-10 tarball's "data_batch_1.bin" has md5 "${md5(bad)}", expected "${
      FILE_MD5["data_batch_1.bin"]
    }"`,
  });
});

Deno.test("extractCifarTarball() checks the class names in batches.meta.txt", async () => {
  const entries = officialEntries();
  entries[7] = fileEntry(
    "cifar-10-batches-bin/batches.meta.txt",
    new TextEncoder().encode("cat\ndog\n"),
  );
  await assert.rejects(extractCifarTarball(await tarball(entries), TEST_MD5S), {
    name: "CifarArchiveError",
    message: `CIFAR-10 tarball's "batches.meta.txt" lists classes "cat,dog", ` +
      `expected "airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck"`,
  });
});

Deno.test("extractCifarTarball() rejects names with ..", async () => {
  for (
    const name of [
      "../test_batch.bin",
      "cifar-10-batches-bin/../../evil.bin",
      "/etc/cron.d/x",
    ]
  ) {
    const entries = [...officialEntries(), fileEntry(name, new Uint8Array(1))];
    await assert.rejects(
      extractCifarTarball(await tarball(entries), TEST_MD5S),
      {
        name: "CifarArchiveError",
        message:
          `CIFAR-10 tarball entry "${name}" has an unsafe path, expected "cifar-10-batches-bin/<file>"`,
      },
    );
  }
});

Deno.test("extractCifarTarball() rejects symlinks and hard links", async () => {
  for (const type of ["symlink", "link"] as const) {
    const entries = officialEntries();
    entries[6] = {
      header: {
        name: "cifar-10-batches-bin/test_batch.bin",
        type,
        size: 0,
        linkname: "/etc/passwd",
      },
    };
    await assert.rejects(
      extractCifarTarball(await tarball(entries), TEST_MD5S),
      {
        name: "CifarArchiveError",
        message: `CIFAR-10 tarball entry "cifar-10-batches-bin/test_batch.bin" is a ${type}, ` +
          "expected only regular files and directories",
      },
    );
  }
});

Deno.test("extractCifarTarball() ignores unexpected names and fails if an expected file is absent", async () => {
  const entries = officialEntries().filter((e) => e.header.name !== "cifar-10-batches-bin/test_batch.bin");
  entries.push(fileEntry("test_batch.bin", CONTENT.get("test_batch.bin")!));
  entries.push(
    fileEntry("other/test_batch.bin", CONTENT.get("test_batch.bin")!),
  );
  entries.push(
    fileEntry(
      "cifar-10-batches-bin/sub/test_batch.bin",
      CONTENT.get("test_batch.bin")!,
    ),
  );
  await assert.rejects(extractCifarTarball(await tarball(entries), TEST_MD5S), {
    name: "CifarArchiveError",
    message: 'CIFAR-10 tarball lacks "cifar-10-batches-bin/test_batch.bin", expected all of ' +
      "data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, " +
      "test_batch.bin, batches.meta.txt",
  });
});

Deno.test("extractCifarTarball() rejects a duplicated file", async () => {
  const entries = [
    ...officialEntries(),
    fileEntry("cifar-10-batches-bin/data_batch_2.bin", tinyBin(0)),
  ];
  await assert.rejects(extractCifarTarball(await tarball(entries), TEST_MD5S), {
    name: "CifarArchiveError",
    message: 'CIFAR-10 tarball holds "cifar-10-batches-bin/data_batch_2.bin" more than once',
  });
});

Deno.test("extractCifarTarball() rejects bytes that are not gzip or not tar", async () => {
  await assert.rejects(
    extractCifarTarball(new Uint8Array(100), TEST_MD5S),
    CifarArchiveError,
  );
  const tar = await packTar(officialEntries());
  const truncated = gzipSync(tar.subarray(0, 1000));
  await assert.rejects(
    extractCifarTarball(truncated, TEST_MD5S),
    CifarArchiveError,
  );
  const corrupt = tar.slice();
  corrupt[3] ^= 0x20; // breaks the first header's checksum
  await assert.rejects(extractCifarTarball(gzipSync(corrupt), TEST_MD5S), {
    name: "CifarArchiveError",
    message: "CIFAR-10 tarball is not a valid tar archive: Invalid tar header checksum.",
  });
});

function fakeFetch(body: Uint8Array, calls: string[]): typeof fetch {
  return (input) => {
    calls.push(String(input));
    return Promise.resolve(
      new Response(new Uint8Array(body), {
        headers: { "content-length": String(body.length) },
      }),
    );
  };
}

Deno.test("downloadCifar10() writes the files atomically and keeps existing ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const target = `${dir}/nested/cifar`;
    await Deno.mkdir(target, { recursive: true });
    await Deno.writeFile(`${target}/data_batch_1.bin`, tinyBin(0));
    const gz = await tarball(officialEntries());
    const calls: string[] = [];
    const progress: CifarProgress[] = [];
    const written = await downloadCifar10(target, {
      ...TEST_MD5S,
      fetch: fakeFetch(gz, calls),
      onProgress: (p) => progress.push(p),
    });
    assert.deepEqual(calls, [
      "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    ]);
    assert.deepEqual(
      written.sort(),
      CIFAR_FILES.filter((f) => f !== "data_batch_1.bin").sort(),
    );
    const names = [...Deno.readDirSync(target)].map((e) => e.name).sort();
    assert.deepEqual(names, [...CIFAR_FILES].sort()); // no temp files left behind
    assert.deepEqual(
      await Deno.readFile(`${target}/data_batch_1.bin`),
      tinyBin(0),
    );
    assert.deepEqual(
      await Deno.readFile(`${target}/test_batch.bin`),
      CONTENT.get("test_batch.bin"),
    );
    const last = progress.filter((p) => p.stage === "download").at(-1)!;
    assert.deepEqual(last, {
      stage: "download",
      loaded: gz.length,
      total: gz.length,
    });
    assert.equal(progress.filter((p) => p.stage === "write").length, 6);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadCifar10() says where to put the files when offline", async () => {
  const offline: typeof fetch = () => Promise.reject(new TypeError("error sending request: dns error"));
  await assert.rejects(downloadCifar10("/nowhere/cifar", { fetch: offline }), {
    name: "CifarFilesError",
    message: "Could not download CIFAR-10 from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz " +
      "(error sending request: dns error). Put the CIFAR-10 binary files (data_batch_1.bin, " +
      "data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin, " +
      'batches.meta.txt) in "/nowhere/cifar", or point the lab at a folder holding them with ' +
      "--data-dir or the CIFAR10_DIR environment variable",
  });
  const notFound: typeof fetch = () => Promise.resolve(new Response("gone", { status: 404 }));
  await assert.rejects(
    downloadCifar10("/nowhere/cifar", { fetch: notFound }),
    CifarFilesError,
  );
});

async function tinyDir(files: string[], records = 2): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const f of files) {
    await Deno.writeFile(`${dir}/${f}`, tinyBin(BINS.indexOf(f) + 1, records));
  }
  return dir;
}

Deno.test("loadCifar10() reads all files in order", async () => {
  const dir = await tinyDir(BINS);
  try {
    const { train, test } = await loadCifar10(dir, { download: false });
    assert.equal(train.count, 10);
    assert.deepEqual([...train.labels], [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    assert.equal(train.images[0], 1);
    assert.equal(train.images[train.images.length - 1], 5);
    assert.equal(test.count, 2);
    assert.deepEqual([...test.labels], [6, 7]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadCifar10() honours limits and reads only the files needed", async () => {
  const dir = await tinyDir(["data_batch_1.bin", TEST_FILE], 5);
  try {
    const { train, test } = await loadCifar10(dir, {
      limitTrain: 3,
      limitTest: 1,
      download: false,
    });
    assert.equal(train.count, 3);
    assert.equal(train.images.length, 3 * 3072);
    assert.deepEqual([...train.labels], [1, 2, 3]);
    assert.equal(test.count, 1);
    const none = await loadCifar10(dir, {
      limitTrain: 0,
      limitTest: 0,
      download: false,
    });
    assert.equal(none.train.count + none.test.count, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadCifar10() names the missing file when download is off", async () => {
  const dir = await tinyDir(["data_batch_1.bin"]);
  try {
    await assert.rejects(loadCifar10(dir, { limitTrain: 1, download: false }), {
      name: "CifarFilesError",
      message: `CIFAR-10 file "${dir}/test_batch.bin" is missing. ` +
        "Put the CIFAR-10 binary files (data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, " +
        `data_batch_4.bin, data_batch_5.bin, test_batch.bin, batches.meta.txt) in "${dir}", ` +
        "or point the lab at a folder holding them with --data-dir or the CIFAR10_DIR environment variable",
    });
    await assert.rejects(loadCifar10(dir, { limitTrain: -1 }), RangeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadCifar10() downloads missing files and rejects a truncated one", async () => {
  const dir = await tinyDir(["data_batch_1.bin"]);
  try {
    await Deno.writeFile(
      `${dir}/${TEST_FILE}`,
      new Uint8Array(RECORD_BYTES + 1),
    );
    await assert.rejects(loadCifar10(dir, { limitTrain: 1, download: false }), {
      name: "CifarFormatError",
      message: `File "${dir}/test_batch.bin" has 3074 bytes, expected a multiple of 3073 ` +
        "(one label byte + 3072 pixel bytes per record), e.g. 3073 or 6146: " +
        "the file is truncated or has extra bytes",
    });
    await Deno.remove(`${dir}/${TEST_FILE}`);
    // The download is checked against the official md5, which a tiny tarball fails.
    const calls: string[] = [];
    await assert.rejects(
      loadCifar10(dir, {
        limitTrain: 1,
        download: true,
        fetch: fakeFetch(await tarball(officialEntries()), calls),
      }),
      CifarArchiveError,
    );
    assert.equal(calls.length, 1);
    // Without download: on (the default), nothing is fetched.
    await assert.rejects(
      loadCifar10(dir, { limitTrain: 1, fetch: fakeFetch(new Uint8Array(), calls) }),
      CifarFilesError,
    );
    assert.equal(calls.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadCifar10() names a training file missing past the first", async () => {
  const dir = await tinyDir(["data_batch_1.bin", TEST_FILE]);
  try {
    await assert.rejects(loadCifar10(dir, { limitTrain: 3, download: false }), {
      name: "CifarFilesError",
      message: new RegExp(
        `^CIFAR-10 file "${dir}/data_batch_2.bin" is missing\\. Put the CIFAR-10`,
      ),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const REAL_DIR = CIFAR_DIR;

function haveRealData(): boolean {
  try {
    Deno.statSync(`${REAL_DIR}/test_batch.bin`);
    return true;
  } catch {
    console.warn(`Skipping the real-data test: ${REAL_DIR} is absent`);
    return false;
  }
}

Deno.test({
  name: "loadCifar10() reads the first records of the real files",
  ignore: !haveRealData(),
  fn: async () => {
    const { train, test } = await loadCifar10(REAL_DIR, {
      limitTrain: 10001,
      limitTest: 100,
      download: false,
    });
    assert.equal(train.count, 10001);
    assert.equal(test.count, 100);
    // numpy: np.fromfile("test_batch.bin", np.uint8).reshape(-1, 3073)[:10, 0]
    assert.deepEqual([...test.labels.subarray(0, 10)], [
      3,
      8,
      8,
      0,
      6,
      6,
      1,
      6,
      3,
      1,
    ]);
    // numpy: data_batch_1 labels [:5] and last label / last byte; data_batch_2 label [0]
    assert.deepEqual([...train.labels.subarray(0, 5)], [6, 9, 9, 4, 1]);
    assert.equal(train.labels[9999], 5);
    assert.equal(train.images[10000 * 3072 - 1], 131);
    assert.equal(train.labels[10000], 1);
  },
});

Deno.test("loadCifar10() finds cifar-10-batches-bin and cifar-10-batches-py under a parent folder", async () => {
  const parent = await Deno.makeTempDir({ prefix: "cifar_files_test_" });
  try {
    await Deno.mkdir(`${parent}/cifar-10-batches-bin`);
    await Deno.writeFile(`${parent}/cifar-10-batches-bin/data_batch_1.bin`, tinyBin(3));
    await Deno.writeFile(`${parent}/cifar-10-batches-bin/test_batch.bin`, tinyBin(4));
    const bin = await loadCifar10(parent, { limitTrain: 2 });
    assert.deepEqual([bin.dir, bin.format, bin.train.count, bin.test.count], [
      `${parent}/cifar-10-batches-bin`,
      "bin",
      2,
      2,
    ]);
    assert.deepEqual(await locateCifar10(`${parent}/cifar-10-batches-bin`), {
      dir: `${parent}/cifar-10-batches-bin`,
      format: "bin",
    });

    // torchvision's python version, md5-checked, decoded by the formats layer.
    await Deno.remove(`${parent}/cifar-10-batches-bin`, { recursive: true });
    await Deno.mkdir(`${parent}/cifar-10-batches-py`);
    const train = pythonBatch([1, 2, 3], (i) => 10 + i);
    const test = pythonBatch([9, 0], (i) => 100 + i);
    await Deno.writeFile(`${parent}/cifar-10-batches-py/data_batch_1`, train);
    await Deno.writeFile(`${parent}/cifar-10-batches-py/test_batch`, test);
    const pythonMd5 = { data_batch_1: md5(train), test_batch: md5(test) };
    const py = await loadCifar10(parent, { limitTrain: 2, decodePython: decodeCifarPython, pythonMd5 });
    assert.deepEqual([py.dir, py.format], [`${parent}/cifar-10-batches-py`, "py"]);
    assert.deepEqual([...py.train.labels], [1, 2]);
    assert.equal(py.train.images.length, 2 * 3072);
    assert.deepEqual([py.train.images[0], py.train.images[3072]], [10, 11]);
    assert.deepEqual([...py.test.labels], [9, 0]);
    // The official md5s reject these stand-ins, naming the file.
    await assert.rejects(loadCifar10(parent, { limitTrain: 2, decodePython: decodeCifarPython }), {
      name: "CifarFilesError",
      message: new RegExp(
        `^CIFAR-10 file "${parent}/cifar-10-batches-py/data_batch_1" has md5 "${md5(train)}", ` +
          `expected "c99cafc152244af753f735de768cd75f"`,
      ),
    });
    // A task without the decoder says what to do instead.
    await assert.rejects(loadCifar10(parent, { limitTrain: 2, pythonMd5 }), {
      name: "CifarFilesError",
      message: /holds torchvision's python version of CIFAR-10, which this task does not read/,
    });
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("loadCifar10() never downloads into a folder given by mistake, and says what to do", async () => {
  const parent = await Deno.makeTempDir({ prefix: "cifar_files_test_" });
  try {
    const calls: string[] = [];
    const fetch = fakeFetch(new Uint8Array(), calls);
    // A misspelled folder: not created, nothing fetched.
    await assert.rejects(loadCifar10(`${parent}/cifar-10-batches-bni`, { fetch }), {
      name: "CifarFilesError",
      message: new RegExp(
        `^CIFAR-10 folder "${parent}/cifar-10-batches-bni" does not exist \\(looked for data_batch_1\\.bin \\.\\.\\. ` +
          `test_batch\\.bin in it and in its cifar-10-batches-bin/ and cifar-10-batches-py/\\): point --data-dir ` +
          `or CIFAR10_DIR at the folder holding them, or add --download`,
      ),
    });
    // A folder of something else.
    await Deno.writeTextFile(`${parent}/notes.txt`, "x");
    await assert.rejects(loadCifar10(parent, { fetch, downloadHint: "eval never downloads" }), {
      name: "CifarFilesError",
      message: /holds no CIFAR-10 files .*, or eval never downloads$/,
    });
    // A file given as the folder.
    await assert.rejects(loadCifar10(`${parent}/notes.txt`, { fetch }), {
      name: "CifarFilesError",
      message: `CIFAR-10 folder "${parent}/notes.txt" is a file, not a folder: give the folder holding ` +
        `data_batch_1.bin ... test_batch.bin (or its parent)`,
    });
    assert.deepEqual(calls, []);
    assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name), ["notes.txt"]);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("loadCifar10() refuses empty files and FIFOs, naming the file, without blocking", async () => {
  const dir = await tinyDir(["data_batch_1.bin"]);
  try {
    await Deno.writeFile(`${dir}/${TEST_FILE}`, new Uint8Array(0));
    await assert.rejects(loadCifar10(dir, { limitTrain: 1 }), {
      name: "CifarFilesError",
      message: `CIFAR-10 file "${dir}/test_batch.bin" is empty (0 bytes): replace it with the official file`,
    });
    await Deno.remove(`${dir}/${TEST_FILE}`);
    if (Deno.build.os !== "windows") {
      const made = await new Deno.Command("mkfifo", { args: [`${dir}/${TEST_FILE}`] }).output();
      assert.equal(made.code, 0);
      await assert.rejects(loadCifar10(dir, { limitTrain: 1 }), {
        name: "CifarFilesError",
        message: `CIFAR-10 file "${dir}/test_batch.bin" is not a regular file (a folder, FIFO or device)`,
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
