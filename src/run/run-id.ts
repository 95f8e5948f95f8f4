import { randomBytes } from "node:crypto";
import { timestamp } from "../plan/landing-paths.js";

/**
 * A run id: sortable by time, unique across processes (`20261121T223344Z-9f2c1a`).
 *
 * @example
 * newRunId(new Date()) // "20261121T223344Z-9f2c1a"
 */
export function newRunId(at: Date): string {
  const t = timestamp(at);
  return `${t.slice(0, 8)}T${t.slice(8)}Z-${randomBytes(3).toString("hex")}`;
}
