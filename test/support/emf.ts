/** Runs `fn` with stdout captured; returns the EMF documents (CloudWatch embedded metrics) written. */
export async function emfOf<T>(fn: () => T | Promise<T>): Promise<{ result: T; docs: Array<Record<string, any>> }> {
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => (lines.push(String(chunk)), true)) as typeof process.stdout.write;
  let result: T;
  try {
    result = await fn();
  } finally {
    process.stdout.write = write;
  }
  const docs = lines.join('').split('\n').filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, any>);
  return { result, docs };
}
