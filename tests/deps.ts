/**
 * Test-only npm packages, imported here by full specifier rather than listed in deno.json:
 * `deno task` installs everything deno.json imports, and everything in the lockfile it reads,
 * before it runs any task, `deno task chat` included. Listed there, a test-only package would be
 * downloaded by everyone who only wants to chat. These are locked in deno.dev.lock, the lockfile
 * of `deno task test` and `deno task check` (tests/lock_test.ts keeps the two in step).
 */
export { default as fc } from "npm:fast-check@^4";
export { default as xterm } from "npm:@xterm/headless@^5";
