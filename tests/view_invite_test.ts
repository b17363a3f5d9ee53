// /ignore and invitations (src/client/view.ts): anyone may invite anyone to a room of theirs
// (60 a minute per user, 240 per address), so an invitation is a way to reach someone who ignores
// you. One from someone ignored is not shown; the other room events, an invitation from someone
// else and --json are as before.
//
// Run: deno test -A --lock=deno.dev.lock tests/view_invite_test.ts

import assert from "node:assert/strict";
import { IgnoreList } from "../src/client/ignore.ts";
import type { ClientEvent } from "../src/client/state.ts";
import { View } from "../src/client/view.ts";
import type { RoomInfo } from "../src/protocol/schema.ts";
import { T0 } from "./fixtures.ts";

const room = (name: string): RoomInfo => ({
  name,
  topic: "",
  private: false,
  members: 1,
  online: 1,
});

const view = (everything = false) =>
  new View({
    ignores: new IgnoreList(["Mal_0001"]),
    here: () => "#general",
    now: () => T0,
    everything,
  });

Deno.test("view: invitations from someone ignored are not shown (any case of their id); the rest are", () => {
  const spam: ClientEvent[] = Array.from({ length: 60 }, (_, i) => ({
    type: "room",
    event: "invited",
    room: room(`#spam${i}`),
    by: i % 2 ? "mal_0001" : "MAL_0001",
    user: "tom_0001",
    toMe: true,
  }));
  const kept: ClientEvent[] = [
    {
      type: "room",
      event: "invited",
      room: room("#ops"),
      by: "ann_0001",
      user: "tom_0001",
      toMe: true,
    },
    // tom invited mal: the answer to tom's own request
    { type: "room", event: "invited", room: room("#ops"), by: "tom_0001", user: "mal_0001" },
    // a topic mal set in a room tom is in: the room's state, shown
    { type: "room", event: "topic", room: room("#ops"), by: "mal_0001" },
  ];
  assert.deepEqual(view().filter([...spam, ...kept]), kept);
  assert.deepEqual(view(true).filter([...spam, ...kept]), [...spam, ...kept], "--json has all");
});
