import { gzipSync } from 'node:zlib';
import yazl from 'yazl';
import { sampleLines } from './fixtures';

type Obj = Record<string, unknown>;

const amplitudeBase = () => JSON.parse(sampleLines('amplitude-export-line.json')[0]!) as Obj;
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
/** Amplitude's zone-less `YYYY-MM-DD HH:MM:SS.ffffff` (UTC). */
export const amplitudeTime = (ms: number) => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}000`;
};

/**
 * Amplitude export records shaped like the published sample, covering the identity cases:
 * a user on two devices, a device shared by two users, a device anonymous before its user
 * logs in. Half carry Amplitude's own uuid; the rest get one from device + $insert_id.
 */
export function amplitudeRecords(n: number, start = Date.UTC(2024, 0, 1)): { records: Obj[]; pairs: string[] } {
  const people: Array<{ device: string; user: string | null }> = [
    { device: 'd1', user: 'u1' },
    { device: 'd2', user: 'u1' }, // u1's second device
    { device: 'd3', user: 'u2' },
    { device: 'd3', user: 'u3' }, // d3 is shared
    { device: 'd4', user: null }, // anonymous first …
    { device: 'd4', user: 'u4' }, // … then identified
  ];
  const records: Obj[] = [];
  for (let i = 0; i < n; i++) {
    const p = people[i % people.length]!;
    const r: Obj = {
      ...amplitudeBase(),
      device_id: `device-${p.device}`,
      user_id: p.user === null ? null : `user-${p.user}`,
      event_id: i,
      $insert_id: `insert-${i}`,
      event_time: amplitudeTime(start + i * 60_000),
      event_type: i % 10 === 0 ? '[Amplitude] Page Viewed' : 'Property Drop Purchased',
      event_properties: i % 10 === 0 ? { '[Amplitude] Page URL': `https://example.com/${i}` } : { 'Drop Id': i, 'Total Price': 6396.0 },
      user_properties: { plan: i % 2 ? 'pro' : 'free' },
      city: 'Berlin',
      country: 'Germany',
    };
    if (i % 2) r.uuid = `a6ec45f6-0016-4907-b433-${pad(i, 12)}`;
    else delete r.uuid;
    records.push(r);
  }
  const pairs = ['d1:u1', 'd2:u1', 'd3:u2', 'd3:u3', 'd4:u4'].slice(0, Math.min(5, n));
  return { records, pairs };
}

/** An Amplitude Export API zip: `<project>/<project>_<day>_<hour>#0.json.gz` members. */
export function amplitudeZip(records: Obj[], perMember: number, project = '187520'): Promise<Buffer> {
  const members: Array<{ name: string; lines: string[] }> = [];
  for (let i = 0, h = 0; i < records.length; i += perMember, h++) {
    members.push({ name: `${project}/${project}_2024-01-01_${h}#0.json.gz`, lines: records.slice(i, i + perMember).map((r) => JSON.stringify(r)) });
  }
  return zipOf(members);
}

/**
 * Mixpanel raw export lines from the published sample: seconds and milliseconds, `$device:`
 * ids with `$distinct_id_before_identity`, device + user links, and exact duplicate lines (as
 * raw exports contain) that must collapse on `$insert_id`.
 */
export function mixpanelLines(n: number): { lines: string[]; unique: number; pairs: string[] } {
  const base = JSON.parse(sampleLines('mixpanel-export-lines.jsonl')[0]!) as { event: string; properties: Obj };
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = 1602611311 + i * 60;
    const props: Obj = {
      ...base.properties,
      time: i % 3 === 0 ? t * 1000 + 123 : t,
      $insert_id: `ins${i}`,
      distinct_id: i % 4 === 0 ? `$device:dev${i % 8}` : `user${i % 8}`,
      $device_id: `dev${i % 8}`,
      $city: 'Paris',
      mp_country_code: 'FR',
      $mp_api_endpoint: 'api.mixpanel.com',
    };
    if (i % 4 === 0) props.$distinct_id_before_identity = `anon-dev${i % 8}`;
    else props.$user_id = `user${i % 8}`;
    lines.push(JSON.stringify({ event: i % 5 === 0 ? '$mp_web_page_view' : base.event, properties: props }));
  }
  const dups = lines.filter((_, i) => i % 10 === 0);
  const pairs = [...new Set(lines.map((l) => JSON.parse(l) as { properties: Obj }).filter((r) => r.properties.$user_id).map((r) => `${r.properties.$device_id}:${r.properties.$user_id}`))];
  return { lines: [...lines, ...dups], unique: n, pairs };
}

