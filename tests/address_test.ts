// Unit tests for src/server/address.ts: the key per-address limits count under.
//
// Run: deno test -A tests/address_test.ts

import assert from "node:assert/strict";
import { addressKey } from "../src/server/address.ts";

Deno.test("addressKey: IPv4 alone; IPv4-mapped IPv6 as its IPv4 address", () => {
  assert.equal(addressKey("127.0.0.1"), "127.0.0.1");
  assert.equal(addressKey("::ffff:10.0.0.7"), "10.0.0.7");
  assert.equal(addressKey("::FFFF:10.0.0.7"), "10.0.0.7");
  assert.equal(addressKey(undefined), "?");
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
