#!/usr/bin/env node
// The installed swarm-agent: the compiled agent, one process.
import { runCompiled } from './run-compiled.js';

await runCompiled('swarm-agent', '../dist/agent/cli.js');
