// drizzle-kit's configuration (run through `npm run db:generate`). Kept under src/db/ so the project's top
// level stays small; paths are relative to the project root, where npm runs the script.
import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'sqlite',
  schema: ['./src/db/schema.ts', './handlers/_schema.ts'],
  out: './drizzle/sqlite',
})