/** Segment archive lines from the published samples plus page, screen, identify and group calls. */
export function segmentLines(n: number): { lines: string[]; sent: number; filtered: number } {
  const [track, alias] = sampleLines('segment-archive-lines.jsonl').map((l) => JSON.parse(l) as Obj);
  const lines: string[] = [];
  let filtered = 0;
  for (let i = 0; i < n; i++) {
    const ts = new Date(Date.UTC(2015, 11, 12, 19, 11, 1) + i * 1000).toISOString();
    const kind = i % 7;
    let r: Obj;
    if (kind === 0) r = { ...alias!, messageId: `alias-${i}`, timestamp: ts, userId: `u${i}`, previousId: `anon${i}` };
    else if (kind === 1) r = { ...track!, type: 'page', name: 'Academy', event: undefined, messageId: `page-${i}`, timestamp: ts };
    else if (kind === 2) r = { ...track!, type: 'screen', name: 'Home', event: undefined, messageId: `screen-${i}`, timestamp: ts };
    else if (kind === 3) r = { ...track!, type: 'identify', traits: { email: `u${i}@example.com` }, messageId: `identify-${i}`, timestamp: ts };
    else if (kind === 4) r = { ...track!, type: 'group', groupId: `g${i % 3}`, traits: { name: 'Acme' }, messageId: `group-${i}`, timestamp: ts };
    else if (kind === 5) {
      r = { ...track!, messageId: `off-${i}`, timestamp: ts, integrations: { All: false, Mixpanel: true } };
      filtered++;
    } else r = { ...track!, messageId: `ajs-${i}`, timestamp: ts };
    lines.push(JSON.stringify(r));
  }
  return { lines, sent: n - filtered, filtered };
}

export interface Crowd {
  /** Zip members: name → lines. */
  members: Array<{ name: string; lines: string[] }>;
  lines: number;
  /** Records that must arrive, each once. */
  valid: number;
  /** Valid events per distinct_id. */
  perDistinct: Map<string, number>;
  /** `device:user` pairs that must be linked, each once. */
  pairs: Set<string>;
  rejected: { missing_distinct_id: number; invalid_timestamp: number };
  /** Exact repeats of the line before them (Amplitude exports have these), within one chunk. */
  duplicates: number;
}

/**
 * Amplitude export members for a crowd: `users` people, a third of them on two devices, some
 * anonymous events before the user is known, an invalid record every 500 lines and an exact
 * repeat every 100 lines (placed so it never straddles a 500-line chunk boundary).
 */
export function amplitudeCrowd(memberCount: number, perMember: number, users = 400): Crowd {
  const crowd: Crowd = { members: [], lines: 0, valid: 0, perDistinct: new Map(), pairs: new Set(), rejected: { missing_distinct_id: 0, invalid_timestamp: 0 }, duplicates: 0 };
  const base = amplitudeBase();
  let i = 0;
  for (let m = 0; m < memberCount; m++) {
    const lines: string[] = [];
    for (let k = 0; k < perMember; k++, i++) {
      const u = i % users;
      const device = u % 3 === 0 && Math.floor(i / users) % 2 ? `dev-${u}-b` : `dev-${u}-a`;
      const anonymous = Math.floor(i / users) % 17 === 0;
      const r: Obj = {
        ...base,
        device_id: device,
        user_id: anonymous ? null : `user-${u}`,
        event_id: i,
        $insert_id: `crowd-${i}`,
        event_time: amplitudeTime(Date.UTC(2024, 0, 1) + i * 7_000),
        event_type: i % 10 === 0 ? '[Amplitude] Page Viewed' : 'Item Viewed',
        event_properties: { item: `sku-${i % 997}`, price: (i % 50) * 1.25, tags: ['a', 'b'] },
        user_properties: { plan: u % 2 ? 'pro' : 'free' },
      };
      if (i % 2) r.uuid = `b7ec45f6-0016-4907-b433-${pad(i, 12)}`;
      else delete r.uuid;
      if (k % 500 === 250) {
        if (m % 2) {
          r.user_id = null;
          r.device_id = null;
          crowd.rejected.missing_distinct_id++;
        } else {
          r.event_time = 'not a time';
          crowd.rejected.invalid_timestamp++;
        }
      } else {
        const distinct = (r.user_id ?? r.device_id) as string;
        crowd.valid++;
        crowd.perDistinct.set(distinct, (crowd.perDistinct.get(distinct) ?? 0) + 1);
        if (r.user_id) crowd.pairs.add(`${r.device_id}:${r.user_id}`);
      }
      lines.push(JSON.stringify(r));
      if (k % 100 === 10) {
        lines.push(lines.at(-1)!);
        crowd.duplicates++;
      }
    }
    crowd.lines += lines.length;
    crowd.members.push({ name: `187520/187520_2024-01-01_${m}#0.json.gz`, lines });
  }
  return crowd;
}

export async function zipOf(members: Array<{ name: string; lines: string[] }>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const m of members) zip.addBuffer(gzipSync(m.lines.join('\n') + '\n'), m.name);
  zip.end();
  const parts: Buffer[] = [];
  for await (const b of zip.outputStream) parts.push(b as Buffer);
  return Buffer.concat(parts);
}
