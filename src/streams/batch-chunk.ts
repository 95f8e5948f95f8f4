import { type OwnRecords, recordShape } from "../engine/own-records.js";
import type { PoisonMessage, StreamMessage } from "./stream-source.js";

/** A batch as one JSONL chunk: what is staged, published and archived. */
export interface BatchChunk {
  /** One JSON object per line; a poison message is one {@link POISON_MARK} line. */
  readonly text: string;
  /** Lines in `text`. */
  readonly lines: number;
  readonly poison: readonly PoisonMessage[];
  /** Bytes of the longest line (the read's line limit must take it). */
  readonly longestLine: number;
  /** The records' keys and kinds, and the poison lines: lets the chunk be read in one pass. */
  readonly records: OwnRecords;
}

/**
 * Starts the line standing for a poison message. The line is not JSON, so the file's read quarantines
 * it as malformed, and its raw text names the message: subject, id, position, reason and payload.
 */
export const POISON_MARK = "#sluice-poison ";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Turns a batch of messages into one JSONL chunk (in message order): a JSON object gives one line, an
 * array of objects one line each; anything else (not JSON, not UTF-8, a scalar, an array holding a
 * non-object) is poison. Pure.
 *
 * @example
 * batchChunk([{ position: "7", id: "7", subject: "ev.a", data: Buffer.from('{"id":1}'), ... }]).text // '{"id":1}\n'
 */
export function batchChunk(messages: readonly StreamMessage[]): BatchChunk {
  const out: string[] = [];
  const poison: PoisonMessage[] = [];
  const poisonLines: { line: number; text: string }[] = [];
  const shape = recordShape();
  const bad = (message: StreamMessage, reason: string, text?: string) => {
    const line = poisonLine(message, reason, text);
    poison.push({ message, reason });
    out.push(line);
    poisonLines.push({ line: out.length, text: line });
  };
  for (const message of messages) {
    let text: string;
    try {
      text = utf8.decode(message.data);
    } catch {
      bad(message, "the payload is not UTF-8 text");
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      bad(
        message,
        `the payload is not JSON (${error instanceof Error ? error.message : String(error)})`,
        text,
      );
      continue;
    }
    const lines = recordLines(text, value, shape.add);
    if (typeof lines === "string") bad(message, lines, text);
    else for (const line of lines) out.push(line);
  }
  let longestLine = 0;
  for (const line of out) if (line.length > longestLine) longestLine = Buffer.byteLength(line);
  const records: OwnRecords = {
    keys: shape.keys,
    flat: shape.flat,
    poison: poisonLines,
    ...(poisonLines.length > 0 ? { goodText: goodLines(out, poisonLines) } : {}),
  };
  return {
    text: out.length > 0 ? `${out.join("\n")}\n` : "",
    lines: out.length,
    poison,
    longestLine,
    records,
  };
}

/** The chunk's lines without its poison lines, as JSON-lines text. */
function goodLines(lines: readonly string[], poison: readonly { line: number }[]): string {
  const skip = new Set(poison.map((p) => p.line - 1));
  const good = lines.filter((_, i) => !skip.has(i));
  return good.length > 0 ? `${good.join("\n")}\n` : "";
}

/** The JSONL lines of a parsed payload (each record told to `seen`), or why it has the wrong shape. */
function recordLines(
  text: string,
  value: unknown,
  seen: (record: Record<string, unknown>) => void,
): string[] | string {
  if (isObject(value)) {
    seen(value);
    return [/[\r\n]/.test(text) ? JSON.stringify(value) : text.trim()];
  }
  if (Array.isArray(value)) {
    if (!value.every(isObject)) return "the payload is an array holding something other than objects";
    for (const v of value) seen(v);
    return value.map((v) => JSON.stringify(v));
  }
  return `the payload is JSON but not an object or an array of objects (${value === null ? "null" : typeof value})`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function poisonLine(message: StreamMessage, reason: string, text?: string): string {
  const payload =
    text !== undefined ? { payload: text } : { payload_base64: Buffer.from(message.data).toString("base64") };
  return `${POISON_MARK}${JSON.stringify({
    subject: message.subject,
    id: message.id,
    position: message.position,
    reason,
    ...payload,
  })}`;
}
