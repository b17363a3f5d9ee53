// Unit tests for src/server/admission.ts on its own (no hub): what a `hello` comes to — a new id,
// a returning one (its token rotated, or a second session), or a refusal with its code, reason,
// words and delay — on a real in-memory store, the injected clock and injected id digits.
//
// Beyond tests/hub_test.ts: TOKEN_REUSE_GRACE_MS to the millisecond, the lastSeq a returning
// identity brings (where its backlog starts), the session a fork or a rotation leaves in the
// store, a revoked token refused before the password is looked at, a valid token with a wrong
// password still refused, the allowance of new ids refilling on the clock and surviving a prune,
// no limit at 0, `full` when every id is taken, and the store failing at each step (token lookup,
// fork, revoking) with what is logged.
//
// Run: deno test -A --lock=deno.dev.lock tests/admission_test.ts

import assert from "node:assert/strict";
import {
  type Admission,
  type AdmissionOptions,
  Admissions,
  ID_TAKEN_RETRIES,
  MAX_SESSIONS_PER_USER,
  TOKEN_REUSE_GRACE_MS,
} from "../src/server/admission.ts";
import { IdTakenError } from "../src/server/store/store.ts";
import { hashToken } from "../src/server/identity.ts";
import { PASSWORD_DELAY_MS } from "../src/server/password.ts";
import { StoreHealth } from "../src/server/store/health.ts";
import { SqliteStore } from "../src/server/store/sqlite.ts";
import type { Hello } from "../src/protocol/schema.ts";
import { FakePeer, T0, testLog } from "./fixtures.ts";

function setup(options: Partial<AdmissionOptions> = {}) {
  const clock = { t: T0 };
  const store = new SqliteStore(":memory:");
  const { log, lines } = testLog(() => clock.t);
  let n = 0;
  const admissions = new Admissions({
    store,
    health: new StoreHealth(log, () => clock.t),
    now: () => clock.t,
    digits: () => String(++n).padStart(4, "0"),
    log,
    newIdsPerAddressPerHour: 0,
    ...options,
  });
  /** A hello from `address` (default 10.0.0.1). */
  const admit = (hello: Omit<Hello, "type">, address = "10.0.0.1") =>
    admissions.admit(new FakePeer(hello.name, address), { type: "hello", ...hello });
  return { admissions, store, clock, lines, admit };
}

function admitted(admission: Admission) {
  assert.ok(admission.ok, `refused: ${JSON.stringify(admission)}`);
  return admission;
}

function refused(admission: Admission) {
  assert.ok(!admission.ok, `admitted: ${JSON.stringify(admission)}`);
  return admission;
}

Deno.test("admission: a newcomer gets a new id, a token stored only as its hash, and a first session from its address", () => {
  const { store, admit } = setup();
  const first = admitted(admit({ name: "tom" }, "10.0.0.5"));
  assert.equal(first.returning, false);
  assert.equal(first.identity.id, "tom_0001");
  assert.equal(first.identity.lastSeq, 0);
  assert.match(first.token, /^[A-Za-z0-9_-]{43}$/);
  const match = store.sessionByToken("tom", hashToken(first.token));
  assert.equal(match?.session.id, first.sessionId);
  assert.equal(match?.session.address, "10.0.0.5");
  assert.equal(match?.previous, false);
  assert.equal(store.sessionByToken("tom", first.token), null, "not stored as it is");
  assert.equal(admitted(admit({ name: "tom" })).identity.id, "tom_0002", "no token: a new id");
});

Deno.test("admission: a returning user keeps the id and the session, brings its lastSeq, and the token rotates", () => {
  const { store, clock, admit } = setup();
  const first = admitted(admit({ name: "tom" }));
  store.setLastSeq("tom_0001", 17);
  clock.t += 5_000;
  const back = admitted(admit({ name: "tom", token: first.token }, "10.0.0.9"));
  assert.equal(back.returning, true);
  assert.equal(back.identity.id, "tom_0001");
  assert.equal(back.identity.lastSeq, 17, "where its backlog starts");
  assert.equal(back.sessionId, first.sessionId);
  assert.notEqual(back.token, first.token);
  const [session] = store.sessions("tom_0001");
  assert.deepEqual(
    { lastSeenAt: session.lastSeenAt, address: session.address },
    { lastSeenAt: T0 + 5_000, address: "10.0.0.9" },
  );
  // the name must match the token's
  assert.equal(admitted(admit({ name: "alice", token: back.token })).identity.id, "alice_0002");
});

