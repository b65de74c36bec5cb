// Client for the NoETL HTTP contract (docs/api.md). Same-origin, relative URLs.

export interface Health {
  status: string;
  version: string;
  database: string;
}

export interface CatalogEntry {
  path: string;
  name: string;
  kind: string;
  version: number;
  registered_at: string;
}

export interface CatalogDetail extends CatalogEntry {
  content: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { headers: { Accept: 'application/json' } });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const body: unknown = await response.json();
      if (body && typeof body === 'object' && 'detail' in body) {
        detail = String((body as { detail: unknown }).detail);
      }
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, detail);
  }
  return (await response.json()) as T;
}

// Each path segment is encoded; the '/' between segments stays a separator.
export function catalogUrl(path: string, version?: number): string {
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  const query = version === undefined ? '' : `?version=${version}`;
  return `api/catalog/${encoded}${query}`;
}

export const fetchHealth = () => getJson<Health>('health');

export const fetchCatalog = () =>
  getJson<{ items: CatalogEntry[] }>('api/catalog').then((body) => body.items);

export const fetchPlaybook = (path: string, version?: number) =>
  getJson<CatalogDetail>(catalogUrl(path, version));
