// Micro-benchmarks of the pure routing decisions: resolving the recipients of a direct message
// among many online users, and the visibility check run for every message in search/history.
//
// Run: deno bench -A tests/bench/routing_bench.ts

import { canSee, resolveRecipients } from "../../src/server/routing.ts";

function users(n: number) {
  return Array.from(
    { length: n },
    (_, i) => ({ id: `user${i}_${1000 + (i % 9000)}`, name: `user${i}` }),
  );
}
const online100 = users(100);
const online10k = users(10_000);
const issued = new Set(online10k.map((u) => u.id));
const canonicalId = (id: string) => (issued.has(id) ? id : null);

Deno.bench("resolveRecipients: 1 name among 100 online", { group: "resolve" }, () => {
  resolveRecipients(["user42"], online100, canonicalId);
});

Deno.bench("resolveRecipients: 1 name among 10,000 online", { group: "resolve" }, () => {
  resolveRecipients(["user4242"], online10k, canonicalId);
});

Deno.bench("resolveRecipients: 32 ids among 10,000 online", { group: "resolve" }, () => {
  resolveRecipients(online10k.slice(0, 32).map((u) => u.id), online10k, canonicalId);
});

const publicMessage = { from: "a_0001" };
const direct = { from: "a_0001", to: online100.slice(0, 32).map((u) => u.id) };
Deno.bench("canSee: a public message", { group: "canSee" }, () => {
  canSee("b_0002", publicMessage);
});

Deno.bench("canSee: a direct message to 32, not among them", { group: "canSee" }, () => {
  canSee("b_0002", direct);
});