Deno.test("admission: a replaced token opens a second session up to TOKEN_REUSE_GRACE_MS after the rotation, to the millisecond; later it is refused and logged", () => {
  const { store, clock, lines, admit } = setup();
  const t0 = admitted(admit({ name: "tom" })).token;
  clock.t += 1_000;
  const rotation = admitted(admit({ name: "tom", token: t0 }));
  const rotatedAt = clock.t;
  clock.t = rotatedAt + TOKEN_REUSE_GRACE_MS;
  const fork = admitted(admit({ name: "tom", token: t0 }));
  assert.equal(fork.identity.id, "tom_0001");
  assert.notEqual(fork.sessionId, rotation.sessionId, "a second session");
  assert.equal(store.sessions("tom_0001").length, 2);
  assert.match(
    lines.join("\n"),
    /WARN {2}a replaced token was presented again; it opens a second session id=tom_0001 address=10\.0\.0\.1/,
  );
  clock.t = rotatedAt + TOKEN_REUSE_GRACE_MS + 1;
  const late = admitted(admit({ name: "tom", token: t0 }));
  assert.equal(late.returning, false);
  assert.notEqual(late.identity.id, "tom_0001");
  assert.match(lines.join("\n"), /WARN {2}an old token was presented; refused id=tom_0001/);
  // the current tokens of both sessions still work
  assert.equal(admitted(admit({ name: "tom", token: rotation.token })).identity.id, "tom_0001");
  assert.equal(admitted(admit({ name: "tom", token: fork.token })).identity.id, "tom_0001");
});

Deno.test("admission: sessions lists the current one as current; logoutOthers revokes the rest, whose tokens are then refused as revoked", () => {
  const { admissions, store, clock, lines, admit } = setup();
  const laptop = admitted(admit({ name: "tom" }));
  clock.t += 1;
  const phone = admitted(admit({ name: "tom", token: laptop.token })); // rotates laptop's
  const thief = admitted(admit({ name: "tom", token: laptop.token })); // the replaced one: a fork
  const user = { id: "tom_0001", name: "tom" };
  const listed = admissions.sessions(user, phone.sessionId);
  assert.deepEqual(listed.map((s) => s.current).sort(), [false, true]);
  assert.equal(listed.find((s) => s.current)?.id, phone.sessionId);
  assert.ok(listed.every((s) => s.address === "10.0.0.1" && typeof s.createdAt === "number"));
  assert.equal(admissions.logoutOthers(user, phone.sessionId, "10.0.0.1"), true);
  assert.deepEqual(store.sessions("tom_0001").map((s) => s.id), [phone.sessionId]);
  assert.match(
    lines.join("\n"),
    /INFO {2}sessions revoked id=tom_0001 count=1 address=10\.0\.0\.1/,
  );
  const back = refused(admit({ name: "tom", token: thief.token }));
  assert.deepEqual(
    { code: back.code, reason: back.reason, delayMs: back.delayMs },
    { code: "revoked", reason: "revoked", delayMs: 0 },
  );
  assert.match(back.message, /signed out from another session \(logout-others\)/);
  assert.match(lines.join("\n"), /WARN {2}a revoked token was presented; refused id=tom_0001/);
  assert.equal(admitted(admit({ name: "tom", token: phone.token })).sessionId, phone.sessionId);
});

Deno.test("admission: at most MAX_SESSIONS_PER_USER sessions are kept when forks open more", () => {
  const { store, clock, admit } = setup();
  let token = admitted(admit({ name: "tom" })).token;
  for (let i = 0; i < MAX_SESSIONS_PER_USER + 3; i++) {
    clock.t += 1;
    const replaced = token;
    token = admitted(admit({ name: "tom", token })).token;
    admitted(admit({ name: "tom", token: replaced }));
  }
  assert.equal(store.sessions("tom_0001").length, MAX_SESSIONS_PER_USER);
});

