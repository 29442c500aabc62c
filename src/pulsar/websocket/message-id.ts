/**
 * The WebSocket API sends message ids as base64 of Pulsar's `MessageIdData` protobuf
 * (1: ledgerId, 2: entryId, 3: partition, 4: batch_index, …). The JSON message carries no topic,
 * so the partition a message came from is read from its id.
 */

/**
 * @internal Partition index encoded in a WebSocket message id, or -1 for a non-partitioned topic
 * (or an id that cannot be read: the caller then names the topic itself, which is still right).
 */
export function partitionOf(messageId: string): number {
  let bytes: Buffer;
  try {
    bytes = Buffer.from(messageId, 'base64');
  } catch {
    return -1;
  }
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    // Field tag: a varint of (field number << 3 | wire type). Tags of this message fit in one byte.
    const tag = bytes[i++] as number;
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) {
      // Varint. Only the partition's value matters; read at most 5 bytes of it (an int32),
      // skip the rest (a negative int32 is sign-extended to 10 bytes).
      let value = 0;
      let shift = 0;
      let byte: number;
      do {
        if (i >= n) return -1;
        byte = bytes[i++] as number;
        if (shift < 35) value += (byte & 0x7f) * 2 ** shift;
        shift += 7;
      } while (byte & 0x80);
      if (field === 3) return value >= 2 ** 31 ? -1 : value;
    } else if (wire === 2) {
      let length = 0;
      let shift = 0;
      let byte: number;
      do {
        if (i >= n) return -1;
        byte = bytes[i++] as number;
        length += (byte & 0x7f) * 2 ** shift;
        shift += 7;
      } while (byte & 0x80);
      i += length;
    } else if (wire === 1) {
      i += 8;
    } else if (wire === 5) {
      i += 4;
    } else {
      return -1;
    }
  }
  return -1;
}
