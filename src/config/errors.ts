// Config errors are operating errors: the operator fixes the file, so every
// problem names the full path of the key it is about, and one load reports
// every problem at once instead of one per edit-and-restart cycle.

export interface ConfigProblem {
  /** "subnets[0].pdPools[1].delegatedLength", or a file position for syntax errors. */
  readonly path: string;
  readonly problem: string;
}

/** Path of the document itself, for problems that are not about any one key. */
export const ROOT_PATH = '(root)';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** Every problem found, in the order found; the first is also `path`/`problem`. */
  readonly errors: readonly ConfigProblem[];

  constructor(
    readonly path: string,
    readonly problem: string,
    errors?: readonly ConfigProblem[],
  ) {
    const all = errors !== undefined && errors.length > 0 ? errors : [{ path, problem }];
    // The first line is exactly `${path}: ${problem}`; the rest follow one per
    // line so a CLI that prints only `message` still shows the whole list.
    super(all.map((e) => `${e.path}: ${e.problem}`).join('\n'));
    this.errors = all;
  }

  static fromProblems(problems: readonly ConfigProblem[]): ConfigError {
    const first = problems[0];
    if (first === undefined) throw new RangeError('ConfigError needs at least one problem');
    return new ConfigError(first.path, first.problem, problems);
  }
}
