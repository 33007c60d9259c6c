// The config loader's entry points: a JSON document to a ServerConfig, or a
// ConfigError that lists every problem with the full path of its key.

import assert from 'node:assert';
import { readFile } from 'node:fs/promises';
import { ConfigError, ROOT_PATH } from './errors.js';
import { positionOf, syntaxErrorOffset } from './json-position.js';
import { resolveConfig } from './resolve.js';
import { Issues } from './schema.js';
import { configShape } from './shape.js';
import type { ServerConfig } from './types.js';

export { ConfigError, type ConfigProblem } from './errors.js';

/** Checks an already parsed JSON value and fills in every default. Throws ConfigError. */
export function parseConfig(json: unknown): ServerConfig {
  const issues = new Issues();
  const input = configShape(json, ROOT_PATH, issues);
  const config = input === undefined ? undefined : resolveConfig(input, issues);
  issues.throwIfAny();
  assert(config !== undefined, 'a config that failed to read must have reported why');
  return config;
}

/** Reads, parses and checks a config file. Throws ConfigError, with "file:line:column" for JSON syntax errors. */
export async function loadConfigFile(path: string): Promise<ServerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, `cannot read the file: ${(e as Error).message}`);
  }
  return parseConfig(parseJsonText(text, path));
}

/** JSON.parse, with syntax errors turned into a ConfigError whose path is `${file}:${line}:${column}`. */
export function parseJsonText(text: string, file: string): unknown {
  // Editors on some systems save a byte order mark; it is not JSON but carries no meaning either.
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  try {
    return JSON.parse(body) as unknown;
  } catch (e) {
    const v8 = e instanceof SyntaxError ? e.message : String(e);
    const offset = syntaxErrorOffset(body) ?? Number(/at position (\d+)/.exec(v8)?.[1] ?? body.length);
    const { line, column } = positionOf(body, offset);
    const reason = v8
      .replace(/ in JSON at position \d+.*$/s, '')
      .replace(/, ".*" is not valid JSON$/s, '')
      .replace(/^Unexpected end of JSON input$/, 'unexpected end of the file');
    throw new ConfigError(`${file}:${line}:${column}`, `invalid JSON: ${reason}`);
  }
}
