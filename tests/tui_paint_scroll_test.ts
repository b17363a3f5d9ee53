// The painter's scrolling of the message pane (paint.ts paintFrame with a scroll region): frames
// written one after another into a terminal emulator (xterm.js) leave on its screen exactly the
// rows composed — whatever moved, by how much, and whatever changed in place or around the pane.
//
// Run: deno test -A tests/tui_paint_scroll_test.ts

import assert from "node:assert/strict";
import { fc, xterm } from "./deps.ts";
import { paintFrame, type PaintRow } from "../src/ui/tui/paint.ts";

const COLS = 30;

function terminal(rows: number) {
  const term = new xterm.Terminal({ cols: COLS, rows, allowProposedApi: true });
  const write = (text: string) => new Promise<void>((resolve) => term.write(text, resolve));
  const screen = () => {
    const buffer = term.buffer.active;
    return Array.from(
      { length: rows },
      (_, y) => buffer.getLine(buffer.viewportY + y)?.translateToString(true) ?? "",
    );
  };
  return { term, write, screen };
}

/** The text a row shows (its tail at its column). */
function shown(row: PaintRow): string {
  if (!row.tail) return row.text;
  return (row.text.padEnd(row.tail.col) + row.tail.text).trimEnd();
}

Deno.test("paint: a pane that moved up is scrolled, and only the rows brought in are written", async () => {
  const rows = 6;
  const pane = { top: 0, height: 4 };
  const lines = (from: number): PaintRow[] => [
    ...[0, 1, 2, 3].map((i) => ({ text: `m${from + i}` })),
    { text: "status" },
    { text: "> " },
  ];
  const { write, screen, term } = terminal(rows);
  const first = lines(0);
  await write(paintFrame(undefined, first, rows, { x: 2, y: 5 }, COLS, pane));
  const second = lines(1);
  const out = paintFrame(first, second, rows, { x: 2, y: 5 }, COLS, pane);
  assert.ok(out.includes("\x1b[1;4r\x1b[4;1H\x1bD\x1b[r"), JSON.stringify(out));
  // only the new last row of the pane is written
  // deno-lint-ignore no-control-regex -- reading what the painter writes
  assert.deepEqual([...out.matchAll(/\x1b\[(\d+);1H\x1b\[0m\x1b\[2K/g)].map((m) => m[1]), ["4"]);
  await write(out);
  assert.deepEqual(screen(), second.map(shown));
  // without a region, the same frame rewrites every row that changed
  const whole = paintFrame(first, second, rows, { x: 2, y: 5 }, COLS);
  assert.ok(!whole.includes("r\x1b["));
  // deno-lint-ignore no-control-regex -- reading what the painter writes
  assert.equal([...whole.matchAll(/\x1b\[2K/g)].length, 4);
  term.dispose();
});

Deno.test("paint: random frames in a row, scrolled or not, leave the screen as composed", async () => {
  const rows = 12;
  const row = fc.oneof(
    fc.constantFrom("", "a", "b", "─── today ───"),
    fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom("x", "y", " ", "z") }),
  );
  const tailed = fc.record({ text: row, pin: fc.boolean() }).map(({ text, pin }): PaintRow =>
    pin ? { text, tail: { col: 20, text: "│", end: 21 } } : { text }
  );
  await fc.assert(
    fc.asyncProperty(
      fc.record({ top: fc.integer({ min: 0, max: 3 }), height: fc.integer({ min: 0, max: 9 }) }),
      fc.array(
        fc.record({
          advance: fc.integer({ min: 0, max: 12 }),
          changed: fc.array(fc.tuple(fc.nat(rows - 1), tailed), { maxLength: 3 }),
          fresh: fc.array(tailed, { minLength: 12, maxLength: 12 }),
        }),
        { minLength: 1, maxLength: 8 },
      ),
      async (pane, steps) => {
        const { write, screen, term } = terminal(rows);
        // the stream of rows the pane shows the end of; the rows around it
        let stream: PaintRow[] = Array.from({ length: rows }, (_, i) => ({ text: `s${i}` }));
        let frame: PaintRow[] | undefined;
        for (const step of steps) {
          stream = [...stream, ...step.fresh.slice(0, step.advance)];
          const next: PaintRow[] = Array.from(
            { length: rows },
            (_, i) =>
              i >= pane.top && i < pane.top + pane.height
                ? stream[stream.length - pane.height + (i - pane.top)]
                : frame?.[i] ?? { text: `o${i}` },
          );
          for (const [at, replaced] of step.changed) next[at] = replaced;
          await write(paintFrame(frame, next, rows, { x: 0, y: rows - 1 }, COLS, pane));
          assert.deepEqual(screen(), next.map(shown));
          frame = next;
        }
        term.dispose();
      },
    ),
    { numRuns: 150 },
  );
});
