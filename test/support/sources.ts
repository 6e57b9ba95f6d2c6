import { Readable } from 'node:stream';
import type { ByteSource } from '../../functions/core/input';

/** An in-memory byte source, optionally handing out its bytes in small pieces. */
export function bufferSource(data: Buffer | string, uri = 'mem://file', pieceSize = 1 << 16): ByteSource {
  const buf = Buffer.from(data);
  return {
    uri,
    size: buf.length,
    open: async (from = 0) =>
      (async function* () {
        for (let i = from; i < buf.length; i += pieceSize) yield buf.subarray(i, i + pieceSize);
      })(),
    range: (start, end) => Readable.from([buf.subarray(start, end)]),
  };
}

/** A source whose stream always fails after the given bytes (of a larger object), as a broken download does. */
export function brokenSource(head: Buffer | string, message: string, uri = 'mem://broken'): ByteSource {
  const buf = Buffer.from(head);
  return {
    uri,
    size: buf.length + 1,
    open: async (from = 0) =>
      (async function* () {
        if (from < buf.length) yield buf.subarray(from);
        throw new Error(message);
      })(),
    range: () => Readable.from([]),
  };
}
