/** Process entry for `npm start`: the service exactly as configured, no development conveniences. */
import { run } from './run.ts'

void run({ dev: false })
