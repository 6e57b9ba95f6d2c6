import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';

/** What the splitter hands to its next run when a file outlasts one invocation. */
export interface Continuation {
  bucket: string;
  key: string;
  versionId?: string;
  eTag?: string;
  fromChunk: number;
  /** How many runs came before; bounded so a bug can never loop for ever. */
  hop: number;
  /** Sent by `backfill resume`: go on from the file's pause point even if a hand-over was recorded. */
  takeover?: boolean;
}

/** Invokes the splitter itself, asynchronously, with the rest of the file. */
export async function invokeContinuation(lambda: LambdaClient, functionName: string, c: Continuation): Promise<void> {
  await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify({ continuation: c })) }));
}
