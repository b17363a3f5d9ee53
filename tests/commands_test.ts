// Unit tests for src/client/commands.ts: an input line → an intent.
//
// Run: deno test -A tests/commands_test.ts

import assert from "node:assert/strict";
import {
  type CommandContext,
  COMMANDS,
  DEFAULT_TEMP_SECONDS,
  findCommand,
  helpText,
  type Intent,
  MAX_TEMP_SECONDS,
  parseDuration,
  parseInput,
  perform,
  splitRecipients,
} from "../src/client/commands.ts";
import { MAX_RECIPIENTS, MAX_TEXT_LENGTH, type ServerFrame } from "../src/protocol/schema.ts";
import { JOIN_HELP } from "../src/cli/args.ts";

function assertUsage(intent: Intent, pattern?: RegExp): void {
  assert.equal(intent.kind, "usage", `expected usage, got ${JSON.stringify(intent)}`);
  if (pattern && intent.kind === "usage") assert.match(intent.message, pattern);
}

/** A temp intent's fields, with an absent `to` shown as undefined either way. */
function temp(intent: Intent): { ttl: number; text: string; to?: string[] } {
  assert.equal(intent.kind, "temp", `expected temp, got ${JSON.stringify(intent)}`);
  if (intent.kind !== "temp") throw new Error("unreachable");
  return { ttl: intent.ttl, text: intent.text, to: intent.to };
}

// ---- plain text and direct messages -----------------------------------------------------------

Deno.test("parseInput: plain text is public", () => {
  assert.deepEqual(parseInput("hello world"), { kind: "send", text: "hello world" });
  assert.deepEqual(parseInput("  padded  "), { kind: "send", text: "padded" });
  assert.deepEqual(parseInput("mail me@example.com"), {
    kind: "send",
    text: "mail me@example.com",
  });
});

Deno.test("parseInput: an empty or blank line is nothing", () => {
  assert.deepEqual(parseInput(""), { kind: "none" });
  assert.deepEqual(parseInput("   \t "), { kind: "none" });
});

Deno.test("parseInput: @a @b text is direct to a and b", () => {
  assert.deepEqual(parseInput("@alice_1234 @bob hi there"), {
    kind: "send",
    to: ["alice_1234", "bob"],
    text: "hi there",
  });
  assert.deepEqual(parseInput("@bob   spaced"), { kind: "send", to: ["bob"], text: "spaced" });
});

Deno.test("parseInput: an @mention after the text does not make it direct", () => {
  assert.deepEqual(parseInput("hi @bob"), { kind: "send", text: "hi @bob" });
});

Deno.test("parseInput: @a with no text is a usage error", () => {
  assertUsage(parseInput("@alice"), /after the recipients/);
  assertUsage(parseInput("@alice @bob   "), /after the recipients/);
});

Deno.test("parseInput: a bare @ is a usage error", () => {
  assertUsage(parseInput("@ hello"), /after @/);
});

Deno.test("splitRecipients: recipients and the rest", () => {
  assert.deepEqual(splitRecipients("@a @b x y"), { to: ["a", "b"], text: "x y" });
  assert.deepEqual(splitRecipients("x y"), { text: "x y" });
  assert.deepEqual(splitRecipients("@a"), { to: ["a"], text: "" });
});

// ---- commands ---------------------------------------------------------------------------------

Deno.test("parseInput: /reply REF text and .reply", () => {
  assert.deepEqual(parseInput("/reply 7k2q sounds good"), {
    kind: "reply",
    ref: "7k2q",
    text: "sounds good",
  });
  assert.deepEqual(parseInput(".reply #7K2Q ok"), { kind: "reply", ref: "#7K2Q", text: "ok" });
  assertUsage(parseInput("/reply 7k2q"), /\/reply REF text/);
  assertUsage(parseInput("/reply"), /\/reply REF text/);
});

