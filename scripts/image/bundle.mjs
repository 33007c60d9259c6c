#!/usr/bin/env node
// Bundles what the appliance runs (twin6d, twin6ctl) from dist/ into a few
// files with esbuild, so that node on a slow board loads 3 files instead of
// ~150 modules of twin6 and ~120 of its dependencies: under TCG, node plus
// twin6d's modules took 5.8 s of a 18.4 s boot to serving (docs/image.md §13).
//
// The entry files keep their paths (dist/cli/twin6d.js, dist/cli/twin6ctl.js),
// so the image's wrappers, the supervisor and every URL twin6 builds from
// import.meta.url (package.json two levels up) stay as they are. The MQTT
// uplink, loaded only when configured (mgmt/index.ts), stays a separate
// chunk. Native addons cannot be bundled: node-gyp-build finds a prebuild
// next to its own package.json, so EXTERNAL stay packages in node_modules,
// and prod-deps.mjs copies only them (and what they need) into the image.
// Names are kept (no identifier minifying) so stack traces in the log read.
//
// usage: bundle.mjs OUTDIR      writes OUTDIR/dist/cli/{twin6d,twin6ctl}.js and chunks
//        bundle.mjs --external  prints EXTERNAL, one a line

import { build } from 'esbuild';
import { join } from 'node:path';

export const EXTERNAL = ['classic-level', 'raw-socket'];

const arg = process.argv[2];
if (arg === '--external') {
  process.stdout.write(EXTERNAL.join('\n') + '\n');
} else if (arg) {
  const result = await build({
    entryPoints: ['dist/cli/twin6d.js', 'dist/cli/twin6ctl.js'],
    outdir: join(arg, 'dist/cli'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: EXTERNAL,
    minifyWhitespace: true,
    minifySyntax: true,
    // CommonJS dependencies (pino, mqtt.js) call require() for node's own
    // modules; an ES module has no require of its own.
    banner: { js: "import { createRequire as __twin6Require } from 'node:module'; const require = __twin6Require(import.meta.url);" },
    chunkNames: 'chunk-[hash]',
    logLevel: 'warning',
    metafile: true,
  });
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  process.stderr.write(`bundle.mjs: ${Object.keys(result.metafile.outputs).length} files, ${bytes} bytes\n`);
} else {
  process.stderr.write('usage: bundle.mjs OUTDIR | --external\n');
  process.exit(2);
}
