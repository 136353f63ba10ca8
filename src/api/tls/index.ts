// TLS for tsetcd: certificates (certs.ts), etcd's auto-TLS fixtures (auto.ts), and the TLS
// contexts of the client port and the peer transport (context.ts).
export * from './certs.js';
export * from './auto.js';
export * from './context.js';