Deno.test("parseInput: /reply keeps multi-line text", () => {
  assert.deepEqual(parseInput("/reply ab12 line one\nline two"), {
    kind: "reply",
    ref: "ab12",
    text: "line one\nline two",
  });
});

Deno.test("parseInput: /delete REF and .delete", () => {
  assert.deepEqual(parseInput("/delete 7k2q"), { kind: "delete", ref: "7k2q" });
  assert.deepEqual(parseInput(".delete 7k2q"), { kind: "delete", ref: "7k2q" });
  assertUsage(parseInput("/delete"), /\/delete REF/);
  assertUsage(parseInput("/delete a b"), /\/delete REF/);
});

Deno.test("parseInput: /temp 30s text", () => {
  assert.deepEqual(temp(parseInput("/temp 30s gone soon")), {
    ttl: 30,
    text: "gone soon",
    to: undefined,
  });
  assert.deepEqual(temp(parseInput(".temp 30s gone soon")), {
    ttl: 30,
    text: "gone soon",
    to: undefined,
  });
});

Deno.test("parseInput: /temp text uses the default lifetime (60 s)", () => {
  assert.equal(DEFAULT_TEMP_SECONDS, 60);
  assert.deepEqual(temp(parseInput("/temp gone soon")), {
    ttl: 60,
    text: "gone soon",
    to: undefined,
  });
});

Deno.test("parseInput: /temp 5m @a text is direct", () => {
  assert.deepEqual(temp(parseInput("/temp 5m @alice_1234 @bob psst")), {
    ttl: 300,
    text: "psst",
    to: ["alice_1234", "bob"],
  });
  assert.deepEqual(temp(parseInput("/temp @bob psst")), { ttl: 60, text: "psst", to: ["bob"] });
});

Deno.test("parseInput: /temp units 2h and 1d, and the 1s..7d bounds", () => {
  assert.equal(temp(parseInput("/temp 2h x")).ttl, 7200);
  assert.equal(temp(parseInput("/temp 1d x")).ttl, 86400);
  assert.equal(temp(parseInput("/temp 1s x")).ttl, 1);
  assert.equal(temp(parseInput("/temp 7d x")).ttl, MAX_TEMP_SECONDS);
  assertUsage(parseInput("/temp 0s x"), /1s to 7d/);
  assertUsage(parseInput("/temp 8d x"), /1s to 7d/);
  assertUsage(parseInput("/temp 604801s x"), /1s to 7d/);
  // a bare number is a duration without its unit: refused with the likely meaning, never taken
  // as text with the default time (it was: "/temp 5 text" sent "5 text" for 60 s)
  assertUsage(parseInput("/temp 5 text"), /did you mean \/temp 5s …\?/);
  assertUsage(parseInput("/temp 3 little pigs"), /\/temp 60s 3 …/);
  assertUsage(parseInput("/temp 5"), /did you mean \/temp 5s/);
  // the way to send a number: the time first
  assert.deepEqual(temp(parseInput("/temp 60s 3 little pigs")), {
    ttl: 60,
    text: "3 little pigs",
    to: undefined,
  });
  // "3." is not a number: text
  assert.equal(temp(parseInput("/temp 3. is a number")).text, "3. is a number");
});

Deno.test("parseInput: /reconnect", () => {
  assert.deepEqual(parseInput("/reconnect"), { kind: "reconnect" });
});

Deno.test("parseInput: /temp 10x text is refused", () => {
  assertUsage(parseInput("/temp 10x text"), /not a duration/);
  assertUsage(parseInput("/temp 5mins text"), /not a duration/);
});

Deno.test("parseInput: /temp with nothing to send is a usage error", () => {
  assertUsage(parseInput("/temp"));
  assertUsage(parseInput("/temp 30s"));
  assertUsage(parseInput("/temp 30s @bob"));
});

