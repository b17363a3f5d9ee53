// Unit tests for src/server/limiters.ts on its own (no hub): the send and search limits, per user
// and per address, on the injected clock; the strikes that cut a flood; pruning.
//
// Beyond tests/hub_test.ts: the refusal's words for each limit, that a request refused per user
// spends nothing of its address's allowance, that one allowed request clears the strikes, that
// the cut runs `beforeCut` first and sends no error of its own, the default per-address rate
// (ADDRESS_RATE_FACTOR × the user's), send and search spending from separate buckets, searches
// refilling at SEARCHES_PER_MINUTE, a rate of 0 turning the send limit off, and a prune that
// forgets nothing still spent.
//
// Run: deno test -A --lock=deno.dev.lock tests/limiters_test.ts

import assert from "node:assert/strict";
import {
  DEFAULT_MAX_RATE,
  Limiters,
  type LimitersOptions,
  type LimitKind,
  MAX_RATE_STRIKES,
  SEARCH_ADDRESS_BURST,
  SEARCH_BURST,
  SEARCHES_PER_MINUTE,
} from "../src/server/limiters.ts";
import { ADDRESS_RATE_FACTOR } from "../src/server/limits.ts";
import { burstFor } from "../src/server/rate.ts";
import { FakePeer, T0, testLog } from "./fixtures.ts";

function limiters(options: LimitersOptions = {}) {
  const clock = { t: T0 };
  const { log, lines } = testLog(() => clock.t);
  const cuts: string[] = [];
  const limits = new Limiters({
    now: () => clock.t,
    log,
    beforeCut: () => cuts.push("beforeCut"),
    ...options,
  });
  /** `n` requests of `kind` from `peer` as `user`: how many were allowed. */
  const spend = (kind: LimitKind, peer: FakePeer, user: string, n: number) => {
    let allowed = 0;
    for (let i = 0; i < n; i++) if (limits.allow(kind, peer, user, `r${i}`)) allowed++;
    return allowed;
  };
  return { limits, clock, log, lines, cuts, spend };
}

Deno.test("limiters: a burst of burstFor(rate) sends, then refused with the rate in words, then one more per 1/rate s", () => {
  const { clock, spend } = limiters({ maxRate: 2, maxRatePerAddress: 0 });
  const peer = new FakePeer("tom", "10.0.0.1");
  assert.equal(spend("send", peer, "tom_0001", burstFor(2) + 3), burstFor(2));
  assert.deepEqual(peer.of("error").map((e) => [e.ref, e.code]), [
    ["r20", "rate_limited"],
    ["r21", "rate_limited"],
    ["r22", "rate_limited"],
  ]);
  assert.equal(
    peer.of("error")[0].message,
    "slow down: at most 2 messages a second; that request was refused",
  );
  clock.t += 499;
  assert.equal(spend("send", peer, "tom_0001", 1), 0, "not yet half a second");
  clock.t += 1;
  assert.equal(spend("send", peer, "tom_0001", 2), 1, "half a second: one");
});

Deno.test("limiters: with no options, sends are limited at DEFAULT_MAX_RATE per user and ADDRESS_RATE_FACTOR times that per address", () => {
  const { spend } = limiters();
  const burst = burstFor(DEFAULT_MAX_RATE);
  assert.equal(spend("send", new FakePeer("a", "10.0.0.1"), "a_0001", burst + 5), burst);
  // other users at the same address, each within their own burst, until the address's is spent
  const addressBurst = burstFor(DEFAULT_MAX_RATE * ADDRESS_RATE_FACTOR);
  let allowed = burst;
  for (let i = 2; i < 100; i++) {
    const got = spend("send", new FakePeer(`u${i}`, "10.0.0.1"), `u${i}_0001`, burst);
    if (got === 0) break;
    allowed += got;
  }
  assert.equal(allowed, addressBurst, "the address's burst, whatever the number of ids");
  const late = new FakePeer("late", "10.0.0.1");
  spend("send", late, "late_0001", 1);
  assert.match(
    late.of("error")[0].message,
    new RegExp(
      `at most ${DEFAULT_MAX_RATE * ADDRESS_RATE_FACTOR} messages a second from one address`,
    ),
  );
  // another address is not held back
  assert.equal(spend("send", new FakePeer("b", "10.0.0.2"), "b_0001", 1), 1);
});

