// The local sent-alias table in a process of its own, claiming and confirming batches of pairs
// as fast as it can, so a test can kill it (SIGKILL) in the middle of a batch. After each call
// returns it prints what it did ("claimed B N" with the number of keys it got, "confirmed B");
// the test trusts only what was printed.
import { FileLinks } from '../../functions/adapters/local/file-links';
import { batchKeys } from './links-keys';

const [path, per] = [process.argv[2]!, Number(process.argv[3] ?? 5000)];

void (async () => {
  const links = await FileLinks.load(path);
  for (let b = 0; ; b++) {
    const keys = batchKeys(b, per);
    const mine = await links.claim(keys, `child#${b}`);
    process.stdout.write(`claimed ${b} ${mine.length}\n`);
    if (b % 2 === 0) {
      await links.confirm(mine, `child#${b}`);
      process.stdout.write(`confirmed ${b}\n`);
    }
  }
})();
