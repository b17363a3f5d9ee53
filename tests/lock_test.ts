/**
 * The two lockfiles: deno.lock, read by everything that runs the chat (`deno task chat`, `deno run
 * src/main.ts`, bundle, pack, compile), must not name a test-only package, since
 * `deno task` installs all that its lockfile names; deno.dev.lock, read by `deno task test` and
 * `deno task check`, must resolve every runtime package exactly as deno.lock does, so the tests
 * exercise what users run.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
interface Lock {
  specifiers: Record<string, string>;
  npm: Record<string, { integrity: string }>;
}
const read = (name: string): Lock => JSON.parse(Deno.readTextFileSync(`${root}${name}`));
/** "pkg@1.2.3_peer@4.5.6" → "pkg@1.2.3": the package without the peers it was resolved with. */
const bare = (key: string) => key.replace(/^(@?[^@]+@[^_]+)_.*$/, "$1");

/** Packages that only the tests bring in (tests/deps.ts). */
function devOnlyPackages(): string[] {
  const deps = Deno.readTextFileSync(`${root}tests/deps.ts`);
  const names = [...deps.matchAll(/"npm:(@?[^@"]+)@/g)].map((m) => m[1]);
  assert.ok(names.length > 0, "tests/deps.ts imports npm packages");
  return names;
}

Deno.test("deno.lock names no test-only package", () => {
  const lock = read("deno.lock");
  const config = JSON.parse(Deno.readTextFileSync(`${root}deno.json`));
  for (const name of devOnlyPackages()) {
    assert.ok(
      !Object.keys(config.imports).includes(name),
      `${name} is test-only: import it through tests/deps.ts, not deno.json`,
    );
    const found = [
      ...Object.keys(lock.specifiers).filter((s) => s.startsWith(`npm:${name}@`)),
      ...Object.keys(lock.npm).filter((k) => k.startsWith(`${name}@`) || k.includes(`_${name}@`)),
    ];
    assert.deepEqual(
      found,
      [],
      `deno.lock names ${name} (a test or type checker run without --lock=deno.dev.lock ` +
        "wrote it there; run tests through deno task test and restore deno.lock)",
    );
  }
});

Deno.test("deno.dev.lock resolves every runtime package as deno.lock does", () => {
  const runtime = read("deno.lock");
  const dev = read("deno.dev.lock");
  for (const [specifier, resolved] of Object.entries(runtime.specifiers)) {
    assert.equal(
      bare(`x@${dev.specifiers[specifier] ?? "missing"}`),
      bare(`x@${resolved}`),
      `${specifier}: deno.dev.lock and deno.lock disagree`,
    );
  }
  const devPackages = new Map(Object.entries(dev.npm).map(([k, v]) => [bare(k), v.integrity]));
  for (const [key, { integrity }] of Object.entries(runtime.npm)) {
    assert.equal(devPackages.get(bare(key)), integrity, `${bare(key)} differs in deno.dev.lock`);
  }
});
