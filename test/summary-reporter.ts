/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after vitest's own
 * report, so any CI log reader can tell how many tests ran without parsing vitest's output; before
 * it, how many end-to-end tests ran against the real binaries (they skip locally when missing;
 * each e2e suite runs once per generation: Prometheus 2.42 / node_exporter 1.5 and Prometheus 3.5 /
 * node_exporter 1.11, so both count). Tests of a suite whose beforeAll failed count as failed.
 */
import type { Reporter, TestCase, TestModule } from 'vitest/node';
import { propertySeed } from './setup/seed.js';

/** Whether any suite around `test` (or its file) failed: its hooks threw, so its tests never ran. */
function suiteFailed(test: TestCase): boolean {
  for (
    let parent: TestCase['parent'] | TestModule | undefined = test.parent;
    parent !== undefined;
    parent = parent.type === 'module' ? undefined : parent.parent
  ) {
    if (parent.state() === 'failed') return true;
  }
  return false;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const e2e = { ran: 0, skipped: 0 };
    for (const module of testModules) {
      const isE2e = /[\\/]test[\\/]e2e[\\/]/.test(module.moduleId);
      for (const test of module.children.allTests()) {
        // A test whose suite failed before it ran (a beforeAll throwing, e.g. an e2e suite under CI
        // without its binaries) reports "skipped"; it is a failure.
        const state = test.result().state === 'skipped' && suiteFailed(test) ? 'failed' : test.result().state;
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
