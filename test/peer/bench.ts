// Throughput of the peer transport: 1 KiB MsgApp-like messages over loopback between two
// transports in one process. Not a test (no .test suffix); run after building:
//   node dist/test/peer/bench.js [messages=200000] [entryBytes=1024] [perSend=64]
// The sender keeps at most WINDOW messages in flight (sent, not yet delivered), as raft's
// inflight window does, so the queue limit is never hit.
import { app, member } from './helpers.js';

const A = 'aaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbb';
const WINDOW = 2048;

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 200_000);
  const entryBytes = Number(process.argv[3] ?? 1024);
  const perSend = Number(process.argv[4] ?? 64);
  const a = await member(A);
  let delivered = 0;
  let wakeSender: (() => void) | null = null;
  const b = await member(B, {
    onMessage: () => {
      delivered++;
      if (wakeSender && total - delivered >= 0) {
        const w = wakeSender;
        wakeSender = null;
        w();
      }
    },
  });
  a.t.addPeer(B, [b.url]);
  while (a.t.activeSince(B) === null) await new Promise((r) => setTimeout(r, 5));
  const msgs = Array.from({ length: perSend }, (_, i) => app(A, B, i, entryBytes));
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    if (sent - delivered + perSend > WINDOW) {
      await new Promise<void>((r) => (wakeSender = r));
      continue;
    }
    a.t.send(msgs);
    sent += perSend;
    if (sent % (perSend * 8) === 0) await new Promise((r) => setImmediate(r));
  }
  while (delivered < sent) await new Promise((r) => setTimeout(r, 1));
  const s = (performance.now() - t0) / 1000;
  const st = a.t.stats()[B]!;
  const mb = st.sentBytes / 1e6;
  process.stdout.write(
    `${sent} msgs of ${entryBytes} B entry in ${s.toFixed(2)} s: ${Math.round(sent / s)} msg/s, ` +
      `${(mb / s).toFixed(1)} MB/s on the wire, ${st.socketWrites} socket writes ` +
      `(${(sent / st.socketWrites).toFixed(0)} msgs/write), dropped ${st.droppedMessages}\n`,
  );
  await a.t.close();
  await b.t.close();
}

await main();
