// What a resync (cluster/resync.ts: rooms and moderation read again after the bus was away)
// costs a node on the real PostgreSQL store, with the default most rooms (10,000) and 1,000
// users online in 20 rooms each: printed, with the longest the event loop is held at once.
//
// Run: deno test -A --lock=deno.dev.lock tests/resync_cost_test.ts

import assert from "node:assert/strict";
import { GENERAL_ROOM } from "../src/protocol/schema.ts";
import { Resync } from "../src/server/cluster/resync.ts";
import { DEFAULT_MAX_ROOMS } from "../src/server/limits.ts";
import { PostgresStore } from "../src/server/store/postgres.ts";
import type { SqliteStore } from "../src/server/store/sqlite.ts";
import { psql, startPostgres } from "./engines.ts";
import { MemoryNetwork } from "./cluster_fixtures.ts";
import { world } from "./fixtures.ts";

const ONLINE = 1_000;
const ROOMS_EACH = 20;

Deno.test({
  name:
    "resync cost (printed): 10,000 rooms and 1,000 users online on PostgreSQL; no step holds the event loop for long",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // removed (and the store closed) however the test ends
    await using engine = {
      ...(await startPostgres()),
      [Symbol.asyncDispose]: () => engine.remove(),
    };
    using store = Object.assign(new PostgresStore(engine.url), {
      [Symbol.dispose]: () => store.close(),
    });
    // the rooms, and 100,000 memberships of people offline (what the member counts count)
    await psql(
      engine.url,
      `INSERT INTO rooms (name, created_at) SELECT '#r' || g, 0
           FROM generate_series(1, ${DEFAULT_MAX_ROOMS - 1}) g;
         INSERT INTO room_members (user_id, room, joined_at)
           SELECT 'off' || (g % 5000), '#r' || (g % ${DEFAULT_MAX_ROOMS - 1} + 1), 0
           FROM generate_series(1, 100000) g ON CONFLICT DO NOTHING`,
    );
    const network = new MemoryNetwork();
    const bus = network.bus();
    const node = world({
      store: store as unknown as SqliteStore,
      cluster: { bus, store, node: "n1" },
    });
    assert.equal(node.hub.rooms.size, DEFAULT_MAX_ROOMS);
    const users = Array.from({ length: ONLINE }, (_, i) => node.join(`u${i}`));
    // each in 20 rooms as the store has it now; a tenth of them out of #general (kicked while
    // the bus was away), and a topic set in a thousand rooms
    await psql(
      engine.url,
      `INSERT INTO room_members (user_id, room, joined_at)
           SELECT u.id, '#r' || (abs(hashtext(u.id)) % 9000 + k), 0
           FROM identities u, generate_series(1, ${ROOMS_EACH}) k ON CONFLICT DO NOTHING;
         DELETE FROM room_members WHERE room = '${GENERAL_ROOM}'
           AND user_id IN (SELECT id FROM identities ORDER BY id LIMIT ${ONLINE / 10});
         UPDATE rooms SET topic = 'new', topic_by = 'off1', topic_at = 1
           WHERE name IN (SELECT '#r' || g FROM generate_series(1, 1000) g)`,
    );
    const resync = new Resync({
      store,
      rooms: node.hub.rooms,
      moderation: node.hub.moderation,
      later: (fn, ms) => setTimeout(fn, ms),
    });
    const runs = [];
    for (let run = 0; run < 3; run++) {
      resync.request();
      while (resync.running) await new Promise((r) => setTimeout(r, 5));
      runs.push(resync.last!);
    }
    for (const r of runs) {
      console.log(
        `resync: ${r.rooms} rooms read and mended in ${r.firstMs.toFixed(1)} ms (one step; ` +
          `the read ${r.readMs.toFixed(1)} ms); ` +
          `${r.users} users' rooms in ${r.slices} slices of at most ${r.sliceMs.toFixed(1)} ms; ` +
          `${r.totalMs.toFixed(0)} ms in all; ${r.outOf} put out`,
      );
    }
    assert.equal(runs[0].rooms, DEFAULT_MAX_ROOMS);
    assert.ok(runs.every((r) => r.slices > 1), "the per-user reads go in slices");
    assert.equal(runs[0].outOf, ONLINE / 10, "those out of #general are out of it here");
    assert.equal(runs[1].outOf, 0, "and only once");
    assert.equal(users.filter((u) => node.hub.rooms.isIn(u.id, GENERAL_ROOM)).length, 900);
    assert.equal(node.hub.rooms.info("#r1")?.topic, "new");
  },
});
