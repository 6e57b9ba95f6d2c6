// `node --import ./module-trace.mjs …` with MODULE_TRACE=<file>: appends the URL of every module
// the process resolves through import (static or dynamic), one a line, so a test can see what a
// command loaded. The hooks run on Node's loader thread, hence the synchronous appends.
import { register } from 'node:module';

if (process.env.MODULE_TRACE) register('./module-trace-hooks.mjs', import.meta.url, { data: { file: process.env.MODULE_TRACE } });
