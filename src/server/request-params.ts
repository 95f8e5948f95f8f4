import type { Context } from "hono";
import { SluiceError } from "../errors.js";

/** An integer query parameter within bounds; USAGE (400) names the parameter otherwise. */
export function intParam(c: Context, name: string, fallback: number, min: number, max: number): number {
  const text = c.req.query(name);
  if (text === undefined || text === "") return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new SluiceError("USAGE", `${name}=${text}: expected a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

/** A text query parameter ("" reads as absent). */
export function textParam(c: Context, name: string): string | undefined {
  const text = c.req.query(name)?.trim();
  return text ? text : undefined;
}

/** The run status filter. */
export function statusParam(c: Context): "succeeded" | "failed" | "skipped" | undefined {
  const status = textParam(c, "status");
  if (status === undefined) return undefined;
  if (status !== "succeeded" && status !== "failed" && status !== "skipped") {
    throw new SluiceError("USAGE", `status=${status}: expected succeeded, failed or skipped`);
  }
  return status;
}

/** HTTP status for an error raised while answering. */
export function httpStatus(code: string): 400 | 404 | 409 | 500 | 503 {
  switch (code) {
    case "USAGE":
    case "CONFIG_INVALID":
      return 400;
    case "RUN_NOT_FOUND":
    case "PIPELINE_UNKNOWN":
      return 404;
    case "WAREHOUSE_LOCKED":
    case "CIRCUIT_OPEN":
      return 503;
    default:
      return 500;
  }
}
