// The config layer's public face: load and check a config file, and the types it produces.

export { loadConfigFile, parseConfig, parseJsonText } from './load.js';
export { ConfigError, type ConfigProblem } from './errors.js';
export { DEFAULTS, INFINITY_SEC, LIMITS, RANGES } from './defaults.js';
export type * from './types.js';
