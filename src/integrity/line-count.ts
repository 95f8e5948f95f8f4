/**
 * A file's line breaks, counted as its bytes stream by to be hashed: the count a read is checked
 * against (every line of a file is a row read, a header, a blank line, or part of a quoted value).
 */
export interface LineCount {
  /** Line feeds (`\n`, including the one of each `\r\n`). */
  readonly lf: number;
  /** Carriage returns not followed by a line feed (old Mac line ends, or stray). */
  readonly cr: number;
  /** 1 when the content ends without a line break (its last line is still a line), else 0. */
  readonly open: number;
  /** Empty lines (nothing between two breaks, `\r\n` being one break). */
  readonly blank: number;
}

/** Lines of a counted file for a reader that breaks lines at `\n` only or at any break (`\n`, `\r\n`, `\r`). */
export function linesOf(count: LineCount, breaks: "lf" | "any"): number {
  return count.lf + (breaks === "any" ? count.cr : 0) + count.open;
}

/**
 * The counter as JavaScript source, so that the hashing worker (started from source, see
 * `hashInBackground`) and this thread run the same code. Breaks are found with `Buffer.indexOf`
 * (memchr): cheap beside the SHA-256 of the same bytes. A `\r` ending one chunk is settled by the first
 * byte of the next.
 */
export const LINE_COUNTER_SOURCE = `function lineCounter() {
  let lf = 0, cr = 0, blank = 0, base = 0, lineStart = 0, pendingCr = -1, last = -1;
  return {
    write(chunk) {
      const n = chunk.length;
      if (n === 0) return;
      let from = 0;
      if (pendingCr !== -1) {
        if (chunk[0] === 10) { lf++; from = 1; lineStart = base + 1; }
        else { cr++; lineStart = base; }
        pendingCr = -1;
      }
      let nl = chunk.indexOf(10, from);
      let r = chunk.indexOf(13, from);
      while (nl !== -1 || r !== -1) {
        let at;
        let end;
        if (r !== -1 && (nl === -1 || r < nl)) {
          at = r;
          if (r === n - 1) {
            if (base + at === lineStart) blank++;
            pendingCr = r;
            r = -1;
            continue;
          }
          if (chunk[r + 1] === 10) {
            lf++;
            end = r + 2;
            nl = chunk.indexOf(10, end);
          } else {
            cr++;
            end = r + 1;
          }
          r = chunk.indexOf(13, r + 1);
        } else {
          at = nl;
          lf++;
          end = nl + 1;
          nl = chunk.indexOf(10, end);
        }
        if (base + at === lineStart) blank++;
        lineStart = base + end;
      }
      last = chunk[n - 1];
      base += n;
    },
    end() {
      if (pendingCr !== -1) { cr++; pendingCr = -1; }
      return { lf, cr, blank, open: last === -1 || last === 10 || last === 13 ? 0 : 1 };
    },
  };
}`;

/** Counts a stream's line breaks chunk by chunk (see {@link LINE_COUNTER_SOURCE}). */
export interface LineCounter {
  write(chunk: Buffer): void;
  end(): LineCount;
}

// The one implementation, compiled once from its source (shared with the hashing worker).
const compiled = new Function(`${LINE_COUNTER_SOURCE}; return lineCounter;`)() as () => LineCounter;

/**
 * A new line counter.
 *
 * @example
 * const counter = lineCounter(); counter.write(chunk); const { lf, cr, open, blank } = counter.end();
 */
export function lineCounter(): LineCounter {
  return compiled();
}
