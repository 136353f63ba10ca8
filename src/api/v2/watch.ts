// v2 watches (etcd handleKeyWatch): 200 headers flushed at once, then one event (long poll) or one JSON
// line per event (stream=true, chunked). The watcher is removed when the client goes away. Back-pressure:
// the next event is only taken once the socket drained, so a slow client fills its watcher's queue
// (V2_WATCHER_EVENT_QUEUE_MAX in the store), which then drops it, as etcd does.
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { V2Watcher } from '../../store/v2/types.js';
import type { V2Backend } from './backend.js';
import { JSON_CT } from './reply.js';
import { drainedOrGone } from '../http/drain.js';

export function serveWatch(backend: V2Backend, reply: FastifyReply, watcher: V2Watcher, stream: boolean): void {
  reply.hijack();
  const res = reply.raw;
  const headers = reply.getHeaders();
  headers['content-type'] = JSON_CT;
  headers['x-etcd-index'] = String(watcher.startIndex);
  headers['x-raft-index'] = String(backend.raftIndex());
  headers['x-raft-term'] = String(backend.raftTerm());
  res.writeHead(200, headers as Record<string, string>);
  res.flushHeaders();
  res.once('close', () => watcher.remove());
  void pump(res, watcher, stream);
}

async function pump(res: ServerResponse, watcher: V2Watcher, stream: boolean): Promise<void> {
  try {
    for (;;) {
      const ev = await watcher.next();
      if (res.destroyed || res.writableEnded) return;
      if (ev === null) break; // removed (overflow, recovery): end the response, as etcd closes the channel
      const ok = res.write(JSON.stringify(ev) + '\n');
      if (!stream) break;
      if (!ok) await drainedOrGone(res, 'close');
    }
    res.end();
  } catch {
    res.destroy();
  } finally {
    watcher.remove();
  }
}
