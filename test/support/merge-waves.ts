/*
 * The files of the merge crash tests: wave w holds files 2w and 2w+1, keys [w*rows/2 + j*rows, +rows).
 * Files of one run never share a key (a key twice in a batch is refused), so the overlaps span waves:
 * later waves update keys of earlier ones and add new ones. `name` changes with the file only for keys
 * divisible by 3, `amount` except for keys divisible by 5: some matched rows are unchanged, and a merge
 * must not count them as updated.
 */

/** The keys of file `f` (`rows` of them). */
export function waveKeys(rows: number, f: number): number[] {
  const from = Math.floor(f / 2) * (rows / 2) + (f % 2) * rows;
  return Array.from({ length: rows }, (_, i) => from + i);
}

/** The row of key `id` in file `f`. */
export function waveRow(f: number, id: number): { id: number; name: string; amount: number } {
  return {
    id,
    name: id % 3 === 0 ? `item ${id} v${f}` : `item ${id}`,
    amount: (id % 97) / 4 + (id % 5 === 0 ? 0 : f),
  };
}
