/**
 * A file name as Sluice shows and stores it: valid UTF-8 as it is; otherwise every byte that is not part
 * of a valid UTF-8 sequence written as `\xHH` (uppercase hex). Pure.
 *
 * @example
 * escapeName(Buffer.from([0x63, 0x61, 0x66, 0xe9])) // { text: "caf\\xE9", escaped: true }
 * escapeName(Buffer.from("café"))                   // { text: "café", escaped: false }
 */
export function escapeName(raw: Buffer): { readonly text: string; readonly escaped: boolean } {
  const text = raw.toString("utf8");
  // Decoding replaces each invalid byte with U+FFFD; a name that round-trips was valid.
  if (!text.includes("\uFFFD") || Buffer.from(text, "utf8").equals(raw)) return { text, escaped: false };
  let out = "";
  for (let i = 0; i < raw.length; ) {
    const length = sequenceLength(raw, i);
    if (length === 0) {
      out += `\\x${raw[i]!.toString(16).toUpperCase().padStart(2, "0")}`;
      i += 1;
    } else {
      out += raw.subarray(i, i + length).toString("utf8");
      i += length;
    }
  }
  return { text: out, escaped: true };
}

/** Length of the valid UTF-8 sequence starting at `i` (RFC 3629: no overlongs, surrogates, > U+10FFFF), or 0. */
function sequenceLength(bytes: Buffer, i: number): number {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => {
    const b = bytes[i + k];
    return b !== undefined && b >= lo && b <= hi;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
