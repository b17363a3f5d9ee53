/**
 * The key per-address limits are counted under. An IPv4 address counts alone; an IPv6 address by
 * its /64, since one host is routinely handed a whole /64 and could otherwise pick a new address
 * for every connection (as ergo and InspIRCd do). An IPv4-mapped IPv6 address is its IPv4 one.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return "?";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (!address.includes(":")) return address;
  const groups = expandIpv6(address.replace(/%.*$/, ""));
  if (!groups) return address;
  // IPv4-mapped however written (::ffff:102:304, 0:0:0:0:0:ffff:1.2.3.4): its IPv4 address
  if (groups.slice(0, 5).every((g) => g === "0") && groups[5] === "ffff") {
    const [high, low] = [parseInt(groups[6], 16), parseInt(groups[7], 16)];
    return [high >> 8, high & 255, low >> 8, low & 255].join(".");
  }
  return `${groups.slice(0, 4).join(":")}::/64`;
}

/**
 * The key of an address as an operator types it for a ban: an IPv4 address, an IPv6 address (its
 * /64), or a /64 as {@link addressKey} writes it; null when it is none of these.
 */
export function parseAddress(typed: string): string | null {
  const text = typed.replace(/\/64$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  const v4 = mapped ? mapped[1] : text;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(v4)) {
    if (typed.endsWith("/64")) return null;
    const octets = v4.split(".").map(Number);
    return octets.every((o) => o <= 255) ? octets.join(".") : null;
  }
  if (!text.includes(":") || expandIpv6(text) === null) return null;
  const key = addressKey(text);
  // an IPv4-mapped one written in hex is its IPv4 address, which has no /64
  return typed.endsWith("/64") && !key.includes(":") ? null : key;
}

/** The eight 16-bit groups of an IPv6 address, lower-case without leading zeros; null if malformed. */
function expandIpv6(address: string): string[] | null {
  const halves = address.toLowerCase().split("::");
  if (halves.length > 2) return null;
  const split = (part: string) => (part === "" ? [] : part.split(":"));
  const head = split(halves[0]);
  const tail = halves.length === 2 ? split(halves[1]) : [];
  // a trailing dotted quad is two groups
  const last = (tail.length ? tail : head).at(-1);
  if (last?.includes(".")) {
    const octets = last.split(".").map(Number);
    if (octets.length !== 4 || octets.some((o) => !(o >= 0 && o <= 255))) return null;
    const list = tail.length ? tail : head;
    list.splice(
      -1,
      1,
      ((octets[0] << 8) | octets[1]).toString(16),
      ((octets[2] << 8) | octets[3]).toString(16),
    );
  }
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => parseInt(g, 16).toString(16));
}
