import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = process.env.MIDGE_CRASH_MAIN ?? fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

/** Runs the built `midge log ...` to completion; rejects after `timeoutMs`. */
export function midgeLog(cwd: string, args: string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { child, done } = startMidgeLog(cwd, args, timeoutMs);
  void child;
  return done;
}

/** Starts `midge log ...` (e.g. with --follow); `done` resolves when it exits. */
export function startMidgeLog(cwd: string, args: string[], timeoutMs = 15_000): { child: ChildProcess; output: () => string; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [MAIN, 'log', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`midge log ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, output: () => stdout, done };
}
