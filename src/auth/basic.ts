/**
 * HTTP Basic authentication against bcrypt hashes (`basic_auth_users`).
 *
 * - bcrypt runs on libuv's thread pool (@node-rs/bcrypt async), at most `maxConcurrent` at once;
 *   further checks wait in a bounded queue, and beyond that are refused as "busy" instead of
 *   piling up. There is no global lock: checks run in parallel up to the bound.
 * - The queue is fair between source addresses ({@link FairGate}): each address waits in its own
 *   small queue and free slots go round-robin over the addresses, so a flood from one address
 *   costs another address at most one bcrypt run per competing address, never a `busy`.
 * - Successful checks are cached. The cache key is an HMAC (with a per-process random key) over
 *   the length-prefixed user, stored hash and password, so it binds all three unambiguously
 *   (CVE-2022-46146 was a cache keyed by plain concatenation) and holds no plaintext password.
 *   Because the stored hash is part of the key, a password change or a removed user can never be
 *   served from the cache, and the cache safely survives config reloads.
 * - Failed checks are remembered too, keyed the same way plus the client's (fair-queue) source, so
 *   a client repeating a wrong password is answered without another bcrypt run. bcrypt is
 *   deterministic for a given stored hash, so the remembered answer is the one the run would give;
 *   a changed hash is a different key. Keying by source means a fast answer never tells a client
 *   that someone else tried that password.
 * - Sources whose checks fail can be paced ({@link FailurePacer}; the guard does): one bcrypt run at
 *   a time, then a pause three times its length before the next (later checks wait, a few per
 *   source), so a brute force from one address with ever-new passwords takes at most a quarter of
 *   one pool thread, and a client that merely retries still gets its 401.
 * - Unknown users are checked against a decoy hash of the same cost as the configured hashes, so
 *   the response time does not reveal which users exist.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { hash as bcryptHash, verify as bcryptVerify } from '@node-rs/bcrypt';

/** Outcome of a basic-auth check. */
export type BasicAuthResult = 'ok' | 'unknown_user' | 'wrong_password' | 'busy';

/** Options of {@link BasicAuthenticator}. */
export interface BasicAuthenticatorOptions {
  /** bcrypt checks running at once (default 4, the default libuv pool size). */
  maxConcurrent?: number;
  /** Checks allowed to wait for a slot before new ones are refused as busy (default 64). */
  maxQueued?: number;
  /** Checks one source address may have waiting (default {@link DEFAULT_MAX_QUEUED_PER_SOURCE}; at most `maxQueued`). */
  maxQueuedPerSource?: number;
  /** Successful results remembered (default 1024); the oldest is evicted first. */
  cacheSize?: number;
  /** Told after each bcrypt verification with its wall time on the pool, in seconds. */
  onBcrypt?: (seconds: number) => void;
  /**
   * Pacing of sources whose checks fail ({@link FailurePacer}): after a failed check whose bcrypt
   * run took `d`, the source's next check starts `d × failurePacing` later, one at a time (sooner
   * ones wait, a few per source; beyond that busy). 0 (the default here) turns pacing off; the
   * guard uses {@link DEFAULT_FAILURE_PACING}.
   */
  failurePacing?: number;
  /** The pacer's state, to share it across config generations (default: a new one). */
  pacer?: FailurePacer;
}

/**
 * The guard's failure pacing: a failing source gets at most a quarter of one pool thread (one run,
 * then three times its length idle), so a one-address brute force cannot keep a core busy.
 */
export const DEFAULT_FAILURE_PACING = 3;

/** Reads the cost from a bcrypt hash (`$2b$12$…` → 12). */
export function bcryptCost(hash: string): number {
  const m = /^\$2[abxy]\$(\d\d)\$/.exec(hash);
  return m ? Number(m[1]) : 10;
}

/** Default bound on the checks one source address may have waiting (see {@link FairGate}). */
export const DEFAULT_MAX_QUEUED_PER_SOURCE = 8;

