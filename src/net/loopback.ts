/**
 * Whether a host name or address stays on this machine: where the sidecar may send the caller's
 * identity or skip certificate checks, and where a service-account token may go over plain HTTP.
 */
import { isIP } from 'node:net';

/** Whether a URL host is loopback, so traffic to it never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
