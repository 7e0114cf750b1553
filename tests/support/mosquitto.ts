import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A private Mosquitto broker with the dynamic security plugin, owned (and stopped) by one test file. */
export interface PrivateMosquitto {
  port: number;
  pid: number;
  /** The dynamic-security admin: what the server's MQTT_URL carries. */
  adminUrl: string;
  stop(): Promise<void>;
}

/** Where Debian, Ubuntu, Fedora and Alpine put the plugin (MOSQUITTO_DYNSEC_PLUGIN overrides). */
function findDynsecPlugin(): string {
  const override = process.env.MOSQUITTO_DYNSEC_PLUGIN;
  if (override) return override;
  const name = 'mosquitto_dynamic_security.so';
  for (const root of ['/usr/lib', '/usr/lib64', '/usr/local/lib']) {
    const direct = path.join(root, name);
    if (fs.existsSync(direct)) return direct;
    const entries = fs.existsSync(root) ? fs.readdirSync(root, { withFileTypes: true }) : [];
    for (const e of entries) {
      const p = path.join(root, e.name, name);
      if (e.isDirectory() && fs.existsSync(p)) return p;
    }
  }
  throw new Error(`${name} not found: install Debian's mosquitto package or set MOSQUITTO_DYNSEC_PLUGIN`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Start `mosquitto -c <generated config>` in a temp dir on a free port of `range` (never the
 * system broker's 1883), anonymous access off, dynamic security on with a fresh admin.
 */
export async function startPrivateMosquitto(range: [number, number] = [4410, 4449]): Promise<PrivateMosquitto> {
  if (spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error) throw new Error('mosquitto is not installed (apt-get install mosquitto mosquitto-clients)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd-mosquitto-'));
  const adminPassword = randomBytes(12).toString('hex');
  const dynsecFile = path.join(dir, 'dynamic-security.json');
  const init = spawnSync('mosquitto_ctrl', ['dynsec', 'init', dynsecFile, 'admin', adminPassword], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`mosquitto_ctrl dynsec init failed: ${init.stderr}`);
  let port = 0;
  for (let p = range[0] + (process.pid % (range[1] - range[0])); port === 0; p = p >= range[1] ? range[0] : p + 1) {
    if (await portFree(p)) port = p;
  }
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      // Started as root, mosquitto would switch to its own user and could not read this private dir.
      `user ${os.userInfo().username}`,
      'allow_anonymous false',
      `plugin ${findDynsecPlugin()}`,
      `plugin_opt_config_file ${dynsecFile}`,
      'persistence false',
      'log_dest stderr',
      'log_type error',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    pid: child.pid!,
    adminUrl: `mqtt://admin:${adminPassword}@127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
