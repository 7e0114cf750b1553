import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, connectionCapFromFileLimit, loadConfig, RESERVED_FILES } from '../../server/config';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('defaults to the embedded database, port 3000, demo and simulator on', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.dataDir).toMatch(/data$/);
    expect(c.demo).toEqual({ seed: true, password: 'demo' });
    expect(c.simulator.enabled).toBe(true);
  });

  it('names DATABASE_URL when it cannot be parsed, without echoing it', () => {
    const e = configError({ DATABASE_URL: 'mysql:/nope:secret' });
    expect(e.variable).toBe('DATABASE_URL');
    expect(e.message).toMatch(/^DATABASE_URL: must be a postgresql:/);
    expect(e.message).not.toContain('secret');
  });

  it('names PORT when it is not a port', () => {
    expect(configError({ PORT: '70000' }).variable).toBe('PORT');
    expect(configError({ PORT: 'abc' }).message).toContain('PORT');
  });

  it('parses on/off switches and refuses anything else', () => {
    expect(loadConfig({ SIMULATOR: 'off' }).simulator.enabled).toBe(false);
    expect(configError({ SIMULATOR: 'maybe' }).variable).toBe('SIMULATOR');
  });

  it('pings every connection every 10 s and closes it 10 s after an unanswered ping, unless told otherwise', () => {
    expect(loadConfig({}).ping).toEqual({ intervalMs: 10_000, timeoutMs: 10_000 });
    expect(loadConfig({ PING_INTERVAL_SEC: '25', PING_TIMEOUT_SEC: '20' }).ping).toEqual({ intervalMs: 25_000, timeoutMs: 20_000 });
    expect(configError({ PING_INTERVAL_SEC: '0' }).variable).toBe('PING_INTERVAL_SEC');
    expect(configError({ PING_TIMEOUT_SEC: '2.5' }).variable).toBe('PING_TIMEOUT_SEC');
    expect(configError({ PING_INTERVAL_SEC: 'often' }).message).toContain('PING_INTERVAL_SEC');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', PORT: '' }).port).toBe(3000);
  });

  it('with a real DATABASE_URL seeds no demo account and starts no simulator unless asked (the embedded quick start keeps both)', () => {
    const pg = 'postgresql://app@db.internal:5432/dispatch';
    expect(loadConfig({ DATABASE_URL: pg }).demo.seed).toBe(false);
    expect(loadConfig({ DATABASE_URL: pg }).simulator.enabled).toBe(false);
    expect(loadConfig({ DATABASE_URL: pg, DEMO_SEED: 'on', SIMULATOR: 'on' })).toMatchObject({ demo: { seed: true }, simulator: { enabled: true } });
    expect(loadConfig({})).toMatchObject({ demo: { seed: true }, simulator: { enabled: true } });
  });

  it('validates allowed origins, PUBLIC_URL and TRUST_PROXY', () => {
    const c = loadConfig({ PUBLIC_URL: 'https://dispatch.example.com/app', ALLOWED_ORIGINS: 'https://hq.example.com, http://localhost:3000' });
    expect(c.allowedOrigins).toEqual(['https://dispatch.example.com', 'https://hq.example.com', 'http://localhost:3000']);
    expect(configError({ ALLOWED_ORIGINS: 'hq.example.com' }).variable).toBe('ALLOWED_ORIGINS');
    expect(configError({ PUBLIC_URL: 'ftp://x' }).variable).toBe('PUBLIC_URL');
    expect(loadConfig({}).trustProxy).toBe(0);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'off' }).trustProxy).toBe(0);
    expect(configError({ TRUST_PROXY: 'yes' }).variable).toBe('TRUST_PROXY');
  });

  it('runs one worker with the embedded database and one per core with PostgreSQL', () => {
    expect(loadConfig({}).workers).toBe(1);
    expect(loadConfig({ DATABASE_URL: 'postgresql://u@db:5432/dd' }).workers).toBe(os.availableParallelism());
    expect(loadConfig({ DATABASE_URL: 'postgresql://u@db:5432/dd', WORKERS: '3' }).workers).toBe(3);
    expect(loadConfig({ WORKERS: '1' }).workers).toBe(1);
  });

  it('refuses several workers on the embedded database, and workers that are not a count', () => {
    const e = configError({ WORKERS: '2' });
    expect(e.variable).toBe('WORKERS');
    expect(e.message).toMatch(/need a PostgreSQL DATABASE_URL/);
    expect(configError({ WORKERS: '0', DATABASE_URL: 'postgresql://u@db:5432/dd' }).variable).toBe('WORKERS');
    expect(configError({ WORKERS: 'many' }).variable).toBe('WORKERS');
  });

  it('keeps one spare worker in a cluster by default, none for a single process, and refuses bad counts', () => {
    const pg = 'postgresql://u@db:5432/dd';
    expect(loadConfig({ DATABASE_URL: pg, WORKERS: '4' })).toMatchObject({ spareWorkers: 1, spareRestartMs: 30_000 });
    expect(loadConfig({ DATABASE_URL: pg, WORKERS: '4', SPARE_WORKERS: '0', SPARE_RESTART_MS: '2000' })).toMatchObject({ spareWorkers: 0, spareRestartMs: 2000 });
    expect(loadConfig({ DATABASE_URL: pg, WORKERS: '1', SPARE_WORKERS: '2' }).spareWorkers).toBe(0);
    expect(configError({ DATABASE_URL: pg, WORKERS: '2', SPARE_WORKERS: '-1' }).variable).toBe('SPARE_WORKERS');
    expect(configError({ DATABASE_URL: pg, WORKERS: '2', SPARE_WORKERS: '9' }).variable).toBe('SPARE_WORKERS');
    expect(configError({ DATABASE_URL: pg, WORKERS: '2', SPARE_RESTART_MS: 'soon' }).variable).toBe('SPARE_RESTART_MS');
  });
});

