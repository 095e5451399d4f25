// `npm run soak [-- --minutes 5 --cycles 1000 --out .tmp/soak]`: the bounded soak (test/soak/soak.ts), with its
// report printed and written as <out>/soak-<time>.json and .txt; exits 1 when an invariant did not hold.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatReport, runSoak } from './soak.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    cycles: { type: 'string', default: '1000' },
    components: { type: 'string', default: '10' },
    pods: { type: 'string', default: '20' },
    rate: { type: 'string', default: '150' },
    'cycle-rate': { type: 'string', default: '10' },
    out: { type: 'string', default: '.tmp/soak' },
  },
});
const num = (k: keyof typeof values) => {
  const n = Number(values[k]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${k} ${values[k]}: a positive number`);
  return n;
};
const report = await runSoak({
  minMs: num('minutes') * 60_000,
  minCycles: num('cycles'),
  components: num('components'),
  podsPerComponent: num('pods'),
  callsPerSecond: num('rate'),
  cyclesPerSecond: num('cycle-rate'),
  progress: (line) => console.log(line),
});
const text = formatReport(report);
console.log(`\n${text}`);
mkdirSync(values.out!, { recursive: true });
const base = join(values.out!, `soak-${report.startedAt.replace(/[:.]/g, '-')}`);
writeFileSync(`${base}.json`, JSON.stringify(report, null, 2));
writeFileSync(`${base}.txt`, `${text}\n`);
console.log(`report: ${base}.txt, ${base}.json`);
process.exit(report.violations.length === 0 ? 0 : 1);
