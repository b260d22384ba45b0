import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './control-plane/db/schema/index.ts',
  out: './migrations',
  casing: 'snake_case',
});
