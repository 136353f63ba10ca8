// CRC-32C (Castagnoli), the checksum etcd's WAL uses. Node 20 has no zlib.crc32 (added in 22)
// and no CRC-32C at all, so this is a table-driven slicing-by-8 implementation: eight 256-entry
// tables let the loop consume 8 bytes per iteration, which is what makes checksumming every
// record on the write path and every byte of every segment on replay affordable.

const CASTAGNOLI_POLY_REVERSED = 0x82f63b78;
const TABLE_COUNT = 8;

const TABLE: Int32Array = (() => {
  const t = new Int32Array(TABLE_COUNT * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CASTAGNOLI_POLY_REVERSED : c >>> 1;
    t[i] = c;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < TABLE_COUNT; s++) {
      const prev = t[(s - 1) * 256 + i]!;
      t[s * 256 + i] = (prev >>> 8) ^ t[prev & 0xff]!;
    }
  }
  return t;
})();

/**
 * CRC-32C of buf[start, end). `previous` continues a checksum over a preceding range
 * (crc32c(a+b) === crc32c(b, 0, b.length, crc32c(a))). Returns an unsigned 32-bit number.
 */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length, previous = 0): number {
  if (!(start >= 0 && start <= end && end <= buf.length)) {
    throw new RangeError(`crc32c: range [${start}, ${end}) outside buffer of ${buf.length} bytes`);
  }
  const t = TABLE;
  let crc = ~previous;
  let i = start;
  const end8 = end - 8;
  while (i <= end8) {
    const a = crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    crc =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + buf[i + 4]!]! ^
      t[512 + buf[i + 5]!]! ^
      t[256 + buf[i + 6]!]! ^
      t[buf[i + 7]!]!;
    i += 8;
  }
  while (i < end) crc = t[(crc ^ buf[i++]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
