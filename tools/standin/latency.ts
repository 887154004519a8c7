import { setTimeout as sleep } from 'node:timers/promises';

/** A delay in ms: fixed, or drawn uniformly from a range per request. */
export type Latency = number | { min: number; max: number };

/** One draw of `latency`, in ms (never negative). */
export function drawLatencyMs(latency: Latency): number {
  if (typeof latency === 'number') return Math.max(0, latency);
  const { min, max } = latency;
  return Math.max(0, max <= min ? min : min + Math.random() * (max - min));
}

/** `40` or a range `25-55` (ms), as given on a command line. */
export function parseLatency(text: string): Latency {
  const range = /^(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)$/.exec(text);
  return range ? { min: Number(range[1]), max: Number(range[2]) } : Number(text);
}

/** Waits `ms` unless the server closes meanwhile; false when it does (the socket is about to be destroyed). */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (ms <= 0) return !signal.aborted;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
