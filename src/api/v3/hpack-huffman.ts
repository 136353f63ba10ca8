// The decoder for HPACK's Huffman code (RFC 7541 section 5.2 and Appendix B), for the few header
// values the client port reads before Node's HTTP/2 layer does (h2-intake.ts).
//
// The code is canonical: codes are handed out by length, shortest first, and in symbol order
// within a length. So the code lengths of Appendix B (256 octets, then EOS) determine it fully.

/** Code length in bits of each symbol 0..255, then of EOS (256): RFC 7541 Appendix B. */
// prettier-ignore
const CODE_BITS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];
const EOS = 256;
const MAX_BITS = 30;

/** Per code length: the first code of that length, how many codes have it, and where their
 *  symbols start in SYMBOLS (canonical decoding). */
const FIRST_CODE = new Array<number>(MAX_BITS + 1).fill(0);
const COUNT = new Array<number>(MAX_BITS + 1).fill(0);
const OFFSET = new Array<number>(MAX_BITS + 1).fill(0);
const SYMBOLS: number[] = [...CODE_BITS.keys()].sort((a, b) => CODE_BITS[a]! - CODE_BITS[b]! || a - b);
{
  for (const bits of CODE_BITS) COUNT[bits]!++;
  let code = 0;
  let offset = 0;
  for (let bits = 1; bits <= MAX_BITS; bits++) {
    FIRST_CODE[bits] = code;
    OFFSET[bits] = offset;
    code = (code + COUNT[bits]!) * 2;
    offset += COUNT[bits]!;
  }
}

/** The octets a Huffman-coded string stands for, or undefined if it is not valid HPACK: EOS in
 *  the data, padding longer than 7 bits, or padding that is not a prefix of EOS (all ones). */
export function huffmanDecode(src: Uint8Array): Buffer | undefined {
  const out: number[] = [];
  let code = 0;
  let bits = 0;
  let ones = true; // the bits of the code in progress are all ones (a prefix of EOS)
  for (const byte of src) {
    for (let i = 7; i >= 0; i--) {
      const bit = (byte >> i) & 1;
      code = code * 2 + bit;
      bits++;
      ones &&= bit === 1;
      if (bits > MAX_BITS) return undefined;
      const index = code - FIRST_CODE[bits]!;
      if (index >= 0 && index < COUNT[bits]!) {
        const sym = SYMBOLS[OFFSET[bits]! + index]!;
        if (sym === EOS) return undefined;
        out.push(sym);
        code = 0;
        bits = 0;
        ones = true;
      }
    }
  }
  if (bits > 7 || !ones) return undefined;
  return Buffer.from(out);
}
