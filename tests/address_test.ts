// Unit tests for src/server/address.ts: the key per-address limits count under.
//
// Run: deno test -A --lock=deno.dev.lock tests/address_test.ts

import assert from "node:assert/strict";
import { addressKey, parseAddress } from "../src/server/address.ts";
import { FakePeer, world } from "./fixtures.ts";

Deno.test("addressKey: IPv4 alone; IPv4-mapped IPv6 as its IPv4 address", () => {
  assert.equal(addressKey("127.0.0.1"), "127.0.0.1");
  assert.equal(addressKey("::ffff:10.0.0.7"), "10.0.0.7");
  assert.equal(addressKey("::FFFF:10.0.0.7"), "10.0.0.7");
  assert.equal(addressKey(undefined), "?");
});

Deno.test("addressKey, parseAddress: an IPv4-mapped address written in hex or in full is its IPv4 address, not the ::/64", () => {
  // before: 0:0:0:0::/64, which no client's key ever is (theirs is the IPv4 address), so a ban
  // typed that way was taken, listed, and banned nobody
  for (const typed of ["::ffff:a00:3", "::FFFF:0A00:0003", "0:0:0:0:0:ffff:10.0.0.3"]) {
    assert.equal(addressKey(typed), "10.0.0.3", typed);
    assert.equal(parseAddress(typed), "10.0.0.3", typed);
  }
  assert.equal(parseAddress("::ffff:a00:3/64"), null, "an IPv4 address has no /64");
  // nothing else moves: ::1 and the other IPv6 keys, IPv4 itself
  assert.equal(parseAddress("::1"), "0:0:0:0::/64");
  assert.equal(addressKey("::fffe:a00:3"), "0:0:0:0::/64");
  assert.equal(addressKey("1:0:0:0:0:ffff:a00:3"), "1:0:0:0::/64");
  assert.equal(parseAddress("10.0.0.3"), "10.0.0.3");
});

Deno.test("a server-wide ban on an address typed as IPv4-mapped hex turns that address away, in either form, and nobody else", () => {
  const w = world();
  const root = w.join("root", {}, "10.0.0.9");
  w.store.addServerOperator(root.id, 0);
  const carol = w.join("carol", {}, "10.0.0.3");
  const other = w.join("other", {}, "10.0.0.4");
  const banned = w.ask(root, { type: "ban", address: "::ffff:a00:3" });
  assert.equal(banned.type, "moderation");
  assert.equal((banned as { address?: string }).address, "10.0.0.3");
  assert.equal(carol.closed?.reason, "banned");
  for (const address of ["10.0.0.3", "::ffff:10.0.0.3"]) {
    const peer = new FakePeer("dave", address);
    w.say(peer, { type: "hello", name: "dave" });
    assert.equal(peer.of("error")[0]?.code, "banned", address);
  }
  assert.equal(other.closed, undefined);
  w.join("erin", {}, "10.0.0.4");
});

Deno.test("addressKey: IPv6 by its /64, however it is written", () => {
  const key = "2001:db8:1:2::/64";
  for (
    const address of [
      "2001:db8:1:2:3:4:5:6",
      "2001:0db8:0001:0002:ffff::1",
      "2001:DB8:1:2::",
      "2001:db8:1:2::1.2.3.4",
      "2001:db8:1:2:0:0:0:9%eth0",
    ]
  ) assert.equal(addressKey(address), key, address);
  assert.equal(addressKey("2001:db8:1:3::1"), "2001:db8:1:3::/64", "another /64");
  assert.equal(addressKey("::1"), "0:0:0:0::/64");
  assert.equal(addressKey("2001:db8::"), "2001:db8:0:0::/64");
});

Deno.test("addressKey: something that is not an address is its own key", () => {
  for (const address of ["1:2:3", "1::2::3", "g::1", "1:2:3:4:5:6:7:8:9"]) {
    assert.equal(addressKey(address), address);
  }
});
