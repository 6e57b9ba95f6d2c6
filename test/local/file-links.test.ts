import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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
    const b = await FileLinks.load(path);
    assert.equal((await b.claim(pairs(3), 'f#1')).length, 0, 'another chunk gets none');
    assert.deepEqual(await b.claim(pairs(3), 'f#0'), pairs(3).slice(2), 'the owner retries only its unsent claim');
  });

  test('a chunk appends its own links only, however large the table', async () => {
    const path = file();
    const links = await FileLinks.load(path);
    await links.claim(pairs(20_000), 'f#0');
    await links.confirm(pairs(20_000), 'f#0');
    const before = statSync(path);
    await links.claim(pairs(10, 50_000), 'f#1');
    const after = statSync(path);
    assert.equal(after.ino, before.ino, 'appended in place, not rewritten (a rewrite renames a new file over it)');
    assert.ok(after.size - before.size < 2_000, `10 links appended ${after.size - before.size} bytes`);
  });

  test('a torn last line (a crash mid-append) is dropped and the file stays usable', async () => {
    const path = file();
    const a = await FileLinks.load(path);
    await a.claim(pairs(2), 'f#0');
    appendFileSync(path, '{"k":"' + pairs(1, 7)[0]!.slice(0, 20));
    const b = await FileLinks.load(path);
    assert.equal((await b.claim(pairs(1, 7), 'f#3')).length, 1, 'the torn claim never happened');
    const c = await FileLinks.load(path);
    assert.equal((await c.claim([...pairs(2), ...pairs(1, 7)], 'f#9')).length, 0);
    assert.ok(readFileSync(path, 'utf8').split('\n').filter(Boolean).every((l) => JSON.parse(l)));
  });

  test('a file in the earlier whole-object format is read and rewritten as a log', async () => {
    const path = file();
    const [p] = pairs(1);
    writeFileSync(path, JSON.stringify({ [p!]: { owner: 'old#0', status: 'sent' } }));
    const links = await FileLinks.load(path);
    assert.equal((await links.claim(pairs(2), 'f#0')).length, 1);
    const again = await FileLinks.load(path);
    assert.equal((await again.claim(pairs(2), 'f#1')).length, 0);
  });

  test('a corrupt line in the middle is an error naming the file and line', async () => {
    const path = file();
    writeFileSync(path, '{"k":"a","o":"f#0","s":"s"}\nnot json\n{"k":"b","o":"f#0","s":"s"}\n');
    await assert.rejects(FileLinks.load(path), /sent-aliases\.json: line 2: not valid JSON/);
  });
});