Deno.test("limiters: an IPv6 address is limited by its /64", () => {
  const { spend } = limiters({ maxRate: 0, maxRatePerAddress: 1 });
  const burst = burstFor(1);
  assert.equal(spend("send", new FakePeer("a", "2001:db8::1"), "a_0001", burst), burst);
  assert.equal(spend("send", new FakePeer("b", "2001:db8::ffff:2"), "b_0001", 1), 0, "same /64");
  assert.equal(spend("send", new FakePeer("c", "2001:db8:0:1::1"), "c_0001", 1), 1, "next /64");
});

Deno.test("limiters: a request refused per user spends nothing of its address's allowance", () => {
  // per user: a burst of 20; per address: a burst of 50
  const { spend } = limiters({ maxRate: 1, maxRatePerAddress: 10 });
  const hog = new FakePeer("hog", "10.0.0.1");
  assert.equal(spend("send", hog, "hog_0001", 20 + 40), 20, "its own burst, then 40 refusals");
  assert.ok(hog.of("error").every((e) => /at most 1 messages a second;/.test(e.message)));
  // the address still has 30 for the others there
  const b = new FakePeer("b", "10.0.0.1");
  const c = new FakePeer("c", "10.0.0.1");
  assert.equal(spend("send", b, "b_0001", 20) + spend("send", c, "c_0001", 20), 30);
  assert.match(c.of("error")[0].message, /at most 10 messages a second from one address/);
});

Deno.test("limiters: MAX_RATE_STRIKES refusals in a row cut the connection, after beforeCut, without an error of its own", () => {
  const { limits, spend, cuts, lines } = limiters({ maxRate: 1, maxRatePerAddress: 0 });
  const peer = new FakePeer("flood", "10.0.0.7");
  const closeOrder: string[] = [];
  const close = peer.close.bind(peer);
  peer.close = (reason, message) => {
    closeOrder.push(...cuts, "close");
    close(reason, message);
  };
  assert.equal(spend("send", peer, "flood_0001", 20 + MAX_RATE_STRIKES - 1), 20);
  assert.equal(peer.closed, undefined, "one strike short");
  assert.equal(peer.strikes, MAX_RATE_STRIKES - 1);
  assert.equal(limits.allow("send", peer, "flood_0001", "last"), false);
  assert.deepEqual(peer.closed, {
    reason: "flood",
    message: "too many messages too fast; disconnected",
  });
  assert.deepEqual(closeOrder, ["beforeCut", "close"], "what came before is flushed first");
  assert.equal(peer.of("error").length, MAX_RATE_STRIKES - 1, "the cut itself sends no error");
  assert.match(lines.join("\n"), /WARN {2}cut for flooding id=flood_0001 address=10\.0\.0\.7/);
});

Deno.test("limiters: one allowed request clears the strikes", () => {
  const { clock, spend } = limiters({ maxRate: 1, maxRatePerAddress: 0 });
  const peer = new FakePeer("tom");
  spend("send", peer, "tom_0001", 20 + MAX_RATE_STRIKES - 1);
  clock.t += 1_000;
  assert.equal(spend("send", peer, "tom_0001", 1), 1);
  assert.equal(peer.strikes, 0);
  assert.equal(spend("send", peer, "tom_0001", MAX_RATE_STRIKES - 1), 0);
  assert.equal(peer.closed, undefined, "never MAX_RATE_STRIKES in a row");
});

Deno.test("limiters: searches: SEARCH_BURST per user, one more every 60/SEARCHES_PER_MINUTE s, with words of their own", () => {
  const { clock, spend } = limiters();
  const peer = new FakePeer("tom", "10.0.0.1");
  assert.equal(spend("search", peer, "tom_0001", SEARCH_BURST + 1), SEARCH_BURST);
  assert.equal(
    peer.of("error")[0].message,
    `slow down: at most ${SEARCHES_PER_MINUTE} searches a minute; that request was refused`,
  );
  const every = 60_000 / SEARCHES_PER_MINUTE;
  clock.t += every - 1;
  assert.equal(spend("search", peer, "tom_0001", 1), 0);
  clock.t += 1;
  assert.equal(spend("search", peer, "tom_0001", 1), 1);
});

