// The layering of src/: every file's imports (static, dynamic and type-only) run one way, down
// the layers below. A feature that needs an import against them belongs in another layer.
//
// Run: deno test -A tests/layering_test.ts

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Each layer and the layers it builds on directly; it may import those and everything they may
 * import. `version` is the ground; protocol and tls are the floor both sides stand on; the server
 * and the client never import each other; ui shows the client; cli wires a command from them;
 * main, bench and the launchers are entry points above it.
 */
const BUILDS_ON: Record<string, string[]> = {
  version: [],
  protocol: ["version"],
  tls: ["version"],
  server: ["protocol", "tls"],
  client: ["protocol", "tls"],
  ui: ["client"],
  cli: ["ui", "server"],
  bench: ["cli"],
  launch: ["cli"],
  main: ["bench", "cli"],
};

/** The layer of a path relative to src/: its top folder, or the file's name at the top. */
function layerOf(path: string): string | undefined {
  const top = path.split("/")[0].replace(/\.tsx?$/, "");
  return top in BUILDS_ON ? top : undefined;
}

/** The layers `layer` may import: itself and everything below it. */
function allowed(layer: string): Set<string> {
  const out = new Set([layer]);
  for (const below of BUILDS_ON[layer] ?? []) for (const l of allowed(below)) out.add(l);
  return out;
}

/** The source without comments, strings and template text (specifiers are kept as `"…"`). */
function codeOf(source: string): string {
  let out = "";
  let i = 0;
  /** Open template literals' `${` depths, innermost last. */
  const templates: number[] = [];
  let depth = 0;
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      while (i < source.length && source[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      i = end < 0 ? source.length : end + 2;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < source.length && source[j] !== c && source[j] !== "\n") {
        j += source[j] === "\\" ? 2 : 1;
      }
      out += `"${source.slice(i + 1, j)}"`;
      i = j + 1;
    } else if (c === "`" || (c === "}" && templates.at(-1) === depth)) {
      // template text up to its end or the next `${`
      if (c === "}") templates.pop();
      let j = i + 1;
      while (
        j < source.length && source[j] !== "`" && !(source[j] === "$" && source[j + 1] === "{")
      ) {
        j += source[j] === "\\" ? 2 : 1;
      }
      if (source[j] === "$") {
        templates.push(depth);
        i = j + 2;
      } else i = j + 1;
      out += '""';
    } else {
      if (c === "{") depth++;
      if (c === "}") depth--;
      out += c;
      i++;
    }
  }
  return out;
}

/** Every module specifier a TypeScript source imports or re-exports. */
export function importsOf(source: string): string[] {
  const code = codeOf(source);
  const found: string[] = [];
  const patterns = [
    // import … from "x", import type … from "x", export … from "x"
    /(?:^|[;}\n])\s*(?:import|export)\b[^;"]*?\bfrom\s*"([^"]*)"/g,
    // import "x" (for its effects)
    /(?:^|[;}\n])\s*import\s*"([^"]*)"/g,
    // import("x"), also as a type: typeof import("x")
    /\bimport\s*\(\s*"([^"]*)"\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) found.push(m[1]);
  return found;
}

/** An import that runs against the layering. */
interface Violation {
  file: string;
  imports: string;
  why: string;
}

/** Checks files given as `path relative to src/ → source`. */
function violations(files: Map<string, string>): Violation[] {
  const out: Violation[] = [];
  for (const [file, source] of files) {
    const from = layerOf(file);
    if (!from) {
      out.push({ file, imports: "", why: "is in no layer: add its folder to BUILDS_ON" });
      continue;
    }
    for (const specifier of importsOf(source)) {
      if (!specifier.startsWith(".")) continue; // npm:, node: and mapped packages
      const target = relative("/src", resolve("/src", dirname(file), specifier));
      const to = layerOf(target);
      if (target.startsWith("..")) {
        out.push({ file, imports: specifier, why: "reaches outside src/" });
      } else if (!to) {
        out.push({ file, imports: target, why: "which is in no layer" });
      } else if (!allowed(from).has(to)) {
        const may = [...allowed(from)].filter((l) => l !== from).sort().join(", ") || "nothing";
        out.push({ file, imports: target, why: `${from} may import only ${may}` });
      }
    }
  }
  return out;
}

/** Every .ts and .tsx file under src/, relative to it. */
async function sources(): Promise<Map<string, string>> {
  const src = fileURLToPath(new URL("../src/", import.meta.url));
  const files = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (/\.tsx?$/.test(entry.name)) {
        files.set(relative(src, path), await Deno.readTextFile(path));
      }
    }
  };
  await walk(src);
  return files;
}

Deno.test("layering: every import under src/ runs down the layers", async () => {
  const files = await sources();
  assert.ok(files.size > 50, `only ${files.size} files found`);
  const found = violations(files);
  assert.deepEqual(
    found.map((v) => `${v.file} imports ${v.imports}: ${v.why}`),
    [],
    "imports against the layering",
  );
});

Deno.test("layering: the protocol and the cli wiring sit where the rule says", () => {
  const may = (layer: string) => [...allowed(layer)].sort();
  assert.deepEqual(may("server"), ["protocol", "server", "tls", "version"]);
  assert.deepEqual(may("client"), ["client", "protocol", "tls", "version"]);
  assert.deepEqual(may("ui"), ["client", "protocol", "tls", "ui", "version"]);
  assert.ok(allowed("cli").has("server") && allowed("cli").has("ui"));
  assert.ok(!allowed("ui").has("cli") && !allowed("ui").has("server"));
  assert.ok(allowed("main").has("cli") && allowed("main").has("bench"));
});

Deno.test("layering: imports are found in every form, and not in comments or strings", () => {
  const source = [
    'import { a } from "./a.ts";',
    'import type { B } from "../b.ts";',
    "import {\n  c,\n  type D,\n} from './c.ts';",
    'export { e } from "./e.ts";',
    'export * from "./f.ts";',
    'import "./g.ts";',
    'const h = await import("./h.tsx");',
    'let i: typeof import("./i.ts");',
    '// import { no } from "./comment.ts";',
    '/* import { no } from "./block.ts"; */',
    "const s = \"import { no } from './string.ts'\";",
    "const t = `x ${y} import { no } from './template.ts'`;",
  ].join("\n");
  assert.deepEqual(importsOf(source).sort(), [
    "../b.ts",
    "./a.ts",
    "./c.ts",
    "./e.ts",
    "./f.ts",
    "./g.ts",
    "./h.tsx",
    "./i.ts",
  ]);
});

Deno.test("layering: an import against the rule is named, with what the layer may import", () => {
  const files = new Map([
    ["client/client.ts", 'import type { Ui } from "../ui/ui.ts";'],
    ["ui/tui/tui.ts", 'import { runJoin } from "../../cli/join.ts";'],
    ["server/hub.ts", 'import { ChatClient } from "../client/client.ts";'],
    ["client/state.ts", 'import { x } from "../server/x.ts";'],
    ["cli/join.ts", 'import { y } from "../ui/y.ts";\nimport { z } from "../server/z.ts";'],
    ["extra/new.ts", ""],
  ]);
  assert.deepEqual(violations(files).map((v) => `${v.file} → ${v.imports}`), [
    "client/client.ts → ui/ui.ts",
    "ui/tui/tui.ts → cli/join.ts",
    "server/hub.ts → client/client.ts",
    "client/state.ts → server/x.ts",
    "extra/new.ts → ",
  ]);
  assert.match(violations(files)[0].why, /^client may import only protocol, tls, version$/);
});
