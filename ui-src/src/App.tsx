import { useCallback, useEffect, useState } from 'react';
import {
  fetchCatalog,
  fetchHealth,
  fetchPlaybook,
  type CatalogDetail,
  type CatalogEntry,
  type Health,
} from './api';

type Load<T> =
  | { state: 'loading' }
  | { state: 'ok'; data: T }
  | { state: 'error'; message: string };

// The selected playbook is kept in the URL (#playbook=<path>) so it can be linked to.
function pathFromHash(): string | null {
  const match = /^#playbook=(.+)$/.exec(window.location.hash);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

function setHash(path: string | null) {
  const hash = path === null ? '' : `#playbook=${encodeURIComponent(path)}`;
  window.history.replaceState(null, '', hash || window.location.pathname + window.location.search);
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

function HealthBadge({ health }: { health: Load<Health> }) {
  if (health.state === 'loading') {
    return (
      <span className="badge" data-testid="health-status" data-state="loading">
        connecting…
      </span>
    );
  }
  if (health.state === 'error') {
    return (
      <span className="badge badge-bad" data-testid="health-status" data-state="error" title={health.message}>
        server unreachable
      </span>
    );
  }
  const ok = health.data.status === 'ok';
  return (
    <span className="health">
      <span
        className={ok ? 'badge badge-ok' : 'badge badge-bad'}
        data-testid="health-status"
        data-state={health.data.status}
        title={`database: ${health.data.database}`}
      >
        {health.data.status}
      </span>
      <span className="muted" data-testid="health-version">
        v{health.data.version}
      </span>
    </span>
  );
}

function CatalogTable({
  items,
  selected,
  onSelect,
}: {
  items: CatalogEntry[];
  selected: string | null;
  onSelect: (path: string) => void;
}) {
  if (items.length === 0) {
    return (
      <p className="muted" data-testid="catalog-empty">
        No playbooks registered yet. Register one with <code>noetl catalog register FILE</code>.
      </p>
    );
  }
  return (
    <table className="catalog" data-testid="catalog-table">
      <thead>
        <tr>
          <th>Name</th>
          <th>Path</th>
          <th>Kind</th>
          <th className="num">Version</th>
          <th>Registered</th>
        </tr>
      </thead>
      <tbody>
        {items.map((item) => (
          <tr
            key={item.path}
            data-testid="catalog-row"
            data-path={item.path}
            className={item.path === selected ? 'selected' : undefined}
            tabIndex={0}
            onClick={() => onSelect(item.path)}
            onKeyDown={(event) => {
              if (event.key === 'Enter' || event.key === ' ') {
                event.preventDefault();
                onSelect(item.path);
              }
            }}
          >
            <td>{item.name}</td>
            <td>
              <code>{item.path}</code>
            </td>
            <td>{item.kind}</td>
            <td className="num">{item.version}</td>
            <td title={item.registered_at}>{formatTime(item.registered_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function PlaybookDetail({
  path,
  latest,
  onClose,
}: {
  path: string;
  latest: number;
  onClose: () => void;
}) {
  const [version, setVersion] = useState<number>(latest);
  const [detail, setDetail] = useState<Load<CatalogDetail>>({ state: 'loading' });

  useEffect(() => setVersion(latest), [path, latest]);

  useEffect(() => {
    let cancelled = false;
    setDetail({ state: 'loading' });
    fetchPlaybook(path, version).then(
      (data) => !cancelled && setDetail({ state: 'ok', data }),
      (error) => !cancelled && setDetail({ state: 'error', message: message(error) }),
    );
    return () => {
      cancelled = true;
    };
  }, [path, version]);

  const versions = Array.from({ length: latest }, (_, i) => latest - i);

  return (
    <section className="panel detail" data-testid="playbook-detail" data-path={path}>
      <header className="detail-head">
        <h2>
          <code>{path}</code>
        </h2>
        <label>
          version{' '}
          <select
            data-testid="playbook-version"
            value={version}
            onChange={(event) => setVersion(Number(event.target.value))}
          >
            {versions.map((v) => (
              <option key={v} value={v}>
                {v}
                {v === latest ? ' (latest)' : ''}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={onClose} data-testid="playbook-close">
          Close
        </button>
      </header>
      {detail.state === 'loading' && <p className="muted">Loading…</p>}
      {detail.state === 'error' && (
        <p className="error" data-testid="playbook-error">
          {detail.message}
        </p>
      )}
      {detail.state === 'ok' && (
        <>
          <p className="muted" data-testid="playbook-meta">
            {detail.data.name} · {detail.data.kind} · version {detail.data.version} · registered{' '}
            <span title={detail.data.registered_at}>{formatTime(detail.data.registered_at)}</span>
          </p>
          <pre className="yaml" data-testid="playbook-content">
            {detail.data.content}
          </pre>
        </>
      )}
    </section>
  );
}

export function App() {
  const [health, setHealth] = useState<Load<Health>>({ state: 'loading' });
  const [catalog, setCatalog] = useState<Load<CatalogEntry[]>>({ state: 'loading' });
  const [selected, setSelectedState] = useState<string | null>(pathFromHash);

  const setSelected = useCallback((path: string | null) => {
    setSelectedState(path);
    setHash(path);
  }, []);

  const refresh = useCallback(() => {
    fetchHealth().then(
      (data) => setHealth({ state: 'ok', data }),
      (error) => setHealth({ state: 'error', message: message(error) }),
    );
    fetchCatalog().then(
      (data) => setCatalog({ state: 'ok', data }),
      (error) => setCatalog({ state: 'error', message: message(error) }),
    );
  }, []);

  useEffect(refresh, [refresh]);

  const selectedEntry =
    catalog.state === 'ok' ? catalog.data.find((item) => item.path === selected) : undefined;

  return (
    <div className="app">
      <header className="top">
        <h1>NoETL</h1>
        <HealthBadge health={health} />
        <span className="spacer" />
        <button type="button" onClick={refresh} data-testid="refresh-button">
          Refresh
        </button>
      </header>
      <main>
        <section className="panel">
          <h2>Catalog</h2>
          {catalog.state === 'loading' && <p className="muted">Loading…</p>}
          {catalog.state === 'error' && (
            <p className="error" data-testid="catalog-error">
              {catalog.message}
            </p>
          )}
          {catalog.state === 'ok' && (
            <CatalogTable items={catalog.data} selected={selected} onSelect={setSelected} />
          )}
        </section>
        {selectedEntry && (
          <PlaybookDetail
            key={selectedEntry.path}
            path={selectedEntry.path}
            latest={selectedEntry.version}
            onClose={() => setSelected(null)}
          />
        )}
      </main>
    </div>
  );
}
