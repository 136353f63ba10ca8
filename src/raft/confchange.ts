// Binary encoding of a ConfChange for 'confChange' entries:
//   u8 version (1) | u8 type | u16 BE id length | id (UTF-8) | u32 BE context length | context
// Hand-written so the raft core needs no codec dependency and the bytes are stable on disk.
import type { ConfChange, ConfChangeType } from './types.js';

const VERSION = 1;
const TYPES: readonly ConfChangeType[] = ['addNode', 'removeNode', 'addLearner'];
/** Node ids are 16 hex digits; anything far longer is corrupt. */
const NODE_ID_BYTES_MAX = 256;
/** The context holds a member's attributes (name, peer URLs); 1 MiB is far above any real one. */
const CONTEXT_BYTES_MAX = 1024 * 1024;

const utf8Enc = new TextEncoder();
const utf8Dec = new TextDecoder('utf-8', { fatal: true });

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const t = TYPES.indexOf(cc.type);
  if (t < 0) throw new Error(`encodeConfChange: unknown type ${String(cc.type)}`);
  const id = utf8Enc.encode(cc.nodeId);
  if (id.length > NODE_ID_BYTES_MAX) throw new Error('encodeConfChange: node id too long');
  if (cc.context.length > CONTEXT_BYTES_MAX) throw new Error('encodeConfChange: context too long');
  const out = new Uint8Array(2 + 2 + id.length + 4 + cc.context.length);
  const dv = new DataView(out.buffer);
  out[0] = VERSION;
  out[1] = t;
  dv.setUint16(2, id.length);
  out.set(id, 4);
  dv.setUint32(4 + id.length, cc.context.length);
  out.set(cc.context, 8 + id.length);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < 8) throw new Error('decodeConfChange: too short');
  if (data[0] !== VERSION) throw new Error(`decodeConfChange: unknown version ${data[0]}`);
  const type = TYPES[data[1]!];
  if (type === undefined) throw new Error(`decodeConfChange: unknown type ${data[1]}`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const idLen = dv.getUint16(2);
  if (idLen > NODE_ID_BYTES_MAX || 8 + idLen > data.length) throw new Error('decodeConfChange: bad id length');
  const nodeId = utf8Dec.decode(data.subarray(4, 4 + idLen));
  const ctxLen = dv.getUint32(4 + idLen);
  if (8 + idLen + ctxLen !== data.length) throw new Error('decodeConfChange: bad context length');
  const context = data.slice(8 + idLen);
  return { type, nodeId, context };
}
