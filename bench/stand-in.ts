// The capture stand-in in a process of its own, so its work (gunzip, parse, count) does not
// share the measured process's event loop. Answers 'stats' and 'reset' over IPC.
import { CaptureStandIn } from '../test/support/capture-stand-in';

const capture = await new CaptureStandIn({ keepEvents: false, latencyMs: Number(process.env.BENCH_RTT_MS ?? 0) }).start();
let fresh = capture;
process.on('message', async (m: { op: 'stats' | 'reset' | 'stop' }) => {
  if (m.op === 'reset') {
    await fresh.stop();
    fresh = await new CaptureStandIn({ keepEvents: false, latencyMs: Number(process.env.BENCH_RTT_MS ?? 0) }).start();
    process.send!({ url: fresh.url });
  } else if (m.op === 'stats') process.send!({ unique: fresh.unique, received: fresh.received, requests: fresh.requests, rejected: fresh.rejectedBatches.length });
  else {
    await fresh.stop();
    process.exit(0);
  }
});
process.send!({ url: capture.url });
