import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { mulberry32 } from '../test/support/capture-stand-in';
import { amplitudeTime } from '../test/support/vendors';

const hex = (r: () => number, n: number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
const uuid = (r: () => number) => `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-a${hex(r, 3)}-${hex(r, 12)}`;
const EVENTS = ['[Amplitude] Page Viewed', 'Button Clicked', 'Product Viewed', 'Added To Cart', 'Checkout Started', 'Order Completed', 'Search'];
const CITIES = [['Berlin', 'Germany', 'Berlin'], ['Austin', 'United States', 'Texas'], ['Lyon', 'France', 'Auvergne-Rhone-Alpes'], ['Osaka', 'Japan', 'Osaka']];
const OS = [['Chrome', '126'], ['Safari', '17.5'], ['Firefox', '127'], ['ios', '17.5.1'], ['android', '14']];

/**
 * One Amplitude Export API record with the fields a web/mobile SDK fills in (about 1.6 KB of
 * JSON): ids, times, device and geo fields, 4-8 event properties, a few user properties.
 */
export function amplitudeRecord(i: number, r: () => number, users: number): Record<string, unknown> {
  const u = Math.floor(r() * users);
  const identified = r() > 0.15;
  const t = Date.UTC(2024, 0, 1) + i * 1_500 + Math.floor(r() * 1000);
  const [city, country, region] = CITIES[u % CITIES.length]!;
  const [os, osVersion] = OS[u % OS.length]!;
  const type = EVENTS[Math.floor(r() * EVENTS.length)]!;
  const props: Record<string, unknown> =
    type === '[Amplitude] Page Viewed'
      ? { '[Amplitude] Page URL': `https://shop.example.com/p/${Math.floor(r() * 5000)}?utm_source=newsletter&utm_medium=email`, '[Amplitude] Page Title': 'Product detail', '[Amplitude] Page Path': `/p/${i % 5000}`, referrer: 'https://www.google.com/' }
      : { product_id: `sku-${Math.floor(r() * 20_000)}`, category: ['shoes', 'hats', 'bags'][u % 3], price: Math.round(r() * 20_000) / 100, currency: 'EUR', quantity: 1 + Math.floor(r() * 3), experiment: `exp-${u % 7}`, variant: r() > 0.5 ? 'control' : 'test' };
  return {
    $insert_id: uuid(r),
    amplitude_id: 1_000_000_000 + u,
    app: 636686,
    city,
    client_event_time: amplitudeTime(t),
    client_upload_time: amplitudeTime(t + 2_000),
    country,
    data: { path: '/2/httpapi', user_properties_updated: false, group_first_event: {}, group_ids: {} },
    data_type: 'event',
    device_brand: null,
    device_carrier: null,
    device_family: os,
    device_id: `device-${u}-${u % 3 === 0 && r() > 0.5 ? 'b' : 'a'}`,
    device_model: null,
    device_type: os === 'ios' ? 'Apple iPhone' : null,
    event_id: i,
    event_properties: props,
    event_time: amplitudeTime(t),
    event_type: type,
    group_properties: {},
    groups: {},
    ip_address: `203.0.113.${u % 250}`,
    language: 'English',
    library: 'amplitude-ts/2.11.1',
    location_lat: null,
    location_lng: null,
    os_name: os,
    os_version: osVersion,
    paying: null,
    platform: 'Web',
    processed_time: amplitudeTime(t + 3_000),
    region,
    server_received_time: amplitudeTime(t + 2_100),
    server_upload_time: amplitudeTime(t + 2_150),
    session_id: t - (t % 1_800_000),
    start_version: null,
    user_creation_time: amplitudeTime(Date.UTC(2023, 5, 1)),
    user_id: identified ? `user-${u}` : null,
    user_properties: { plan: u % 4 ? 'free' : 'pro', initial_referrer: 'https://www.google.com/', initial_utm_source: 'newsletter', cohort: `2023-${String(1 + (u % 12)).padStart(2, '0')}` },
    uuid: uuid(r),
    version_name: '4.12.0',
  };
}

/** Writes `bytes` (uncompressed, roughly) of Amplitude export lines, gzipped. Returns counts. */
export async function writeAmplitudeFile(path: string, bytes: number, users = 20_000, seed = 1): Promise<{ records: number; rawBytes: number }> {
  const r = mulberry32(seed);
  const gz = createGzip({ level: 6 });
  const out = createWriteStream(path);
  gz.pipe(out);
  let raw = 0;
  let i = 0;
  while (raw < bytes) {
    const lines: string[] = [];
    for (let k = 0; k < 1000 && raw < bytes; k++, i++) {
      const line = JSON.stringify(amplitudeRecord(i, r, users)) + '\n';
      raw += Buffer.byteLength(line);
      lines.push(line);
    }
    if (!gz.write(lines.join(''))) await once(gz, 'drain');
  }
  gz.end();
  await once(out, 'finish');
  return { records: i, rawBytes: raw };
}
