import { loadConfig } from '../config.ts';
import { openDatabase } from './open.ts';

/** `npm run db:migrate`: applies migrations to LIBSQL_URL (for Workers, whose app never migrates). */
const config = loadConfig();
const database = await openDatabase(config.libsqlUrl, config.libsqlAuthToken, config.db);
database.close();
console.log(`migrations applied to ${config.libsqlUrl.replace(/\?.*/, '')}`);
