// Builds Copy That's exports with the real tools that read them and fails on any error, any
// warning, any `[object Object]`, a missing class, or a user string that became code (S28).
//
// Run by run.sh from the install folder (so bare imports resolve to the pinned packages):
//   node check.mjs WORK_DIR
// WORK_DIR holds `palette.<ext>` (a real palette per format, from `copythat extract`) and
// `hostile.<ext>` (hostile names and set name, from the export_tokens example).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const work = process.argv[2];
if (!work) throw new Error('usage: node check.mjs WORK_DIR');

const modules = join(dirname(fileURLToPath(import.meta.url)), 'node_modules');
/** A file inside an installed package (package `exports` maps hide some from require). */
const pkgFile = (pkg, file) => join(modules, pkg, file);
const version = (pkg) => JSON.parse(readFileSync(pkgFile(pkg, 'package.json'), 'utf8')).version;
const rows = [];
let failures = 0;

// --- What every consumer output must (not) contain. ---

function stripCssComments(css) {
  return css.replace(/\/\*[\s\S]*?\*\//g, '');
}

/** Nothing of the hostile payloads is live: outside comments there is no injected rule,
 * import, URL, tag, script or unresolved object. */
function assertInert(css, what) {
  const code = stripCssComments(css);
  const live = [
    [/\.pwn/, 'an injected rule'],
    [/@import/, 'an injected @import'],
    [/url\(/, 'an injected url()'],
    [/<\/?(style|script)/i, 'a tag'],
    [/alert\(/, 'script'],
    [/\{x\}/, 'an unresolved reference'],
  ];
  for (const [re, name] of live) {
    if (re.test(code)) throw new Error(`${what}: ${name} outside comments: ${code.match(re)[0]}`);
  }
  if (/\*\//.test(code)) throw new Error(`${what}: a stray comment terminator`);
}

function assertValues(css, what) {
  for (const bad of ['[object Object]', 'undefined', 'NaN']) {
    if (css.includes(bad)) throw new Error(`${what}: output holds ${bad}`);
  }
}

/** lightningcss parses it with no error and no warning. */
function lightning(css, what) {
  const { transform } = require('lightningcss');
  const out = transform({ filename: `${what}.css`, code: Buffer.from(css), errorRecovery: true });
  if (out.warnings.length) {
    throw new Error(`${what}: lightningcss: ${out.warnings.map((w) => w.message).join('; ')}`);
  }
  return out.code.toString();
}

/** Custom properties `--color-*` declared in a stylesheet (comments removed). */
function colorVars(css) {
  return [...stripCssComments(css).matchAll(/(--color-[a-z0-9-]+)\s*:\s*([^;}]+)/g)].map((m) => [m[1], m[2].trim()]);
}

/** Token names and hex values, read back from our own Style Dictionary export of the same
 * palette (plain `value` strings). */
function expectedTokens(kind) {
  const doc = JSON.parse(readFileSync(join(work, `${kind}.json`), 'utf8'));
  return Object.entries(doc.color).map(([k, t]) => [k, t.value]);
}

/** The stylesheet declares exactly one `--color-<name>` per token, each with its value when
 * the consumer keeps hex (so a collapsed group or a lost token is caught). */
function assertAllTokens(css, kind, what, { hex = true } = {}) {
  const vars = new Map(colorVars(css));
  const want = expectedTokens(kind);
  for (const [name, value] of want) {
    const got = vars.get(`--color-${name}`);
    if (got === undefined) throw new Error(`${what}: --color-${name} is missing`);
    if (hex && got.toLowerCase() !== value) throw new Error(`${what}: --color-${name} is ${got}, want ${value}`);
  }
  const declared = colorVars(css).length;
  if (declared !== want.length) throw new Error(`${what}: ${declared} --color-* declarations for ${want.length} tokens`);
}

/** Console output of `fn` (Style Dictionary logs there); any warning fails. */
async function quiet(fn, what) {
  const lines = [];
  const saved = { log: console.log, warn: console.warn, error: console.error, info: console.info };
  for (const k of Object.keys(saved)) console[k] = (...a) => lines.push(a.join(' '));
  try {
    await fn();
  } finally {
    Object.assign(console, saved);
  }
  const warned = lines.filter((l) => /warn|error|collision|deprecat/i.test(l));
  if (warned.length) throw new Error(`${what}: ${warned.join(' | ')}`);
}

/** Runs a node CLI; a non-zero exit fails, and so does a warning on either stream. */
function run(args, cwd, what) {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const log = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}: ${log}`);
  if (/warn|error/i.test(log)) throw new Error(`${what}: ${log}`);
  return log;
}

// --- Consumers. Each returns the CSS it built. ---

async function styleDictionary(pkg, kind, ext, { sdTransforms = false } = {}) {
  const { default: StyleDictionary } = await import(pkg);
  const out = join(work, 'out', `${pkg}-${kind}-${ext}${sdTransforms ? '-sd-transforms' : ''}`.replace(/[^a-z0-9.-]/gi, '_')) + '/';
  const platform = { buildPath: out, files: [{ destination: 'vars.css', format: 'css/variables' }] };
  let options = { transformGroup: 'css' };
  if (sdTransforms) {
    const { register } = await import('@tokens-studio/sd-transforms');
    register(StyleDictionary);
    options = { transformGroup: 'tokens-studio', transforms: ['name/kebab'] };
  }
  const sd = new StyleDictionary({
    source: [join(work, `${kind}.${ext}`)],
    log: { warnings: 'error', verbosity: 'verbose' },
    ...(sdTransforms ? { preprocessors: ['tokens-studio'] } : {}),
    platforms: { css: { ...options, ...platform } },
  });
  await quiet(() => sd.buildAllPlatforms(), pkg);
  return readFileSync(join(out, 'vars.css'), 'utf8');
}

function terrazzo(kind) {
  const dir = join(work, 'out', `terrazzo-${kind}`);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'terrazzo.config.mjs');
  writeFileSync(
    config,
    `import { defineConfig } from '@terrazzo/cli';\nimport css from '@terrazzo/plugin-css';\n` +
      `export default defineConfig({ tokens: [${JSON.stringify(join(work, `${kind}.tokens.json`))}], ` +
      `outDir: ${JSON.stringify(dir + '/')}, plugins: [css({ filename: 'tokens.css' })] });\n`,
  );
  run([pkgFile('@terrazzo/cli', 'bin/cli.js'), 'build', '--config', config], dir, 'terrazzo');
  return readFileSync(join(dir, 'tokens.css'), 'utf8');
}

function sass(kind) {
  const sassLib = require('sass');
  const warnings = [];
  const probe = `@use "sass:map";\n@use ${JSON.stringify(`./${kind}`)} as t;\n` +
    `.probe { color: t.$color-primary; background: map.get(t.$colors, "primary"); }\n`;
  const out = sassLib.compileString(probe, {
    loadPaths: [work],
    url: new URL(`file://${work}/probe.scss`),
    logger: { warn: (m) => warnings.push(m), debug: (m) => warnings.push(m) },
  });
  if (warnings.length) throw new Error(`sass: ${warnings.join(' | ')}`);
  const primary = expectedTokens(kind).find(([n]) => n === 'primary');
  if (!primary || !out.css.includes(`color: ${primary[1]}`) || !out.css.includes(`background: ${primary[1]}`)) {
    throw new Error(`sass: the primary colour did not come through: ${out.css}`);
  }
  // The variables file itself compiles (to nothing) with no warning.
  sassLib.compile(join(work, `${kind}.scss`), { logger: { warn: (m) => warnings.push(m) } });
  if (warnings.length) throw new Error(`sass: ${warnings.join(' | ')}`);
  return out.css;
}

