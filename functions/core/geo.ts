/**
 * Country names (as vendors give them: Amplitude's "United States", "Czech Republic",
 * "Hong Kong") to ISO 3166-1 alpha-2 codes and back, from the runtime's own CLDR data
 * (Intl.DisplayNames), so no table is shipped and PostHog's `$geoip_country_code` (what web
 * analytics' map reads) can be filled when the export has no IP to geolocate.
 */

// Names the GeoIP databases vendors use spell differently from CLDR's English.
const ALIASES: Record<string, string> = {
  'united states of america': 'US',
  usa: 'US',
  'great britain': 'GB',
  'czech republic': 'CZ',
  'ivory coast': 'CI',
  turkey: 'TR',
  macedonia: 'MK',
  'republic of korea': 'KR',
  korea: 'KR',
  'russian federation': 'RU',
  'dr congo': 'CD',
  'democratic republic of the congo': 'CD',
  'republic of the congo': 'CG',
  congo: 'CG',
  palestine: 'PS',
  burma: 'MM',
  swaziland: 'SZ',
  'cape verde': 'CV',
  'east timor': 'TL',
  'vatican city': 'VA',
  'hong kong': 'HK',
  macao: 'MO',
  macau: 'MO',
  'saint martin': 'MF',
  'sint maarten': 'SX',
};

// CLDR names these too, but they are groupings or pseudo-regions, not countries.
const NOT_COUNTRIES = new Set(['EU', 'EZ', 'UN', 'QO', 'XA', 'XB', 'ZZ']);

/** A current ISO code: deprecated ones (UK, SU, FX, …) canonicalise to another. */
function isCountry(code: string): boolean {
  if (NOT_COUNTRIES.has(code)) return false;
  try {
    return new Intl.Locale(`und-${code}`).region === code;
  } catch {
    return false;
  }
}

let byName: Map<string, string> | undefined;
let display: Intl.DisplayNames | undefined;

function normalize(name: string): string {
  return name
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/&/g, ' and ')
    .replace(/\bst\.? /g, 'saint ')
    .replace(/\bsar china\b/g, '')
    .replace(/[’'().,-]/g, ' ')
    .replace(/^the /, '')
    .replace(/\s+/g, ' ')
    .trim();
}

function regions(): Map<string, string> {
  if (byName) return byName;
  display = new Intl.DisplayNames(['en'], { type: 'region' });
  const short = new Intl.DisplayNames(['en'], { type: 'region', style: 'short' });
  byName = new Map();
  const A = 65;
  for (let i = 0; i < 26; i++) {
    for (let j = 0; j < 26; j++) {
      const code = String.fromCharCode(A + i, A + j);
      if (!isCountry(code)) continue;
      for (const dn of [display, short]) {
        const name = dn.of(code);
        if (name && name !== code && name !== 'Unknown Region') byName.set(normalize(name), code);
      }
    }
  }
  for (const [alias, code] of Object.entries(ALIASES)) byName.set(alias, code);
  return byName;
}

/** ISO alpha-2 code for a country name or code; undefined when unknown. */
export function countryCode(name: unknown): string | undefined {
  if (typeof name !== 'string' || !name.trim()) return undefined;
  const t = name.trim();
  const map = regions();
  if (/^[A-Za-z]{2}$/.test(t)) {
    const up = t.toUpperCase();
    return isCountry(up) && display!.of(up) !== up ? up : undefined;
  }
  return map.get(normalize(t));
}

/** English country name for an ISO alpha-2 code, as PostHog's GeoIP names it (CLDR's short form). */
export function countryName(code: unknown): string | undefined {
  if (typeof code !== 'string' || !/^[A-Za-z]{2}$/.test(code.trim())) return undefined;
  regions();
  const up = code.trim().toUpperCase();
  if (!isCountry(up)) return undefined;
  const name = display!.of(up);
  return name && name !== up ? name : undefined;
}

let languages: Map<string, string> | undefined;

/**
 * A language tag for what a mobile SDK reports: Amplitude's iOS and Android SDKs send the
 * language's English name ("English"); PostHog's send a code ("en"). Tags pass as they are.
 */
export function languageTag(value: unknown): string | undefined {
  if (typeof value !== 'string' || !value.trim()) return undefined;
  const t = value.trim();
  if (/^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$/.test(t)) return t.replace(/_/g, '-');
  if (!languages) {
    languages = new Map();
    const dn = new Intl.DisplayNames(['en'], { type: 'language' });
    for (let i = 0; i < 26; i++) {
      for (let j = 0; j < 26; j++) {
        const code = String.fromCharCode(97 + i, 97 + j);
        const name = dn.of(code);
        if (name && name !== code) languages.set(name.toLowerCase(), code);
      }
    }
  }
  return languages.get(t.toLowerCase()) ?? t;
}
