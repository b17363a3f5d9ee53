/**
 * `chat join`: trust → connect → hello → welcome, then events out to the UI and input lines in,
 * each parsed once and done by its row of the command table (client/commands.ts), until /exit, Ctrl+C/Ctrl+D, or (in line modes) the end of stdin. Connection drops
 * in between are the ChatClient's business: it reconnects and resumes by itself.
 */
import { defaultStateDir, type JoinArgs, readPassword, UsageError } from "./args.ts";
import { pinKey, pinMismatchWarning, resolveTrust, type TrustOptions } from "../tls/trust.ts";
import { ID_PATTERN } from "../protocol/schema.ts";
import { askName, askPassword, canPrompt } from "../ui/ask.ts";
import { chooseUi } from "../ui/choose.ts";
import type { Ui } from "../ui/ui.ts";
import { ChatClient, type ConnectionStatus, type SendFrame } from "../client/client.ts";
import { loadOutbox, MAX_OUTBOX_MESSAGES, outboxWriter, saveOutbox } from "../client/outbox.ts";
import { type CommandContext, parseInput, perform } from "../client/commands.ts";
import { ConnectError, Connection } from "../client/connection.ts";
import { type ClientEvent, ClientState } from "../client/state.ts";
import { describeIoError } from "../tls/files.ts";
import { forgetToken, loadToken, reportingSaves, saveToken } from "../client/tokens.ts";

/** How often a script's input, held back by a full outbox, looks for room again. */
const OUTBOX_WAIT_MS = 100;
/** Longest wait, at the end of stdin, for the server to answer what was sent (reconnects included). */
export const DRAIN_TIMEOUT_MS = 30_000;
/**
 * Longest wait on /exit or Ctrl+C in the interactive client, while connected: a person is
 * waiting. Disconnected, it does not wait at all: what is unsent is kept on disk (outbox.ts).
 */
export const EXIT_DRAIN_MS = 3_000;

/** "N message(s)". */
const messages = (n: number) => `${n} message${n === 1 ? "" : "s"}`;

