/**
 * Runs before every test file: every fast-check property uses the suite's seed (see seed.ts).
 * Tests that pass their own `seed` (or the fuzz targets' `FUZZ_SEED`) keep it.
 */
import fc from 'fast-check';
import { propertySeed } from './seed.js';

fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: propertySeed() });
