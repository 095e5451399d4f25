// Writes docs/limits.md from the table in src/limits.ts (run after `npm run build`).
import { writeFileSync } from 'node:fs';
import { limitsMarkdown } from '../dist/src/limits.js';

const head = `# Limits

Every limit a peer, a guest or a registry can push against, with its default and its key in the
config file (\`workd serve --config FILE\`, TOML). Each value is a positive whole number; a
negative, zero or fractional one stops the daemon at start, naming the key. Generated from the one
table, \`src/limits.ts\` (\`npm run gen:limits\`); components read the resolved values from
\`config.limits\` and nowhere else.

\`\`\`toml
[dataplane.http2]
max_concurrent_streams = 500

[dataplane.http3]
idle_timeout_ms = 10000
\`\`\`

`;
writeFileSync(new URL('../docs/limits.md', import.meta.url), head + limitsMarkdown());
