/**
 * `npm run build`'s second step: swarm-agent as one ES module, dist/agent/swarm-agent.js, which the
 * bin runs. Why a bundle (figures in bench/README.md, startup): loading ~150 files of the agent and
 * its dependencies costs resident memory and start-up time of its own, and dockerode loads at import
 * what the agent never calls: ssh2 (ssh:// engines, with a WebAssembly module and asn1), gRPC and
 * protobufjs (BuildKit sessions), tar-fs and dockerignore (image builds from a directory) — about
 * 17 MiB. Those are replaced by a module that throws when used, so a call that needs one says so.
 *
 * The source map names the .ts files and lines without carrying their text: Node parses the map
 * of every module at load when source maps are on, and the texts of all bundled files tripled it.
 */
import { build, type Plugin } from 'esbuild';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

/** dockerode's and docker-modem's dependencies the agent never reaches (see above). */
const UNUSED_BY_AGENT = ['ssh2', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', 'tar-fs', '@balena/dockerignore'];

const escape = (name: string) => name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Resolves each of `names` to a module whose every export throws "<name> is not part of swarm-agent" when called. */
function leaveOut(names: string[]): Plugin {
  return {
    name: 'leave-out',
    setup(b) {
      b.onResolve({ filter: new RegExp(`^(${names.map(escape).join('|')})$`) }, (args) => ({ path: args.path, namespace: 'left-out' }));
      b.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({
        loader: 'js',
        contents: `const unavailable = function () { throw new Error(${JSON.stringify(`${args.path} is not part of swarm-agent`)}); };
module.exports = new Proxy({}, { get: (_, key) => (key === '__esModule' ? false : unavailable) });`,
      }));
    },
  };
}

await build({
  entryPoints: [join(ROOT, 'agent/cli.ts')],
  outfile: join(ROOT, 'dist/agent/swarm-agent.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  sourcesContent: false,
  plugins: [leaveOut(UNUSED_BY_AGENT)],
  // The CommonJS dependencies call require() for Node's own modules.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  logLevel: 'warning',
});
