/**
 * The forms `Guard.listen()` accepts, normalised to the `HOST:PORT` strings the server binds. A
 * mistake is a `TypeError` naming the argument, thrown before anything is bound.
 *
 * A bare port number means what `scrapeguard serve` does without `--web.listen-address`: every
 * interface (Go's `:PORT`) when the config has TLS, loopback only (`127.0.0.1:PORT`) when it
 * serves plain HTTP — metrics without TLS do not leave the host unless an address says so.
 */
import { parseListenAddress } from './server.js';

/** What `Guard.listen()` accepts: a port, `HOST:PORT` / `[IPv6]:PORT` / `:PORT`, or a list of those. */
export type ListenAddresses = number | string | readonly (number | string)[];

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 100));
  if (typeof value === 'number') return String(value);
  return `a ${typeof value}`;
}

function one(value: unknown, tls: boolean, where: string): string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 65535) throw new TypeError(`listen: ${where} must be a port from 0 to 65535, got ${describe(value)}`);
    return tls ? `:${value}` : `127.0.0.1:${value}`;
  }
  if (typeof value === 'string') {
    if (/^\d+$/.test(value))
      throw new TypeError(`listen: ${where} ${describe(value)} has no host part; write ":${value}" for every interface or "127.0.0.1:${value}"`);
    try {
      parseListenAddress(value);
    } catch {
      throw new TypeError(`listen: ${where} must be "HOST:PORT", "[IPv6]:PORT", ":PORT" or a port number, got ${describe(value)}`);
    }
    return value;
  }
  throw new TypeError(`listen: ${where} must be a port number, "HOST:PORT", "[IPv6]:PORT" or ":PORT", got ${describe(value)}`);
}

/**
 * Normalises the argument of `Guard.listen()`; `tls` is whether the config in force has TLS.
 * @throws TypeError naming the argument (or the array element) that is not an address.
 * @example
 * listenAddresses(9443, true); // [':9443']
 * listenAddresses(['127.0.0.1:9443', '[::1]:9443'], true);
 */
export function listenAddresses(value: unknown, tls: boolean): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) throw new TypeError('listen: addresses is an empty array; give at least one address');
    return value.map((v, i) => one(v, tls, `addresses[${i}]`));
  }
  return [one(value, tls, 'addresses')];
}
