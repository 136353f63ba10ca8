// Loads tsetcd's .proto files (proto/ at the repo root) once, with the proto field names kept as
// written (`range_end`, `TTL`, `peerURLs`): the gRPC codec and the gateway's JSON mapping (which
// prints original names, as etcd's grpc-gateway does) share one reflection root.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export type PbType = protobuf.Type;
export type PbService = protobuf.Service;

const PROTO_FILES = [
  'etcdserverpb/rpc.proto',
  'v3lockpb/v3lock.proto',
  'v3electionpb/v3election.proto',
  'grpc/health/v1/health.proto',
];

/** proto/ at the repo root: four levels above dist/src/api/v3/, three above src/api/v3/. */
function protoDir(): string {
  for (const rel of ['../../../../proto/', '../../../proto/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, PROTO_FILES[0]!))) return dir;
  }
  throw new Error('tsetcd: proto/ directory not found next to the build output');
}

function load(): protobuf.Root {
  const dir = protoDir();
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => join(dir, target);
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();
  return root;
}

export const root: protobuf.Root = load();

export function type(name: string): PbType {
  return root.lookupType(name);
}

export function service(name: string): PbService {
  return root.lookupService(name);
}
