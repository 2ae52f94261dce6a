/**
 * Session ticket keys, replaced on a timer. Node gives every TLS server a random ticket key when
 * it is created and keeps it for the life of the process; a key that never changes means a
 * stolen key decrypts every ticket (and so every resumed TLS 1.2 session) the server ever issued.
 *
 * Go's crypto/tls rotates its automatic keys every 24 h and keeps the older ones for 7 days to
 * decrypt. Node's `server.setTicketKeys()` holds exactly one key (48 bytes: name, HMAC key, AES
 * key) and offers no list, so a rotation ends every outstanding ticket: those clients make one full
 * handshake and get a ticket under the new key. With the profile's ticket lifetime (5 min) and
 * rotation period (1 h), that is at most one extra handshake per client per hour. A reload builds
 * a new server and therefore a new key as well: tickets never outlive the configuration (client
 * CA, policy) they were issued under.
 */
import { randomBytes } from 'node:crypto';
import type { Server as TlsServer } from 'node:tls';
import { DEFAULT_TLS_PROFILE } from './profile.js';

/** Length of a Node ticket key: 16 bytes key name, 16 bytes HMAC secret, 16 bytes AES key. */
const TICKET_KEY_BYTES = 48;

let active = 0;

/** Number of rotation timers running in this process (for tests: `close()` must release them). */
export function activeTicketKeyRotations(): number {
  return active;
}

/**
 * Replaces the ticket key of `server` with a fresh random one every `periodMs` (default: the
 * profile's `keyRotationSeconds`). The timer is unref'd, and stops when the server emits `close`
 * or when the returned function is called.
 */
export function rotateTicketKeys(server: TlsServer, periodMs = DEFAULT_TLS_PROFILE.sessionTickets.keyRotationSeconds * 1000): () => void {
  const timer = setInterval(() => server.setTicketKeys(randomBytes(TICKET_KEY_BYTES)), periodMs);
  timer.unref();
  active++;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    active--;
    clearInterval(timer);
    server.off('close', stop);
  };
  server.once('close', stop);
  return stop;
}
