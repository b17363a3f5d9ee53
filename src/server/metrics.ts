/**
 * The server's metrics, through the OpenTelemetry API. Deno exports them by itself over OTLP when
 * started with `OTEL_DENO=true` (endpoint, protocol and interval from the usual `OTEL_*`
 * variables); otherwise every instrument is a no-op that costs a call.
 *
 * Hot paths record once per event, never per recipient: a fan-out adds its deliveries in one go.
 */
import { metrics } from "@opentelemetry/api";
import { VERSION } from "../version.ts";

const meter = metrics.getMeter("chat", VERSION);
const counter = (name: string, description: string, unit?: string) =>
  meter.createCounter(`chat.${name}`, { description, unit });
const histogram = (name: string, description: string, unit?: string) =>
  meter.createHistogram(`chat.${name}`, { description, unit });

export const connectionsOpen = meter.createUpDownCounter("chat.connections.open", {
  description: "TLS connections open (logged in or not)",
});
export const logins = counter("logins", "Successful hellos (attribute kind: new or returning)");
export const messagesStored = counter("messages.stored", "Messages persisted");
export const deliveries = counter(
  "deliveries",
  "Message frames queued to connections (one per recipient)",
);
export const bytesOut = counter("bytes.out", "Bytes handed to TLS", "By");
export const refusals = counter(
  "refusals",
  "Connections, hellos and requests refused or cut (attribute reason)",
);
export const groupCommitSize = histogram("group_commit.size", "Messages per group commit");
export const groupCommitTime = histogram(
  "group_commit.duration",
  "Time to persist one group commit",
  "ms",
);
export const fanOutTime = histogram(
  "fanout.duration",
  "Time to queue one group commit's messages to everyone",
  "ms",
);
export const expiryPurges = counter("expiry.purged", "Temporary messages expired and purged");

/** Counts a refusal (the log counts it for its summary itself). */
export function refused(reason: string): void {
  refusals.add(1, { reason });
}