/** Runs the client; resolves to the process exit code. */
export async function runJoin(args: JoinArgs): Promise<number> {
  const interactive = args.mode === "interactive" && canPrompt();
  let name = args.name;
  if (!name) {
    // a person at a terminal is asked; a script gets a clear error instead of a prompt
    if (!interactive) {
      throw new UsageError("--name is required (for example: chat join --name Tom)");
    }
    name = await askName();
  }
  let password = await readPassword(args.passwordFile);
  const stateDir = defaultStateDir();
  const trustOptions: TrustOptions = {
    host: args.host,
    port: args.port,
    caFile: args.ca,
    fingerprint: args.fingerprint,
    stateDir,
  };
  const trust = await resolveTrust(trustOptions);
  const connect = async () => {
    try {
      return await Connection.open({ host: args.host, port: args.port, caCerts: trust.caCerts });
    } catch (error) {
      if (error instanceof ConnectError && error.certificate && trust.source === "pinned") {
        throw new ConnectError(pinMismatchWarning(trustOptions), true);
      }
      throw error;
    }
  };

  // ids belong to a server, known by its CA where we have one (so a new address or port of the
  // same server still gives back the same id), else by its address
  const server = trust.fingerprint ?? pinKey(args.host, args.port);
  const saved = await loadToken(stateDir, server, name);
  const mode = args.mode === "interactive" && !interactive ? "plain" : args.mode;
  const state = new ClientState();

  // until the UI exists (after the first welcome), events and notices wait here
  const early: ClientEvent[] = [];
  const earlyNotices: string[] = [];
  let show: (events: ClientEvent[]) => void = (events) => void early.push(...events);
  let status = (_status: ConnectionStatus) => {};
  let notice: (text: string) => void = (text) => void earlyNotices.push(text);
  // the outbox on disk, once the first welcome says which id this is (see outbox.ts)
  let keepUnsent: () => void = () => {};
  // the server sends a new token with every welcome and the old one stops working: each is saved
  const save = reportingSaves(
    (identity) => saveToken(stateDir, server, name, identity),
    (message) => notice(message),
  );
  const makeClient = (password: string | undefined) =>
    new ChatClient({
      name,
      password,
      token: saved?.token,
      state,
      connect,
      onEvents: (events) => show(events),
      onStatus: (next) => status(next),
      onWelcome: (welcome) => save({ id: welcome.you.id, token: welcome.token }),
      onUnsent: () => keepUnsent(),
      onRevoked: async () => {
        // the token this client holds now (the last welcome's, or the saved one if none came)
        const revoked = state.token ?? saved?.token;
        if (revoked === undefined) return;
        await forgetToken(stateDir, server, name, revoked).catch((error) =>
          notice(`could not forget the revoked token in ${stateDir} (${describeIoError(error)})`)
        );
      },
    });
  let client = makeClient(password);
  let welcome;
  try {
    welcome = await client.start(); // throws ConnectError: cannot connect, not trusted, or refused
  } catch (error) {
    // the server wants a password we were not given: a person is asked for it, once
    const needsPassword = error instanceof ConnectError && error.code === "bad_password" &&
      password === undefined && interactive;
    if (!needsPassword) throw error;
    password = await askPassword();
    client = makeClient(password);
    welcome = await client.start();
  }
  const id = welcome.you.id;
  const where = `${args.host}:${args.port}`;
  const writer = outboxWriter(
    (frames) => saveOutbox(stateDir, server, id, frames),
    (message) => notice(message),
  );
  keepUnsent = () => {
    const unsent = client.unsent();
    writer.save(unsent);
    client.unsentKept = unsent.length > 0;
  };
  // what was typed before an earlier run ended unsent goes out now, once (retries, same refs)
  const kept = await loadOutbox(stateDir, server, id).catch((error) => {
    notice(`could not read the unsent messages kept in ${stateDir} (${describeIoError(error)})`);
    return [] as SendFrame[];
  });
  if (kept.length > 0) {
    notice(`sending ${messages(kept.length)} typed before you left last time`);
    client.resend(kept);
  }

  const ui: Ui = chooseUi(mode, {
    state,
    server: where,
    bell: args.bell,
    color: args.color,
    layout: args.layout,
  });
  show = (events) => ui.show(events);
  status = (next) => ui.status(next);
  notice = (text) => ui.notice(text);
  ui.show(early.splice(0));
  for (const text of earlyNotices.splice(0)) ui.notice(text);

  /** Recipients that are exact ids of people not online: the message waits for them. */
  const waitingFor = (to: string[] | undefined): string[] => {
    // only a complete list of who is online can say who is not (a large room sends the first)
    if (!to || state.users.size < state.online) return [];
    const online = new Set([...state.users.keys()].map((u) => u.toLowerCase()));
    return to.filter((r) => ID_PATTERN.test(r) && !online.has(r.toLowerCase()));
  };

  let over = false;
  client.ended.then(() => (over = true));
  /** No room for another unsent message: disconnected, with the outbox full. */
  const outboxFull = () => !client.connected && client.unsent().length >= MAX_OUTBOX_MESSAGES;

  /**
   * Sends a message. Disconnected with the outbox full, a person is told it was not sent; a
   * script's input is not read further until there is room (nothing it wrote is dropped).
   */
  const send = async (frame: Omit<SendFrame, "ref">) => {
    if (outboxFull() && mode !== "interactive") {
      while (outboxFull() && !over) {
        await new Promise((resolve) => setTimeout(resolve, OUTBOX_WAIT_MS));
      }
    }
    if (outboxFull()) {
      return ui.localError(
        `not sent: you are not connected, and ${MAX_OUTBOX_MESSAGES} messages (the most kept) ` +
          "are waiting to be sent already",
      );
    }
    client.request(frame).then((answer) => {
      const waiting = answer.type === "ack" ? waitingFor(frame.to) : [];
      if (waiting.length > 0) {
        ui.notice(
          `${waiting.join(", ")} ${waiting.length === 1 ? "is" : "are"} not online: ` +
            "the message waits on the server and reaches them when they join",
        );
      }
    });
  };

  /** What the commands act through (client/commands.ts): this client and its UI. */
  const context: CommandContext = {
    send: (message) => send({ type: "send", ...message }),
    request: (request) => client.request(request),
    resolveRef: (typed) => state.resolveRef(typed),
    reconnectNow: () => client.reconnectNow(),
    notice: (text) => ui.notice(text),
    error: (text) => ui.localError(text),
    help: () => ui.help(),
    leave: () => void leave(EXIT_DRAIN_MS),
  };

  let leaving: Promise<void> | undefined;
  let code = 0;
  /** Said after the UI is gone (a person's terminal) or as the last notices (line modes). */
  const farewell: string[] = [];
  /**
   * Waits (bounded) for the server to answer what was sent, then says goodbye. A person leaving
   * while disconnected does not wait: the messages not sent yet are kept on disk and go out on
   * the next join; the last words say how many.
   */
  const leave = (drainMs: number) => {
    ui.leaving();
    return leaving ??= (async () => {
      if (client.unsent().length > 0) keepUnsent(); // kept even if the wait below is cut short
      const wait = mode !== "interactive" || client.connected;
      const answered = wait ? await client.drain(drainMs) : client.unanswered === 0;
      const unsent = client.unsent();
      writer.save(unsent);
      const saved = await writer.flush();
      if (unsent.length > 0) {
        farewell.push(
          saved
            ? `${messages(unsent.length)} not sent yet: ${
              unsent.length === 1 ? "it goes" : "they go"
            } out the next time you join as ${id} on ${where}`
            : `${messages(unsent.length)} could not be sent, nor kept on disk`,
        );
        if (!saved || mode !== "interactive") code = 1;
      } else if (!answered && client.unanswered > 0 && mode !== "interactive") {
        farewell.push(
          `${client.unanswered} request(s) were not acknowledged by the server before leaving`,
        );
        code = 1;
      }
      client.close();
    })();
  };

  ui.start({
    onLine: (line) => perform(parseInput(line), context),
    onEnd: () => void leave(mode === "interactive" ? EXIT_DRAIN_MS : DRAIN_TIMEOUT_MS),
  });

  const ending = await client.ended;
  await leaving;
  if (!leaving) {
    // the client stopped on its own (refused, signed out): what was unsent stays on disk
    const unsent = client.unsent();
    writer.save(unsent);
    if (unsent.length > 0 && await writer.flush()) {
      farewell.push(`${messages(unsent.length)} not sent yet: kept for the next join as ${id}`);
    }
  }
  if (ending.message) ui.notice(ending.message);
  if (mode !== "interactive") { for (const text of farewell) ui.notice(text); }
  await ui.stop();
  // after the full-screen UI has given the terminal back, where the person can read it
  if (mode === "interactive") { for (const text of farewell) console.error(`* ${text}`); }
  return ending.code !== 0 ? ending.code : code;
}