Deno.test("admission: with a password: missing and wrong are refused (wrong after PASSWORD_DELAY_MS); a valid token does not stand in for it", () => {
  const { admit } = setup({ password: "hunter2" });
  const missing = refused(admit({ name: "tom" }));
  assert.deepEqual([missing.code, missing.reason, missing.delayMs], [
    "bad_password",
    "bad_password",
    0,
  ]);
  assert.match(missing.message, /needs a password/);
  const right = admitted(admit({ name: "tom", password: "hunter2" }, "10.0.0.2"));
  const wrong = refused(admit({ name: "tom", token: right.token, password: "hunter3" }));
  assert.deepEqual(
    [wrong.code, wrong.message, wrong.delayMs],
    ["bad_password", "wrong password", PASSWORD_DELAY_MS],
  );
  // the right one from an address still waiting out its delay: refused unchecked, at once
  const early = refused(admit({ name: "tom", token: right.token, password: "hunter2" }));
  assert.equal(early.delayMs, 0);
  assert.match(early.message, /try again in 1 s/);
});

Deno.test("admission: a revoked token is refused as revoked before any password is looked at", () => {
  const { admissions, clock, admit } = setup({ password: "hunter2" });
  const first = admitted(admit({ name: "tom", password: "hunter2" }));
  clock.t += 1;
  const second = admitted(admit({ name: "tom", token: first.token, password: "hunter2" }));
  const fork = admitted(admit({ name: "tom", token: first.token, password: "hunter2" }));
  admissions.logoutOthers({ id: "tom_0001", name: "tom" }, second.sessionId);
  const back = refused(admit({ name: "tom", token: fork.token, password: "wrong" }));
  assert.equal(back.code, "revoked");
  assert.equal(back.delayMs, 0, "no wrong-password delay: the password was not checked");
});

Deno.test("admission: new ids per address: the allowance refills on the clock, a prune keeps what is spent, returning users are not charged", () => {
  const { admissions, clock, lines, admit } = setup({ newIdsPerAddressPerHour: 2 });
  const a = admitted(admit({ name: "a" }));
  admitted(admit({ name: "b" }));
  const over = refused(admit({ name: "c" }));
  assert.deepEqual([over.code, over.reason, over.delayMs], ["rate_limited", "too_many_ids", 0]);
  assert.match(over.message, /too many new ids from your address \(at most 2 an hour\)/);
  assert.equal(admitted(admit({ name: "a", token: a.token })).returning, true);
  assert.equal(admitted(admit({ name: "d" }, "10.0.0.2")).returning, false, "another address");
  admissions.prune(clock.t);
  clock.t += 30 * 60_000 - 1;
  refused(admit({ name: "c" }));
  clock.t += 1; // 2 an hour: one every 30 minutes
  assert.equal(admitted(admit({ name: "c" })).identity.name, "c");
  assert.deepEqual(lines.filter((l) => /too_many_ids/.test(l)), [], "counted, not logged each");
});

Deno.test("admission: newIdsPerAddressPerHour 0 is no limit", () => {
  const { admit } = setup({ newIdsPerAddressPerHour: 0 });
  for (let i = 0; i < 200; i++) admitted(admit({ name: `n${i}` }));
});

Deno.test("admission: a name whose every id is taken is refused as full", () => {
  const { store, admit } = setup();
  // a store that says every id was issued (10^4 + … + 10^8 of them cannot be made here)
  store.canonicalId = (id) => id;
  const full = refused(admit({ name: "max" }));
  assert.deepEqual([full.code, full.reason], ["full", "full"]);
  assert.match(full.message, /every id for the name max has been issued; pick another name/);
});

