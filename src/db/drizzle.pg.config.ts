// drizzle-kit's configuration for PostgreSQL (run through `npm run db:generate`); see drizzle.config.ts.
import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'postgresql',
  schema: ['./src/db/pg-schema.ts', './handlers/_schema.pg.ts'],
  out: './drizzle/pg',
})