Deno.test("limiters: searches per address: SEARCH_ADDRESS_BURST whatever the number of ids", () => {
  const { spend } = limiters();
  let allowed = 0;
  const peers = Array.from({ length: 10 }, (_, i) => new FakePeer(`s${i}`, "10.0.0.1"));
  peers.forEach((peer, i) => allowed += spend("search", peer, `s${i}_0001`, SEARCH_BURST));
  assert.equal(allowed, SEARCH_ADDRESS_BURST);
  assert.match(peers[9].of("error")[0].message, /searches a minute from one address/);
});

Deno.test("limiters: sends and searches spend from separate buckets", () => {
  const { spend } = limiters({ maxRate: 1 });
  const peer = new FakePeer("tom", "10.0.0.1");
  assert.equal(spend("send", peer, "tom_0001", 25), 20);
  assert.equal(spend("search", peer, "tom_0001", SEARCH_BURST), SEARCH_BURST, "sending spent none");
  assert.equal(spend("send", peer, "tom_0001", 1), 0, "searching refilled none");
});

Deno.test("limiters: a rate of 0 turns the send limit off (and the address's with it); searches stay limited", () => {
  const { spend } = limiters({ maxRate: 0 });
  const peer = new FakePeer("bot", "10.0.0.1");
  assert.equal(spend("send", peer, "bot_0001", 5_000), 5_000);
  assert.equal(peer.frames.length, 0);
  assert.equal(spend("search", peer, "bot_0001", SEARCH_BURST + 1), SEARCH_BURST);
});

Deno.test("limiters: prune forgets no bucket that is still spent; a refilled one comes back full", () => {
  const { limits, clock, spend } = limiters({ maxRate: 1, maxRatePerAddress: 0 });
  const peer = new FakePeer("tom");
  spend("send", peer, "tom_0001", 20);
  spend("search", peer, "tom_0001", SEARCH_BURST);
  limits.prune(clock.t);
  assert.equal(spend("send", peer, "tom_0001", 1), 0, "a prune is not a refill");
  assert.equal(spend("search", peer, "tom_0001", 1), 0);
  clock.t += 60_000;
  limits.prune(clock.t);
  assert.equal(spend("send", peer, "tom_0001", 21), 20, "a full burst again, no more");
});

Deno.test("limiters: each refusal is counted in the log's summary, not logged one by one", () => {
  const { log, spend, lines } = limiters({ maxRate: 1, maxRatePerAddress: 0 });
  spend("send", new FakePeer("tom", "10.0.0.3"), "tom_0001", 23);
  spend("search", new FakePeer("eve", "10.0.0.4"), "eve_0001", SEARCH_BURST + 2);
  assert.deepEqual(lines, [], "nothing per refusal");
  log.summarize();
  assert.equal(lines.length, 1);
  assert.match(
    lines[0],
    /WARN {2}refused reason=rate_limited count=5 addresses=2 busiest="10\.0\.0\.3 \(3\), 10\.0\.0\.4 \(2\)"/,
  );
});

Deno.test("limiters: a request refused per address spends nothing of its user's allowance", () => {
  const clock = { t: T0 };
  // per user: 1/s, a burst of 20; per address: 2/s, a burst of 20
  const limits = new Limiters({ maxRate: 1, maxRatePerAddress: 2, now: () => clock.t });
  const hog = new FakePeer("hog", "10.0.0.1");
  for (let i = 0; i < 20; i++) assert.ok(limits.allow("send", hog, "hog_0001", `h${i}`));
  // the address is spent: ann, behind the same NAT, is refused 20 times
  const ann = new FakePeer("ann", "10.0.0.1");
  for (let i = 0; i < 20; i++) assert.ok(!limits.allow("send", ann, "ann_0001", `a${i}`));
  // ten seconds on, the address has 20 again; ann never sent anything, so her own burst is whole
  clock.t += 10_000;
  let allowed = 0;
  for (let i = 0; i < 20; i++) if (limits.allow("send", ann, "ann_0001", `b${i}`)) allowed++;
  assert.equal(allowed, 20);
});
