/** Process entry for `npm run dev`: development mode (see src/dev/dev-mode.ts). Refused in production. */
import { run } from './run.ts'

void run({ dev: true })
