/**
 * The Ink side: React renders the composed screen (rows of styled segments) through Ink,
 * which lays it out and turns the styles into SGR sequences. Ink runs in its `debug` mode
 * against a frame sink, so every render hands over one whole frame and Ink itself never moves
 * the cursor, erases lines or reacts to CI variables; paint.ts puts the frame on the terminal.
 */
import { EventEmitter } from "node:events";
import { memo, useSyncExternalStore } from "react";
import { Box, render, Text } from "ink";
import type { StyledLine } from "../bubble.ts";
import { styleFor } from "./style.ts";

export interface Frame {
  /** Each row from its first column up to its pinned tail, if it has one. */
  lines: StyledLine[];
  /** Each row's pinned tail (empty when none), rendered as rows after `lines`. */
  tails: StyledLine[];
  cols: number;
  rows: number;
  color: boolean;
}

/** OSC 8: `text` as a hyperlink to `url` (made safe by bubble.ts linkTarget). */
const hyperlink = (url: string, text: string) => `\x1b]8;;${url}\x07${text}\x1b]8;;\x07`;

/** Where the screen comes from: a store React subscribes to. */
export interface FrameSource {
  subscribe(listener: () => void): () => void;
  frame(): Frame;
}

const Row = memo(function Row({ line, color }: { line: StyledLine; color: boolean }) {
  if (line.length === 0) return <Text></Text>;
  return (
    <Text wrap="truncate-end">
      {line.map((seg, i) => (
        <Text key={i} {...styleFor(seg.role, color)}>
          {seg.link ? hyperlink(seg.link, seg.text) : seg.text}
        </Text>
      ))}
    </Text>
  );
}, (a, b) => a.color === b.color && sameLine(a.line, b.line));

function sameLine(a: StyledLine, b: StyledLine): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return a.every((seg, i) =>
    seg.text === b[i].text && seg.role === b[i].role && seg.link === b[i].link
  );
}

function Screen({ source }: { source: FrameSource }) {
  const frame = useSyncExternalStore(source.subscribe, source.frame);
  // the tails come after the rows, one per row: paint.ts places each at its column
  const rows = [...frame.lines, ...frame.tails];
  return (
    <Box flexDirection="column" width={frame.cols} height={rows.length} overflow="hidden">
      {rows.map((line, i) => (
        <Box key={i} height={1} flexShrink={0}>
          <Row line={line} color={frame.color} />
        </Box>
      ))}
    </Box>
  );
}

/** Stands in for stdout: Ink writes whole frames here (debug mode). */
class FrameSink extends EventEmitter {
  readonly isTTY = true;
  closed = false;
  constructor(
    private size: () => { cols: number; rows: number },
    private onFrame: (frame: string) => void,
  ) {
    super();
  }
  get columns(): number {
    return this.size().cols;
  }
  get rows(): number {
    return this.size().rows * 2; // rows, then their tails
  }
  write(data: string, callback?: () => void): boolean {
    if (!this.closed) this.onFrame(data);
    callback?.();
    return true;
  }
}

export interface Mounted {
  unmount(): void;
}

/** Starts rendering; `onFrame` gets each frame as rows of text with SGR styles. */
export function mountScreen(
  source: FrameSource,
  onFrame: (rows: string[]) => void,
): Mounted {
  const sink = new FrameSink(
    () => ({ cols: source.frame().cols, rows: source.frame().rows }),
    (data) => onFrame(data.split("\n")),
  );
  // Ink never reads input here: keys come from terminal.ts
  const stdin = Object.assign(new EventEmitter(), { isTTY: false });
  const instance = render(<Screen source={source} />, {
    stdout: sink as unknown as NodeJS.WriteStream,
    stderr: sink as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    debug: true,
    exitOnCtrlC: false,
    patchConsole: false,
  });
  return {
    unmount() {
      sink.closed = true;
      instance.unmount();
    },
  };
}
