// One splitter invocation in a process of its own, so a test can kill it mid-file the way a
// Lambda dies (timeout, OOM): no catch block runs, nothing after the kill happens.
import type { AwsCredentials } from '../../functions/adapters/aws/clients';
import type { HandlerEnv } from '../../functions/config';
import { createSplitter, type SplitterEvent } from '../../functions/splitter/handler';
import { lambdaContext } from './aws-env';

process.once('message', (msg: { env: HandlerEnv; event: SplitterEvent; credentials?: AwsCredentials; context?: { functionName: string } }) => {
  const context = { ...lambdaContext, ...msg.context } as typeof lambdaContext;
  void createSplitter(msg.env, msg.credentials ? { credentials: msg.credentials } : {})(msg.event, context).then(
    () => process.send!({ done: true }, () => process.exit(0)),
    (err: Error) => process.send!({ error: err.message }, () => process.exit(0)),
  );
});