describe('MQTT configuration', () => {
  it('runs the embedded broker on 1884 by default, with WebSocket', () => {
    expect(loadConfig({}).mqtt).toEqual({ mode: 'embedded', port: 1884, websocket: true });
    expect(loadConfig({ MQTT_PORT: '4401', MQTT_WS: 'off' }).mqtt).toEqual({ mode: 'embedded', port: 4401, websocket: false });
    expect(loadConfig({}).deviceAckTimeoutSec).toBe(60);
  });

  it('publishes to an external broker when MQTT_URL is set', () => {
    expect(loadConfig({ MQTT_URL: 'mqtt://dd:secret@127.0.0.1:1883' }).mqtt).toEqual({ mode: 'external', url: 'mqtt://dd:secret@127.0.0.1:1883', dynsec: true });
    expect(loadConfig({ MQTT: 'off' }).mqtt).toEqual({ mode: 'off' });
  });

  it('refuses a bad MQTT_URL without echoing it', () => {
    const e = configError({ MQTT_URL: 'http://dd:secret@host' });
    expect(e.variable).toBe('MQTT_URL');
    expect(e.message).not.toContain('secret');
    expect(configError({ MQTT_PORT: '70000' }).variable).toBe('MQTT_PORT');
    expect(configError({ DEVICE_ACK_TIMEOUT_SEC: '1' }).variable).toBe('DEVICE_ACK_TIMEOUT_SEC');
  });

  it('never runs one embedded broker per process: several processes need MQTT_URL', () => {
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).mqtt).toEqual({ mode: 'off' });
    const pg = 'postgresql://dd@127.0.0.1:5432/dd';
    expect(configError({ DATABASE_URL: pg, WORKERS: '2', MQTT: 'on' }).variable).toBe('MQTT_URL');
    expect(loadConfig({ DATABASE_URL: pg, WORKERS: '1' }).mqtt.mode).toBe('embedded');
    expect(configError({ REDIS_URL: 'redis://127.0.0.1:6379', MQTT: 'on' }).message).toMatch(/external MQTT broker/);
    expect(loadConfig({ DATABASE_URL: pg, WORKERS: '2', MQTT_URL: 'mqtt://127.0.0.1:1883' }).mqtt.mode).toBe('external');
  });
});

describe('connections one process holds at most', () => {
  const limits = (soft: string, hard: string) =>
    `Limit                     Soft Limit           Hard Limit           Units\nMax processes             95616                95616                processes\nMax open files            ${soft}                ${hard}                files\n`;
  it('is the open-file limit less what the process needs for itself', () => {
    expect(connectionCapFromFileLimit(limits('20000', '20000'))).toBe(20_000 - RESERVED_FILES);
    expect(connectionCapFromFileLimit(limits('1024', '1048576'))).toBe(1024 - RESERVED_FILES); // the soft limit counts
    expect(connectionCapFromFileLimit(limits('300', '1048576'))).toBe(100); // never below 100
  });
  it('is no cap where the limit is unknown or unlimited', () => {
    expect(connectionCapFromFileLimit(null)).toBe(0);
    expect(connectionCapFromFileLimit(limits('unlimited', 'unlimited'))).toBe(0);
  });
});
