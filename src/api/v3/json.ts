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

/** Renames JSON keys to proto field names (recursively), dropping unknown ones. */
function rename(type: PbType, obj: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return out;
  const fields = fieldsByJsonName(type);
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const f = fields.get(k);
    if (!f || v === null) continue;
    const rt = f.resolvedType;
    if (rt instanceof protobuf.Type) {
      out[f.name] = f.repeated && Array.isArray(v) ? v.map((x) => rename(rt, x)) : rename(rt, v);
    } else {
      out[f.name] = v;
    }
  }
  return out;
}

/** JSON body (already parsed) to a wire message as Type.decode would produce it. */
export function fromJson(type: PbType, body: unknown): Wire {
  return type.fromObject(rename(type, body)) as unknown as Wire;
}
