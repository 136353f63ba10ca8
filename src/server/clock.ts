// The member's wall clock. Everything in the server that reads the time reads it here, so a
// fault-injection test can shift it (TSETCD_CLOCK_OFFSET_MS, or setClockOffsetMs at run time)
// and see what a clock jump does. Raft itself never reads a clock.

let offsetMs = Number(process.env.TSETCD_CLOCK_OFFSET_MS ?? 0) || 0;

export function nowMs(): number {
  return Date.now() + offsetMs;
}

export function setClockOffsetMs(ms: number): void {
  offsetMs = ms;
}