Deno.test("parseInput: /search PATTERN and .search", () => {
  assert.deepEqual(parseInput("/search h(e|a)llo"), { kind: "search", pattern: "h(e|a)llo" });
  assert.deepEqual(parseInput(".search a b"), { kind: "search", pattern: "a b" });
  assertUsage(parseInput("/search"), /\/search PATTERN/);
});

Deno.test("parseInput: /who, /help, /exit, .exit and aliases", () => {
  assert.deepEqual(parseInput("/who"), { kind: "who" });
  assert.deepEqual(parseInput("/users"), { kind: "who" });
  assert.deepEqual(parseInput("/help"), { kind: "help" });
  assert.deepEqual(parseInput("/?"), { kind: "help" });
  assert.deepEqual(parseInput("/exit"), { kind: "exit" });
  assert.deepEqual(parseInput(".exit"), { kind: "exit" });
  assert.deepEqual(parseInput("/quit"), { kind: "exit" });
  assert.deepEqual(parseInput("  /EXIT  "), { kind: "exit" });
});

Deno.test("parseInput: /sessions and /logout-others (a hyphen in a command word)", () => {
  assert.deepEqual(parseInput("/sessions"), { kind: "sessions" });
  assert.deepEqual(parseInput("  /SESSIONS  "), { kind: "sessions" });
  assert.deepEqual(parseInput("/logout-others"), { kind: "logoutOthers" });
  assert.deepEqual(parseInput("/Logout-Others"), { kind: "logoutOthers" });
  // it cannot be undone: anything after it is a slip, refused with the usage
  assertUsage(parseInput("/logout-others now"), /usage: \/logout-others/);
  // not commands: a dotted spelling, a part of the word, a stray hyphen
  assert.deepEqual(parseInput(".sessions"), { kind: "send", text: ".sessions" });
  assertUsage(parseInput("/logout"), /unknown command \/logout;/);
  assertUsage(parseInput("/logout-"), /unknown command/);
  assertUsage(parseInput("/-others"), /unknown command/);
});

Deno.test("parseInput: ids of 5 to 8 digits are recipients like any other", () => {
  assert.deepEqual(parseInput("@tom_12345 @ann_12345678 hi"), {
    kind: "send",
    to: ["tom_12345", "ann_12345678"],
    text: "hi",
  });
  assert.deepEqual(parseInput("/temp 5m @tom_12345678 soon gone"), {
    kind: "temp",
    ttl: 300,
    to: ["tom_12345678"],
    text: "soon gone",
  });
});

Deno.test("parseInput: an unknown /command is a usage error, never sent", () => {
  assertUsage(parseInput("/foo"), /unknown command \/foo/);
  assertUsage(parseInput("/foo bar baz"), /unknown command \/foo/);
  assertUsage(parseInput("/"), /unknown command/);
  assertUsage(parseInput("/123"), /unknown command/);
  assertUsage(parseInput("/ tmp"), /unknown command/);
});

Deno.test("parseInput: //text sends /text", () => {
  assert.deepEqual(parseInput("//text"), { kind: "send", text: "/text" });
  assert.deepEqual(parseInput("//etc/passwd is a file"), {
    kind: "send",
    text: "/etc/passwd is a file",
  });
});

Deno.test("parseInput: dots that are not commands stay text", () => {
  assert.deepEqual(parseInput("..."), { kind: "send", text: "..." });
  assert.deepEqual(parseInput(".net is fun"), { kind: "send", text: ".net is fun" });
  assert.deepEqual(parseInput(".5 is a half"), { kind: "send", text: ".5 is a half" });
  assert.deepEqual(parseInput("."), { kind: "send", text: "." });
});

// ---- parseDuration ----------------------------------------------------------------------------

Deno.test("parseDuration: units are required", () => {
  assert.equal(parseDuration("30s"), 30);
  assert.equal(parseDuration("30"), null);
  assert.equal(parseDuration("5m"), 300);
  assert.equal(parseDuration("2h"), 7200);
  assert.equal(parseDuration("1d"), 86400);
  assert.equal(parseDuration("0s"), 0);
});

