import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FileLinks } from '../../functions/adapters/local/file-links';
import { linkKey } from '../../functions/core/links';

// Table keys of device↔user pairs, as the sender claims them.
const pairs = (n: number, from = 0) => Array.from({ length: n }, (_, i) => linkKey({ anon: `dev-${from + i}`, user: `user-${from + i}` }));
const file = () => join(mkdtempSync(join(tmpdir(), 'links-')), 'sent-aliases.json');

describe('the local sent-alias table', () => {
  test('claims and confirms survive a reload; a sent link is never claimed again', async () => {
    const path = file();
    const a = await FileLinks.load(path);
    assert.equal((await a.claim(pairs(3), 'f#0')).length, 3);
    await a.confirm(pairs(2), 'f#0');
    a.close();
    const b = await FileLinks.load(path);
    assert.equal((await b.claim(pairs(3), 'f#1')).length, 0, 'another chunk gets none');
    assert.deepEqual(await b.claim(pairs(3), 'f#0'), pairs(3).slice(2), 'the owner retries only its unsent claim');
    await b.refuse([{ key: pairs(3)[2]!, reason: 'refused' }], 'f#0');
    assert.equal(b.status(pairs(3)[2]!), 'refused');
    assert.deepEqual(await b.claim(pairs(3), 'f#0'), [], 'a refusal is final, even for its owner');
  });

  test('a chunk writes its own links in place, however large the table: it lives on disk, not in memory', async () => {
    const path = file();
    const links = await FileLinks.load(path);
    await links.claim(pairs(50_000), 'f#0');
    await links.confirm(pairs(50_000), 'f#0');
    const before = statSync(`${path}.table`);
    const heap = process.memoryUsage().heapUsed;
    await links.claim(pairs(10, 80_000), 'f#1');
    const after = statSync(`${path}.table`);
    assert.equal(after.ino, before.ino, 'written in place');
    assert.equal(after.size, before.size, 'no growth for ten links');
    assert.equal(links.size, 50_010);
    assert.ok(process.memoryUsage().heapUsed - heap < 5_000_000);
  });

  test('the append-only log of earlier versions is taken over once, torn last line and all', async () => {
    const path = file();
    const [p0, p1, p2] = pairs(3);
    writeFileSync(path, `{"k":"${p0}","o":"f#0","s":"s"}\n{"k":"${p1}","o":"f#0","s":"c"}\n{"k":"${p2!.slice(0, 20)}`);
    const links = await FileLinks.load(path);
    assert.equal(links.status(p0!), 'sent');
    assert.deepEqual(await links.claim([p0!, p1!, p2!], 'f#0'), [p1, p2], 'its own unsent claim, and the torn one that never happened');
    assert.ok(!existsSync(path) && existsSync(`${path}.migrated`), 'the log is kept aside, not read again');
  });

  test('a file in the earliest whole-object format is taken over too', async () => {
    const path = file();
    const [p] = pairs(1);
    writeFileSync(path, JSON.stringify({ [p!]: { owner: 'old#0', status: 'sent' } }));
    const links = await FileLinks.load(path);
    assert.equal((await links.claim(pairs(2), 'f#0')).length, 1);
    links.close();
    const again = await FileLinks.load(path);
    assert.equal((await again.claim(pairs(2), 'f#1')).length, 0);
  });

  test('a corrupt line in the middle of an old log is an error naming the file and line', async () => {
    const path = file();
    writeFileSync(path, '{"k":"a","o":"f#0","s":"s"}\nnot json\n{"k":"b","o":"f#0","s":"s"}\n');
    await assert.rejects(FileLinks.load(path), /sent-aliases\.json: line 2: not valid JSON/);
  });
});