Deno.test("admission: a store that cannot look up tokens refuses with unavailable; one that cannot issue ids too, said once, and its recovery", () => {
  const { store, lines, admit } = setup();
  const tom = admitted(admit({ name: "tom" }));
  const lookup = store.sessionByToken.bind(store);
  store.sessionByToken = () => {
    throw new Error("disk I/O error");
  };
  const noLookup = refused(admit({ name: "tom", token: tom.token }));
  assert.deepEqual([noLookup.code, noLookup.reason], ["unavailable", "unavailable"]);
  assert.match(noLookup.message, /cannot read its database just now/);
  assert.match(lines.join("\n"), /ERROR could not look up a token cause="disk I\/O error"/);
  store.sessionByToken = lookup;
  const create = store.createIdentity.bind(store);
  store.createIdentity = () => {
    throw new Error("database or disk is full");
  };
  for (const name of ["eve", "ann"]) {
    const noId = refused(admit({ name }));
    assert.deepEqual([noId.code, noId.reason], ["unavailable", "unavailable"]);
    assert.match(noId.message, /cannot issue new ids just now/);
  }
  assert.equal(
    lines.filter((l) => /failed while issuing a new id/.test(l)).length,
    1,
    "said once while it lasts",
  );
  store.createIdentity = create;
  admitted(admit({ name: "eve" }));
  assert.match(lines.at(-1)!, /INFO {2}the history database works again refused=2/);
});

Deno.test("admission: a token that cannot rotate stays good; a copy that cannot fork is refused", () => {
  const { store, clock, admit } = setup();
  const first = admitted(admit({ name: "tom" }));
  clock.t += 1;
  const second = admitted(admit({ name: "tom", token: first.token }));
  const full = () => {
    throw new Error("database or disk is full");
  };
  store.rotateSession = full;
  store.createSession = full;
  const again = admitted(admit({ name: "tom", token: second.token }));
  assert.deepEqual(
    [again.token, again.sessionId, again.returning],
    [second.token, second.sessionId, true],
  );
  // a welcome must never hand out the replaced token: it lapses with its grace
  const fork = admit({ name: "tom", token: first.token });
  assert.ok(!fork.ok);
  assert.equal(fork.code, "unavailable");
  assert.match(fork.message, /cannot sign you in just now/);
  assert.equal(store.sessions("tom_0001").length, 1, "no second session was made");
});

Deno.test("admission: logoutOthers on a store that fails says false and logs the failure", () => {
  const { admissions, store, lines, admit } = setup();
  const tom = admitted(admit({ name: "tom" }));
  store.revokeOtherSessions = () => {
    throw new Error("database is locked");
  };
  assert.equal(admissions.logoutOthers({ id: "tom_0001", name: "tom" }, tom.sessionId), false);
  assert.match(
    lines.join("\n"),
    /ERROR the history database failed while revoking sessions; .* cause="database is locked"/,
  );
});

Deno.test("admission: once the store works again, the copy (within its grace) opens its session and its token lasts", () => {
  const { store, clock, admit } = setup();
  const first = admitted(admit({ name: "tom" }));
  clock.t += 1;
  admitted(admit({ name: "tom", token: first.token })); // first.token is replaced now
  const create = store.createSession.bind(store);
  store.createSession = () => {
    throw new Error("database or disk is full");
  };
  assert.ok(!admit({ name: "tom", token: first.token }).ok);
  store.createSession = create;
  const again = admitted(admit({ name: "tom", token: first.token }));
  assert.equal(again.identity.id, "tom_0001");
  clock.t += TOKEN_REUSE_GRACE_MS + 1;
  const later = admitted(admit({ name: "tom", token: again.token }));
  assert.equal(later.identity.id, "tom_0001", "the token its welcome gave lasts");
});

Deno.test("admission: an id another node issued at the same moment (IdTakenError) makes it pick another; after ID_TAKEN_RETRIES it asks to try again, the store not blamed", () => {
  const { store, lines, admit } = setup();
  const create = store.createIdentity.bind(store);
  let races = 1;
  store.createIdentity = (identity, address) => {
    if (races-- > 0) throw new IdTakenError(identity.id);
    return create(identity, address);
  };
  const tom = admitted(admit({ name: "tom" }));
  assert.equal(tom.identity.id, "tom_0002", "the first pick was taken; the next one was issued");
  races = ID_TAKEN_RETRIES;
  const unlucky = refused(admit({ name: "ann" }));
  assert.deepEqual([unlucky.code, unlucky.reason], ["unavailable", "unavailable"]);
  assert.match(unlucky.message, /could not find a free id for ann just now; try again/);
  assert.equal(lines.filter((l) => /failed while issuing/.test(l)).length, 0);
  admitted(admit({ name: "ann" }));
});