/**
 * The queue a client address waits in: IPv4 addresses (also IPv4-mapped IPv6) as they are, IPv6
 * addresses by their /64 prefix — one host usually holds a whole /64, so per-address fairness
 * would let it take as many places as it likes. Anything else (no address) is its own source.
 * @example
 * fairQueueSource('2001:db8:1:2:aaaa::7') // '2001:db8:1:2::/64'
 */
export function fairQueueSource(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIP(address) !== 6) return address;
  const bare = address.replace(/%.*$/, '');
  const [head = '', tail] = bare.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])));
  const h = groups(head);
  const all = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - groups(tail).length)).fill('0'), ...groups(tail)];
  return `${all
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** A waiting check: told `true` when it got a slot, `false` when it was pushed out (busy). */
type Waiter = (granted: boolean) => void;

/**
 * Bounded concurrency with a bounded wait queue that is fair between sources (client addresses).
 *
 * - At most `max` tasks run at once.
 * - Each source has its own FIFO queue of at most `maxQueuedPerSource` waiters; a source over
 *   its cap is refused (busy) for its own excess only.
 * - All queues together hold at most `maxQueued`. When they are full, a newcomer from a source
 *   that holds fewer waiters than the longest queue takes the place of that queue's newest
 *   waiter (which is refused): a flood never pushes a quieter source out, a quieter source can
 *   push the flood back to its fair share.
 * - A freed slot goes to the source next in round-robin order (sources rotate in the order they
 *   started waiting), so with `n` sources waiting, each waits for at most `n - 1` other tasks
 *   per own task, however many the others queued.
 *
 * Deterministic: no timers; the order depends only on the order of `run()` calls and completions.
 */
export class FairGate {
  private running = 0;
  private queued = 0;
  /** Waiters per source; Map order is the round-robin order (the next source to serve is first). */
  private readonly queues = new Map<string, Waiter[]>();
  private readonly perSource: number;

  constructor(
    private readonly max: number,
    private readonly maxQueued: number,
    maxQueuedPerSource = DEFAULT_MAX_QUEUED_PER_SOURCE,
  ) {
    this.perSource = Math.min(maxQueuedPerSource, maxQueued);
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Waiters now, in total or for one source. */
  waiting(source?: string): number {
    return source === undefined ? this.queued : (this.queues.get(source)?.length ?? 0);
  }

  /** Runs `task` for `source` when a slot is free; resolves undefined (busy) when it cannot wait. */
  async run<T>(source: string, task: () => Promise<T>): Promise<T | undefined> {
    if (this.running >= this.max) {
      const granted = await this.wait(source);
      if (!granted) return undefined;
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private wait(source: string): Promise<boolean> {
    const own = this.queues.get(source);
    const ownLength = own?.length ?? 0;
    if (ownLength >= this.perSource) return Promise.resolve(false);
    if (this.queued >= this.maxQueued && !this.evictFor(ownLength)) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      if (own) own.push(resolve);
      else this.queues.set(source, [resolve]);
      this.queued++;
    });
  }

  /** Refuses the newest waiter of the longest queue if it is longer than `ownLength + 1`; true when a place was freed. */
  private evictFor(ownLength: number): boolean {
    let longest: Waiter[] | undefined;
    let longestSource = '';
    for (const [source, queue] of this.queues) {
      if (!longest || queue.length > longest.length) {
        longest = queue;
        longestSource = source;
      }
    }
    // Only a queue that would still be longer than the newcomer's after giving up one place.
    if (!longest || longest.length <= ownLength + 1) return false;
    const evicted = longest.pop()!;
    this.queued--;
    if (longest.length === 0) this.queues.delete(longestSource);
    evicted(false);
    return true;
  }

  private release(): void {
    // Hand the slot straight to the next source in rotation; otherwise free it.
    const next = this.queues.entries().next();
    if (next.done) {
      this.running--;
      return;
    }
    const [source, queue] = next.value;
    const waiter = queue.shift()!;
    this.queued--;
    // Served: this source goes to the back of the rotation (or leaves it when its queue is empty).
    this.queues.delete(source);
    if (queue.length > 0) this.queues.set(source, queue);
    waiter(true);
  }
}

/** How a check got past the {@link FailurePacer}: unpaced (a clean source) or holding its source's slot. */
export type PacerTicket = 'clean' | 'held';

interface PacedSource {
  /** Monotonic ms before which the source's next check may not start. */
  readyAt: number;
  lastFailure: number;
  /** A paced check of this source is running. */
  holding: boolean;
  /** Checks waiting for the slot, in arrival order; told how they got through. */
  waiters: ((ticket: PacerTicket) => void)[];
  timer?: NodeJS.Timeout | undefined;
}

/**
 * Paces the bcrypt work of client sources whose checks fail. A source with a recent failed check
 * runs one check at a time, and the next starts only when the failed run's duration times `ratio`
 * has passed since it ended. Checks that come sooner wait (at most `maxWaiting` per source; beyond
 * that they are refused as busy at once), so a client that simply retries still gets its `401`,
 * only later, while a one-address brute force with ever-new passwords keeps at most
 * `1 / (1 + ratio)` of one pool thread busy. A success clears the source; sources that never
 * failed pass straight through, and known-good credentials never get here (the success cache
 * answers them first).
 *
 * Keyed by source only: whether the claimed user exists plays no part (unknown users fail against
 * the decoy hash like wrong passwords), so pacing reveals nothing about users. Memory is bounded:
 * at most `maxSources` sources (the least recently failed is forgotten first, its waiters going
 * on unpaced), each forgotten `forgetAfterMs` after its last failure.
 */
export class FailurePacer {
  private readonly sources = new Map<string, PacedSource>();

  constructor(
    private readonly ratio: number,
    private readonly maxWaiting = 4,
    private readonly maxSources = 10_000,
    private readonly forgetAfterMs = 60_000,
  ) {}

  /** Lets a check of `source` through, at once or when its turn comes; undefined when it may not wait (busy). */
  acquire(source: string): PacerTicket | undefined | Promise<PacerTicket> {
    const r = this.sources.get(source);
    if (!r) return 'clean';
    const now = performance.now();
    if (!r.holding && r.waiters.length === 0 && now >= r.readyAt) {
      if (now - r.lastFailure >= this.forgetAfterMs) {
        this.sources.delete(source);
        return 'clean';
      }
      r.holding = true;
      return 'held';
    }
    if (r.waiters.length >= this.maxWaiting) return undefined;
    const waiting = new Promise<PacerTicket>((resolve) => r.waiters.push(resolve));
    this.schedule(r);
    return waiting;
  }

  /**
   * Ends a check let through by {@link acquire}: `failed`, with its bcrypt run's duration, holds
   * the source off for `ratio` times that; `ok` forgets the source; `busy` (no run) frees its slot.
   */
  release(source: string, ticket: PacerTicket, outcome: 'ok' | 'failed' | 'busy', runMs = 0): void {
    let r = this.sources.get(source);
    if (outcome === 'ok') {
      if (r) this.forget(source, r);
      return;
    }
    if (r && ticket === 'held') r.holding = false;
    if (outcome === 'failed') {
      const now = performance.now();
      const readyAt = now + runMs * this.ratio;
      if (r) {
        r.readyAt = Math.max(r.readyAt, readyAt);
        r.lastFailure = now;
        // Re-inserted, so Map order is least recently failed first (the eviction order).
        this.sources.delete(source);
      } else {
        r = { readyAt, lastFailure: now, holding: false, waiters: [] };
      }
      this.sources.set(source, r);
      if (this.sources.size > this.maxSources) {
        const [oldest, record] = this.sources.entries().next().value!;
        this.forget(oldest, record);
      }
    }
    if (r) this.schedule(r);
  }

  /** Sources remembered now. */
  get size(): number {
    return this.sources.size;
  }

  /** Checks waiting now, for one source. */
  waiting(source: string): number {
    return this.sources.get(source)?.waiters.length ?? 0;
  }

  /** Hands the slot to the next waiter once the source is ready (now, or by a timer). */
  private schedule(r: PacedSource): void {
    if (r.holding || r.waiters.length === 0 || r.timer) return;
    const wake = (): void => {
      r.timer = undefined;
      if (r.holding) return;
      // A timer may fire a little early (the loop's clock lags performance.now()): wait the rest.
      if (performance.now() < r.readyAt) {
        this.schedule(r);
        return;
      }
      const next = r.waiters.shift();
      if (!next) return;
      r.holding = true;
      next('held');
    };
    const delay = r.readyAt - performance.now();
    if (delay <= 0) wake();
    else {
      r.timer = setTimeout(wake, Math.ceil(delay));
      // Waiting requests keep a server alive anyway; an idle pacer must not keep a process up.
      r.timer.unref();
    }
  }

  /** Drops a source; its waiters go on unpaced. */
  private forget(source: string, r: PacedSource): void {
    this.sources.delete(source);
    clearTimeout(r.timer);
    for (const waiter of r.waiters.splice(0)) waiter('clean');
  }
}

const decoyCache = new Map<number, Promise<string>>();

/** A decoy hash of the given cost, made once per process and cost. */
function decoyHash(cost: number): Promise<string> {
  let decoy = decoyCache.get(cost);
  if (!decoy) {
    decoy = bcryptHash(randomBytes(18).toString('base64url'), { cost });
    decoyCache.set(cost, decoy);
  }
  return decoy;
}

/** A failed check's outcome, as remembered by {@link BasicAuthCache}. */
export type BasicAuthFailure = 'unknown_user' | 'wrong_password';

/**
 * Cache of checked credentials, shared by every config generation of one guard: successes, and
 * recent failures per source address (so a repeated wrong password costs no bcrypt run).
 */
export class BasicAuthCache {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, true>();
  private readonly failures = new Map<string, BasicAuthFailure>();
  /**
   * @param capacity successes remembered (default 1024)
   * @param failureCapacity failed (source, user, hash, password) combinations remembered (default 4096)
   */
  constructor(
    private readonly capacity = 1024,
    private readonly failureCapacity = 4096,
  ) {}

  /** Keyed digest binding user, stored hash and password (each length-prefixed). */
  digest(user: string, storedHash: string, password: string): string {
    return this.mac([user, storedHash, password]);
  }

  /**
   * Keyed digest of a failure: the source address (its fair-queue source), user, stored hash and
   * password, after a domain tag so it can never equal a success digest. The source is part of
   * the key so that a fast answer only ever tells a client about its own earlier attempts, never
   * that someone else recently tried that password.
   */
  failureDigest(source: string, user: string, storedHash: string, password: string): string {
    return this.mac(['failure', source, user, storedHash, password]);
  }

  private mac(parts: readonly string[]): string {
    const mac = createHmac('sha256', this.key);
    for (const part of parts) {
      const bytes = Buffer.from(part, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      mac.update(len).update(bytes);
    }
    return mac.digest('base64');
  }

  has(digest: string): boolean {
    if (!this.entries.has(digest)) return false;
    // Refresh recency: Map keeps insertion order, so re-insert to mark as recently used.
    this.entries.delete(digest);
    this.entries.set(digest, true);
    return true;
  }

  add(digest: string): void {
    this.entries.set(digest, true);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  /** The remembered outcome of a failure digest, if any. */
  failed(digest: string): BasicAuthFailure | undefined {
    const result = this.failures.get(digest);
    if (result !== undefined) {
      this.failures.delete(digest);
      this.failures.set(digest, result);
    }
    return result;
  }

  /** Remembers a failure; the least recently seen one is forgotten beyond the capacity. */
  addFailure(digest: string, result: BasicAuthFailure): void {
    this.failures.delete(digest);
    this.failures.set(digest, result);
    if (this.failures.size > this.failureCapacity) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
  }

  /** Successes remembered. */
  get size(): number {
    return this.entries.size;
  }

  /** Failures remembered. */
  get failureCount(): number {
    return this.failures.size;
  }
}

/** Verifies basic-auth credentials against one generation of `basic_auth_users`. */
export class BasicAuthenticator {
  private readonly gate: FairGate;
  private readonly onBcrypt: ((seconds: number) => void) | undefined;
  private readonly pacer: FailurePacer | undefined;

  private constructor(
    private readonly users: ReadonlyMap<string, string>,
    private readonly decoy: string,
    private readonly cache: BasicAuthCache,
    options: BasicAuthenticatorOptions,
  ) {
    this.gate = new FairGate(options.maxConcurrent ?? 4, options.maxQueued ?? 64, options.maxQueuedPerSource);
    this.onBcrypt = options.onBcrypt;
    this.pacer = options.pacer ?? (options.failurePacing ? new FailurePacer(options.failurePacing) : undefined);
  }

  /**
   * Prepares an authenticator (computes the decoy hash for the highest configured cost).
   * Pass the same `cache` across reloads to keep cached successes that are still valid.
   */
  static async create(users: ReadonlyMap<string, string>, cache: BasicAuthCache, options: BasicAuthenticatorOptions = {}): Promise<BasicAuthenticator> {
    // Exactly the highest configured cost (10 with no users): a floor above it would make unknown
    // users slower than wrong passwords, revealing which users exist.
    const cost = users.size > 0 ? Math.max(...[...users.values()].map(bcryptCost)) : 10;
    return new BasicAuthenticator(users, await decoyHash(cost), cache, options);
  }

  /** The failure pacer in use (to hand to the next config generation), if pacing is on. */
  get failurePacer(): FailurePacer | undefined {
    return this.pacer;
  }

  /** Number of configured users (0 means basic auth is off). */
  get userCount(): number {
    return this.users.size;
  }

  /**
   * Checks a user/password pair. Never throws for bad credentials. `source` is the client's
   * address (after trusted-proxy resolution): bcrypt work is queued fairly between sources, so
   * one address's flood cannot starve another's check. Checks without a source share one queue.
   */
  async verify(user: string, password: string, source = ''): Promise<BasicAuthResult> {
    const stored = this.users.get(user);
    const known = stored !== undefined;
    const hash = stored ?? this.decoy;
    const digest = this.cache.digest(user, hash, password);
    if (known && this.cache.has(digest)) return 'ok';
    const queue = fairQueueSource(source);
    // The same wrong password again from the same source: bcrypt would give the same answer for
    // the same stored hash, so give it without the run. Known and unknown users alike (the decoy
    // hash is part of the key), so the shortcut tells nothing about which users exist.
    const failureDigest = this.cache.failureDigest(queue, user, hash, password);
    const remembered = this.cache.failed(failureDigest);
    if (remembered !== undefined) return remembered;
    const pacer = this.pacer;
    const acquired = pacer?.acquire(queue);
    const ticket = acquired instanceof Promise ? await acquired : acquired;
    if (pacer && ticket === undefined) return 'busy';
    let runMs = 0;
    let matched: boolean | undefined;
    try {
      matched = await this.gate.run(queue, async () => {
        const started = performance.now();
        try {
          return await bcryptVerify(password, hash);
        } finally {
          runMs = performance.now() - started;
          this.onBcrypt?.(runMs / 1000);
        }
      });
    } finally {
      if (pacer && ticket) pacer.release(queue, ticket, matched === undefined ? 'busy' : known && matched ? 'ok' : 'failed', runMs);
    }
    if (matched === undefined) return 'busy';
    if (!known || !matched) {
      const failure: BasicAuthFailure = known ? 'wrong_password' : 'unknown_user';
      this.cache.addFailure(failureDigest, failure);
      return failure;
    }
    this.cache.add(digest);
    return 'ok';
  }
}

/**
 * Parses an `Authorization: Basic …` header (RFC 7617): scheme case-insensitive, base64 of
 * `user:password`, split at the first colon. Returns undefined for anything else.
 */
export function parseBasicAuthorization(header: string | undefined): { user: string; password: string } | undefined {
  if (!header) return undefined;
  const m = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (!m?.[1] || m[1].length % 4 === 1) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
