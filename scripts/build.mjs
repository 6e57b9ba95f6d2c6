// Compiles the CLI to dist/ (esbuild), so `npx backfill` starts without a TypeScript compiler.
// Run by `npm ci` / `npm install` (prepare) and before `npm test`; never committed.
// `node scripts/build.mjs --analyze` also prints what each output file is made of.
import { analyzeMetafile, build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');

// The packages `--help` and a local import load as they start are compiled in: Node resolves and
// reads an external package file by file (zod alone is 95 modules, @posthog/core 68); compiled in,
// a one-record import started about 40 % sooner (measured side by side). Every other dependency (the AWS SDK, the zip,
// CSV and JSON-array readers, loaded only when a command needs them) stays in node_modules.
const BUNDLED = ['commander', 'zod', 'uuid', 'safe-stable-stringify', '@posthog/core', 'posthog-node'];
const deps = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies);
const external = deps.filter((d) => !BUNDLED.includes(d)).flatMap((d) => [d, `${d}/*`]);

// zod's `z` re-exports all its locales (358 kB, half of zod's code, parsed at every start); the
// CLI uses none but English, which zod sets itself. Compiled in, `z.locales` holds English only.
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: join(args.resolveDir, '..', 'locales', 'index.js'), namespace: 'zod-locales' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(join(dirname(args.path), 'en.js'))};\n`,
      resolveDir: dirname(args.path),
    }));
  },
};

const started = Date.now();
rmSync(join(root, 'dist'), { recursive: true, force: true });
const { metafile } = await build({
  absWorkingDir: root,
  entryPoints: ['functions/cli/main.ts', 'functions/cli/send-worker.ts'],
  bundle: true,
  splitting: true, // each command's code loads only when that command runs
  external,
  plugins: [zodEnglishOnly],
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outdir: 'dist',
  // The compiled-in CommonJS packages (commander) require Node's own modules.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  sourcemap: true,
  // Less text for V8 to parse at every start (a posted one-record import ~3 % sooner, measured
  // side by side); names are kept, so stack traces still read (`--enable-source-maps` maps them).
  minifyWhitespace: true,
  minifySyntax: true,
  metafile: true,
  logLevel: 'warning',
});
if (process.argv.includes('--analyze')) console.log(await analyzeMetafile(metafile));
if (process.env.META) writeFileSync(process.env.META, JSON.stringify(metafile));

// The stamp bin/backfill.mjs checks: when the build started and the source files it read. A
// source changed since then means the build is stale (bin/ then runs the sources through tsx).
const sources = Object.keys(metafile.inputs).filter((f) => !f.includes('node_modules/')).map((f) => relative(root, join(root, f)));
writeFileSync(join(root, 'dist', 'BUILT'), `${JSON.stringify({ started, sources })}\n`);
