#!/usr/bin/env node
// The installed swarm-agent: the agent bundled into one module (build/bundle-agent.ts), one process.
import { runCompiled } from './run-compiled.js';

await runCompiled('swarm-agent', '../dist/agent/swarm-agent.js');
