/**
 * A real nginx (Debian nginx-light) as a TLS-terminating reverse proxy in front of a test
 * server: its own config, prefix dir and pid file in a temp dir, free ports, `daemon off;`,
 * run as a child process and stopped by the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { requireBinary } from './system-deps.js';
import type { Cert } from './tls.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** The proxy config documented in README.md (Security), with test paths and ports. */
export function nginxConfig(
  dir: string,
  upstream: number,
  https: number,
  http: number,
  cert: Cert,
) {
  const p = (f: string) => path.join(dir, f);
  return `
daemon off;
worker_processes 1;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${p('body')};
  proxy_temp_path ${p('proxy')};
  fastcgi_temp_path ${p('fastcgi')};
  uwsgi_temp_path ${p('uwsgi')};
  scgi_temp_path ${p('scgi')};
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream switchboard { server 127.0.0.1:${upstream}; }
  server {
    listen 127.0.0.1:${https} ssl;
    listen 127.0.0.1:${http};
    ssl_certificate ${cert.certFile};
    ssl_certificate_key ${cert.keyFile};
    # Metrics are for the operator (HEALTH_PORT), not the internet.
    location = /metrics { return 404; }
    location / {
      proxy_pass http://switchboard;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
}
`;
}

export interface Nginx {
  httpsPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

export async function startNginx(dir: string, upstream: number, cert: Cert): Promise<Nginx> {
  const nginx = requireBinary('nginx');
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, upstream, httpsPort, httpPort, cert));
  const child: ChildProcess = spawn(
    nginx,
    ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(httpPort, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    httpsPort,
    httpPort,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM'); // fast shutdown
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}
