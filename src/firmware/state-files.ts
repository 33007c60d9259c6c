// Small JSON records in the state directory (an upgrade's pending step, its
// outcome), written so a power cut leaves the old record or the new one.

import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { writeFileDurably } from './slot-disk.js';

export async function writeJsonDurably(file: string, value: unknown): Promise<void> {
  await writeFileDurably(dirname(file), basename(file), `${JSON.stringify(value, null, 2)}\n`);
}

/** The record, or undefined when there is none or it does not parse (a record cut short is no record). */
export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
