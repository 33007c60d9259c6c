// The RFC 8156 test peer's own self-test (test/peer/test_peer.py: codec,
// state table, acceptance rules, pairs of real processes over ::1), run by
// vitest so CI runs it with everything else. Skips without python3, unless
// T6_LAB_REQUIRED=1 says it must run.

import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labEnv, python3, tail } from '../../src/testing/lab/index.js';

const REQUIRED = process.env['T6_LAB_REQUIRED'] === '1';
const py = python3();
if (!py && REQUIRED) throw new Error('T6_LAB_REQUIRED=1 but python3 is missing (the RFC 8156 test peer)');
if (!py) console.warn('[rfc8156-peer-selftest.test] skipping: python3 is missing');

describe.skipIf(!py)('the RFC 8156 test peer (test/peer)', () => {
  it('passes its own unittest suite', async () => {
    const t0 = Date.now();
    // Everything on loopback; the output is only read, for the failure message and the test count.
    const child = spawn(py!, ['-m', 'unittest', 'discover', '-s', resolve('test/peer')], {
      env: labEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
    expect(code, tail(out, 60)).toBe(0);
    const ran = /Ran (\d+) tests?/.exec(out);
    expect(Number(ran?.[1] ?? 0), 'tests run').toBeGreaterThanOrEqual(39);
    console.info(`[rfc8156-peer-selftest.test] ${ran?.[0]} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 120_000);
});
