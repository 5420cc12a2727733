// Prints the README configuration table from src/config.ts: `npx tsx scripts/config-table.ts`.
import { configTableMarkdown } from '../src/config.js';

process.stdout.write(configTableMarkdown() + '\n');
