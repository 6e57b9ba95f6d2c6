// The capture stand-in in a process of its own, so its work (gunzip, parse, count) does not
// share the measured process's event loop; and that work deferred until the run is over (asked
// for 'stats'), so it takes no CPU from the importer on the same cores either: a real capture
// runs on other machines. Answers 'stats' and 'reset' over IPC.
import { CaptureStandIn } from '../test/support/capture-stand-in';

const start = () => new CaptureStandIn({ keepEvents: false, deferChecks: true, latencyMs: Number(process.env.BENCH_RTT_MS ?? 0) }).start();
let fresh = await start();
process.on('message', async (m: { op: 'stats' | 'reset' | 'stop' }) => {
  if (m.op === 'reset') {
    await fresh.stop();
    fresh = await start();
    process.send!({ url: fresh.url });
  } else if (m.op === 'stats') {
    fresh.settle();
    process.send!({ unique: fresh.unique, received: fresh.received, requests: fresh.requests, rejected: fresh.rejectedBatches.length });
  } else {
    await fresh.stop();
    process.exit(0);
  }
});
process.send!({ url: fresh.url });
