/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after vitest's own
 * report, so any CI log reader can tell how many tests ran without parsing vitest's output; before
 * it, how many end-to-end tests ran against the real binaries (they skip locally when missing).
 */
import type { Reporter, TestModule } from 'vitest/node';
import { propertySeed } from './setup/seed.js';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const e2e = { ran: 0, skipped: 0 };
    for (const module of testModules) {
      const isE2e = /[\\/]test[\\/]e2e[\\/]/.test(module.moduleId);
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
        if (isE2e) {
          if (state === 'passed' || state === 'failed') e2e.ran++;
          else e2e.skipped++;
        }
      }
      // A file that failed to load has no tests but must count as a failure.
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) failed++;
    }
    process.stdout.write(`\ne2e tests against real Prometheus / promtool / node_exporter: ${e2e.ran} ran, ${e2e.skipped} skipped\n`);
    process.stdout.write(`property tests ran with seed ${propertySeed()} (replay or vary with FC_SEED=<n>)\n`);
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
