/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench -- --cpu-prof DIR`): the functions with
 * the most self time, and self time grouped by where the code lives (our src/, each package, Node internals,
 * native/GC), so "what costs what" can be read off directly.
 *
 *   node --import tsx bench/cpuprofile-top.ts FILE.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: src/…, a package name, node:internal, or a V8 pseudo-frame. */
export function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return 'node:internal';
  const src = /\/(dist|src|bench-dist-\d+)\/(.+)$/.exec(url);
  if (src) return `tokenkeep ${src[2].replace(/\.js$/, '')}`;
  return url;
}

export function summarise(profile: Profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to that sample's node.
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map<string, { us: number; area: string }>();
  const areas = new Map<string, number>();
  for (const [id, us] of self) {
    const { callFrame: f } = byId.get(id)!;
    const where = area(f.url, f.functionName);
    const file = f.url.replace(/^.*\/(node_modules|dist|src)\//, '$1/').replace(/^.*\/bench-dist-\d+\//, 'dist/');
    const key = `${f.functionName || '(anonymous)'}  ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    const e = fns.get(key) ?? { us: 0, area: where };
    e.us += us;
    fns.set(key, e);
    areas.set(where, (areas.get(where) ?? 0) + us);
  }
  // Inclusive: the time of every sample whose stack contains the function (or area) at least once.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (f: CallFrame) =>
    `${f.functionName || '(anonymous)'}  ${f.url.replace(/^.*\/(node_modules|dist|src)\//, '$1/').replace(/^.*\/bench-dist-\d+\//, 'dist/')}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  const stackCache = new Map<number, { fns: Set<string>; areas: Set<string> }>();
  const stackOf = (id: number) => {
    let s = stackCache.get(id);
    if (!s) {
      s = { fns: new Set(), areas: new Set() };
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const f = byId.get(at)!.callFrame;
        if (f.functionName === '(root)') continue;
        s.fns.add(keyOf(f));
        s.areas.add(area(f.url, f.functionName));
      }
      stackCache.set(id, s);
    }
    return s;
  };
  const inclusiveFns = new Map<string, number>();
  const inclusiveAreas = new Map<string, number>();
  for (const [id, us] of self) {
    const st = stackOf(id);
    for (const k of st.fns) inclusiveFns.set(k, (inclusiveFns.get(k) ?? 0) + us);
    for (const a of st.areas) inclusiveAreas.set(a, (inclusiveAreas.get(a) ?? 0) + us);
  }
  const idle = self.get(profile.nodes.find((n) => n.callFrame.functionName === '(idle)')?.id ?? -1) ?? 0;
  const busy = total - idle;
  const sort = <T>(m: Map<string, T>, v: (t: T) => number) => [...m.entries()].sort((a, b) => v(b[1]) - v(a[1]));
  return {
    busyMs: busy / 1000,
    inclusiveFunctions: sort(inclusiveFns, (x) => x).map(([name, us]) => ({ name, ms: us / 1000, share: us / busy })),
    inclusiveAreas: sort(inclusiveAreas, (x) => x).map(([name, us]) => ({ name, ms: us / 1000, share: us / busy })),
    totalMs: total / 1000,
    functions: sort(fns, (e) => e.us).map(([name, e]) => ({ name, area: e.area, ms: e.us / 1000, share: e.us / total })),
    areas: sort(areas, (x) => x).map(([name, us]) => ({ name, ms: us / 1000, share: us / total })),
  };
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } });
  if (positionals.length === 0) {
    process.stderr.write('usage: node --import tsx bench/cpuprofile-top.ts FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  const top = Number(values.top);
  for (const file of positionals) {
    const s = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile);
    const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
    process.stdout.write(`${file}: ${(s.totalMs / 1000).toFixed(1)} s sampled\n\nself time by area\n`);
    for (const a of s.areas.slice(0, top)) process.stdout.write(`${pct(a.share)} ${a.ms.toFixed(0).padStart(8)} ms  ${a.name}\n`);
    process.stdout.write('\ntop functions by self time\n');
    for (const f of s.functions.slice(0, top)) process.stdout.write(`${pct(f.share)} ${f.ms.toFixed(0).padStart(8)} ms  ${f.name}  [${f.area}]\n`);
    process.stdout.write(`\nnon-idle: ${(s.busyMs / 1000).toFixed(1)} s; share of non-idle samples whose stack contains the area\n`);
    for (const a of s.inclusiveAreas.filter((x) => !x.name.startsWith('(')).slice(0, top))
      process.stdout.write(`${pct(a.share)} ${a.ms.toFixed(0).padStart(8)} ms  ${a.name}\n`);
    process.stdout.write('\nshare of non-idle samples whose stack contains the function (tokenkeep, pino, fastify, better-sqlite3 frames)\n');
    const ours = s.inclusiveFunctions.filter((f) => /dist\/|src\/|pino|redact|sonic-boom|fastify\/|fast-json-stringify|ajv|better-sqlite3/.test(f.name));
    for (const f of ours.slice(0, top)) process.stdout.write(`${pct(f.share)} ${f.ms.toFixed(0).padStart(8)} ms  ${f.name}\n`);
    process.stdout.write('\n');
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) main();
