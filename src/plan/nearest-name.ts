/**
 * The candidate a mistyped name most likely meant, or undefined when none is close. Names that differ
 * only in case or separators (`E-mail`, `e_mail`, `email`) match first; otherwise the closest by edits
 * (a swap of two neighbours counts as one), within a third of the name's length. Pure.
 *
 * @example
 * nearestName("dedup", ["dedupe", "derive"]) // => "dedupe"
 * nearestName("email", ["id", "e_mail"]) // => "e_mail"
 * nearestName("zzz", ["dedupe"]) // => undefined
 */
export function nearestName(word: string, candidates: readonly string[]): string | undefined {
  const loose = (s: string) => s.toLowerCase().replace(/[^\p{L}\p{N}]/gu, "");
  const same = candidates.find((c) => c !== word && loose(c) === loose(word));
  if (same !== undefined) return same;
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Edits (insert, delete, replace, swap of neighbours) turning `a` into `b`. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/** `; did you mean \`x\`?` when a candidate is close, else "". */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const near = nearestName(word, candidates);
  return near === undefined ? "" : `; did you mean \`${near}\`?`;
}
