import { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import { awsClients, type AwsCredentials } from '../adapters/aws/clients';
import { DynamoCheckpoints } from '../adapters/aws/dynamo-checkpoints';
import { EmfMetrics } from '../adapters/aws/emf-metrics';
import { chunkActivity, listFiles } from '../adapters/aws/manifests';
import { readEnv, type HandlerEnv } from '../config';
import { stalled } from '../core/progress';
import { later } from '../core/rate';
import { METRIC } from '../pipeline/metrics';

const MonitorEnv = z.object({ STALLED_AFTER_MS: z.coerce.number().int().positive().default(30 * 60_000) });

/**
 * Runs on a schedule: publishes how many unfinished files made no progress for
 * STALLED_AFTER_MS (the FilesStalled alarm watches it) and logs their ids. A stalled file has
 * no running Lambda that could report it, hence a check from outside.
 */
export function createMonitor(env: HandlerEnv, afterMs = MonitorEnv.parse(process.env).STALLED_AFTER_MS, overrides: { credentials?: AwsCredentials } = {}) {
  const logger = new Logger({ serviceName: 'backfill-monitor' });
  const aws = awsClients(overrides.credentials ? { credentials: overrides.credentials } : {});
  const checkpoints = new DynamoCheckpoints(aws.ddb, env.CHECKPOINT_TABLE);
  const metrics = EmfMetrics.forService('backfill-monitor');

  return async (): Promise<{ active: number; stalled: string[] }> => {
    const now = Date.now();
    const out: string[] = [];
    const active = (await listFiles(aws.ddb, env.CHECKPOINT_TABLE)).filter((f) => f.status !== 'reported' && !f.cancelled);
    for (const f of active) {
      const m = await checkpoints.getManifest(f.fileId);
      if (!m) continue;
      // Without an updatedAt on the manifest, the latest done chunk is the last progress.
      const last = m.updatedAt ?? later((await chunkActivity(aws.ddb, env.CHECKPOINT_TABLE, f.fileId)).lastDoneAt, m.startedAt);
      const why = stalled({ ...m, ...(last ? { updatedAt: last } : {}) }, now, afterMs);
      if (why) {
        out.push(f.fileId);
        logger.warn('file stalled', { fileId: f.fileId, why });
      }
    }
    metrics.add(METRIC.filesStalled, out.length);
    metrics.add(METRIC.filesActive, active.length);
    metrics.flush();
    return { active: active.length, stalled: out };
  };
}

let instance: ReturnType<typeof createMonitor> | undefined;
export const handler = () => (instance ??= createMonitor(readEnv()))();
