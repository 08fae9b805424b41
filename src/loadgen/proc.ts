import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Reads memory and CPU figures of one process from /proc (Linux only). */
export class ProcProbe {
  readonly #pid: number;
  readonly #ticksPerSecond: number;

  /** `ticksPerSecond` is the kernel's USER_HZ; see clockTicksPerSecond(). */
  constructor(pid: number, ticksPerSecond: number) {
    this.#pid = pid;
    this.#ticksPerSecond = ticksPerSecond;
  }

  /** Resident set size in kB (VmRSS from /proc/<pid>/status). */
  rssKb(): number {
    const status = readFileSync(`/proc/${this.#pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    if (match?.[1] === undefined) throw new Error(`no VmRSS in /proc/${this.#pid}/status`);
    return Number(match[1]);
  }

  /** User plus system CPU time in milliseconds (utime + stime from /proc/<pid>/stat). */
  cpuMs(): number {
    const stat = readFileSync(`/proc/${this.#pid}/stat`, 'utf8');
    // Fields after the command name, which may itself contain spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`bad /proc/${this.#pid}/stat`);
    return ((utime + stime) * 1000) / this.#ticksPerSecond;
  }
}

/** The kernel's clock ticks per second for /proc CPU times (getconf CLK_TCK, 100 if unknown). */
export function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}
