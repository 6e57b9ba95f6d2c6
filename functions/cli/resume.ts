import { S3Reports, S3Source, S3Staging, stagingKey } from '../adapters/aws/s3';
import { awsClients } from '../adapters/aws/clients';
import type { Continuation } from '../adapters/aws/continuation';
import { DynamoCheckpoints } from '../adapters/aws/dynamo-checkpoints';
import { SqsChunkQueue } from '../adapters/aws/sqs';
import { stalled } from '../core/progress';
import { Limits } from '../core/settings';
import type { Manifest } from '../pipeline/ports';
import { requeuePending, type FileResumed } from '../pipeline/resume';

export interface ResumeOptions {
  /** The deployed checkpoint table and chunk queue. */
  table: string;
  queueUrl: string;
  /** `s3://bucket/key` of one file, or `s3://bucket/prefix`; absent: every unfinished import. */
  target?: string;
  /** A split with no progress for this long is restarted from its pause point (a run lasts at most 15 min). */
  stalledAfterMs: number;
  /** Starts a splitter run with a continuation (deployed: an async Invoke of the splitter). */
  restartSplit(c: Continuation): Promise<void>;
  now?: number;
}

export interface ResumeSummary {
  files: Array<FileResumed & { restarted?: { fromChunk: number; hop: number }; left?: string }>;
}

/**
 * `backfill resume`: the checkpoint table, not SQS, is the record of what is left. For each
 * unfinished file in scope: every chunk not done is queued again (its staged body cut again from
 * the source if it is gone), and a split stuck `splitting` is restarted from its pause point.
 */
export async function resumeImports(opts: ResumeOptions): Promise<ResumeSummary> {
  const aws = awsClients();
  const checkpoints = new DynamoCheckpoints(aws.ddb, opts.table);
  const queue = new SqsChunkQueue(aws.sqs, opts.queueUrl);
  const now = opts.now ?? Date.now();
  const inScope = (m: Manifest) => m.status !== 'reported' && (!opts.target || m.file.uri === opts.target || m.file.uri.startsWith(opts.target));
  const files = (await checkpoints.listManifests()).filter(inScope).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  const summary: ResumeSummary = { files: [] };
  for (const m of files) {
    const bucket = m.file.bucket!;
    const done = await requeuePending(m, {
      checkpoints,
      staging: new S3Staging(aws.s3, bucket),
      queue,
      reports: new S3Reports(aws.s3, bucket),
      openSource: (f) => S3Source.open(aws.s3, bucket, f.file.key!, versionOf(f)),
      stagingKey,
      limits: Limits.parse({}),
    });
    const entry: ResumeSummary['files'][number] = { ...done };
    if (m.status === 'splitting') {
      const why = stalled(m, now, opts.stalledAfterMs);
      if (why) {
        const from = { fromChunk: m.pause?.chunk ?? 0, hop: m.pause?.hop ?? 0 };
        const version = versionOf(m);
        await opts.restartSplit({ bucket, key: m.file.key!, ...(version ? { versionId: version } : m.file.version ? { eTag: m.file.version } : {}), ...from, takeover: true });
        entry.restarted = from;
      } else {
        entry.left = `splitting, last progress ${m.updatedAt ?? m.startedAt}: left to its running split`;
      }
    }
    summary.files.push(entry);
  }
  return summary;
}

// The splitter names a file by its version id, or its ETag in an unversioned bucket.
function versionOf(m: Manifest): string | undefined {
  const v = m.file.version;
  return v && !/^[0-9a-f]{32}(-\d+)?$/.test(v) ? v : undefined;
}

export function formatResume(s: ResumeSummary): string {
  if (!s.files.length) return 'nothing to resume: every import is reported';
  const lines = s.files.map((f) => {
    const parts = [`re-queued ${f.requeued} chunks${f.restaged ? ` (${f.restaged} re-staged from the source)` : ''}`];
    if (f.restarted) parts.push(`split restarted from chunk ${f.restarted.fromChunk} (hop ${f.restarted.hop})`);
    if (f.left) parts.push(f.left);
    if (f.reported) parts.push('report written');
    return `${f.uri}: ${parts.join('; ')}`;
  });
  const sum = (k: 'requeued' | 'restaged') => s.files.reduce((n, f) => n + f[k], 0);
  lines.push(`${s.files.length} files: ${sum('requeued')} chunks re-queued, ${sum('restaged')} re-staged, ${s.files.filter((f) => f.restarted).length} splits restarted`);
  return lines.join('\n');
}
