/**
 * `deno task pack`: the npm package that puts a `chat` command on the PATH, as a tarball in
 * dist/ that `npm install -g` takes. Inside: chat/ (the program's bundle: main.js and its chunks,
 * scripts/bundle.ts),
 * bin/chat.mjs (the launcher, src/launch/npm.ts, run by Node), package.json (depends on the `deno`
 * package at exactly this Deno's version, which ships the runtime for each platform) and a
 * README. The tarball is reproducible: fixed times and modes, files in a fixed order.
 *
 * Usage: deno task pack [OUT_DIR]   (default dist/)
 */
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { VERSION } from "../src/version.ts";
import { bundleProgram, runDeno } from "./bundle.ts";

/** The package's name on npm (`npx tlschat serve` once published); the command is `chat`. */
export const PACKAGE_NAME = "tlschat";

const root = fileURLToPath(new URL("../", import.meta.url));

/** Builds the tarball into `outDir`; returns its path. */
export async function pack(outDir: string): Promise<string> {
  const work = await Deno.makeTempDir({ prefix: "chat-pack-" });
  try {
    const program = join(work, "chat");
    const launcher = join(work, "chat.mjs");
    await bundleProgram(program);
    // the launcher runs under Node: only node: modules, nothing of Deno's
    await bundleLauncher(join(root, "src", "launch", "npm.ts"), launcher);
    // in a fixed order, for a reproducible tarball
    const chunks = [...Deno.readDirSync(program)].map((entry) => entry.name).sort();
    const encoder = new TextEncoder();
    const files: TarFile[] = [
      { name: "package.json", data: encoder.encode(packageJson()), mode: 0o644 },
      { name: "README.md", data: encoder.encode(README), mode: 0o644 },
      {
        name: "bin/chat.mjs",
        data: encoder.encode(`#!/usr/bin/env node\n${await Deno.readTextFile(launcher)}`),
        mode: 0o755,
      },
      ...chunks.map((name) => ({
        name: `chat/${name}`,
        data: Deno.readFileSync(join(program, name)),
        mode: 0o644,
      })),
    ];
    await Deno.mkdir(outDir, { recursive: true });
    const tarball = join(outDir, `${PACKAGE_NAME}-${VERSION}.tgz`);
    await Deno.writeFile(tarball, gzipSync(tar(files), { level: 9 }));
    return tarball;
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

async function bundleLauncher(entry: string, output: string) {
  await runDeno(["bundle", "--quiet", "--platform", "browser", "-o", output, entry])
    .catch((error) => {
      throw new Error(`deno bundle ${entry} failed: ${error.message}`);
    });
}

function packageJson(): string {
  return JSON.stringify(
    {
      name: PACKAGE_NAME,
      version: VERSION,
      description: "A secure terminal chat: chat serve, chat join --name Tom",
      type: "module",
      bin: { chat: "bin/chat.mjs" },
      files: ["bin/", "chat/", "README.md"],
      // the runtime the bundle was built and tested with; the deno package ships it per platform
      dependencies: { deno: Deno.version.deno },
      engines: { node: ">=18" },
    },
    null,
    2,
  ) + "\n";
}

const README = `# ${PACKAGE_NAME}

A secure terminal chat. Installed, it gives you the \`chat\` command:

\`\`\`sh
chat serve                 # a TLS chat server, history in ./chat.db, certificates in ./certs/
chat join --name Tom       # or paste the join command chat serve printed
chat check                 # is the server up? (exit 0 / 1)
chat --help
\`\`\`

\`chat\` runs on the Deno runtime that the \`deno\` package installs beside it, with only the
permissions each command needs, and downloads nothing when it runs.
`;

interface TarFile {
  name: string;
  data: Uint8Array;
  mode: number;
}

/** npm's own fixed time for reproducible tarballs (1985-10-26T08:15:00Z). */
const MTIME = 499162500;

/** A ustar archive with every file under package/, as npm expects. */
function tar(files: TarFile[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const file of files) {
    const header = new Uint8Array(512);
    const put = (offset: number, length: number, value: string) =>
      header.set(new TextEncoder().encode(value).subarray(0, length), offset);
    const octal = (offset: number, length: number, value: number) =>
      put(offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
    put(0, 100, `package/${file.name}`);
    octal(100, 8, file.mode);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, file.data.length);
    octal(136, 12, MTIME);
    put(148, 8, " ".repeat(8)); // the checksum counts its own field as spaces
    put(156, 1, "0");
    put(257, 8, "ustar\u000000");
    const sum = header.reduce((a, b) => a + b, 0);
    put(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    blocks.push(header, file.data);
    const padding = (512 - (file.data.length % 512)) % 512;
    if (padding > 0) blocks.push(new Uint8Array(padding));
  }
  blocks.push(new Uint8Array(1024)); // two empty blocks end the archive
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let offset = 0;
  for (const block of blocks) {
    out.set(block, offset);
    offset += block.length;
  }
  return out;
}

if (import.meta.main) {
  try {
    const tarball = await pack(Deno.args[0] ?? join(root, "dist"));
    const size = (await Deno.stat(tarball)).size;
    console.log(`${tarball} (${(size / 1024 / 1024).toFixed(1)} MB)`);
    console.log(`install it with: npm install -g ${tarball}`);
  } catch (error) {
    console.error(`pack: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
