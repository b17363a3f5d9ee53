/**
 * `chat join`: trust → connect → hello → welcome, then events out to the UI and input lines in
 * as intents, until /exit, Ctrl+C/Ctrl+D, or (in line modes) the end of stdin. Connection drops
 * in between are the ChatClient's business: it reconnects and resumes by itself.
 */
import type { JoinArgs } from "../cli/args.ts";
import { readPassword, UsageError } from "../cli/args.ts";
import {
  defaultStateDir,
  pinKey,
  pinMismatchWarning,
  resolveTrust,
  type TrustOptions,
} from "../tls/trust.ts";
import { MAX_RECIPIENTS, MAX_TEXT_LENGTH } from "../protocol/schema.ts";
import { askName, askPassword, canPrompt } from "../ui/ask.ts";
import { chooseUi } from "../ui/choose.ts";
import type { ConnectionStatus, Ui } from "../ui/ui.ts";
import { ChatClient } from "./client.ts";
import { helpText, type Intent, parseInput } from "./commands.ts";
import { ConnectError, Connection } from "./connection.ts";
import { type ClientEvent, ClientState } from "./state.ts";
import { describeIoError } from "../tls/files.ts";
import { forgetToken, loadToken, reportingSaves, saveToken } from "./tokens.ts";

/** Longest wait, at the end of stdin, for the server to answer what was sent (reconnects included). */
export const DRAIN_TIMEOUT_MS = 30_000;
/** Longest wait on /exit or Ctrl+C in the interactive client: a person is waiting. */
export const EXIT_DRAIN_MS = 3_000;

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
  try {
    await client.start(); // throws ConnectError: cannot connect, not trusted, or refused
  } catch (error) {
    // the server wants a password we were not given: a person is asked for it, once
    const needsPassword = error instanceof ConnectError && error.code === "bad_password" &&
      password === undefined && interactive;
    if (!needsPassword) throw error;
    password = await askPassword();
    client = makeClient(password);
    await client.start();
  }

  const ui: Ui = chooseUi(mode, {
    state,
    server: `${args.host}:${args.port}`,
    bell: args.bell,
    color: args.color,
  });
  show = (events) => ui.show(events);
  status = (next) => ui.status(next);
  notice = (text) => ui.notice(text);
  ui.show(early.splice(0));
  for (const text of earlyNotices.splice(0)) ui.notice(text);

  /** What the server would refuse anyway, said before sending. */
  const problem = (text: string, to?: string[]) =>
    text.length > MAX_TEXT_LENGTH
      ? `a message is at most ${MAX_TEXT_LENGTH} characters; this one has ${text.length}`
      : to && to.length > MAX_RECIPIENTS
      ? `a direct message goes to at most ${MAX_RECIPIENTS} people; this one names ${to.length}`
      : undefined;

  const act = (intent: Intent) => {
    if ("text" in intent) {
      const refusal = problem(intent.text, "to" in intent ? intent.to : undefined);
      if (refusal) return ui.localError(refusal);
    }
    switch (intent.kind) {
      case "none":
        return;
      case "usage":
        return ui.localError(intent.message);
      case "help":
        return ui.notice(helpText());
      case "exit":
        return void leave(EXIT_DRAIN_MS);
      case "who":
        return void client.request({ type: "who" });
      case "sessions":
        return void client.request({ type: "sessions" });
      case "logoutOthers":
        return void client.request({ type: "logout_others" });
      case "search":
        return void client.request({ type: "search", pattern: intent.pattern });
      case "send":
        return void client.request({ type: "send", text: intent.text, to: intent.to });
      case "temp":
        return void client.request({
          type: "send",
          text: intent.text,
          to: intent.to,
          ttl: intent.ttl,
        });
      case "reply":
      case "delete": {
        const target = state.resolveRef(intent.ref);
        if (!target) return ui.localError(`no message with the ref ${intent.ref} is shown here`);
        if (intent.kind === "delete") return void client.request({ type: "delete", id: target.id });
        return void client.request({ type: "send", text: intent.text, replyTo: target.id });
      }
    }
  };

  let leaving: Promise<void> | undefined;
  let code = 0;
  /** Waits (bounded) for the server to answer what was sent, then says goodbye. */
  const leave = (drainMs: number) =>
    leaving ??= (async () => {
      if (!(await client.drain(drainMs)) && client.unanswered > 0) {
        ui.notice(
          `${client.unanswered} request(s) were not acknowledged by the server before leaving`,
        );
        code = 1;
      }
      client.close();
    })();

  ui.start({
    onLine: (line) => act(parseInput(line)),
    onEnd: () => void leave(mode === "interactive" ? EXIT_DRAIN_MS : DRAIN_TIMEOUT_MS),
  });

  const ending = await client.ended;
  await leaving;
  if (ending.message) ui.notice(ending.message);
  await ui.stop();
  return ending.code !== 0 ? ending.code : code;
}
