/**
 * Keeps a command going when the reader of its output goes away (`sluice query ... | head`): writes to
 * a closed pipe fail with `EPIPE`, which Node raises as an unhandled `error` event — a stack trace and
 * exit 1 after the command did its work. Such writes are dropped instead; any other stream error is
 * raised as before.
 *
 * @example
 * ignoreClosedOutput(process.stdout);
 */
export function ignoreClosedOutput(stream: NodeJS.WriteStream): void {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
  });
}
