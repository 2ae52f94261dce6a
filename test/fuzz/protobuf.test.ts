/**
 * Fuzzing the delimited protobuf decoder (issue #15): arbitrary bytes, and mutations (byte flips,
 * truncations, splices) of real bodies (Prometheus 3.5.3's own /metrics, native histograms).
 * Properties: `decodeProtobuf` either returns families or throws `ProtobufDecodeError` (never a
 * TypeError, RangeError or a hang), its message names family and offset only, and what it
 * decodes survives encode → decode unchanged.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allowPropertyTime } from '../helpers/property-runs.js';
import { decodeProtobuf, encodeProtobuf, ProtobufDecodeError } from '../../src/exposition/protobuf/codec.js';
import { FUZZ_TIMEOUT_MS, fuzzParameters } from './runs.js';

allowPropertyTime();

const fixture = readFileSync(new URL('../fixtures/protobuf/prometheus-3.5.3-metrics.pb', import.meta.url));

/** The first `n` whole families of the fixture (so mutations start from valid input). */
function wholeFamilies(n: number): Buffer {
  let pos = 0;
  for (let i = 0; i < n && pos < fixture.length; i++) {
    let length = 0;
    let shift = 0;
    for (;;) {
      const byte = fixture[pos++]!;
      length += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) break;
    }
    pos += length;
  }
  return fixture.subarray(0, pos);
}

const corpus = [wholeFamilies(3), wholeFamilies(12), fixture.subarray(fixture.indexOf('prometheus_http_request_duration_seconds') - 3)];

function check(body: Uint8Array): void {
  const started = performance.now();
  try {
    const families = decodeProtobuf(body);
    // What decodes re-encodes, and the re-encoding is stable (a first pass rounds ns timestamps to µs
    // and leaves out families without metrics).
    const once = encodeProtobuf(families).body;
    expect(Buffer.compare(encodeProtobuf(decodeProtobuf(once)).body, once)).toBe(0);
  } catch (error) {
    if (!(error instanceof ProtobufDecodeError))
      throw new Error(`decoder threw ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`, { cause: error });
    expect(error.message).toMatch(/^protobuf MetricFamily #\d+ at byte \d+: [^\n]{1,120}$/);
  } finally {
    expect(performance.now() - started).toBeLessThan(2000);
  }
}

describe('fuzz: delimited protobuf decoder', () => {
  it(
    'arbitrary bytes',
    () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), check), fuzzParameters());
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'mutated real bodies',
    () => {
      const mutation = fc.tuple(
        fc.constantFrom(...corpus),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.option(fc.tuple(fc.nat(), fc.nat()), { nil: undefined }),
      );
      fc.assert(
        fc.property(mutation, ([base, flips, cut, splice]) => {
          let b = Buffer.from(base);
          for (const [i, v] of flips) b[i % b.length] = v;
          if (splice) b = Buffer.concat([b.subarray(0, splice[0] % b.length), b.subarray(splice[1] % b.length)]);
          if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
          check(b);
        }),
        fuzzParameters(0.5),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
