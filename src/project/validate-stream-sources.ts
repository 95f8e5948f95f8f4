import type { ProjectConfig } from "../config/schema.js";
import { redactUrl } from "../redact.js";
import type { ConfigProblem } from "./config-problem.js";

const SCHEMES = { nats: /^(nats|tls):\/\//i, redis: /^rediss?:\/\//i } as const;

/**
 * Config checks of stream sources that need no connection: the URL's scheme fits the kind (the message
 * never holds a password), and the dead letter is a subject for NATS, a key for Redis. Pure.
 *
 * @example
 * streamSourceProblems(config); // [] when fine
 */
export function streamSourceProblems(config: ProjectConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [name, pipeline] of Object.entries(config.pipelines)) {
    const source = pipeline.source;
    if (!("stream" in source)) continue;
    const at = `pipelines.${name}.source`;
    const { kind, url } = source.stream;
    if (!SCHEMES[kind].test(url)) {
      const example = kind === "nats" ? "nats://host:4222" : "redis://host:6379";
      problems.push({ path: `${at}.stream.url`, message: `${redactUrl(url)}: expected ${example}` });
    }
    const dead = source.dead_letter;
    if (dead && kind === "nats" && !("subject" in dead)) {
      problems.push({
        path: `${at}.dead_letter`,
        message: "a NATS stream's dead letter is { subject: ... }",
      });
    }
    if (dead && kind === "redis" && !("key" in dead)) {
      problems.push({ path: `${at}.dead_letter`, message: "a Redis stream's dead letter is { key: ... }" });
    }
    if (pipeline.target.mode === "replace") {
      problems.push({
        path: `pipelines.${name}.target.mode`,
        message: "replace would keep only the last micro-batch of a stream; use append, merge or cdc",
      });
    }
  }
  return problems;
}
