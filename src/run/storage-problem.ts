import { firstLine } from "../errors.js";

const reasons: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exhausted",
  EROFS: "the file system is read-only",
  EACCES: "permission denied",
  EPERM: "permission denied",
};

/**
 * One line naming a landing-zone file that could not be written and why, in words for the errors a
 * disk gives (a full disk says so) rather than the system call's message with its temporary paths.
 *
 * @example
 * storageWriteProblem(enospc, "quarantine/orders/r1/rows.jsonl");
 * // "quarantine/orders/r1/rows.jsonl: could not be written: no space left on the device (ENOSPC)"
 */
export function storageWriteProblem(error: unknown, path: string): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const reason = code ? reasons[code] : undefined;
  if (reason) return `${path}: could not be written: ${reason} (${code})`;
  const message = error instanceof Error ? error.message : String(error);
  return `${path}: could not be written: ${firstLine(message)}`;
}

/** Whether an error is a disk refusing a write (full, over quota, read-only, not permitted). */
export function isStorageWriteError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code !== undefined && code in reasons;
}
