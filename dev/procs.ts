// What /proc says about other processes (Linux): enough to tell a live owner from a reused pid, find the
// processes a dead `extauth dev` left behind, and wait for a process that is not our child to exit.
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcStat {
  comm: string;
  state: string;
  ppid: number;
  /** Clock ticks after boot at which the process started: with the pid, it names one process even after pid reuse. */
  startTime: number;
}

export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Format: "pid (comm) state ppid ..."; comm may itself contain spaces or parentheses.
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    // fields[0] is field 3 of proc(5) (state); starttime is field 22.
    return { comm: text.slice(open + 1, close), state: fields[0] ?? '', ppid: Number(fields[1]), startTime: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/** The arguments a process was started with (empty for kernel threads); undefined when it is gone or unreadable. */
export async function readCommandLine(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((arg) => arg !== '');
  } catch {
    return undefined;
  }
}

export async function listPids(): Promise<number[]> {
  try {
    return (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return []; // no /proc (not Linux)
  }
}

/** Running processes other than this one whose command line names `text` (a run's folder): what a stop left behind. */
export async function processesNaming(text: string): Promise<Array<{ pid: number; args: string[] }>> {
  const found: Array<{ pid: number; args: string[] }> = [];
  for (const pid of await listPids()) {
    if (pid === process.pid) continue;
    const args = await readCommandLine(pid);
    if (args?.some((arg) => arg.includes(text)) && (await isRunning(pid))) found.push({ pid, args });
  }
  return found;
}

/** Alive and not a zombie; without /proc, whatever kill(pid, 0) says. */
export async function isRunning(pid: number): Promise<boolean> {
  const proc = await readProcStat(pid);
  if (proc) return proc.state !== 'Z';
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err instanceof Error && 'code' in err && err.code === 'EPERM';
  }
}

/** Resolves true once `pid` has exited, false if it still runs after timeoutMs. */
export async function waitForExit(pid: number, timeoutMs: number, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(pollMs);
  }
  return true;
}

/** Sends `signal`, and SIGKILL if the process is still there after graceMs. Resolves once it has exited. */
export async function stopProcess(pid: number, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // gone meanwhile
    }
  };
  send(signal);
  if (await waitForExit(pid, graceMs)) return;
  send('SIGKILL');
  await waitForExit(pid, 5_000);
}
