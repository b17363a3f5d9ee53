/**
 * `chat join`, wired: arguments, trust, the saved token, the outbox on disk, a ChatClient and a UI.
 * Past the welcome, events go out to the UI and input lines in to the Chat (client/chat.ts)
 * until /exit, Ctrl+C/Ctrl+D, or (in line modes) the end of stdin. Connection drops in between
 * are the ChatClient's business: it reconnects and resumes by itself.
 */
import { defaultStateDir, type JoinArgs, readPassword, UsageError } from "./args.ts";
import { pinKey, pinMismatchWarning, resolveTrust, type TrustOptions } from "../tls/trust.ts";
import { askName, askPassword, canPrompt } from "../ui/ask.ts";
import { chooseUi } from "../ui/choose.ts";
import { loadTables } from "../ui/plain.ts";
import type { Ui } from "../ui/ui.ts";
import { ChatClient, type ConnectionStatus, type SendFrame } from "../client/client.ts";
import { loadOutbox, outboxWriter, saveOutbox } from "../client/outbox.ts";
import { Chat, DRAIN_TIMEOUT_MS, EXIT_DRAIN_MS, messages } from "../client/chat.ts";
import { ConnectError, Connection } from "../client/connection.ts";
import { type ClientEvent, ClientState } from "../client/state.ts";
import { describeIoError } from "../tls/files.ts";
import { forgetToken, loadToken, reportingSaves, saveToken } from "../client/tokens.ts";
import { IgnoreList, type Ignores, loadIgnores, saveIgnores } from "../client/ignore.ts";
import { SUMMARY_CHECK_MS } from "../client/smart_filter.ts";
import { View } from "../client/view.ts";
import { systemClock } from "../client/clock.ts";

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
  const servers = args.servers;
  const trustOptions: TrustOptions = {
    host: args.host,
    port: args.port,
    caFile: args.ca,
    fingerprint: args.fingerprint,
    stateDir,
    // the nodes of one server share its CA: each is checked as the first would be
    others: servers.slice(1),
  };
  const trust = await resolveTrust(trustOptions);
  const connect = async (index: number) => {
    const { host, port } = servers[index];
    try {
      return await Connection.open({ host, port, caCerts: trust.caCerts });
    } catch (error) {
      if (error instanceof ConnectError && error.certificate && trust.source === "pinned") {
        throw new ConnectError(pinMismatchWarning({ ...trustOptions, host, port }), true);
      }
      throw error;
    }
  };

  // ids belong to a server, known by its CA where we have one (so a new address or port of the
  // same server, or another of its nodes, still gives back the same id), else by its (first)
  // address
  const server = trust.fingerprint ?? pinKey(args.host, args.port);
  const saved = await loadToken(stateDir, server, name);
  const mode = args.mode === "interactive" && !interactive ? "plain" : args.mode;
  const state = new ClientState();
  // who this account ignores on this server; what is shown goes through the view
  const ignoreNotices: string[] = [];
  const ignores: Ignores = {
    list: new IgnoreList(
      await loadIgnores(stateDir, server).catch((error) => {
        ignoreNotices.push(
          `could not read the ignore list in ${stateDir} (${describeIoError(error)}); ` +
            "nobody is ignored this time",
        );
        return [];
      }),
    ),
    save: () => saveIgnores(stateDir, server, ignores.list.list()),
  };
  const view = new View({
    ignores: ignores.list,
    here: () => state.room,
    now: () => systemClock.now(),
    everything: mode === "json",
  });

  // until the UI exists (after the first welcome), events and notices wait here
  const early: ClientEvent[] = [];
  const earlyNotices: string[] = [...ignoreNotices];
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
      servers: servers.length,
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
  // the address that answered (of several: the node joined first)
  const where = `${servers[client.server].host}:${servers[client.server].port}`;
  if (args.room !== undefined) {
    // what is typed goes there from the first line: in it before any is read
    state.room = args.room;
    if (!state.rooms.has(args.room)) {
      const answer = await Promise.race([
        client.request({ type: "join", room: args.room }),
        client.ended.then(() => null),
      ]);
      if (answer?.type !== "room") {
        client.close();
        const why = answer?.type === "error" ? answer.message : "the connection ended";
        throw new ConnectError(`could not join ${args.room}: ${why}`, false, true);
      }
    }
  }
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

  // the line modes draw search results as tables; the full-screen UI has a panel for them
  if (mode !== "interactive") await loadTables();
  const context = { state, server: where, bell: args.bell, color: args.color, layout: args.layout };
  const ui: Ui = chooseUi(mode, context);
  show = (events) => ui.show(view.filter(events));
  status = (next) => {
    // of several nodes, the status line names the one the client is on now
    const node = servers[client.server];
    if (next.state === "connected") context.server = `${node.host}:${node.port}`;
    ui.status(next);
  };
  notice = (text) => ui.notice(text);
  ui.show(view.filter(early.splice(0)));
  // joins and leaves the smart filter did not show, summed up now and then
  const stopSummaries = systemClock.every(SUMMARY_CHECK_MS, () => {
    for (const line of view.summaries()) ui.notice(line);
  });
  for (const text of earlyNotices.splice(0)) ui.notice(text);

  const chat = new Chat({
    client,
    state,
    ui,
    interactive: mode === "interactive",
    outbox: writer,
    keepUnsent,
    id,
    where,
    ignores,
  });
  ui.start({
    onLine: (line) => chat.line(line),
    onHistory: () => void chat.line("/history"),
    onEnd: () => void chat.leave(mode === "interactive" ? EXIT_DRAIN_MS : DRAIN_TIMEOUT_MS),
  });

  const ending = await client.ended;
  stopSummaries();
  const { words, code } = await chat.farewell(ending);
  if (ending.message) ui.notice(ending.message);
  if (mode !== "interactive") { for (const text of words) ui.notice(text); }
  await ui.stop();
  // after the full-screen UI has given the terminal back, where the person can read it
  if (mode === "interactive") { for (const text of words) console.error(`* ${text}`); }
  return code;
}
