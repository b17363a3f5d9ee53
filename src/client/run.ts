/**
 * `chat join`: trust → connect → hello → welcome, then events out to the UI and input lines in
 * as intents, until /exit, Ctrl+C/Ctrl+D, or (in line modes) the end of stdin.
 */
import type { JoinArgs } from "../cli/args.ts";
import { readPassword, UsageError } from "../cli/args.ts";
import type { ClientFrame, ServerFrame } from "../protocol/schema.ts";
import {
  defaultStateDir,
  pinKey,
  pinMismatchWarning,
  resolveTrust,
  type TrustOptions,
} from "../tls/trust.ts";
import type { Ui } from "../ui/ui.ts";
import { chooseUi } from "../ui/choose.ts";
import { helpText, type Intent, parseInput } from "./commands.ts";
import { ConnectError, Connection } from "./connection.ts";
import { ClientState } from "./state.ts";
import { loadToken, saveToken } from "./tokens.ts";

/** Longest wait, at the end of stdin or on /exit, for the server to answer what was sent. */
export const DRAIN_TIMEOUT_MS = 30_000;

/** Runs the client; resolves to the process exit code. */
export async function runJoin(args: JoinArgs): Promise<number> {
  if (!args.name) throw new UsageError("--name is required (for example: chat join --name Tom)");
  const name = args.name;
  const password = await readPassword(args.passwordFile);
  const stateDir = defaultStateDir();
  const trustOptions: TrustOptions = {
    host: args.host,
    port: args.port,
    caFile: args.ca,
    fingerprint: args.fingerprint,
    stateDir,
  };
  const trust = await resolveTrust(trustOptions);
  let conn: Connection;
  try {
    conn = await Connection.open({ host: args.host, port: args.port, caCerts: trust.caCerts });
  } catch (error) {
    if (error instanceof ConnectError && error.certificate && trust.source === "pinned") {
      throw new ConnectError(pinMismatchWarning(trustOptions));
    }
    throw error;
  }

  // ids belong to a server, known by its CA where we have one (so a new address or port of the
  // same server still gives back the same id), else by its address
  const server = trust.fingerprint ?? pinKey(args.host, args.port);
  const saved = await loadToken(stateDir, server, name);
  conn.send({ type: "hello", name, token: saved?.token, password });

  const mode = args.mode === "interactive" && !(Deno.stdin.isTerminal() && Deno.stdout.isTerminal())
    ? "plain"
    : args.mode;
  const state = new ClientState();
  const frames = conn.frames();

  // The first answer is a welcome, or the reason there is none.
  const first = await nextFrame(frames);
  if (!first || first.type !== "welcome") {
    conn.close();
    const why = first?.type === "error" || first?.type === "goodbye"
      ? first.message
      : "the server closed the connection";
    throw new ConnectError(`the server refused to let you in: ${why}`);
  }
  const ui: Ui = chooseUi(mode, {
    state,
    server: `${args.host}:${args.port}`,
    bell: args.bell,
    color: args.color,
  });
  ui.show(state.apply(first));
  await saveToken(stateDir, server, name, { id: first.you.id, token: first.token }).catch(() => {
    ui.notice("could not save your id token; you will get a new id next time");
  });

  // every request carries a ref; the server answers each (ack, results, users or error)
  let counter = 0;
  const pending = new Map<string, () => void>();
  const answered: Promise<void>[] = [];
  const request = (frame: Record<string, unknown> & { type: ClientFrame["type"] }) => {
    const ref = `r${++counter}`;
    conn.send({ ...frame, ref } as ClientFrame);
    answered.push(new Promise<void>((resolve) => pending.set(ref, resolve)));
  };
  const settle = (frame: ServerFrame) => {
    if ("ref" in frame && frame.ref !== undefined) {
      pending.get(frame.ref)?.();
      pending.delete(frame.ref);
    }
  };

  let lastHeard = Date.now();
  const heartbeat = setInterval(() => {
    if (Date.now() - lastHeard > first.limits.idleTimeoutMs) conn.close();
    else conn.send({ type: "ping" });
  }, first.limits.heartbeatMs);

  let gone!: () => void;
  const connectionGone = new Promise<void>((resolve) => (gone = resolve));
  /** Waits until the server has answered everything sent, the connection is gone, or time is up. */
  const drain = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(answered),
      connectionGone,
      new Promise((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
  };

  const act = (intent: Intent) => {
    switch (intent.kind) {
      case "none":
        return;
      case "usage":
        return ui.localError(intent.message);
      case "help":
        return ui.notice(helpText());
      case "exit":
        return void leave(0);
      case "who":
        return request({ type: "who" });
      case "search":
        return request({ type: "search", pattern: intent.pattern });
      case "send":
        return request({ type: "send", text: intent.text, to: intent.to });
      case "temp":
        return request({ type: "send", text: intent.text, to: intent.to, ttl: intent.ttl });
      case "reply":
      case "delete": {
        const target = state.resolveRef(intent.ref);
        if (!target) return ui.localError(`no message with the ref ${intent.ref} is shown here`);
        if (intent.kind === "delete") return request({ type: "delete", id: target.id });
        return request({ type: "send", text: intent.text, replyTo: target.id });
      }
    }
  };

  let leaving = false;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  const leave = async (code: number) => {
    if (leaving) return;
    leaving = true;
    await drain();
    conn.send({ type: "bye" });
    finish(code);
  };

  ui.start({ onLine: (line) => act(parseInput(line)), onEnd: () => void leave(0) });

  (async () => {
    for await (const incoming of frames) {
      lastHeard = Date.now();
      if ("bad" in incoming) {
        ui.localError(incoming.bad);
        continue;
      }
      ui.show(state.apply(incoming.frame));
      settle(incoming.frame);
    }
    gone();
    if (!leaving) {
      leaving = true;
      ui.notice("the connection to the server was lost");
      finish(1);
    }
  })();

  const code = await finished;
  clearInterval(heartbeat);
  await ui.stop();
  conn.close();
  return code;
}

async function nextFrame(
  frames: AsyncGenerator<{ frame: ServerFrame } | { bad: string }>,
): Promise<ServerFrame | undefined> {
  for (;;) {
    const next = await frames.next();
    if (next.done) return undefined;
    if ("frame" in next.value) return next.value.frame;
  }
}
