/**
 * The compose files the stack end-to-end test deploys: a web tier, an API with 3 replicas and a
 * worker carrying most of the keys the compose format has for swarm, so the test can check each
 * one arrived in the service spec and in the container the engine runs.
 */
export interface StackFiles {
  /** The run's own names, so tests sharing the engine do not meet. */
  run: string;
  webPort: number;
  hostPort: number;
  bindDir: string;
  externalNetwork: string;
}

const web = (f: StackFiles) => `
  web:
    image: local/busybox:1
    command: ["httpd", "-f", "-p", "8080", "-h", "/tmp"]
    ports:
      - target: 8080
        published: ${f.webPort}
        mode: ingress
    networks: [default, front]
    deploy:
      replicas: 1
      labels:
        tier: web
`;

const api = (f: StackFiles) => `
  api:
    image: local/busybox:1
    command: ["httpd", "-f", "-p", "9000", "-h", "/tmp"]
    networks: [default, ext]
    healthcheck:
      test: ["CMD", "true"]
      interval: 5s
      timeout: 20s
      retries: 5
      start_period: 1s
    deploy:
      mode: replicated
      replicas: 3
      endpoint_mode: dnsrr
      placement:
        constraints: ["node.platform.os == linux"]
        preferences: [{ spread: node.labels.zone }]
        max_replicas_per_node: 3
      resources:
        limits: { cpus: "0.5", memory: 64M, pids: 100 }
        reservations: { cpus: "0.01", memory: 8M }
      restart_policy: { condition: on-failure, delay: 1s, max_attempts: 3, window: 10s }
      update_config: { parallelism: 2, delay: 1s, order: start-first, failure_action: rollback, monitor: 1s, max_failure_ratio: 0.5 }
      rollback_config: { parallelism: 1, order: stop-first }
`;

const worker = (f: StackFiles, greeting: string) => `
  worker:
    image: local/busybox:1
    entrypoint: ["sh", "-c"]
    command: ["echo started; exec sleep 3600"]
    hostname: worker-host
    ports:
      - target: 9000
        published: ${f.hostPort}
        protocol: tcp
        mode: host
    user: "1000:1000"
    working_dir: /tmp
    environment:
      GREETING: ${greeting}
      STACK_RUN: "${f.run}"
    labels:
      role: worker
    init: true
    read_only: true
    tty: true
    stop_grace_period: 3s
    stop_signal: SIGINT
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    sysctls:
      net.core.somaxconn: "1024"
    ulimits:
      nofile: { soft: 1024, hard: 2048 }
    extra_hosts: ["db.internal:10.1.2.3"]
    dns: 9.9.9.9
    dns_search: example.internal
    logging:
      driver: json-file
      options: { max-size: 1m }
    volumes:
      - data:/data
      - type: bind
        source: ${f.bindDir}
        target: /host
        read_only: true
    networks:
      front:
        aliases: [jobs]
    deploy:
      mode: global
      labels:
        tier: worker
`;

const networks = (f: StackFiles) => `
networks:
  front:
    driver: overlay
    attachable: true
    driver_opts: { com.docker.network.driver.mtu: "1400" }
    labels: { purpose: front }
  ext:
    external: true
    name: ${f.externalNetwork}
volumes:
  data: {}
`;

/** All three services; `greeting` changes the worker alone. */
export const threeServices = (f: StackFiles, greeting = 'hello') => `services:${web(f)}${api(f)}${worker(f, greeting)}${networks(f)}`;

/** The same stack without its worker, for --prune. */
export const withoutWorker = (f: StackFiles) => `services:${web(f)}${api(f)}${networks(f)}`;

export const missingExternalNetwork = `
services:
  lonely:
    image: local/busybox:1
    command: ["sleep", "3600"]
    networks: [gone]
networks:
  gone:
    external: true
    name: no-such-network
`;

/** Where the secrets-and-configs stack reads its files from, and the external secret it names. */
export interface PayloadFiles {
  secretFile: string;
  configFile: string;
  external: string;
}

/**
 * One service with a secret and a config from files (long syntax: target, uid, gid, mode), an
 * external secret (short syntax: /run/secrets/<name>) and a config at its default target.
 */
export const withPayloads = (f: PayloadFiles) => `
services:
  keeper:
    image: local/busybox:1
    command: ["sleep", "3600"]
    secrets:
      - source: password
        target: db-password
        uid: "7"
        gid: "8"
        mode: 0400
      - ${f.external}
    configs:
      - source: settings
        target: /etc/keeper.conf
        mode: 0440
      - banner
secrets:
  password:
    file: ${f.secretFile}
  ${f.external}:
    external: true
configs:
  settings:
    file: ${f.configFile}
  banner:
    file: ${f.configFile}
`;

export const namingASecret = `
services:
  keeper:
    image: local/busybox:1
    command: ["sleep", "3600"]
    secrets: [token]
secrets:
  token:
    external: true
`;