Deno.test("parseDuration: anything else is null", () => {
  for (const text of ["", "s", "10x", "1.5m", "-5s", "5 m", "5ms", "1w", "30S", "12345678"]) {
    assert.equal(parseDuration(text), null, text);
  }
});

// ---- the table and /help ----------------------------------------------------------------------

Deno.test("parseInput: dot spellings only for the original's commands, exactly", () => {
  assert.equal(parseInput(".exit").kind, "exit");
  assert.equal(parseInput(".reply abcd thanks").kind, "reply");
  assert.deepEqual(parseInput(".exit strategy"), { kind: "send", text: ".exit strategy" });
  assert.deepEqual(parseInput(".who is coming?"), { kind: "send", text: ".who is coming?" });
  assert.deepEqual(parseInput(".quit smoking"), { kind: "send", text: ".quit smoking" });
});

Deno.test("helpText lists every command in COMMANDS with its usage and help", () => {
  const text = helpText();
  for (const command of COMMANDS) {
    assert.ok(text.includes(command.usage), `${command.name} usage missing`);
    assert.ok(text.includes(command.help), `${command.name} help missing`);
  }
  assert.match(text, /@id/);
});

Deno.test("helpText(80): no line over 80 columns; every command still there", () => {
  const text = helpText(78);
  for (const line of text.split("\n")) assert.ok(line.length <= 78, line);
  const flat = text.replace(/\s+/g, " ");
  for (const command of COMMANDS) {
    assert.ok(text.includes(command.usage), `${command.name} usage missing`);
    assert.ok(flat.includes(command.help), `${command.name} help missing`);
  }
});

Deno.test("chat join --help lists the commands from the table, /sessions and /logout-others too", () => {
  for (const command of COMMANDS) assert.ok(JOIN_HELP.includes(command.usage), command.name);
  assert.match(JOIN_HELP, /\/sessions +list where you are signed in/);
  assert.match(JOIN_HELP, /\/logout-others +sign out all your other sessions/);
  // the table is indented by two: still within 80 columns
  assert.ok(JOIN_HELP.includes(helpText(78).replace(/^/gm, "  ")));
});

Deno.test("findCommand: names and aliases, any case", () => {
  for (const command of COMMANDS) {
    assert.equal(findCommand(command.name), command);
    assert.equal(findCommand(command.name.toUpperCase()), command);
    for (const alias of command.aliases) assert.equal(findCommand(alias), command);
  }
  assert.equal(findCommand("nope"), undefined);
});

Deno.test("COMMANDS: the design's commands are all there", () => {
  for (
    const name of [
      "reply",
      "delete",
      "temp",
      "search",
      "who",
      "sessions",
      "logout-others",
      "help",
      "exit",
    ]
  ) {
    assert.ok(findCommand(name), name);
  }
});

// ---- what each row does ------------------------------------------------------------------------

