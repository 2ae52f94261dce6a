/**
 * The fair bcrypt queue (FairGate in src/auth/basic.ts), unit tier: round-robin order between
 * sources, the per-source cap, the global cap and who gets pushed out when it is full, and the
 * source key of an address (IPv6 by /64). Tasks are promises the test settles by hand, so every
 * assertion is about order and counts, never time.
 */
import { describe, expect, it } from 'vitest';
import { hash } from '@node-rs/bcrypt';
import { BasicAuthCache, BasicAuthenticator, FairGate, fairQueueSource } from '../src/auth/basic.js';

/** A gate whose tasks the test completes one by one, recording the order they started in. */
function harness(max: number, maxQueued: number, perSource: number) {
  const gate = new FairGate(max, maxQueued, perSource);
  const started: string[] = [];
  const running: (() => void)[] = [];
  const outcomes: string[] = [];
  const submit = (source: string, label: string): Promise<string> =>
    gate
      .run(source, () => {
        started.push(label);
        return new Promise<string>((resolve) => running.push(() => resolve(label)));
      })
      .then((r) => {
        const outcome = r === undefined ? `${label}:busy` : `${label}:done`;
        outcomes.push(outcome);
        return outcome;
      });
  /** Completes the oldest running task and lets the gate hand its slot on. */
  const completeOne = async (): Promise<void> => {
    running.shift()!();
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  return { gate, started, outcomes, submit, completeOne, settle };
}

describe('FairGate', () => {
  it('serves waiting sources round-robin: one flood cannot make another source wait behind all of it', async () => {
    const h = harness(1, 64, 8);
    const all: Promise<string>[] = [];
    all.push(h.submit('attacker', 'a0')); // runs
    for (let i = 1; i <= 8; i++) all.push(h.submit('attacker', `a${i}`)); // waits (8 = its cap)
    all.push(h.submit('scraper', 's0'));
    all.push(h.submit('other', 'o0'));
    all.push(h.submit('scraper', 's1'));
    await h.settle();
    expect(h.started).toEqual(['a0']);
    expect(h.gate.waiting()).toBe(11);
    while (h.started.length < 12) await h.completeOne();
    // Rotation in the order sources started waiting: attacker, scraper, other, then again.
    expect(h.started).toEqual(['a0', 'a1', 's0', 'o0', 'a2', 's1', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8']);
    while (h.gate.active > 0) await h.completeOne();
    expect((await Promise.all(all)).every((o) => o.endsWith(':done'))).toBe(true);
    expect(h.gate.waiting()).toBe(0);
  });

  it('a source over its own cap is refused (busy) for its excess only, at once', async () => {
    const h = harness(1, 64, 3);
    const all = [h.submit('attacker', 'a0')];
    for (let i = 1; i <= 10; i++) all.push(h.submit('attacker', `a${i}`));
    await h.settle();
    // 1 running + 3 waiting; the other 7 answered busy without waiting for any task.
    expect(h.outcomes).toEqual(['a4:busy', 'a5:busy', 'a6:busy', 'a7:busy', 'a8:busy', 'a9:busy', 'a10:busy']);
    expect(h.gate.waiting('attacker')).toBe(3);
    // Another source still gets a place.
    all.push(h.submit('scraper', 's0'));
    await h.settle();
    expect(h.gate.waiting('scraper')).toBe(1);
    await h.completeOne();
    expect(h.started).toEqual(['a0', 'a1']);
    await h.completeOne();
    expect(h.started).toEqual(['a0', 'a1', 's0']);
    while (h.gate.active > 0) await h.completeOne();
    await Promise.all(all);
  });

  it('global cap: when all queues are full a newcomer pushes back the longest queue, never a shorter one', async () => {
    const h = harness(1, 6, 4);
    const all = [h.submit('a', 'a0')];
    for (let i = 1; i <= 4; i++) all.push(h.submit('a', `a${i}`)); // a: 4 waiting
    all.push(h.submit('b', 'b0'), h.submit('b', 'b1')); // b: 2 waiting → 6 = global cap
    await h.settle();
    expect(h.gate.waiting()).toBe(6);
    expect(h.outcomes).toEqual([]);
    // c holds nothing: it takes the place of the longest queue's newest waiter (a4).
    all.push(h.submit('c', 'c0'));
    await h.settle();
    expect(h.outcomes).toEqual(['a4:busy']);
    expect([h.gate.waiting('a'), h.gate.waiting('b'), h.gate.waiting('c')]).toEqual([3, 2, 1]);
    // d as well (a is still the longest)…
    all.push(h.submit('d', 'd0'));
    await h.settle();
    expect(h.outcomes).toEqual(['a4:busy', 'a3:busy']);
    // …but a is not pushed out below a newcomer's share: with queues a=2 b=2 c=1 d=1, a second
    // waiter of c (it would hold 2) does not displace anyone, it is refused itself.
    all.push(h.submit('c', 'c1'));
    await h.settle();
    expect(h.outcomes).toEqual(['a4:busy', 'a3:busy', 'c1:busy']);
    // And the flooding source itself can never push anyone out.
    all.push(h.submit('a', 'a5'));
    await h.settle();
    expect(h.outcomes.at(-1)).toBe('a5:busy');
    expect(h.gate.waiting()).toBe(6);
    while (h.gate.active > 0 || h.gate.waiting() > 0) await h.completeOne();
    expect(h.started).toEqual(['a0', 'a1', 'b0', 'c0', 'd0', 'a2', 'b1']);
    await Promise.all(all);
  });

  it('the per-source cap never exceeds the global cap', async () => {
    const h = harness(1, 2, 8);
    const all = [h.submit('x', 'x0'), h.submit('x', 'x1'), h.submit('x', 'x2'), h.submit('x', 'x3')];
    await h.settle();
    expect(h.outcomes).toEqual(['x3:busy']);
    while (h.gate.active > 0) await h.completeOne();
    await Promise.all(all);
  });

  it('runs up to max at once and hands a freed slot on without a gap', async () => {
    const h = harness(2, 64, 8);
    const all = ['p', 'q', 'r', 's'].map((s) => h.submit(s, s));
    await h.settle();
    expect(h.started).toEqual(['p', 'q']);
    expect(h.gate.active).toBe(2);
    await h.completeOne();
    expect(h.started).toEqual(['p', 'q', 'r']);
    expect(h.gate.active).toBe(2);
    await h.completeOne();
    await h.completeOne();
    await h.completeOne();
    expect(h.gate.active).toBe(0);
    expect(await Promise.all(all)).toEqual(['p:done', 'q:done', 'r:done', 's:done']);
  });

  it('a task that throws frees its slot', async () => {
    const gate = new FairGate(1, 4, 2);
    await expect(gate.run('x', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(gate.active).toBe(0);
    expect(await gate.run('x', () => Promise.resolve(7))).toBe(7);
  });
});

describe('fairQueueSource', () => {
  it.each([
    ['127.0.0.2', '127.0.0.2'],
    ['::ffff:127.0.0.2', '127.0.0.2'],
    ['::FFFF:10.1.2.3', '10.1.2.3'],
    ['::1', '0:0:0:0::/64'],
    ['2001:db8:1:2:aaaa::7', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:db8::', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['1:2:3::4', '1:2:3:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['', ''],
  ])('%s → %s', (address, key) => {
    expect(fairQueueSource(address)).toBe(key);
  });
});

describe('BasicAuthenticator with sources (real bcrypt, cost 4)', () => {
  it("a flood from one address answers busy for its excess, while another address's first correct login waits its turn", async () => {
    const users = new Map([['prometheus', await hash('right-password', { cost: 4 })]]);
    const auth = await BasicAuthenticator.create(users, new BasicAuthCache(), { maxConcurrent: 1, maxQueued: 64, maxQueuedPerSource: 4 });
    const flood = Array.from({ length: 100 }, (_, i) => auth.verify('prometheus', `guess-${i}`, '127.0.0.2'));
    // Submitted after 100 guesses (FIFO would refuse it: 1 running + 64 queued before it).
    const login = auth.verify('prometheus', 'right-password', '127.0.0.1');
    const results = await Promise.all(flood);
    expect(await login).toBe('ok');
    expect(results.filter((r) => r === 'wrong_password')).toHaveLength(5); // 1 running + 4 queued
    expect(results.filter((r) => r === 'busy')).toHaveLength(95);
    // Known-good credentials keep their fast path: the cache answers, no queue.
    expect(await auth.verify('prometheus', 'right-password', '127.0.0.1')).toBe('ok');
  });
});
