/**
 * swarmlet: the control plane's command.
 *
 *   swarmlet serve                 the control plane (what `npm start` runs), configured by the environment
 *   swarmlet migrate               apply migrations to LIBSQL_URL (for Workers)
 *   swarmlet install | uninstall   the systemd unit that runs `serve` at boot
 */
import { parseArgs } from 'node:util';
import { packageVersion } from '../protocol/package-info.ts';
import { installService, uninstallService } from '../protocol/service-install.ts';
import { CONTROL_PLANE_UNIT, controlPlaneUnit, DEFAULT_SERVICE_DATA_DIR, DEFAULT_SERVICE_ENV_FILE } from './service.ts';

const USAGE = `Usage:
  swarmlet serve                 run the control plane in the foreground; settings from the environment
                                 (PORT, HOST, DATA_DIR, PUBLIC_URL, TLS, KEK…: see the README's table)
  swarmlet migrate               apply the database migrations to LIBSQL_URL and exit (for Workers)
  swarmlet install [options]     install and start the systemd unit swarmlet.service (runs serve)
  swarmlet uninstall [options]   stop it and remove the unit (the data dir stays)
  swarmlet --version

Options of install:
  --data-dir DIR       the unit's DATA_DIR (${DEFAULT_SERVICE_DATA_DIR})
  --env-file FILE      further settings, read by the unit if it exists (${DEFAULT_SERVICE_ENV_FILE});
                       put KEK, LIBSQL_AUTH_TOKEN and ADMIN_TOKEN there (mode 0600), never in the unit
  --log-format F       text or json (json)
  --unit-dir DIR       where the unit goes (/etc/systemd/system; without systemd running, install
                       prints the unit unless this is given)`;

class UsageError extends Error {}

function parseCommandLine(argv: string[]) {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'data-dir': { type: 'string' },
        'env-file': { type: 'string' },
        'log-format': { type: 'string' },
        'unit-dir': { type: 'string' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    return { values, command: positionals[0], rest: positionals.slice(1) };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function main(argv: string[]): Promise<number | 'serving'> {
  const { values, command, rest } = parseCommandLine(argv);
  if (values.version) {
    console.log(`swarmlet ${packageVersion()}`);
    return 0;
  }
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  const service = { ...(values['unit-dir'] ? { unitDir: values['unit-dir'] } : {}), say: (line: string) => console.log(line) };
  switch (command) {
    case 'serve':
      // The server module starts on import and keeps the process; its own errors end it.
      await import('./server.ts');
      return 'serving';
    case 'migrate':
      await import('./db/apply-migrations.ts');
      return 0;
    case 'install': {
      const logFormat = values['log-format'] ?? 'json';
      if (logFormat !== 'text' && logFormat !== 'json') throw new UsageError(`invalid --log-format '${logFormat}': expected text or json`);
      const unit = controlPlaneUnit({ dataDir: values['data-dir'] ?? DEFAULT_SERVICE_DATA_DIR, envFile: values['env-file'] ?? DEFAULT_SERVICE_ENV_FILE, logFormat });
      await installService(unit, service);
      return 0;
    }
    case 'uninstall':
      await uninstallService(CONTROL_PLANE_UNIT, service);
      return 0;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 'serving') process.exit(code);
  },
  (err) => {
    if (err instanceof UsageError) {
      console.error(`swarmlet: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    console.error(`swarmlet: ${(err as Error).message}`);
    process.exit(1);
  },
);
