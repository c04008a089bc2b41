/**
 * CPU time of a process (all its threads) and of its main thread, from /proc, so a run can say what a
 * request costs in CPU and not only how many were answered: on a machine where the load generator shares
 * the cores with the server, requests/s alone hides whether the server got slower or merely got less CPU.
 * The main thread is the one running the event loop, the bottleneck of a Node server.
 */
import { readFileSync } from 'node:fs'

export interface CpuSample {
  /** user + system seconds of every thread of the process */
  process: number
  /** user + system seconds of the main thread (the event loop) */
  main: number
}

const TICKS_PER_SECOND = 100 // USER_HZ: 100 on Linux

/** utime + stime from a /proc stat line (fields 14 and 15; the command name may contain spaces). */
function cpuSeconds(statLine: string): number {
  const fields = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
}

export function sampleCpu(pid: number): CpuSample | undefined {
  try {
    return {
      process: cpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8')),
      main: cpuSeconds(readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8')),
    }
  } catch {
    return undefined // not Linux, or the process has exited
  }
}

/** Per-request CPU over a measured window: µs of the server's main thread, its whole process, the bench. */
export interface CpuPerRequest {
  serverMainUs: number
  serverProcessUs: number
  loadGeneratorUs: number
}

export function cpuPerRequest(
  before: { server: CpuSample; bench: NodeJS.CpuUsage },
  after: { server: CpuSample; bench: NodeJS.CpuUsage },
  requests: number,
): CpuPerRequest | undefined {
  if (requests === 0) return undefined
  const bench = (after.bench.user + after.bench.system - before.bench.user - before.bench.system) / 1e6
  const per = (seconds: number) => Math.round((seconds * 1e7) / requests) / 10
  return {
    serverMainUs: per(after.server.main - before.server.main),
    serverProcessUs: per(after.server.process - before.server.process),
    loadGeneratorUs: per(bench),
  }
}
