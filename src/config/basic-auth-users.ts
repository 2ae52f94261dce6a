/** `basic_auth_users`: user names and their bcrypt hashes, checked as exporter-toolkit reads them. */
import { bcryptHashProblem } from './bcrypt-hash.js';
import { Checker, INVALID, quote } from './checker.js';

export function checkUsers(c: Checker, raw: unknown): Map<string, string> | typeof INVALID {
  const P = ['basic_auth_users'] as const;
  const users = new Map<string, string>();
  const m = c.mapping(raw, P);
  if (m === INVALID) return INVALID;
  if (m === undefined) return users;
  let ok = true;
  for (const [user, value] of Object.entries(m)) {
    const path = [...P, user];
    if (user === '') {
      c.error(path, 'empty user name');
      ok = false;
    } else if (user.includes(':')) {
      c.error(path, `user name ${quote(user)} contains ":", which HTTP Basic authentication cannot carry (RFC 7617)`);
      ok = false;
    }
    // The value may be a plaintext password written by mistake: never echo it.
    if (value === null || value === undefined) {
      c.error(path, `no bcrypt hash given for user ${quote(user)}; generate one with \`scrapeguard hash-password\``);
      ok = false;
      continue;
    }
    const hash = c.text(value, path, 'a bcrypt hash (a string)');
    if (typeof hash !== 'string') {
      ok = false;
      continue;
    }
    const problem = bcryptHashProblem(hash);
    if (problem) {
      c.error(path, problem);
      ok = false;
    } else {
      users.set(user, hash);
    }
  }
  return ok ? users : INVALID;
}
