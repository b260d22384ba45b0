// What both commands do: run the compiled entry (`npm run build` makes dist/) in this very process,
// with source maps switched on before its modules load, so stack traces name the .ts lines.
import { existsSync } from 'node:fs';

export async function runCompiled(command, entryPath) {
  const entry = new URL(entryPath, import.meta.url);
  if (!existsSync(entry)) {
    console.error(`${command}: not built; run \`npm run build\` in the checkout`);
    process.exit(1);
  }
  process.setSourceMapsEnabled(true);
  await import(entry.href);
}
