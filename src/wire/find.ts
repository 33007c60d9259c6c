// Typed lookups over an option list. Lists are short (a Solicit carries about
// ten options), so a linear scan beats building a map per message.

import type { Option, OptionKind, OptionOf } from './types.js';

/** The first option of that kind: RFC 8415 §21 makes most options singletons. */
export function findOption<K extends OptionKind>(options: readonly Option[], kind: K): OptionOf<K> | undefined {
  for (const o of options) if (o.kind === kind) return o as OptionOf<K>;
  return undefined;
}

/** Every option of that kind, in wire order (IA_NA, IA_PD, IAADDR, IAPREFIX may repeat). */
export function findOptions<K extends OptionKind>(options: readonly Option[], kind: K): OptionOf<K>[] {
  const out: OptionOf<K>[] = [];
  for (const o of options) if (o.kind === kind) out.push(o as OptionOf<K>);
  return out;
}

/** An option this codec keeps as raw bytes (UNKNOWN), by code. */
export function findUnknown(options: readonly Option[], code: number): OptionOf<'UNKNOWN'> | undefined {
  for (const o of options) if (o.kind === 'UNKNOWN' && o.code === code) return o;
  return undefined;
}
