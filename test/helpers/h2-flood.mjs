/**
 * HTTP/2 stream flood, run as a child process so the attacker's own work does not share the
 * guard's event loop (or its RSS) in the test process. Opens h2 sessions from a given source
 * address, `parallel` at a time, until the deadline; each sends HEADERS for GET /metrics as fast
 * as the socket takes them and never a WINDOW_UPDATE. Even-numbered sessions parse what arrives
 * (to count RST_STREAM and GOAWAY codes) without granting window; odd ones do not read the TCP
 * socket at all. With `maxStreamsPerSession`, a session sends that many requests and then waits,
 * connected and not reading, until the deadline; with `sessionsTotal`, no more sessions are opened
 * after that many. Prints one JSON line with the tally and exits.
 *
 * Usage: node h2-flood.mjs '{"port":..,"host":"127.0.0.1","localAddress":"127.0.0.2","caFile":"..","durationMs":10000,"parallel":4}'
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

const options = JSON.parse(process.argv[2] ?? '{}');
const ca = readFileSync(options.caFile, 'utf8');

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
function frame(type, flags, streamId, payload = Buffer.alloc(0)) {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const GOAWAY = 0x7;
const ACK = 0x1;
const END_STREAM_END_HEADERS = 0x5;
// HPACK (RFC 7541): :method GET (static 2), :scheme https (static 7), then :path /metrics and
// :authority localhost as literals without indexing on static names 4 and 1.
const GET_METRICS = Buffer.concat([Buffer.from([0x82, 0x87, 0x04, 8]), Buffer.from('/metrics'), Buffer.from([0x01, 9]), Buffer.from('localhost')]);

const out = { sessions: 0, streamsSent: 0, resets: {}, goaways: {} };
const bump = (m, code) => (m[String(code)] = (m[String(code)] ?? 0) + 1);
const deadline = Date.now() + options.durationMs;

function session(reading) {
  return new Promise((resolve) => {
    out.sessions++;
    let pending = Buffer.alloc(0);
    const tcp = netConnect({ port: options.port, host: options.host, localAddress: options.localAddress });
    tcp.on('error', () => undefined);
    const socket = tlsConnect({ socket: tcp, ca, servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
      socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)]));
      if (!reading) socket.pause();
      let stream = 1;
      const limit = options.maxStreamsPerSession ?? Infinity;
      let sent = 0;
      const pump = () => {
        if (socket.destroyed || Date.now() > deadline || stream > 2 ** 31 - 200) {
          socket.destroy();
          return;
        }
        if (sent >= limit) return;
        const batch = [];
        for (let i = 0; i < 64 && sent < limit; i++, sent++, stream += 2) batch.push(frame(HEADERS, END_STREAM_END_HEADERS, stream, GET_METRICS));
        out.streamsSent += batch.length;
        if (socket.write(Buffer.concat(batch))) setImmediate(pump);
        else socket.once('drain', pump);
      };
      pump();
    });
    socket.on('data', (d) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 9) {
        const len = pending.readUIntBE(0, 3);
        if (pending.length < 9 + len) break;
        const type = pending[3];
        if (type === SETTINGS && (pending[4] & ACK) === 0) socket.write(frame(SETTINGS, ACK, 0));
        if (type === RST_STREAM && len >= 4) bump(out.resets, pending.readUInt32BE(9));
        if (type === GOAWAY && len >= 8) bump(out.goaways, pending.readUInt32BE(13));
        pending = pending.subarray(9 + len);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    // A paused socket never sees the server's close: give up at the deadline.
    const timer = setTimeout(() => socket.destroy(), Math.max(0, deadline - Date.now()) + 100);
  });
}

let index = 0;
await Promise.all(
  Array.from({ length: options.parallel }, async () => {
    while (Date.now() < deadline && index < (options.sessionsTotal ?? Infinity)) {
      await session(index++ % 2 === 0);
      await new Promise((r) => setTimeout(r, 20));
    }
  }),
);
process.stdout.write(`${JSON.stringify(out)}\n`);
