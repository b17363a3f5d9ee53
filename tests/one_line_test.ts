// A topic and an away reason are one line of anyone's text shown to others: the schema (shared by
// the server's reading of frames and the client's /topic and /away) refuses every control a
// terminal or a line-splitting reader would act on — C0, DEL, C1, the bidi controls (an override
// reorders the rest of the line others see it in) and U+2028/2029 — and lets right-to-left text
// itself through. The server's refusal over TLS is in tests/e2e/one_line_test.ts.
//
// Run: deno test -A --lock=deno.dev.lock tests/one_line_test.ts

import assert from "node:assert/strict";
import { awayProblem, ClientFrame, topicProblem } from "../src/protocol/schema.ts";

/** Every character refused: C0, DEL and C1, ALM, LRM/RLM, LS/PS, the embeddings and isolates. */
const REFUSED = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  ...Array.from({ length: 0x21 }, (_, i) => 0x7f + i),
  0x061c,
  0x200e,
  0x200f,
  ...Array.from({ length: 7 }, (_, i) => 0x2028 + i),
  ...Array.from({ length: 4 }, (_, i) => 0x2066 + i),
].map((code) => String.fromCharCode(code));

Deno.test("one line: a topic or an away reason with a control, a bidi control or a line separator is refused, by the schema and by what the client checks", () => {
  assert.equal(REFUSED.length, 32 + 33 + 3 + 7 + 4);
  for (const ch of REFUSED) {
    const text = `deploy at 5${ch}pm`;
    const code = ch.charCodeAt(0).toString(16);
    assert.match(topicProblem(text) ?? "", /one line, without control characters/, code);
    assert.match(awayProblem(text) ?? "", /one line, without control characters/, code);
    const topic = ClientFrame.safeParse({ type: "topic", ref: "r", room: "#a", topic: text });
    assert.equal(topic.success, false, `topic with U+${code}`);
    const away = ClientFrame.safeParse({ type: "away", ref: "r", reason: text });
    assert.equal(away.success, false, `away with U+${code}`);
  }
});

Deno.test("one line: right-to-left text, emoji, joiners and tabs-free punctuation are fine", () => {
  for (const text of ["שלום עולם", "مرحبا بالعالم", "👩‍💻 at lunch", "a\u00a0b — c", "x\u200dy"]) {
    assert.equal(topicProblem(text), null, text);
    assert.equal(awayProblem(text), null, text);
    assert.ok(ClientFrame.safeParse({ type: "topic", ref: "r", room: "#a", topic: text }).success);
    assert.ok(ClientFrame.safeParse({ type: "away", ref: "r", reason: text }).success);
  }
});
