const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

/**
 * @internal MurmurHash3 (x86, 32-bit) of the UTF-8 bytes of `text`, as an unsigned integer. Pulsar
 * hashes sticky keys with the same function family; assignments of keys to consumers are alike in
 * spirit, not bit-identical to a real broker's.
 */
export function murmur3(text: string, seed = 0): number {
  const length = text.length;
  // Fast path: ASCII strings are their own UTF-8 bytes, so hash the char codes without encoding.
  let h = seed | 0;
  let i = 0;
  const blocks = length & ~3;
  for (; i < blocks; i += 4) {
    const a = text.charCodeAt(i);
    const b = text.charCodeAt(i + 1);
    const c = text.charCodeAt(i + 2);
    const d = text.charCodeAt(i + 3);
    if ((a | b | c | d) > 0x7f) return murmur3Bytes(encodeUtf8(text), seed);
    h = mixBlock(h, a | (b << 8) | (c << 16) | (d << 24));
  }
  let k = 0;
  for (let shift = 0; i < length; i++, shift += 8) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return murmur3Bytes(encodeUtf8(text), seed);
    k |= code << shift;
  }
  if ((length & 3) !== 0) h ^= mixK(k);
  return finalize(h, length);
}

/** @internal MurmurHash3 (x86, 32-bit) of `bytes`, as an unsigned integer. */
export function murmur3Bytes(bytes: Uint8Array, seed = 0): number {
  const length = bytes.length;
  let h = seed | 0;
  let i = 0;
  const blocks = length & ~3;
  for (; i < blocks; i += 4) {
    h = mixBlock(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  }
  let k = 0;
  for (let shift = 0; i < length; i++, shift += 8) k |= bytes[i]! << shift;
  if ((length & 3) !== 0) h ^= mixK(k);
  return finalize(h, length);
}

function encodeUtf8(text: string): Uint8Array {
  // Up to 3 bytes per UTF-16 unit; reuse one buffer since keys are hashed one at a time.
  if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3);
  const { written } = encoder.encodeInto(text, scratch);
  return scratch.subarray(0, written);
}

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixBlock(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finalize(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
