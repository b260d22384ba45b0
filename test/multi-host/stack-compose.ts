/**
 * The stack the multi-host test deploys with `docker stack deploy`: a web tier, an API of 3
 * replicas, and a database-like service that needs a secret (it exits without it) and serves its
 * config. Each listens on 8080, where the test's `nc` asks.
 */
export interface MultiHostStack {
  secretFile: string;
  configFile: string;
  /** A host the database must not run on (a placement constraint), or none. */
  dbAvoids?: string;
}

export const multiHostStack = (s: MultiHostStack) => `
services:
  web:
    image: local/busybox:1
    command: ["nc", "-ll", "-p", "8080", "-e", "echo", "web"]
  api:
    image: local/busybox:1
    hostname: "api-{{.Task.Slot}}"
    command: ["nc", "-ll", "-p", "8080", "-e", "hostname"]
    deploy:
      replicas: 3
  db:
    image: local/busybox:1
    command: ["sh", "-c", "test -s /run/secrets/db-password && exec nc -ll -p 8080 -e cat /etc/db.conf"]
    secrets:
      - source: password
        target: db-password
        mode: 0400
    configs:
      - source: settings
        target: /etc/db.conf
    deploy:
      replicas: 1${s.dbAvoids ? `\n      placement:\n        constraints: ["node.hostname != ${s.dbAvoids}"]` : ''}
secrets:
  password:
    file: ${s.secretFile}
configs:
  settings:
    file: ${s.configFile}
`;
