#!/usr/bin/env node
// The installed swarmlet command: the compiled control plane, one process.
import { runCompiled } from './run-compiled.js';

await runCompiled('swarmlet', '../dist/control-plane/cli.js');
