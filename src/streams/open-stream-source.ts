import type { StreamSourceConfig } from "../config/schema.js";
import type { StreamSource } from "./stream-source.js";

/**
 * Opens the stream of a pipeline's source; the client library is loaded on first use only.
 *
 * @example
 * const source = await openStreamSource(pipeline.source, { name: "events" });
 * await source.connect();
 */
export async function openStreamSource(
  config: StreamSourceConfig,
  options: { readonly consumerName?: string } = {},
): Promise<StreamSource> {
  const stream = config.stream;
  const deadLetter = config.dead_letter;
  if (stream.kind === "nats") {
    const { natsStream } = await import("./nats-stream.js");
    return natsStream(stream, {
      deadLetterSubject: deadLetter && "subject" in deadLetter ? deadLetter.subject : undefined,
      maxAckPending: Math.max(20_000, config.batch.max_rows * 4),
    });
  }
  const { redisStream } = await import("./redis-stream.js");
  return redisStream(stream, {
    deadLetterKey: deadLetter && "key" in deadLetter ? deadLetter.key : undefined,
    consumer: stream.consumer ?? options.consumerName,
  });
}
