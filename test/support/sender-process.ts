// One sender invocation in a process of its own, so a test can kill it mid-chunk the way a
// Lambda dies (timeout, OOM): no catch block runs, no checkpoint is written.
import type { SQSEvent } from 'aws-lambda';
import type { HandlerEnv } from '../../functions/config';
import { createSender } from '../../functions/sender/handler';
import { lambdaContext } from './aws-env';

import type { AwsCredentials } from '../../functions/adapters/aws/clients';

// The parent sends the sender role's credentials: the child runs as that role too.
process.once('message', (msg: { env: HandlerEnv; event: SQSEvent; credentials?: AwsCredentials }) => {
  void createSender(msg.env, msg.credentials ? { credentials: msg.credentials } : {})(msg.event, lambdaContext).then(
    (out) => process.send!({ out }, () => process.exit(0)),
    (err: Error) => process.send!({ error: err.message }, () => process.exit(0)),
  );
});