const CLASSES = ['bg-primary', 'bg-primary-500', 'bg-primary-500/50'];

function assertClasses(css, what) {
  for (const cls of CLASSES) {
    const selector = '.' + cls.replace('/', '\\/');
    if (!css.includes(selector + ' {') && !css.includes(selector + '{')) {
      throw new Error(`${what}: ${cls} did not generate`);
    }
  }
}

function tailwind3(kind) {
  const dir = join(work, 'out', `tailwind3-${kind}`);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'tailwind.config.cjs');
  writeFileSync(
    config,
    `const c = require(${JSON.stringify(join(work, `${kind}.js`))});\n` +
      `module.exports = { ...c, content: [{ raw: ${JSON.stringify(`<div class="${CLASSES.join(' ')}"></div>`)}, extension: 'html' }] };\n`,
  );
  writeFileSync(join(dir, 'in.css'), '@tailwind utilities;\n');
  const out = join(dir, 'out.css');
  run([pkgFile('tailwindcss3', 'lib/cli.js'), '-c', config, '-i', join(dir, 'in.css'), '-o', out], dir, 'tailwind 3');
  return readFileSync(out, 'utf8');
}

function tailwind4(kind) {
  const dir = join(work, 'out', `tailwind4-${kind}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'in.css'),
    `@import "tailwindcss" source(none);\n@import ${JSON.stringify(join(work, `${kind}.tailwind.css`))};\n` +
      `@source inline(${JSON.stringify(CLASSES.join(' '))});\n`,
  );
  const out = join(dir, 'out.css');
  run([pkgFile('@tailwindcss/cli', 'dist/index.mjs'), '-i', join(dir, 'in.css'), '-o', out], dir, 'tailwind 4');
  return readFileSync(out, 'utf8');
}

// --- The matrix: format x consumer, for the real palette and the hostile one. ---

const SD4 = 'style-dictionary';
const SD5 = 'sd5';
const checks = [
  ['css', 'lightningcss', version('lightningcss'), async (k) => {
    const css = readFileSync(join(work, `${k}.css`), 'utf8');
    const min = lightning(css, 'lightningcss');
    assertAllTokens(css, k, 'lightningcss');
    return min;
  }],
  ['scss', 'sass', version('sass'), async (k) => sass(k)],
  ['dtcg', 'Style Dictionary 5', version(SD5), async (k) => {
    const css = await styleDictionary(SD5, k, 'tokens.json');
    assertAllTokens(css, k, 'Style Dictionary 5');
    return css;
  }],
  ['dtcg', 'Terrazzo', version('@terrazzo/cli'), async (k) => {
    const css = terrazzo(k);
    assertAllTokens(css, k, 'Terrazzo', { hex: false });
    return css;
  }],
  ['dtcg-hex', 'Style Dictionary 4', version(SD4), async (k) => {
    const css = await styleDictionary(SD4, k, 'hex.tokens.json');
    assertAllTokens(css, k, 'Style Dictionary 4');
    return css;
  }],
  ['dtcg-hex', 'sd-transforms + Style Dictionary 4', `${version('@tokens-studio/sd-transforms')} + ${version(SD4)}`, async (k) => {
    const css = await styleDictionary(SD4, k, 'hex.tokens.json', { sdTransforms: true });
    assertAllTokens(css, k, 'sd-transforms');
    return css;
  }],
  ['style-dictionary', 'Style Dictionary 4', version(SD4), async (k) => {
    const css = await styleDictionary(SD4, k, 'json');
    assertAllTokens(css, k, 'Style Dictionary 4');
    return css;
  }],
  ['style-dictionary', 'Style Dictionary 5', version(SD5), async (k) => {
    const css = await styleDictionary(SD5, k, 'json');
    assertAllTokens(css, k, 'Style Dictionary 5');
    return css;
  }],
  ['tailwind', 'Tailwind 3', version('tailwindcss3'), async (k) => {
    const css = tailwind3(k);
    assertClasses(css, 'Tailwind 3');
    return css;
  }],
  ['tailwind4', 'Tailwind 4', version('@tailwindcss/cli'), async (k) => {
    const css = tailwind4(k);
    assertClasses(css, 'Tailwind 4');
    // Tailwind 4 keeps only the theme variables that used classes need.
    const vars = new Map(colorVars(css));
    const primary = expectedTokens(k).find(([n]) => n === 'primary')[1];
    if (vars.get('--color-primary')?.toLowerCase() !== primary) throw new Error(`Tailwind 4: --color-primary is not ${primary}`);
    if (!vars.has('--color-primary-500')) throw new Error('Tailwind 4: --color-primary-500 is missing');
    return css;
  }],
];

for (const [format, consumer, ver, check] of checks) {
  const result = {};
  for (const kind of ['palette', 'hostile']) {
    try {
      const css = await check(kind);
      assertValues(css, consumer);
      assertInert(css, consumer);
      lightning(css, `${consumer} output`);
      result[kind] = 'ok';
    } catch (e) {
      failures += 1;
      result[kind] = 'FAIL';
      console.error(`FAIL ${format} -> ${consumer} (${kind}): ${e.message || e.stack || e}`);
    }
  }
  rows.push([format, consumer, ver, result.palette, result.hostile]);
}

const head = ['format', 'consumer', 'version', 'palette', 'injection (S28)'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ');
console.log('\n' + line(head));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
console.log(`\nnode ${process.version}`);
const passed = rows.length * 2 - failures;
console.log(`${passed} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
