// etcd 3.4's grpc-gateway JSON mapping (jsonpb with OrigName, EmitDefaults off):
// output uses the proto field names, bytes as base64, 64-bit integers as strings, enums by name,
// zero values and empty lists omitted (a present nested message is printed, even as {}).
// Input accepts proto names and lowerCamel names, base64 bytes, numbers or strings for integers,
// enum names or numbers; unknown fields are ignored (as etcd's gateway does).
import protobuf from 'protobufjs';
import type { PbType } from './proto.js';
import type { Wire } from './convert.js';

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

function isZero(field: protobuf.Field, v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (field.resolvedType instanceof protobuf.Type) return false;
  if (typeof v === 'number') return v === 0;
  if (typeof v === 'boolean') return v === false;
  if (typeof v === 'string') return v === '' || (LONG_TYPES.has(field.type) && v === '0');
  if (v instanceof Uint8Array) return v.length === 0;
  const l = v as { low?: number; high?: number };
  if (typeof l.low === 'number' && typeof l.high === 'number') return l.low === 0 && l.high === 0;
  return false;
}

function scalarToJson(field: protobuf.Field, v: unknown): JsonValue {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return toJson(rt, v as Wire);
  if (rt instanceof protobuf.Enum) {
    const n = typeof v === 'number' ? v : Number(v);
    return rt.valuesById[n] ?? n;
  }
  if (LONG_TYPES.has(field.type)) return String(v); // Long.toString() respects `unsigned`
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  return v as JsonValue;
}

export function toJson(type: PbType, msg: Wire): { [k: string]: JsonValue } {
  const out: { [k: string]: JsonValue } = {};
  for (const field of type.fieldsArray) {
    const v = msg[field.name];
    if (field.repeated) {
      if (!Array.isArray(v) || v.length === 0) continue;
      out[field.name] = v.map((x) => scalarToJson(field, x));
      continue;
    }
    if (isZero(field, v)) continue;
    out[field.name] = scalarToJson(field, v);
  }
  return out;
}

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

const nameMaps = new WeakMap<PbType, Map<string, protobuf.Field>>();

function fieldsByJsonName(type: PbType): Map<string, protobuf.Field> {
  let m = nameMaps.get(type);
  if (!m) {
    m = new Map();
    for (const f of type.fieldsArray) {
      m.set(f.name, f);
      m.set(camel(f.name), f);
    }
    nameMaps.set(type, m);
  }
  return m;
}

/** Go's name for a JSON value's kind, as encoding/json's UnmarshalTypeError prints it. */
function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  return typeof v === 'boolean' ? 'bool' : typeof v === 'number' ? 'number' : 'string';
}

const GO_TYPES: Record<string, string> = {
  bytes: '[]uint8', string: 'string', bool: 'bool', int64: 'int64', uint64: 'uint64', int32: 'int32',
  uint32: 'uint32', sint64: 'int64', sint32: 'int32', fixed64: 'uint64', sfixed64: 'int64', double: 'float64', float: 'float32',
};

/** A JSON value of the wrong kind for a field is refused as etcd's gateway refuses it (Go's
 *  unmarshal error), never read as the field's zero value: a malformed request changes nothing. */
function checkScalar(f: protobuf.Field, v: unknown): void {
  const t = f.type;
  let ok: boolean;
  if (f.resolvedType instanceof protobuf.Enum) ok = typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
  else if (t === 'bytes') ok = typeof v === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v);
  else if (t === 'string') ok = typeof v === 'string';
  else if (t === 'bool') ok = typeof v === 'boolean';
  else ok = (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v));
  if (!ok) {
    if (t === 'bytes' && typeof v === 'string') throw new Error(`illegal base64 data at input byte 0`);
    throw new Error(`json: cannot unmarshal ${jsonKind(v)} into Go value of type ${GO_TYPES[t] ?? t}`);
  }
}

/** Renames JSON keys to proto field names (recursively), dropping unknown ones, and refuses
 *  values of the wrong JSON kind. */
function rename(type: PbType, obj: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (obj === null || obj === undefined) return out;
  if (typeof obj !== 'object' || Array.isArray(obj)) {
    throw new Error(`json: cannot unmarshal ${jsonKind(obj)} into Go value of type etcdserverpb.${type.name}`);
  }
  const fields = fieldsByJsonName(type);
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const f = fields.get(k);
    if (!f || v === null) continue;
    const rt = f.resolvedType;
    if (f.repeated && !Array.isArray(v)) throw new Error(`json: cannot unmarshal ${jsonKind(v)} into Go value of type []${GO_TYPES[f.type] ?? f.type}`);
    if (rt instanceof protobuf.Type) {
      out[f.name] = f.repeated ? (v as unknown[]).map((x) => rename(rt, x)) : rename(rt, v);
    } else {
      if (f.repeated) for (const x of v as unknown[]) checkScalar(f, x);
      else checkScalar(f, v);
      out[f.name] = v;
    }
  }
  return out;
}

/** JSON body (already parsed) to a wire message as Type.decode would produce it. */
export function fromJson(type: PbType, body: unknown): Wire {
  return type.fromObject(rename(type, body)) as unknown as Wire;
}