/** A context that records what the actions asked for; `shown` are the refs it knows. */
function recorder(shown: Record<string, string> = {}, reconnect = "retrying") {
  const did: string[] = [];
  const answers: ((frame: ServerFrame) => void)[] = [];
  const context: CommandContext = {
    send: (message) => void did.push(`send ${JSON.stringify(message)}`),
    request(request) {
      did.push(`request ${JSON.stringify(request)}`);
      return new Promise((resolve) => answers.push(resolve));
    },
    resolveRef: (typed) => {
      const id = shown[typed.replace(/^#/, "")];
      return id ? { ...MESSAGE, id, ref: typed.replace(/^#/, "") } : undefined;
    },
    here: () => "#general",
    reconnectNow: () => reconnect as "retrying" | "connected" | "busy",
    notice: (text) => void did.push(`notice ${text}`),
    error: (text) => void did.push(`error ${text}`),
    help: () => void did.push("help"),
    leave: () => void did.push("leave"),
  };
  const run = (line: string) => perform(parseInput(line), context);
  return { did, answers, run };
}

/** What the actions asked for, line after line. */
function doing(lines: string[], shown: Record<string, string> = {}): string[] {
  const { did, run } = recorder(shown);
  for (const line of lines) run(line);
  return did;
}

const MESSAGE = {
  type: "message" as const,
  id: "01JABCDEFGHJKMNPQRSTVWXYZ0",
  ref: "yz0",
  from: "ann_0001",
  text: "hi",
  time: 1,
};
const ID = "01JABCDEFGHJKMNPQRSTVWXYZ1";

Deno.test("perform: a line of text is sent, public or direct; nothing and usage do what they say", () => {
  assert.deepEqual(doing(["hello", "@ann_0001 @bob psst", "   ", "/nope"]), [
    'send {"text":"hello"}',
    'send {"text":"psst","to":["ann_0001","bob"]}',
    "error unknown command /nope; /help lists the commands",
  ]);
});

Deno.test("perform: /reply and /delete act on the message their ref names, or say it is not shown", () => {
  const lines = ["/reply #ab12 agreed", "/reply zz99 agreed", "/delete ab12", ".delete zz99"];
  assert.deepEqual(doing(lines, { ab12: ID }), [
    `send {"text":"agreed","replyTo":"${ID}"}`,
    "error no message with the ref zz99 is shown here",
    `request {"type":"delete","id":"${ID}"}`,
    "error no message with the ref zz99 is shown here",
  ]);
});

Deno.test("perform: a deletion is confirmed once the server acknowledges it, not on an error", async () => {
  const { did, answers, run } = recorder({ ab12: ID, cd34: MESSAGE.id });
  run("/delete ab12");
  run("/delete cd34");
  answers[0]({ type: "ack", ref: "r1", id: ID, time: 2 });
  answers[1]({ type: "error", ref: "r2", code: "not_yours", message: "not yours" });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(did.filter((d) => d.startsWith("notice")), ["notice deleted the message #ab12"]);
});

Deno.test("perform: /temp sends with its lifetime; /search, /who, /sessions, /logout-others ask", () => {
  const lines = ["/temp 5m @ann_0001 soon gone", "/search h(e|a)llo", "/who", "/users"];
  assert.deepEqual(doing([...lines, "/sessions", "/logout-others"]), [
    'send {"text":"soon gone","to":["ann_0001"],"ttl":300}',
    'request {"type":"search","pattern":"h(e|a)llo"}',
    'request {"type":"who"}',
    'request {"type":"who"}',
    'request {"type":"sessions"}',
    'request {"type":"logout_others"}',
  ]);
});

Deno.test("perform: /reconnect says when there is nothing to do; /help and /exit reach the UI", () => {
  for (
    const [outcome, said] of [
      ["retrying", []],
      ["connected", ["notice already connected"]],
      ["busy", ["notice connecting already"]],
    ] as const
  ) {
    const { did, run } = recorder({}, outcome);
    run("/reconnect");
    assert.deepEqual(did, said);
  }
  assert.deepEqual(doing(["/help", "/?", "/exit", ".exit", "/quit"]), [
    "help",
    "help",
    "leave",
    "leave",
    "leave",
  ]);
});

Deno.test("perform: what the server would refuse is said first, before a ref is looked up", () => {
  const { did, run } = recorder({ ab12: ID });
  const long = "x".repeat(MAX_TEXT_LENGTH + 1);
  const many = Array.from({ length: MAX_RECIPIENTS + 1 }, (_, i) => `@u${i}`).join(" ");
  run(long);
  run(`/reply zz99 ${long}`);
  run(`/temp 30s ${long}`);
  run(`${many} hi`);
  run("x".repeat(MAX_TEXT_LENGTH));
  const tooLong = `error a message is at most ${MAX_TEXT_LENGTH} characters; this one has ${
    MAX_TEXT_LENGTH + 1
  }`;
  assert.deepEqual(did.slice(0, 4), [
    tooLong,
    tooLong, // not "no message with the ref zz99"
    tooLong,
    `error a direct message goes to at most ${MAX_RECIPIENTS} people; this one names ${
      MAX_RECIPIENTS + 1
    }`,
  ]);
  assert.equal(did[4], `send {"text":"${"x".repeat(MAX_TEXT_LENGTH)}"}`);
  assert.equal(did.length, 5);
});

Deno.test("COMMANDS: every row parses to its own kind and has an action", () => {
  for (const command of COMMANDS) {
    assert.equal(typeof command.run, "function", command.name);
    const sample = command.usage.replace(/^\/\S+/, "").replace("REF", "ab12").replace(
      /\[[^\]]*\]/g,
      "",
    ).replace("PATTERN", "x").replace("text", "words").trim();
    const intent = parseInput(`/${command.name} ${sample}`.trim());
    assert.equal(intent.kind, command.kind, `/${command.name} ${sample}`);
  }
});

Deno.test("perform: rooms — /join (# optional, --private), /part, /rooms, /topic, /invite, /private, /who #room", () => {
  const lines = [
    "/join #Builds",
    "/join builds --private",
    "/part",
    "/leave #builds",
    "/rooms",
    "/list",
    "/topic green since 1234",
    "/topic -delete",
    "/invite @ann_0001",
    "/invite bob",
    "/private",
    "/private off",
    "/who #Builds",
  ];
  assert.deepEqual(doing(lines), [
    'request {"type":"join","room":"#builds"}',
    'request {"type":"join","room":"#builds","private":true}',
    'request {"type":"part","room":"#general"}',
    'request {"type":"part","room":"#builds"}',
    'request {"type":"rooms"}',
    'request {"type":"rooms"}',
    'request {"type":"topic","room":"#general","topic":"green since 1234"}',
    'request {"type":"topic","room":"#general","topic":""}',
    'request {"type":"invite","room":"#general","user":"ann_0001"}',
    'request {"type":"invite","room":"#general","user":"bob"}',
    'request {"type":"private","room":"#general","private":true}',
    'request {"type":"private","room":"#general","private":false}',
    'request {"type":"who","room":"#builds"}',
  ]);
});

Deno.test("parseInput: a room is # and 1 to 32 of a-z 0-9 - _; a topic one line of at most 200", () => {
  const rule = "a room name is '#' and 1 to 32 of a-z, 0-9, '-' and '_'";
  for (const line of ["/join #bad!", `/join #${"x".repeat(33)}`, "/part #", "/who #a.b"]) {
    assert.deepEqual(parseInput(line), { kind: "usage", message: rule }, line);
  }
  assert.equal(parseInput(`/join #${"x".repeat(32)}`).kind, "join");
  assert.deepEqual(parseInput(`/topic ${"t".repeat(201)}`), {
    kind: "usage",
    message: "a topic is at most 200 characters",
  });
  assert.equal(parseInput(`/topic ${"t".repeat(200)}`).kind, "topic");
  for (
    const line of [
      "/join",
      "/join #a --public",
      "/topic",
      "/invite",
      "/invite a b",
      "/private maybe",
    ]
  ) {
    assert.equal(parseInput(line).kind, "usage", line);
  }
});

Deno.test("moderation commands: each asks for its frame, in the room typed in unless one is named or --server", () => {
  // each line typed, and the frame it asks for
  const cases: [string, Record<string, unknown>][] = [
    ["/ops", { type: "ops", room: "#general" }],
    ["/op @ann_0001", { type: "op", room: "#general", user: "ann_0001" }],
    ["/deop @ann", { type: "deop", room: "#general", user: "ann" }],
    ["/kick @ann_0001 #builds too much spam", {
      type: "kick",
      room: "#builds",
      user: "ann_0001",
      reason: "too much spam",
    }],
    ["/ban @ann_0001 2h flooding the room", {
      type: "ban",
      room: "#general",
      user: "ann_0001",
      duration: 7200,
      reason: "flooding the room",
    }],
    ["/ban @ann_0001 --server --address", { type: "ban", user: "ann_0001", withAddress: true }],
    ["/ban --address 10.0.0.7 1d", { type: "ban", address: "10.0.0.7", duration: 86400 }],
    ["/unban @ann_0001 --server", { type: "unban", user: "ann_0001" }],
    ["/unban --address 2001:db8::1", { type: "unban", address: "2001:db8::1" }],
    ["/mute @bob #Builds 30m", { type: "mute", room: "#builds", user: "bob", duration: 1800 }],
    ["/mute @bob --server calm down", { type: "mute", user: "bob", reason: "calm down" }],
    ["/unmute @bob", { type: "unmute", room: "#general", user: "bob" }],
    ["/bans --server 200", { type: "bans", offset: 200 }],
    ["/modlog #builds 17", { type: "modlog", room: "#builds", before: 17 }],
    ["/modlog", { type: "modlog", room: "#general" }],
  ];
  const asked = doing(cases.map(([line]) => line));
  assert.deepEqual(
    asked.map((line) => JSON.parse(line.replace(/^request /, ""))),
    cases.map(([, frame]) => frame),
  );
});

Deno.test("moderation commands: what the server would refuse is said before anything is sent", () => {
  assertUsage(parseInput("/kick"), /usage: \/kick @id/);
  assertUsage(parseInput("/kick ann"), /usage: \/kick/);
  assertUsage(parseInput("/ban @ann_0001 #a --server"), /not both/);
  assertUsage(parseInput("/ban @ann_0001 90x"), /not a duration/);
  assertUsage(parseInput("/ban @ann_0001 367d"), /from 1s to 366d/);
  assertUsage(parseInput(`/mute @bob ${"x".repeat(201)}`), /at most 200 characters/);
  assertUsage(parseInput("/ban --address"), /write the address/);
  assertUsage(parseInput("/unban @ann_0001 --address"), /usage: \/unban/);
  assertUsage(parseInput("/op @ann_0001 because"), /usage: \/op/);
  assertUsage(parseInput("/bans #no!"));
  assertUsage(parseInput("/bans everything"), /usage: \/bans/);
  // a kick's reason may look like a duration: it is text
  assert.deepEqual(parseInput("/kick @ann 5m of shouting"), {
    kind: "kick",
    user: "ann",
    reason: "5m of shouting",
  });
});

Deno.test("moderation commands: the usage shows --server where it is taken; an option not taken, or one after the reason, is a one-sentence usage error, never the reason", () => {
  const row = (name: string) => COMMANDS.find((c) => c.name === name)!;
  assert.equal(row("ban").usage, "/ban @id [#room|--server] [2h] [why]");
  assert.equal(row("mute").usage, "/mute @id [#room|--server] [2h] [why]");
  assert.match(row("ban").help, /--address/);
  // the options in any order before the reason
  assert.deepEqual(parseInput("/ban @ann 2h --server spam"), {
    kind: "ban",
    user: "ann",
    duration: 7200,
    server: true,
    reason: "spam",
  });
  assert.deepEqual(parseInput("/mute --server @bob calm down"), {
    kind: "mute",
    user: "bob",
    server: true,
    reason: "calm down",
  });
  const said = (line: string) => {
    const intent = parseInput(line);
    assert.equal(intent.kind, "usage", `${line}: ${JSON.stringify(intent)}`);
    return intent.kind === "usage" ? intent.message : "";
  };
  const ban = "(usage: /ban @id [#room|--server] [2h] [why])";
  const mute = "(usage: /mute @id [#room|--server] [2h] [why])";
  assert.equal(said("/ban @ann --serve spam"), `/ban has no option --serve ${ban}`);
  assert.equal(said("/ban @ann 2h --everywhere"), `/ban has no option --everywhere ${ban}`);
  assert.equal(said("/mute @bob --address"), `/mute has no option --address ${mute}`);
  assert.equal(
    said("/kick @ann --server spam"),
    "/kick has no option --server (usage: /kick @id [#room] [reason])",
  );
  assert.equal(
    said("/op @ann --server"),
    "/op has no option --server (usage: /op @id [#room])",
  );
  assert.equal(said("/ban @ann spam --server"), `--server goes before the reason ${ban}`);
  assert.equal(said("/ban @ann 1d spam and --address"), `--address goes before the reason ${ban}`);
  assert.equal(said("/mute @bob too loud --server"), `--server goes before the reason ${mute}`);
  assert.equal(said("/ban @ann --server #ops spam"), "name a room or --server, not both");
  for (const line of ["/ban --serve", "/mute @bob 5m --serve", "/unmute @bob --address"]) {
    assert.ok(!said(line).includes("\n"), line);
  }
  // a reason may have other words with dashes: text
  assert.deepEqual(parseInput("/kick @ann stop -- now --please"), {
    kind: "kick",
    user: "ann",
    reason: "stop -- now --please",
  });
  assert.deepEqual(parseInput("/ban @ann #ops see --server rules"), {
    kind: "usage",
    message: `--server goes before the reason ${ban}`,
  });
});

Deno.test("the README's command table shows each moderation command's usage as the table has it", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  for (const name of ["kick", "ban", "unban", "mute", "bans", "modlog", "droproom"]) {
    const usage = COMMANDS.find((c) => c.name === name)!.usage;
    const cell = "| `" + usage.replaceAll("|", "\\|") + "`";
    assert.ok(readme.includes(cell), `README lacks ${cell}`);
  }
});

Deno.test("/droproom: names the room (never the one typed in by default) and an optional reason", () => {
  const asked = doing(["/droproom #Spam flooded with ads", "/droproom #old"]);
  assert.deepEqual(asked.map((line) => JSON.parse(line.replace(/^request /, ""))), [
    { type: "droproom", room: "#spam", reason: "flooded with ads" },
    { type: "droproom", room: "#old" },
  ]);
  assertUsage(parseInput("/droproom"), /usage: \/droproom #room/);
  assertUsage(parseInput("/droproom spam"), /usage: \/droproom #room/);
  assertUsage(parseInput("/droproom #no!"));
  assertUsage(parseInput(`/droproom #spam ${"x".repeat(201)}`), /at most 200 characters/);
});

Deno.test("/help lists the everyday commands and points to /help ops, which lists the operators'", () => {
  assert.deepEqual(parseInput("/help"), { kind: "help" });
  for (const word of ["ops", "OPERATORS", "moderation"]) {
    assert.deepEqual(parseInput(`/help ${word}`), { kind: "help", topic: "operators" });
  }
  assert.equal(parseInput("/help kittens").kind, "usage");
  const everyday = helpText(Infinity, "everyday");
  const operators = helpText(Infinity, "operators");
  const forOperators = COMMANDS.filter((c) => c.forOperators);
  assert.ok(forOperators.some((c) => c.name === "kick") && forOperators.length >= 10);
  for (const command of COMMANDS) {
    const [shownIn, notIn] = command.forOperators ? [operators, everyday] : [everyday, operators];
    assert.ok(shownIn.includes(command.usage), `${command.name} missing`);
    assert.ok(!notIn.includes(`${command.usage}  `), `${command.name} listed twice`);
  }
  assert.match(everyday, /\/help ops +the commands of room and server operators \(\/op .*\/kick/);
  const lines = (text: string) => text.split("\n").length;
  assert.equal(lines(everyday), lines(helpText()) - forOperators.length + 1);
});
