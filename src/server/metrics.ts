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

export const connectionsOpen = meter.createUpDownCounter("chat.connections.open", {
  description: "TLS connections open (logged in or not)",
});
export const logins = meter.createCounter("chat.logins", {
  description: "Successful hellos (attribute kind: new or returning)",
});
export const messagesStored = meter.createCounter("chat.messages.stored", {
  description: "Messages persisted",
});
export const deliveries = meter.createCounter("chat.deliveries", {
  description: "Message frames queued to connections (one per recipient)",
});
export const bytesOut = meter.createCounter("chat.bytes.out", {
  description: "Bytes handed to TLS",
  unit: "By",
});
export const refusals = meter.createCounter("chat.refusals", {
  description: "Connections, hellos and requests refused or cut (attribute reason)",
});
export const groupCommitSize = meter.createHistogram("chat.group_commit.size", {
  description: "Messages per group commit",
});
export const groupCommitTime = meter.createHistogram("chat.group_commit.duration", {
  description: "Time to persist one group commit",
  unit: "ms",
});
export const fanOutTime = meter.createHistogram("chat.fanout.duration", {
  description: "Time to queue one group commit's messages to everyone",
  unit: "ms",
});
export const expiryPurges = meter.createCounter("chat.expiry.purged", {
  description: "Temporary messages expired and purged",
});

/** Counts a refusal (metric) and tells the log to count it too. */
export function refused(reason: string): void {
  refusals.add(1, { reason });
}
